"""ONNX Runtime (CPU, CUDA and TensorRT execution providers). Layer times from its own profiler."""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

NAME = "onnxruntime"
DESCRIPTION = "ONNX Runtime"
MODULE = "onnxruntime"
PIP = "onnxruntime"
EXTRA = "core"
FORMATS = ("onnx",)
CONVERTS: tuple[str, ...] = ()
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "intra-op threads (0: runtime default)", "integer": True},
    "inter_threads": {"help": "inter-op threads", "integer": True},
    "provider": {"help": "execution provider", "choices": ["cpu", "cuda", "tensorrt"]},
    "graph_opt": {"help": "graph optimization level", "choices": ["disable", "basic", "extended", "all"]},
    "execution_mode": {"help": "execution mode", "choices": ["sequential", "parallel"]},
    "precision": {"help": "precision (fp16 for TensorRT)", "choices": ["fp32", "fp16"]},
    "spin": {"help": "idle intra-op threads spin (ONNX Runtime's default: 1)", "choices": ["0", "1"]},
}
VARIANTS = ("", "provider=cuda", "provider=tensorrt")
INT8 = "quantize_static: QDQ, int8 weights per channel, uint8 activations, calibrated on the user's inputs"
_CONTROL_FLOW = ("If", "Loop", "Scan")
_EP = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def _has_nvidia() -> bool:
    import shutil

    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


def channel_multiple() -> int:
    """The channel count MLAS's NCHWc kernels block by on this CPU: 16 with AVX-512, else 8
    (``costmodel.features.nchwc_reorders`` places the layout reorders by the same rule)."""
    return 16 if "avx512f" in _cpu_flags() else 8


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def quantize(path: str, out_dir: str, calibration: list[dict[str, Any]], exclude: list[str]) -> str:
    """``path`` as a static INT8 ONNX model (QDQ), calibrated on ``calibration`` (one feed dict a
    batch); the nodes named in ``exclude`` stay FP32. The graph is pre-processed first (shape
    inference and ONNX Runtime's own optimizations, as its quantization docs ask); where that
    fails on a graph (symbolic shape inference on some Reshapes), the raw graph is quantized and
    a warning says so. Without VNNI (an AVX2-only x86 CPU) weights use 7 bits, the range the
    docs recommend there against saturation."""
    import logging
    import os

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(calibration)

        def get_next(self) -> dict[str, Any] | None:
            return next(self.it, None)

    stem = os.path.splitext(os.path.basename(path))[0]
    pre = os.path.join(out_dir, f"{stem}.pre.onnx")
    out = os.path.join(out_dir, f"{stem}.int8.onnx")
    src = path
    prev = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its "consider pre-processing" advice, once per call
    try:
        try:
            quant_pre_process(path, pre, skip_symbolic_shape=False)
            src = pre
        except Exception as e:
            logging.disable(prev)
            logging.getLogger(__name__).warning(
                "quantization pre-processing failed (%s: %s); quantizing the graph as exported",
                type(e).__name__,
                str(e).splitlines()[0][:200] if str(e) else "",
            )
            logging.disable(logging.WARNING)
        flags = _cpu_flags()
        vnni = bool({"avx512_vnni", "avx_vnni"} & flags) or "asimd" in flags or not flags
        quantize_static(
            src,
            out,
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=not vnni,
            nodes_to_exclude=list(exclude),
        )
    finally:
        logging.disable(prev)
        if os.path.exists(pre):
            os.remove(pre)
    return out


def probe(options: dict[str, str]) -> tuple[bool, str]:
    try:
        import onnxruntime as ort

        provs = list(ort.get_available_providers())
    except Exception as e:
        return False, f"onnxruntime does not import: {type(e).__name__}: {e}"
    prov = options.get("provider", "cpu")
    if prov == "cpu":
        return True, f"onnxruntime {ort.__version__}, providers: {', '.join(provs)}"
    ep = _EP[prov]
    if ep not in provs:
        return False, f"{ep} is not in this onnxruntime build (install onnxruntime-gpu on a machine with a GPU)"
    if not _has_nvidia():
        return False, "no NVIDIA GPU visible (nvidia-smi / /dev/nvidia0 missing)"
    return True, f"{ep} available"


def side_by_side(options: dict[str, str]) -> bool:
    """Whether two sessions may be timed in one process (``measure_many``'s side-by-side rounds).
    ONNX Runtime's intra-op workers spin while they wait for work (its default), so in a process
    holding two sessions the idle one's workers take the cores the other one runs on. Measured on
    this 2-core machine (mobilenet_v2_1.0_224 beside mobilenet_v1_0.5_224, threads=2): the
    network's median 3.7 ms side by side against 3.3-3.5 ms alone, a round 10-17 s against 3 s.
    With one thread (no workers) or ``spin=0`` the sessions share a process cleanly; OpenVINO
    and MNN at 2 threads did (ratios within 1 % of separate processes)."""
    return options.get("threads") == "1" or options.get("spin") == "0"


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.opts = options
        self.version = ort.__version__

    def _session(self, path: str, profile_prefix: str | None = None) -> Any:
        ort = self.ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(self.opts.get("threads", 0))
        so.inter_op_num_threads = int(self.opts.get("inter_threads", 1))
        levels = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        so.graph_optimization_level = levels[self.opts.get("graph_opt", "all")]
        if self.opts.get("execution_mode", "sequential") == "parallel":
            so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        so.log_severity_level = 3
        if "spin" in self.opts:
            so.add_session_config_entry("session.intra_op.allow_spinning", self.opts["spin"])
        if profile_prefix:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        prov = self.opts.get("provider", "cpu")
        providers: list[Any]
        if prov == "cuda":
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif prov == "tensorrt":
            trt: dict[str, Any] = {}
            if self.opts.get("precision") == "fp16":
                trt["trt_fp16_enable"] = True
            providers = [("TensorrtExecutionProvider", trt), "CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        sess = ort.InferenceSession(path, so, providers=providers)
        want = _EP.get(prov)
        if want and want not in sess.get_providers():
            raise RuntimeError(f"{want} could not be created here (session fell back to {sess.get_providers()})")
        return sess

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        self.path = path
        self.sess = self._session(path)
        self.feeds = inputs

    def run(self) -> None:
        self.sess.run(None, self.feeds)

    def infer(self, feeds: dict[str, Any]) -> list[Any]:
        """The outputs for ``feeds`` (``xc.deployed`` runs a file through here)."""
        return list(self.sess.run(None, feeds))

    def info(self) -> dict[str, Any]:
        return {"providers": self.sess.get_providers()}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        with tempfile.TemporaryDirectory() as d:
            sess = self._session(self.path, os.path.join(d, "ort"))
            sess.run(None, self.feeds)
            e2e = []
            for _ in range(runs):
                t = time.perf_counter_ns()
                sess.run(None, self.feeds)
                e2e.append((time.perf_counter_ns() - t) / 1e6)
            prof = sess.end_profiling()
            with open(prof) as f:
                events = json.load(f)
        return _node_times(events, runs), sum(e2e) / len(e2e)


def _node_times(events: list[dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """Each node's mean time over the profiled runs after the session's first.

    The profile also holds the new session's first run, with its one-time costs (buffers
    allocated, caches cold); averaged in, it inflated every node by a share that differs from
    node to node. Runs are told apart by the profiler's ``model_run`` events; a profile without
    them keeps the older reading (the total over every run, the first included, divided by the
    number of runs).

    A control-flow node's time contains its subgraph's kernels, which are reported too: each
    kernel is counted once, under its own name, and the node's own overhead is unattributed."""
    spans = sorted((int(e["ts"]), int(e["ts"]) + int(e.get("dur", 0))) for e in events if e.get("name") == "model_run")
    skip_until = spans[0][1] if len(spans) == runs + 1 else None
    acc: dict[str, list[Any]] = {}
    for ev in events:
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        node = ev["name"][: -len("_kernel_time")]
        op = ev.get("args", {}).get("op_name", "?")
        entry = acc.setdefault(node, [op, 0.0])
        if skip_until is not None and int(ev.get("ts", 0)) <= skip_until:
            continue
        entry[1] += ev["dur"] / 1000.0
    n = runs if skip_until is not None else runs + 1
    return [{"name": k, "op_type": v[0], "mean_ms": v[1] / n} for k, v in acc.items() if v[0] not in _CONTROL_FLOW]
