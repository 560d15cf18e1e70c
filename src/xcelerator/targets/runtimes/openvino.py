"""OpenVINO (CPU, GPU, NPU, AUTO). Layer times from its performance counters."""

from __future__ import annotations

import time
from typing import Any

NAME = "openvino"
DESCRIPTION = "OpenVINO"
MODULE = "openvino"
PIP = "openvino"
EXTRA = "openvino"
FORMATS = ("onnx", "openvino")
CONVERTS: tuple[str, ...] = ()
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "intra-op threads (0: runtime default)", "integer": True},
    "device": {"help": "device", "choices": ["CPU", "GPU", "NPU", "AUTO"], "upper": True},
    "precision": {"help": "inference precision hint", "choices": ["f32", "bf16", "f16"]},
    "hint": {"help": "performance hint", "choices": ["latency", "throughput"]},
    "streams": {"help": "number of streams", "integer": True},
}
VARIANTS = ("", "device=GPU", "device=NPU")
INT8 = "NNCF post-training quantization (nncf.quantize) of the OpenVINO model, calibrated on the user's inputs"
_MAX_OVER_WALL = 1.5  # node times of one request over its wall time, beyond which its counters are not believed


def channel_multiple() -> int:
    """The channel block of OpenVINO's CPU plugin here: nChw16c with AVX-512, nChw8c with AVX2."""
    try:
        with open("/proc/cpuinfo") as f:
            return 16 if any(line.startswith("flags") and " avx512f" in line for line in f) else 8
    except OSError:
        return 8


def quantize(path: str, out_dir: str, calibration: list[dict[str, Any]], exclude: list[str]) -> str:
    """``path`` (ONNX or IR) as an INT8 OpenVINO IR (``.xml`` + ``.bin``) by NNCF's post-training
    quantization on ``calibration`` (one feed dict a batch); the ops named in ``exclude`` stay in
    floating point. NNCF's progress bars go to stderr."""
    import contextlib
    import logging
    import os
    import sys

    try:
        import nncf
    except ImportError as e:
        raise RuntimeError("int8 on openvino needs NNCF: pip install 'xcelerator[openvino]'") from e
    import openvino as ov

    nncf.set_log_level(logging.ERROR)
    model = ov.Core().read_model(path)
    ignored = nncf.IgnoredScope(names=list(exclude), validate=False) if exclude else None
    with contextlib.redirect_stdout(sys.stderr):
        q = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration), ignored_scope=ignored)
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".int8.xml")
    ov.save_model(q, out)
    return out


def probe(options: dict[str, str]) -> tuple[bool, str]:
    try:
        import openvino as ov

        devs = list(ov.Core().available_devices)
    except ImportError:
        return False, "openvino is not installed: pip install 'xcelerator[openvino]'"
    except Exception as e:
        return False, f"openvino does not start: {type(e).__name__}: {e}"
    dev = options.get("device", "CPU").upper()
    want = "CPU" if dev == "AUTO" else dev
    if not any(d.startswith(want) for d in devs):
        return False, f"OpenVINO sees no {want} device here (devices: {', '.join(devs) or 'none'})"
    return True, f"OpenVINO {ov.get_version().split('-')[0]} on {dev}"


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import openvino as ov

        self.ov = ov
        self.opts = options
        self.version = ov.get_version()
        self.core = ov.Core()

    def _config(self, perf: bool) -> dict[str, Any]:
        cfg: dict[str, Any] = {"PERFORMANCE_HINT": self.opts.get("hint", "latency").upper()}
        if "threads" in self.opts and self.opts.get("device", "CPU").upper() == "CPU":
            cfg["INFERENCE_NUM_THREADS"] = int(self.opts["threads"])
        if "streams" in self.opts:
            cfg["NUM_STREAMS"] = int(self.opts["streams"])
        if "precision" in self.opts:
            cfg["INFERENCE_PRECISION_HINT"] = self.opts["precision"]
        if perf:
            cfg["PERF_COUNT"] = True
        return cfg

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        self.model = self.core.read_model(path)
        # a model with dynamic dimensions is made static at the shapes it is fed, so it compiles
        # for them (as benchmark_app -shape does); inputs are matched by name, never by position
        ports = {p.get_any_name(): p for p in self.model.inputs}
        unknown = [n for n in inputs if n not in ports]
        if unknown:
            raise ValueError(f"the model has no input {unknown[0]!r}; its inputs: {sorted(ports)}")
        if any(p.get_partial_shape().is_dynamic for p in self.model.inputs):
            self.model.reshape({n: self.ov.PartialShape(list(a.shape)) for n, a in inputs.items()})
        self.device = self.opts.get("device", "CPU").upper()
        self.compiled = self.core.compile_model(self.model, self.device, self._config(False))
        self.req = self.compiled.create_infer_request()
        self.feeds = inputs
        self.ports = {p.get_any_name(): p for p in self.compiled.inputs}
        for name, arr in inputs.items():
            self.req.set_tensor(self.ports[name], self.ov.Tensor(arr))

    def run(self) -> None:
        self.req.infer()

    def infer(self, feeds: dict[str, Any]) -> list[Any]:
        """The outputs for ``feeds`` (``xc.deployed`` runs a file through here)."""
        res = self.req.infer({self.ports[k]: v for k, v in feeds.items()})
        return [res[o] for o in self.compiled.outputs]

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device}
        try:
            out["device_name"] = self.core.get_property(self.device, "FULL_DEVICE_NAME")
            out["precision"] = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        except Exception:
            pass
        return out

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        """Each executed node's mean ``real_time`` over the profiled runs, where it agrees with
        the wall clock.

        The nodes of one request run one after another, so each takes less than the request's
        wall time, and together at most about that (1.05-1.15 of it here, with the counters'
        own rounding). On a loaded machine OpenVINO 2026.4's counter for a node now and then
        spans time outside the request: a FullyConnected reported 1.5 ms inside a 0.2 ms
        inference, and the shares of one profile added up to 2.7. A node time longer than its
        request is left out of that node's mean; a run whose other node times still add up to
        more than ``_MAX_OVER_WALL`` times its wall time is left out whole; when every run is,
        the profile is refused rather than made up."""
        compiled = self.core.compile_model(self.model, self.device, self._config(True))
        req = compiled.create_infer_request()
        for name, arr in self.feeds.items():
            req.set_tensor(self.ports[name].get_any_name(), self.ov.Tensor(arr))
        req.infer()
        acc: dict[str, list[Any]] = {}  # name -> [op type, summed ms, runs counted]
        e2e = []
        for _ in range(runs):
            t = time.perf_counter_ns()
            req.infer()
            wall = (time.perf_counter_ns() - t) / 1e6
            nodes = [
                (p.node_name, p.node_type, p.real_time.total_seconds() * 1000)
                for p in req.get_profiling_info()
                if str(p.status).endswith("EXECUTED") and "NOT" not in str(p.status)
            ]
            believed = [x for x in nodes if x[2] <= wall]
            if sum(ms for *_, ms in believed) > _MAX_OVER_WALL * wall:
                continue
            e2e.append(wall)
            for name, kind, ms in believed:
                entry = acc.setdefault(name, [kind, 0.0, 0])
                entry[1] += ms
                entry[2] += 1
        if not e2e:
            raise NotImplementedError(
                f"OpenVINO's per-node counters added up to more than {_MAX_OVER_WALL}x the wall time "
                f"on all {runs} profiled runs (a loaded machine?): no layer times"
            )
        layers = [{"name": k, "op_type": v[0], "mean_ms": v[1] / v[2]} for k, v in acc.items()]
        return layers, sum(e2e) / len(e2e)
