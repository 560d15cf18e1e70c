"""The measurement runner: one model, one runtime, one child process.

This module is deliberately self-contained (standard library + numpy + the runtime being
measured, nothing from xcelerator) so the same file can be copied to a board and run there:

    python runner.py REQUEST.json RESULT.json

The protocol (recorded with every result):
1. import the runtime, note RSS; load/compile the model (``init_ms``), note RSS after load;
2. the first inference is timed alone (``first_run_ms``);
3. warm-up: ``warmup_runs`` runs and at least ``warmup_seconds``; their times are reported;
4. steady state: time each run with ``perf_counter_ns``; stop when the 95% CI of the median
   (order statistics, normal approximation) has a relative half-width <= ``rel_ci`` and both
   ``min_runs`` and ``min_seconds`` are met, or when ``max_runs`` or ``max_seconds`` is hit;
5. if layers are asked for, a separate profiled pass (profiling perturbs timing, so it never
   touches the samples above) collects per-node times from the runtime's own profiler.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import socket
import sys
import tempfile
import time
import traceback
from typing import Any

_PROFILE_RUNS = 20


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _status_kib(field: str) -> int | None:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    try:
        import resource

        if field == "VmHWM":
            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except Exception:
        pass
    return None


def thermal() -> dict[str, float]:
    """Temperatures (°C) of the thermal zones, by zone type (a board's SoC, a phone's battery)."""
    out: dict[str, float] = {}
    base = "/sys/class/thermal"
    try:
        zones = sorted(z for z in os.listdir(base) if z.startswith("thermal_zone"))
    except OSError:
        return out
    for z in zones:
        try:
            kind = _read(f"{base}/{z}/type").strip() or z
            out[f"{z}:{kind}"] = int(_read(f"{base}/{z}/temp").strip()) / 1000.0
        except ValueError:
            continue
    return out


class Rapl:
    """Intel/AMD RAPL package energy through powercap: ``energy_uj`` counters of the top-level
    zones (``intel-rapl:N``), wrap-around at ``max_energy_range_uj`` handled. The root can be moved
    (``XCEL_POWERCAP_ROOT``) so the arithmetic is testable on a tree laid out like sysfs."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or os.environ.get("XCEL_POWERCAP_ROOT", "/sys/class/powercap")
        try:
            names = sorted(os.listdir(self.root))
        except OSError:
            names = []
        self.zones = [n for n in names if re.fullmatch(r"(intel|amd)-rapl:\d+", n)]

    def available(self) -> tuple[bool, str]:
        if not self.zones:
            return False, f"no RAPL zones under {self.root} (no powercap on this machine or in this VM)"
        try:
            self.read()
        except (OSError, ValueError) as e:
            return False, f"RAPL counters not readable ({e}); reading them usually needs root"
        return True, ""

    def read(self) -> dict[str, tuple[int, int]]:
        out = {}
        for z in self.zones:
            e = int(_read_strict(f"{self.root}/{z}/energy_uj"))
            m = int(_read_strict(f"{self.root}/{z}/max_energy_range_uj"))
            out[z] = (e, m)
        return out

    @staticmethod
    def delta_uj(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> float:
        total = 0
        for z, (e0, mx) in before.items():
            e1 = after[z][0]
            total += e1 - e0 if e1 >= e0 else e1 + mx - e0  # the counter wrapped
        return float(total)


def _read_strict(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def nvml_energy() -> tuple[Any, str]:
    """A reader of NVIDIA NVML's total-energy counter (mJ) of GPU 0, or None and why not."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return (lambda: float(pynvml.nvmlDeviceGetTotalEnergyConsumption(h))), ""
    except ImportError:
        return None, "NVML: the nvidia-ml-py package is not installed"
    except Exception as e:  # no driver, no GPU, or a GPU without the counter
        return None, f"NVML: {type(e).__name__}: {e}"


class EnergyMeter:
    """Energy of the timed loop: NVML on a CUDA target, RAPL otherwise; or why it cannot."""

    def __init__(self, options: dict[str, Any]) -> None:
        gpu = options.get("device") == "cuda" or options.get("provider") in ("cuda", "tensorrt")
        self.source = "nvml" if gpu else "rapl"
        self.note = ""
        self.rapl: Rapl | None = None
        self.nvml: Any = None
        if gpu:
            self.nvml, self.note = nvml_energy()
        else:
            rapl = Rapl()
            ok, self.note = rapl.available()
            self.rapl = rapl if ok else None
        self.before: Any = None

    def _read(self) -> Any:
        if self.rapl is not None:
            return self.rapl.read()
        return self.nvml() if self.nvml is not None else None

    def start(self) -> None:
        self.before = self._read()

    def stop(self, runs: int) -> dict[str, Any]:
        after = self._read()
        if self.before is None or after is None or runs == 0:
            return {"mj_per_inference": None, "source": self.source, "note": self.note or "no reading"}
        mj = Rapl.delta_uj(self.before, after) / 1000.0 if self.rapl is not None else float(after - self.before)
        return {"mj_per_inference": mj / runs, "source": self.source}


def environment() -> dict[str, Any]:
    """Conditions of this measurement: host, CPU, OS, load, governor."""
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    gov = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").strip() or None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = []
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "affinity": affinity,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg": load,
        "governor": gov,
        "thermal": thermal(),
        "pid": os.getpid(),
    }


# ----------------------------------------------------------------------------- inputs
def make_inputs(specs: list[dict[str, Any]], mode: str, seed: int, npz: str | None) -> dict[str, Any]:
    import numpy as np

    if mode == "npz":
        data = np.load(npz or "")
        missing = [s["name"] for s in specs if s["name"] not in data.files]
        if missing and len(data.files) == len(specs):
            return {s["name"]: data[f] for s, f in zip(specs, data.files, strict=True)}
        if missing:
            raise ValueError(f"input file {npz} lacks inputs {missing}; it has {data.files}")
        return {s["name"]: data[s["name"]] for s in specs}
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in s["shape"]]
        dt = np.dtype(s["dtype"])
        if mode == "zeros":
            out[s["name"]] = np.zeros(shape, dt)
        elif dt.kind in "iu":
            out[s["name"]] = rng.integers(0, 100, size=shape).astype(dt)
        elif dt.kind == "b":
            out[s["name"]] = rng.integers(0, 2, size=shape).astype(dt)
        else:
            out[s["name"]] = rng.standard_normal(shape).astype(dt)
    return out


# ----------------------------------------------------------------------------- runtimes
class OrtRuntime:
    name = "onnxruntime"

    def __init__(self, opts: dict[str, str]) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.opts = opts
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
        want = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}.get(prov)
        if want and want not in sess.get_providers():
            raise RuntimeError(f"{want} could not be created here (session fell back to {sess.get_providers()})")
        return sess

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        self.path = path
        self.sess = self._session(path)
        self.feeds = inputs

    def run(self) -> None:
        self.sess.run(None, self.feeds)

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
        acc: dict[str, list[Any]] = {}
        for ev in events:
            if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
                continue
            node = ev["name"][: -len("_kernel_time")]
            op = ev.get("args", {}).get("op_name", "?")
            acc.setdefault(node, [op, 0.0])[1] += ev["dur"] / 1000.0
        # the first profiled run (a warm-up inside the session) is included in the events
        n = runs + 1
        layers = [{"name": k, "op_type": v[0], "mean_ms": v[1] / n} for k, v in acc.items()]
        return layers, sum(e2e) / len(e2e)


class OpenVinoRuntime:
    name = "openvino"

    def __init__(self, opts: dict[str, str]) -> None:
        import openvino as ov

        self.ov = ov
        self.opts = opts
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
        self.device = self.opts.get("device", "CPU").upper()
        self.compiled = self.core.compile_model(self.model, self.device, self._config(False))
        self.req = self.compiled.create_infer_request()
        self.feeds = inputs
        self.ports = {p.get_any_name(): p for p in self.compiled.inputs}
        for name, arr in inputs.items():
            self.req.set_tensor(self.ports.get(name, self.compiled.inputs[0]), self.ov.Tensor(arr))

    def run(self) -> None:
        self.req.infer()

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device}
        try:
            out["device_name"] = self.core.get_property(self.device, "FULL_DEVICE_NAME")
            out["precision"] = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        except Exception:
            pass
        return out

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        compiled = self.core.compile_model(self.model, self.device, self._config(True))
        req = compiled.create_infer_request()
        for name, arr in self.feeds.items():
            req.set_tensor(self.ports.get(name, compiled.inputs[0]).get_any_name(), self.ov.Tensor(arr))
        req.infer()
        acc: dict[str, list[Any]] = {}
        e2e = []
        for _ in range(runs):
            t = time.perf_counter_ns()
            req.infer()
            e2e.append((time.perf_counter_ns() - t) / 1e6)
            for p in req.get_profiling_info():
                if str(p.status).endswith("EXECUTED") and "NOT" not in str(p.status):
                    acc.setdefault(p.node_name, [p.node_type, 0.0])[1] += p.real_time.total_seconds() * 1000
        layers = [{"name": k, "op_type": v[0], "mean_ms": v[1] / runs} for k, v in acc.items()]
        return layers, sum(e2e) / len(e2e)


class TorchRuntime:
    name = "torch"

    def __init__(self, opts: dict[str, str]) -> None:
        import torch

        self.torch = torch
        self.opts = opts
        self.version = torch.__version__
        if "threads" in opts:
            torch.set_num_threads(int(opts["threads"]))
        torch.set_num_interop_threads(1)

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        torch = self.torch
        self.device = self.opts.get("device", "cpu")
        if path.endswith(".pt2"):
            mod = torch.export.load(path).module()
        else:
            mod = torch.jit.load(path)
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

        acts = [ProfilerActivity.CPU]
        if self.device.startswith("cuda"):
            acts.append(ProfilerActivity.CUDA)
        e2e = []
        with profile(activities=acts) as prof:
            for _ in range(runs):
                t = time.perf_counter_ns()
                self.run()
                e2e.append((time.perf_counter_ns() - t) / 1e6)
        layers = []
        cuda = self.device.startswith("cuda")
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


def _kernel_op(name: str) -> str:
    """A short op type for a CUDA kernel name: 'void at::native::foo<float>(...)' -> 'foo'."""
    base = name.split("(")[0].split("<")[0].strip()
    base = base.split(" ")[-1] if base else name
    return (base.split("::")[-1] or name)[:60]


class LiteRtRuntime:
    name = "litert"

    def __init__(self, opts: dict[str, str]) -> None:
        import ai_edge_litert
        from ai_edge_litert import interpreter

        self.mod = interpreter
        self.opts = opts
        self.version = getattr(ai_edge_litert, "__version__", "?")

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        kw: dict[str, Any] = {"model_path": path}
        if "threads" in self.opts:
            kw["num_threads"] = int(self.opts["threads"])
        if self.opts.get("xnnpack", "1") in ("0", "false", "no"):
            kw["experimental_op_resolver_type"] = self.mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.it = self.mod.Interpreter(**kw)
        self.it.allocate_tensors()
        details = self.it.get_input_details()
        by_name = {d["name"]: d for d in details}
        for i, (name, arr) in enumerate(inputs.items()):
            d = by_name.get(name, details[i])
            self.it.set_tensor(d["index"], arr.astype(d["dtype"]).reshape(d["shape"]))

    def run(self) -> None:
        self.it.invoke()

    def info(self) -> dict[str, Any]:
        return {"xnnpack": self.opts.get("xnnpack", "1")}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        raise NotImplementedError(
            "LiteRT's Python API has no op profiler; use benchmark_model --enable_op_profiling "
            "through a command target for per-op times"
        )


RUNTIMES: dict[str, Any] = {
    "onnxruntime": OrtRuntime,
    "openvino": OpenVinoRuntime,
    "torch": TorchRuntime,
    "litert": LiteRtRuntime,
}


# ----------------------------------------------------------------------------- timing
def median_ci(samples: list[float], z: float = 1.96) -> tuple[float, float, float]:
    """Median and its distribution-free CI from order statistics (normal approximation)."""
    x = sorted(samples)
    n = len(x)
    med = x[n // 2] if n % 2 else 0.5 * (x[n // 2 - 1] + x[n // 2])
    if n < 6:
        return med, x[0], x[-1]
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return med, x[lo], x[hi]


def time_loop(run: Any, plan: dict[str, Any]) -> tuple[list[float], str]:
    """Timed steady-state runs with adaptive stopping; returns (samples_ms, stop_reason)."""
    min_runs = int(plan.get("min_runs", 10))
    max_runs = int(plan.get("max_runs", 100_000))
    min_s = float(plan.get("min_seconds", 0.5))
    max_s = float(plan.get("max_seconds", 10.0))
    rel_ci = float(plan.get("rel_ci", 0.01))
    samples: list[float] = []
    clock = time.perf_counter_ns
    start = clock()
    next_check = max(min_runs, 10)
    while True:
        t0 = clock()
        run()
        t1 = clock()
        samples.append((t1 - t0) / 1e6)
        n = len(samples)
        elapsed = (t1 - start) / 1e9
        if n >= max_runs:
            return samples, "max_runs"
        if elapsed >= max_s:
            return samples, "max_seconds"
        if n >= next_check and elapsed >= min_s:
            next_check = n + max(5, n // 10)
            med, lo, hi = median_ci(samples)
            if med > 0 and (hi - lo) / 2 / med <= rel_ci:
                return samples, "ci_reached"


def main(argv: list[str]) -> int:
    req_path, out_path = argv[1], argv[2]
    with open(req_path) as f:
        req = json.load(f)
    plan = req["plan"]
    result: dict[str, Any] = {"status": "failed", "error": "", "env": environment(), "started": time.time()}

    def write() -> None:
        result["finished"] = time.time()
        result["peak_rss_kib"] = _status_kib("VmHWM")
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, out_path)

    try:
        rt = RUNTIMES[req["runtime"]](req.get("options", {}))
        result["env"].update({"runtime": rt.name, "runtime_version": rt.version, "options": req.get("options", {})})
        inputs = make_inputs(req["inputs"], plan.get("input", "random"), int(plan.get("seed", 0)), plan.get("npz"))
        result["rss_before_load_kib"] = _status_kib("VmRSS")
        t = time.perf_counter_ns()
        rt.load(req["model"], inputs)
        result["init_ms"] = (time.perf_counter_ns() - t) / 1e6
        result["rss_after_load_kib"] = _status_kib("VmRSS")
        result["env"].update(rt.info())
        t = time.perf_counter_ns()
        rt.run()
        result["first_run_ms"] = (time.perf_counter_ns() - t) / 1e6
        warm: list[float] = []
        w_runs, w_s = int(plan.get("warmup_runs", 5)), float(plan.get("warmup_seconds", 0.0))
        ws = time.perf_counter_ns()
        while len(warm) < w_runs or (time.perf_counter_ns() - ws) / 1e9 < w_s:
            t = time.perf_counter_ns()
            rt.run()
            warm.append((time.perf_counter_ns() - t) / 1e6)
        result["warmup_ms"] = warm
        result["env"]["loadavg_before"] = result["env"].pop("loadavg")
        meter = EnergyMeter(req.get("options", {})) if plan.get("energy") else None
        if meter is not None:
            meter.start()
        result["timed_start"] = time.time()
        samples, why = time_loop(rt.run, plan)
        result["timed_end"] = time.time()
        if meter is not None:
            result["energy"] = meter.stop(len(samples))
        result["samples_ms"] = samples
        result["stop_reason"] = why
        result["env"]["loadavg_after"] = list(os.getloadavg())
        result["env"]["thermal_after"] = thermal()
        if plan.get("layers"):
            try:
                layers, e2e = rt.profile(int(plan.get("profile_runs", _PROFILE_RUNS)))
                result["layers"] = layers
                result["layers_e2e_ms"] = e2e
            except NotImplementedError as e:
                result["layers_error"] = str(e)
        result["status"] = "ok"
    except BaseException as e:  # the parent records whatever went wrong as data
        result["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:500]
        result["traceback"] = traceback.format_exc()[-4000:]
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
