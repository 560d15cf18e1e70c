"""PyTorch eager (``.pt2`` exported programs or TorchScript), ``torch.compile`` optional, CPU or CUDA.
Layer times from ``torch.profiler``."""

from __future__ import annotations

import time
from typing import Any

NAME = "torch"
DESCRIPTION = "PyTorch eager (torch.compile optional)"
MODULE = "torch"
PIP = "torch"
EXTRA = "core"
FORMATS = ("torch", "torchscript")
CONVERTS: tuple[str, ...] = ()
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "intra-op threads (0: runtime default)", "integer": True},
    "device": {"help": "device", "choices": ["cpu", "cuda"]},
    "compile": {"help": "torch.compile the model", "choices": ["0", "1"]},
    "compile_mode": {"help": "torch.compile mode", "choices": ["default", "reduce-overhead", "max-autotune"]},
    "precision": {"help": "precision", "choices": ["fp32", "fp16", "bf16"]},
}
VARIANTS = ("", "device=cuda")
# imported once by the process local rounds fork from, as PyTorch's DataLoader forks its workers
# (here: 1.3 s to import torch, and 1.2 s more on a round's first torch.export.load, most of it
# the exporter's serializer importing sympy); no device is touched
PRELOAD = ("torch", "torch.export", "torch._export.serde.serialize")


def probe(options: dict[str, str]) -> tuple[bool, str]:
    try:
        import torch
    except Exception as e:
        return False, f"torch does not import: {type(e).__name__}: {e}"
    if options.get("device", "cpu") == "cuda":
        if not torch.cuda.is_available():
            return False, f"torch {torch.__version__} sees no CUDA device"
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name()}"
    return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def _kernel_op(name: str) -> str:
    """A short op type for a CUDA kernel name: 'void at::native::foo<float>(...)' -> 'foo'."""
    base = name.split("(")[0].split("<")[0].strip()
    base = base.split(" ")[-1] if base else name
    return (base.split("::")[-1] or name)[:60]


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import torch

        self.torch = torch
        self.opts = options
        self.version = torch.__version__
        if "threads" in options and int(options["threads"]) > 0:
            torch.set_num_threads(int(options["threads"]))
        if torch.get_num_interop_threads() != 1:
            # once per process: a second adapter in it (the reference beside the model, timed
            # side by side) finds it set, and torch refuses to set it after parallel work
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:
                pass

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        torch = self.torch
        self.device = self.opts.get("device", "cpu")
        mod = torch.export.load(path).module() if path.endswith(".pt2") else torch.jit.load(path)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.opts.get("precision", "fp32"))
        mod = mod.to(self.device)
        self.args = []
        for arr in inputs.values():
            t = torch.from_numpy(arr).to(self.device)
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            self.args.append(t)
        if dtype is not None:
            mod = mod.to(dtype)
        if self.opts.get("compile", "0") in ("1", "true", "yes"):
            mod = torch.compile(mod, mode=self.opts.get("compile_mode", "default"))
        self.mod = mod
        self.sync = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)

    def run(self) -> None:
        with self.torch.inference_mode():
            self.mod(*self.args)
        self.sync()

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device, "threads": self.torch.get_num_threads()}
        if self.device.startswith("cuda"):
            out["device_name"] = self.torch.cuda.get_device_name()
        return out

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        from torch.profiler import ProfilerActivity, profile

        cuda = self.device.startswith("cuda")
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        e2e = []
        with profile(activities=acts) as prof:
            for _ in range(runs):
                t = time.perf_counter_ns()
                self.run()
                e2e.append((time.perf_counter_ns() - t) / 1e6)
        layers = []
        for ev in prof.key_averages():
            if cuda:
                # GPU kernels (and memcpy/memset) only: aten ops on the CPU side would count them twice
                if "CUDA" not in str(getattr(ev, "device_type", "")) or ev.self_device_time_total <= 0:
                    continue
                layers.append(
                    {"name": ev.key, "op_type": _kernel_op(ev.key), "mean_ms": ev.self_device_time_total / 1000 / runs}
                )
            elif ev.self_cpu_time_total > 0:
                layers.append(
                    {"name": ev.key, "op_type": ev.key.split("::")[-1], "mean_ms": ev.self_cpu_time_total / 1000 / runs}
                )
        return layers, sum(e2e) / len(e2e)
