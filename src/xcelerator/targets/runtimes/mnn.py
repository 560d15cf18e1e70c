"""MNN (Alibaba), CPU. ONNX models are converted with MNN's converter (cached by the caller).
Layer times from MNN's per-op callbacks (``runSessionWithCallBackInfo``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

NAME = "mnn"
DESCRIPTION = "MNN (Alibaba), CPU"
MODULE = "MNN"
PIP = "MNN"
EXTRA = "mnn"
FORMATS = ("mnn",)
CONVERTS = ("onnx",)
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "threads (0: MNN's default of 4)", "integer": True},
    "precision": {"help": "precision mode", "choices": ["normal", "high", "low", "low_bf16"]},
    "memory": {"help": "memory mode", "choices": ["normal", "high", "low"]},
    "power": {"help": "power mode", "choices": ["normal", "high", "low"]},
}
VARIANTS = ("",)


def channel_multiple() -> int:
    """MNN packs channels by 4 (its C4 layout); measured here (BENCHMARKS.md, optimize-rounding)
    its latency fell with every width step, with no larger block to respect."""
    return 4


def probe(options: dict[str, str]) -> tuple[bool, str]:
    # not imported here: importing MNN prints the CPU's features on stdout (which --json owns)
    import importlib.util

    if importlib.util.find_spec("MNN") is None:
        return False, "MNN is not installed: pip install 'xcelerator[mnn]'"
    try:
        from importlib.metadata import version

        v = version("MNN")
    except Exception as e:
        return False, f"MNN is broken here: {type(e).__name__}: {e}"
    return True, f"MNN {v}; its converter converts ONNX"


def convert(path: str, fmt: str, out_dir: str, inputs: list[dict[str, Any]]) -> str:
    """ONNX → ``.mnn`` with MNN's own converter (in a child process: it prints to stdout).

    MNN's ``mnnconvert`` module imports a usage logger (``MNN.tools.utils.log``) that, when its
    dependency is missing, runs ``pip install -U aliyun-log-python-sdk`` with whatever ``pip`` is
    on PATH (in our venv that downgraded protobuf and broke ``import onnx``), then reports each
    conversion to a remote endpoint. The child blocks that module, so mnnconvert's own
    ``except`` leaves its logger at None: nothing is installed or sent."""
    out = os.path.join(out_dir, "model.mnn")
    code = (
        "import sys; sys.modules['MNN.tools.utils.log'] = None; from MNN.tools import mnnconvert; "
        "sys.argv = ['mnnconvert'] + sys.argv[1:]; mnnconvert.main()"
    )
    argv = [sys.executable, "-c", code, "-f", "ONNX", "--modelFile", os.path.abspath(path), "--MNNModel", out]
    proc = subprocess.run([*argv, "--bizCode", "xcelerator"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not os.path.exists(out):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"MNN's converter could not convert {os.path.basename(path)}: {' | '.join(tail)}")
    return out


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import MNN

        self.mnn = MNN
        self.opts = options
        self.version = MNN.version()

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        import numpy as np

        MNN = self.mnn
        self.it = MNN.Interpreter(path)
        cfg: dict[str, Any] = {"backend": "CPU", "precision": self.opts.get("precision", "normal")}
        if int(self.opts.get("threads", 0)) > 0:
            cfg["numThread"] = int(self.opts["threads"])
        for k in ("memory", "power"):
            if k in self.opts:
                cfg[k] = self.opts[k]
        self.sess = self.it.createSession(cfg)
        ports = self.it.getSessionInputAll(self.sess)
        resized = False
        for name, arr in inputs.items():
            if name not in ports:
                raise ValueError(f"the MNN model has no input {name!r}; its inputs: {sorted(ports)}")
            if tuple(ports[name].getShape()) != tuple(arr.shape):
                self.it.resizeTensor(ports[name], tuple(arr.shape))
                resized = True
        if resized:
            self.it.resizeSession(self.sess)
        types = {"f": MNN.Halide_Type_Float, "i": MNN.Halide_Type_Int, "u": MNN.Halide_Type_Uint8}
        for name, arr in inputs.items():
            a = np.ascontiguousarray(arr if arr.dtype.kind in "iu" else arr.astype(np.float32))
            if a.dtype == np.int64:
                a = a.astype(np.int32)
            t = MNN.Tensor(a.shape, types.get(a.dtype.kind, MNN.Halide_Type_Float), a, MNN.Tensor_DimensionType_Caffe)
            self.it.getSessionInput(self.sess, name).copyFrom(t)

    def run(self) -> None:
        code = self.it.runSession(self.sess)
        if code != 0:
            raise RuntimeError(f"MNN runSession returned {code}")

    def info(self) -> dict[str, Any]:
        return {"backend": "CPU", "precision": self.opts.get("precision", "normal")}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        acc: dict[str, list[Any]] = {}
        start: dict[str, float] = {}

        def begin(_tensors: Any, info: Any) -> bool:
            start[info.getName()] = time.perf_counter()
            return True

        def end(_tensors: Any, info: Any) -> bool:
            name = info.getName()
            acc.setdefault(name, [info.getType(), 0.0])[1] += (time.perf_counter() - start.pop(name, 0.0)) * 1e3
            return True

        self.it.runSessionWithCallBackInfo(self.sess, begin, end)  # warm the callback path
        acc.clear()
        e2e = []
        for _ in range(runs):
            t = time.perf_counter_ns()
            self.it.runSessionWithCallBackInfo(self.sess, begin, end)
            e2e.append((time.perf_counter_ns() - t) / 1e6)
        return [{"name": k, "op_type": v[0], "mean_ms": v[1] / runs} for k, v in acc.items()], sum(e2e) / len(e2e)
