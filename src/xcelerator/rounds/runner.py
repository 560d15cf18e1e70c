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
    throttle = None
    try:
        counts = [
            int(_read(f"/sys/devices/system/cpu/{c}/thermal_throttle/core_throttle_count").strip() or 0)
            for c in os.listdir("/sys/devices/system/cpu")
            if re.fullmatch(r"cpu\d+", c) and os.path.exists(f"/sys/devices/system/cpu/{c}/thermal_throttle")
        ]
        throttle = sum(counts) if counts else None
    except (OSError, ValueError):
        pass
    return {
        "throttle_count": throttle,
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
def make_inputs(specs: list[dict[str, Any]], seed: int, npz: str | None) -> dict[str, Any]:
    """The arrays, from each input's resolved shape and fill (the host checked them already):
    ``normal``, ``zeros``, ``ones``, ``bool``, ``ids:V`` (uniform below V), ``const:V``, ``npz``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    data = np.load(npz, allow_pickle=False) if npz and any(s.get("fill") == "npz" for s in specs) else None
    out = {}
    for s in specs:
        shape = [int(d) for d in s["shape"]]
        dt = np.dtype(s["dtype"])
        fill = str(s.get("fill", "normal"))
        if fill == "npz" and data is not None:
            out[s["name"]] = np.ascontiguousarray(data[s["name"]])
        elif fill == "zeros":
            out[s["name"]] = np.zeros(shape, dt)
        elif fill == "ones":
            out[s["name"]] = np.ones(shape, dt)
        elif fill == "bool":
            out[s["name"]] = rng.integers(0, 2, size=shape).astype(dt)
        elif fill.startswith("ids:"):
            out[s["name"]] = rng.integers(0, int(fill[4:]), size=shape).astype(dt)
        elif fill.startswith("const:"):
            out[s["name"]] = np.full(shape, float(fill[6:])).astype(dt)
        else:
            out[s["name"]] = rng.standard_normal(shape).astype(dt)
    return out


def digest(inputs: dict[str, Any]) -> str:
    """sha256 over every input's name, dtype, shape and bytes: two measurements fed the same data
    have the same digest."""
    import hashlib

    h = hashlib.sha256()
    for name, arr in inputs.items():
        h.update(f"{name}|{arr.dtype}|{list(arr.shape)}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- runtimes
def load_adapter(req: dict[str, Any]) -> Any:
    """The runtime's adapter, from the runtime file the request names (``adapter``): each runtime
    is one self-contained file under ``targets/runtimes/`` (or a plug-in's), shipped beside this one."""
    import importlib.util

    path = req.get("adapter") or ""
    if not path or not os.path.exists(path):
        raise RuntimeError(f"runtime {req.get('runtime')!r}: adapter file {path!r} not found")
    spec = importlib.util.spec_from_file_location(f"xcel_runtime_{req.get('runtime', 'x')}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"runtime {req.get('runtime')!r}: cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Adapter(req.get("options", {}))


# ----------------------------------------------------------------------------- timing
def _binom_cdf_half(k: int, n: int) -> float:
    """P(Binom(n, 1/2) <= k), exact, in log space (no scipy on a board)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    lo = max(0, int(k - 40 * math.sqrt(n)) - 1)  # terms further down are below 1e-300
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(lo, k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def order_index(n: int, level: float = 0.95) -> int:
    """The 1-based j of the exact distribution-free CI ``[x_(j), x_(n-j+1)]`` of the median: the
    smallest j with P(Binom(n, 1/2) <= j) >= (1 - level) / 2 (as scipy's binom.ppf), at least 1.
    The same interval as ``measure.stats.order_stat_ci``, so a round stops on what is reported."""
    alpha2 = (1 - level) / 2
    j = max(0, int(n / 2 - 1.96 * math.sqrt(n) / 2) - 2)
    while _binom_cdf_half(j, n) < alpha2:
        j += 1
    while j > 0 and _binom_cdf_half(j - 1, n) >= alpha2:
        j -= 1
    return max(j, 1)


def median_ci(samples: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Median and its exact distribution-free CI from order statistics."""
    x = sorted(samples)
    n = len(x)
    med = x[n // 2] if n % 2 else 0.5 * (x[n // 2 - 1] + x[n // 2])
    if n < 6:
        return med, x[0], x[-1]
    j = order_index(n, level)
    return med, x[j - 1], x[n - j]


def _stop(samples: list[float], elapsed: float, plan: dict[str, Any], ci: bool = True) -> str:
    """Why timing may stop now (``""``: not yet): a cap (``max_runs``, ``max_seconds``) hit, or,
    when ``ci`` asks for that check (it sorts every sample), the median's CI within ``rel_ci``
    once ``min_runs`` and ``min_seconds`` are met."""
    n = len(samples)
    if n >= int(plan.get("max_runs", 100_000)):
        return "max_runs"
    if elapsed >= float(plan.get("max_seconds", 10.0)):
        return "max_seconds"
    if ci and n >= int(plan.get("min_runs", 10)) and elapsed >= float(plan.get("min_seconds", 0.5)):
        med, lo, hi = median_ci(samples)
        if med > 0 and (hi - lo) / 2 / med <= float(plan.get("rel_ci", 0.01)):
            return "ci_reached"
    return ""


def time_loop(run: Any, plan: dict[str, Any]) -> tuple[list[float], str]:
    """Timed steady-state runs with adaptive stopping; returns (samples_ms, stop_reason)."""
    min_runs = int(plan.get("min_runs", 10))
    max_runs = int(plan.get("max_runs", 100_000))
    min_s = float(plan.get("min_seconds", 0.5))
    max_s = float(plan.get("max_seconds", 10.0))
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
        if n >= max_runs or elapsed >= max_s:
            return samples, _stop(samples, elapsed, plan)
        if n >= next_check and elapsed >= min_s:
            next_check = n + max(5, n // 10)
            why = _stop(samples, elapsed, plan)
            if why:
                return samples, why


BLOCK_SECONDS = 0.02


def alternate(
    runs: list[Any], plans: list[dict[str, Any]], block_s: float = BLOCK_SECONDS
) -> list[tuple[list[float], str]]:
    """Several models timed side by side in this process, in alternating blocks (A B B A ...).

    Each block is one untimed run (it refills the caches the other model used), then timed runs
    for at least ``block_s`` and at least 2 runs. The machine's state (other tenants, frequency)
    moves over seconds, so blocks of 20 ms see the same state for every model, and their ratio
    keeps only what differs between the models: on this shared VM the per-process ratio of two
    convolution networks spread 1.2 % (SD of the log) with 20 ms blocks, 5 % with 100 ms blocks,
    against 13-15 % for the same networks timed in separate processes. Every model keeps
    running until each has met its own stopping rule (``_stop``, on its own timed seconds), so
    the blocks stay balanced; a model at ``max_runs`` sits out."""
    n = len(runs)
    samples: list[list[float]] = [[] for _ in runs]
    timed = [0.0] * n
    why = [""] * n
    due = [max(int(p.get("min_runs", 10)), 10) for p in plans]  # the median's CI is checked as time_loop does
    clock = time.perf_counter_ns
    k = 0
    while not all(why):
        for i in range(n) if k % 2 == 0 else range(n - 1, -1, -1):
            cap = int(plans[i].get("max_runs", 100_000))
            if len(samples[i]) >= cap:
                continue
            runs[i]()
            b0 = clock()
            count = 0
            while (count < 2 or (clock() - b0) / 1e9 < block_s) and len(samples[i]) < cap:
                t0 = clock()
                runs[i]()
                samples[i].append((clock() - t0) / 1e6)
                count += 1
            timed[i] += (clock() - b0) / 1e9
            if not why[i]:
                check = len(samples[i]) >= due[i]
                why[i] = _stop(samples[i], timed[i], plans[i], ci=check)
                if check:
                    due[i] = len(samples[i]) + max(5, len(samples[i]) // 10)
        k += 1
    return list(zip(samples, why, strict=True))


_CAUSE = re.compile(
    r"(error|exception|unsupported|not supported|cannot|can't|could not|failed|invalid|mismatch|"
    r"must|expected|unknown|missing|has to be|out of range|not found)",
    re.IGNORECASE,
)


def root_cause(e: BaseException) -> str:
    """One line that names the cause. Runtimes bury it: ONNX Runtime says it on its first line and
    adds details below; OpenVINO starts with 'Exception from src/...' frames and says the cause
    ('rank has to be known') last. So: the first line that is not a frame, and the last line that
    says what went wrong when it is another one."""
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return f"{type(e).__name__}: {text}"[:500]
    noise = ("at ", "File ", "Traceback", "----", "frame #", "Exception from src", "Check '")
    useful = [ln for ln in lines if not ln.startswith(noise) and not ln.endswith(":")] or lines
    first = useful[0]
    last = next((ln for ln in reversed(useful) if _CAUSE.search(ln)), useful[-1])
    msg = first if last == first else f"{first} ... {last}"
    return f"{type(e).__name__}: {msg}"[:500]


def _prepare(req: dict[str, Any], result: dict[str, Any], rt: Any) -> None:
    """Steps 1-3 for one model: inputs, load (``init_ms``), first run, warm-up."""
    plan = req["plan"]
    inputs = make_inputs(req["inputs"], int(plan.get("seed", 0)), plan.get("npz"))
    result["inputs_sha256"] = digest(inputs)
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


def _layers(req: dict[str, Any], result: dict[str, Any], rt: Any) -> None:
    plan = req["plan"]
    if plan.get("layers"):
        try:
            layers, e2e = rt.profile(int(plan.get("profile_runs", _PROFILE_RUNS)))
            result["layers"] = layers
            result["layers_e2e_ms"] = e2e
        except NotImplementedError as e:
            result["layers_error"] = str(e)


def _failed(result: dict[str, Any], e: BaseException) -> None:
    result["status"] = "failed"
    result["error"] = root_cause(e)
    result["traceback"] = (traceback.format_exc()[-8000:] + "\n" + str(e))[-12000:]


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0), so the peak of one model's
    load and warm-up can be read alone."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def side_by_side(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Several models of one runtime in this process, timed in alternating blocks (``alternate``).

    Each model's result is the document a round of its own would give. Memory is each model's
    own: its adapter is imported before any model loads (the RSS then is every model's
    ``rss_before_load_kib``), and each model's load and warm-up are measured from there, with the
    process's peak reset before its load (``peak_rss_kib`` then counts only its own growth, as if
    it ran alone; ``null`` where the peak cannot be reset). A model that fails to load is that
    model's failure; the others go on."""
    env = environment()
    outs: list[dict[str, Any]] = [
        {"status": "failed", "error": "", "env": dict(env), "started": time.time()} for _ in reqs
    ]
    adapters: list[Any] = [None] * len(reqs)
    for i, req in enumerate(reqs):
        try:
            adapters[i] = load_adapter(req)
            outs[i]["env"].update(
                {
                    "runtime": req.get("runtime"),
                    "runtime_version": str(adapters[i].version),
                    "options": req.get("options", {}),
                }
            )
        except BaseException as e:
            _failed(outs[i], e)
    base = _status_kib("VmRSS")
    live: list[int] = []
    for i, req in enumerate(reqs):
        if adapters[i] is None:
            continue
        try:
            resettable = _reset_peak()
            _prepare(req, outs[i], adapters[i])
            before, after, hwm = outs[i]["rss_before_load_kib"], outs[i]["rss_after_load_kib"], _status_kib("VmHWM")
            if base is not None and before is not None:
                outs[i]["rss_before_load_kib"] = base
                outs[i]["rss_after_load_kib"] = base + (after - before) if after is not None else None
                outs[i]["peak_rss_kib"] = base + (hwm - before) if resettable and hwm is not None else None
            live.append(i)
        except BaseException as e:
            _failed(outs[i], e)
    names = [os.path.basename(str(r.get("model", ""))) for r in reqs]
    for i in live:
        outs[i]["env"]["loadavg_before"] = outs[i]["env"].pop("loadavg")
        outs[i]["env"]["side_by_side"] = [names[j] for j in live if j != i]
        outs[i]["env"]["side_by_side_position"] = i  # the order it was loaded and timed in
        outs[i]["timed_start"] = time.time()
    try:
        timed = alternate([adapters[i].run for i in live], [reqs[i]["plan"] for i in live])
    except BaseException as e:  # a run that raises midway: every model timed with it fails
        for i in live:
            _failed(outs[i], e)
        return outs
    end, load_after, therm = time.time(), list(os.getloadavg()), thermal()
    for i, (samples, why) in zip(live, timed, strict=True):
        outs[i].update({"timed_end": end, "samples_ms": samples, "stop_reason": why})
        outs[i]["env"].update({"loadavg_after": load_after, "thermal_after": therm})
        try:
            _layers(reqs[i], outs[i], adapters[i])
            outs[i]["status"] = "ok"
        except BaseException as e:
            _failed(outs[i], e)
    for o in outs:
        o["finished"] = time.time()
    return outs


def main(argv: list[str]) -> int:
    req_path, out_path = argv[1], argv[2]
    with open(req_path) as f:
        req = json.load(f)

    def dump(doc: dict[str, Any]) -> None:
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, out_path)

    if "side_by_side" in req:  # several models timed in alternating blocks in this process
        dump({"side_by_side": side_by_side(req["side_by_side"])})
        return 0
    plan = req["plan"]
    result: dict[str, Any] = {"status": "failed", "error": "", "env": environment(), "started": time.time()}
    try:
        rt = load_adapter(req)
        result["env"].update(
            {"runtime": req.get("runtime"), "runtime_version": str(rt.version), "options": req.get("options", {})}
        )
        _prepare(req, result, rt)
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
        _layers(req, result, rt)
        result["status"] = "ok"
    except BaseException as e:  # the parent records whatever went wrong as data
        _failed(result, e)
    result["finished"] = time.time()
    result["peak_rss_kib"] = _status_kib("VmHWM")
    dump(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
