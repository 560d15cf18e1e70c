"""ExecuTorch with the XNNPACK delegate, CPU. ``.pte`` programs are exported from a torch
ExportedProgram (``.pt2``; a zoo name gets one). Layer times from ExecuTorch's own ETDump
(the XNNPACK delegate's per-operator events), read with ``executorch.devtools.Inspector``."""

from __future__ import annotations

import os
import tempfile
from typing import Any

NAME = "executorch"
DESCRIPTION = "ExecuTorch, XNNPACK delegate"
MODULE = "executorch"
PIP = "executorch"
EXTRA = "executorch"
FORMATS = ("executorch",)
CONVERTS = ("torch",)
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "XNNPACK threadpool size (0: runtime default)", "integer": True},
}
VARIANTS = ("",)
# imported once by the process local rounds fork from (here 1.3 s for torch and 3.4 s for the
# pybindings); importing them starts no XNNPACK thread (the pool is made on first use, in the round)
PRELOAD = ("torch", "executorch.extension.pybindings.portable_lib")
INT8 = (
    "XNNPACK PT2E quantizer: int8 weights per channel, int8 activations, calibrated on the user's inputs, "
    "lowered to XNNPACK"
)


def probe(options: dict[str, str]) -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("executorch") is None:
        return False, "executorch is not installed: pip install 'xcelerator[executorch]'"
    try:
        from importlib.metadata import version

        v = version("executorch")
    except Exception as e:
        return False, f"executorch is broken here: {type(e).__name__}: {e}"
    return True, f"ExecuTorch {v} (XNNPACK); exports .pt2 programs to .pte"


def convert(path: str, fmt: str, out_dir: str, inputs: list[dict[str, Any]]) -> str:
    """A ``.pt2`` ExportedProgram → a ``.pte`` lowered to XNNPACK."""
    import torch

    return _lower(torch.export.load(path), os.path.join(out_dir, "model.pte"))


def _lower(ep: Any, out: str) -> str:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    with open(out, "wb") as f:
        f.write(prog.buffer)
    return out


def quantize(path: str, out_dir: str, calibration: list[dict[str, Any]], exclude: list[str]) -> str:
    """A ``.pt2`` ExportedProgram as an INT8 ``.pte``: ExecuTorch's XNNPACK quantizer (PT2E,
    symmetric, per-channel weights) prepared on the program's module, calibrated on
    ``calibration`` (one feed dict a batch, in the program's input order), converted, exported
    again and lowered to XNNPACK. Ops cannot be kept in FP32 by name here (``exclude``): the
    quantizer names modules, not the ONNX nodes the per-op fallback names."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if exclude:
        raise ValueError("ExecuTorch's XNNPACK quantizer here keeps no op in FP32 by ONNX node name")
    if not calibration:
        raise ValueError("no calibration inputs")
    ep = torch.export.load(path)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(ep.module(), quantizer)
    args = None
    with torch.no_grad():
        for feed in calibration:
            args = tuple(torch.from_numpy(a) for a in feed.values())
            prepared(*args)
    converted = convert_pt2e(prepared)
    assert args is not None
    stem = os.path.splitext(os.path.basename(path))[0]
    return _lower(torch.export.export(converted, args), os.path.join(out_dir, f"{stem}.int8.pte"))


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        from importlib.metadata import version

        from executorch.extension.pybindings import portable_lib

        self.pl = portable_lib
        self.opts = options
        self.version = version("executorch")
        threads = int(options.get("threads", 0))
        if threads > 0:
            portable_lib._unsafe_reset_threadpool(threads)

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        import torch

        self.path = path
        self.module = self.pl._load_for_executorch(path)
        self.args = [torch.from_numpy(a) for a in inputs.values()]

    def run(self) -> None:
        self.module.forward(self.args)

    def infer(self, feeds: dict[str, Any]) -> list[Any]:
        """The outputs for ``feeds``, in the program's input order (``xc.deployed`` runs a file
        through here)."""
        import torch

        return [o.numpy() for o in self.module.forward([torch.from_numpy(a) for a in feeds.values()])]

    def info(self) -> dict[str, Any]:
        return {"threads": int(self.pl._threadpool_get_thread_count())}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        from executorch.devtools import Inspector

        mod = self.pl._load_for_executorch(self.path, enable_etdump=True, debug_buffer_size=0)
        for _ in range(runs + 1):
            mod.forward(self.args)
        with tempfile.TemporaryDirectory() as d:
            dump = os.path.join(d, "run.etdp")
            mod.write_etdump_result_to_file(dump)
            ins = Inspector(etdump_path=dump)
        acc: dict[str, list[Any]] = {}
        e2e: list[float] = []
        for block in ins.event_blocks:
            if block.name != "Execute":
                continue
            for ev in block.events:
                raw = list(ev.perf_data.raw) if ev.perf_data is not None else []
                if not raw:
                    continue
                if ev.name == "Method::execute":
                    e2e = raw[1:]  # the first run is a warm-up
                elif ev.name != "DELEGATE_CALL":
                    kind = ev.name.split(" (")[0].split(" #")[0]
                    acc[ev.name] = [kind, sum(raw[1:]) / max(1, len(raw) - 1)]
        if not e2e:
            raise NotImplementedError("this ExecuTorch build wrote no Method::execute events to its ETDump")
        return [{"name": k, "op_type": v[0], "mean_ms": v[1]} for k, v in acc.items()], sum(e2e) / len(e2e)
