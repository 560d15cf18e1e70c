"""ncnn (Tencent), CPU. ONNX models are converted with ``pnnx`` (cached by the caller).

Layer times: the pip build of ncnn is compiled without ``NCNN_BENCHMARK``, so it has no per-layer
timer. We time ncnn's own execution layer by layer instead: one extractor (``lightmode`` off, so
intermediate blobs are kept) extracts each layer's output blob in the param file's order (a
topological order), which runs exactly that layer; the call's own overhead (a second extract of
the same, now computed, blob) is subtracted, and when the steps still add up to more than one
whole pass (colder caches layer by layer) the excess is taken off in proportion. The sum is
compared with a whole-network run and the remainder reported as unattributed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

NAME = "ncnn"
DESCRIPTION = "ncnn (Tencent), CPU"
MODULE = "ncnn"
PIP = "ncnn"
EXTRA = "ncnn"
FORMATS = ("ncnn",)
CONVERTS = ("onnx",)
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "threads (0: all cores)", "integer": True},
    "fp16": {"help": "fp16 storage and arithmetic where the CPU has it", "choices": ["0", "1"]},
    "winograd": {"help": "Winograd convolutions", "choices": ["0", "1"]},
    "sgemm": {"help": "im2col + sgemm convolutions", "choices": ["0", "1"]},
    "packing": {"help": "packed (SIMD) layout", "choices": ["0", "1"]},
}
VARIANTS = ("",)


def channel_multiple() -> int:
    """ncnn packs channels by its SIMD width (elempack): 16 with AVX-512, 8 with AVX, 4 on ARM.
    Measured here on an AVX-512 CPU (BENCHMARKS.md, optimize-rounding): 92 and 90 channels ran
    slower than 96 in two runs; between multiples of 16 the order changed from run to run (ncnn
    also picks its convolution kernels by channel count)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return 4
    return 16 if "avx512f" in flags else 8 if "avx" in flags else 4


def probe(options: dict[str, str]) -> tuple[bool, str]:
    try:
        import ncnn
    except ImportError:
        return False, "ncnn is not installed: pip install 'xcelerator[ncnn]'"
    except Exception as e:
        return False, f"ncnn does not import: {type(e).__name__}: {e}"
    conv = "pnnx converts ONNX" if _pnnx() else "no pnnx (pip install pnnx): .param files only"
    return True, f"ncnn {ncnn.__version__}; {conv}"


def _pnnx() -> str | None:
    import shutil

    here = os.path.join(os.path.dirname(sys.executable), "pnnx")
    return here if os.path.exists(here) else shutil.which("pnnx")


def convert(path: str, fmt: str, out_dir: str, inputs: list[dict[str, Any]]) -> str:
    """ONNX → ncnn ``.param``/``.bin`` with pnnx at the inputs' shapes."""
    exe = _pnnx()
    if exe is None:  # the machine's lack, not this network's: the whole run stops on it
        from xcelerator.errors import BadInputError

        raise BadInputError("converting ONNX to ncnn needs pnnx: pip install pnnx")
    shapes = []
    for t in inputs:
        dims = ",".join(str(d) for d in t["shape"])
        kind = {"float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32", "int8": "i8", "uint8": "u8"}
        shapes.append(f"[{dims}]{kind.get(t['dtype'], 'f32')}")
    # pnnx runs in out_dir, so every path it is given must be absolute (a relative cache
    # directory was doubled and every conversion failed)
    stem = os.path.join(os.path.abspath(out_dir), "model")
    argv = [
        exe,
        os.path.abspath(path),
        f"inputshape={','.join(shapes)}",
        f"ncnnparam={stem}.param",
        f"ncnnbin={stem}.bin",
        f"ncnnpy={stem}_ncnn.py",
        f"pnnxparam={stem}.pnnx.param",
        f"pnnxbin={stem}.pnnx.bin",
        f"pnnxpy={stem}_pnnx.py",
        f"pnnxonnx={stem}.pnnx.onnx",
    ]
    # pnnx leaves a simplified copy of its input beside the input (<model>.pnnxsim.onnx): in the
    # user's directory, not ours; it goes, unless it was there before
    beside = os.path.splitext(os.path.abspath(path))[0] + ".pnnxsim.onnx"
    had = os.path.exists(beside)
    try:
        proc = subprocess.run(argv, cwd=out_dir, capture_output=True, text=True, timeout=900)
    finally:
        if not had and os.path.exists(beside):
            os.remove(beside)
    if proc.returncode != 0 or not os.path.exists(stem + ".param"):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pnnx could not convert {os.path.basename(path)}: {' | '.join(tail)}")
    return stem + ".param"


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import ncnn

        self.ncnn = ncnn
        self.opts = options
        self.version = ncnn.__version__

    def _net(self, path: str, light: bool = True) -> Any:
        net = self.ncnn.Net()
        o = net.opt
        o.use_vulkan_compute = False
        o.lightmode = light
        threads = int(self.opts.get("threads", 0))
        o.num_threads = threads if threads > 0 else (os.cpu_count() or 1)
        if "fp16" in self.opts:
            fp16 = self.opts["fp16"] == "1"
            o.use_fp16_storage = o.use_fp16_packed = o.use_fp16_arithmetic = fp16
        if "winograd" in self.opts:
            o.use_winograd_convolution = self.opts["winograd"] == "1"
        if "sgemm" in self.opts:
            o.use_sgemm_convolution = self.opts["sgemm"] == "1"
        if "packing" in self.opts:
            o.use_packing_layout = self.opts["packing"] == "1"
        bin_path = path[: -len(".param")] + ".bin" if path.endswith(".param") else path + ".bin"
        if net.load_param(path) != 0:
            raise RuntimeError(f"ncnn could not read the param file {path}")
        if os.path.exists(bin_path) and net.load_model(bin_path) != 0:
            raise RuntimeError(f"ncnn could not read the weights {bin_path}")
        return net

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        import numpy as np

        self.path = path
        self.net = self._net(path)
        names = list(self.net.input_names())
        if len(names) != len(inputs):
            raise ValueError(f"the ncnn model takes {len(names)} inputs ({names}), got {len(inputs)}")
        # pnnx names inputs in0, in1, ... in the ONNX model's order; ncnn's Mat has no batch axis
        self.mats = []
        for name, arr in zip(names, inputs.values(), strict=True):
            a = np.ascontiguousarray(arr.astype(np.float32))
            if a.ndim >= 4 and a.shape[0] == 1:
                a = a[0]
            self.mats.append((name, self.ncnn.Mat(a)))
        self.outputs = list(self.net.output_names())

    def _extractor(self, net: Any) -> Any:
        ex = net.create_extractor()
        for name, mat in self.mats:
            ex.input(name, mat)
        return ex

    def run(self) -> None:
        ex = self._extractor(self.net)
        for name in self.outputs:
            ret, _ = ex.extract(name)
            if ret != 0:
                raise RuntimeError(f"ncnn extract({name}) returned {ret}")

    def info(self) -> dict[str, Any]:
        o = self.net.opt
        return {"num_threads": o.num_threads, "fp16": bool(o.use_fp16_arithmetic)}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        net = self._net(self.path, light=False)
        blobs = [b.name for b in net.blobs()]
        layers = [(lay.name, lay.type, blobs[lay.tops[0]]) for lay in net.layers() if lay.tops and lay.type != "Input"]
        acc = {name: 0.0 for name, _, _ in layers}
        e2e = []
        for _ in range(runs + 1):
            ex = self._extractor(net)
            t = time.perf_counter_ns()
            for name in self.outputs:
                ex.extract(name)
            whole = (time.perf_counter_ns() - t) / 1e6
            ex = self._extractor(net)
            per = []
            for name, _, top in layers:
                t = time.perf_counter_ns()
                ex.extract(top, 1)  # type 1: no unpacking or fp16 conversion of the blob
                t1 = time.perf_counter_ns()
                ex.extract(top, 1)  # now kept by the extractor: this is the call's own overhead
                t2 = time.perf_counter_ns()
                per.append((name, max(0.0, ((t1 - t) - (t2 - t1)) / 1e6)))
            if _ == 0:
                continue  # the first pass warms the extractor's allocations
            e2e.append(whole)
            for name, ms in per:
                acc[name] += ms
        types = {name: kind for name, kind, _ in layers}
        whole = sum(e2e) / len(e2e)
        total = sum(acc.values()) / runs
        # layer by layer, caches are colder than in one pass: when the steps add up to more than
        # the whole run, that excess is the method's, and is taken off each layer in proportion
        scale = whole / total if total > whole else 1.0
        return [{"name": k, "op_type": types[k], "mean_ms": v / runs * scale} for k, v in acc.items()], whole
