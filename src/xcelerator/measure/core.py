"""Measure an Artifact on a Target under a Plan, one child process per round.

A round that crashes (the child dies by a signal or exits without a result) or hangs past
``plan.timeout`` (the child's process group is killed) is a result, not an exception: the
Measurement records ``crashed``/``timeout`` with the reason, and the caller goes on.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.measure import stats as st
from xcelerator.measure.plan import Plan
from xcelerator.models.artifact import Artifact
from xcelerator.targets.registry import Target, usable

log = logging.getLogger(__name__)
RUNNER = Path(__file__).with_name("runner.py")


@dataclass(frozen=True)
class LayerTime:
    name: str
    op_type: str
    mean_ms: float
    share: float


@dataclass(frozen=True)
class RoundResult:
    index: int
    status: str
    error: str
    samples_ms: tuple[float, ...]
    warmup_ms: tuple[float, ...]
    init_ms: float | None
    first_run_ms: float | None
    peak_rss_kib: int | None
    rss_before_load_kib: int | None
    rss_after_load_kib: int | None
    stop_reason: str
    started: float
    finished: float
    pid: int


@dataclass(frozen=True)
class Measurement:
    model: str
    artifact_sha256: str
    target: str
    plan: Plan
    status: str  # ok | failed | timeout | crashed
    error: str
    rounds: tuple[RoundResult, ...]
    stats: st.Stats | None
    init_ms: float | None
    first_run_ms: float | None
    peak_rss_kib: int | None
    rss_before_load_kib: int | None
    rss_after_load_kib: int | None
    layers: tuple[LayerTime, ...] = ()
    unattributed_share: float | None = None
    layers_note: str = ""
    energy_mj: float | None = None
    energy_note: str = "energy measurement is not in this version"
    env: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    @property
    def samples_ms(self) -> list[float]:
        return [s for r in self.rounds for s in r.samples_ms]

    def by_op_type(self) -> dict[str, float]:
        """Mean ms per op type, largest first."""
        acc: dict[str, float] = {}
        for layer in self.layers:
            acc[layer.op_type] = acc.get(layer.op_type, 0.0) + layer.mean_ms
        return dict(sorted(acc.items(), key=lambda kv: -kv[1]))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``profile``/``compare`` (keys may be added, never renamed)."""
        s = self.stats
        keys = st.STATS_KEYS
        stats_d: dict[str, Any] | None = None
        if s is not None:
            sd = s.to_dict()
            stats_d = {k: sd[k] for k in keys}
            stats_d.update(
                rounds=s.rounds,
                round_medians_ms=list(s.round_medians_ms),
                rel_ci=s.rel_ci,
                rounds_ci_level=s.rounds_ci_level,
            )
        return {
            "model": self.model,
            "artifact_sha256": self.artifact_sha256,
            "target": self.target,
            "status": self.status,
            "error": self.error or None,
            "stats": stats_d,
            "init_ms": self.init_ms,
            "first_run_ms": self.first_run_ms,
            "peak_rss_kib": self.peak_rss_kib,
            "rss_before_load_kib": self.rss_before_load_kib,
            "rss_after_load_kib": self.rss_after_load_kib,
            "energy_mj": self.energy_mj,
            "energy_note": self.energy_note,
            "layers": [asdict(x) for x in self.layers],
            "unattributed_share": self.unattributed_share,
            "layers_note": self.layers_note or None,
            "warmup_ms": [list(r.warmup_ms) for r in self.rounds],
            "env": self.env,
            "plan": self.plan.to_dict(),
            "started": self.started,
            "finished": self.finished,
        }

    def to_dict(self) -> dict[str, Any]:
        """Full round-trip form (used by the store and db export)."""
        d = self.to_json()
        d["rounds"] = [asdict(r) for r in self.rounds]
        d["stats_full"] = self.stats.to_dict() if self.stats else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        rounds = tuple(
            RoundResult(**{**r, "samples_ms": tuple(r["samples_ms"]), "warmup_ms": tuple(r["warmup_ms"])})
            for r in d.get("rounds", ())
        )
        return cls(
            model=d["model"],
            artifact_sha256=d["artifact_sha256"],
            target=d["target"],
            plan=Plan.from_dict(d["plan"]),
            status=d["status"],
            error=d.get("error") or "",
            rounds=rounds,
            stats=st.Stats.from_dict(d["stats_full"]) if d.get("stats_full") else None,
            init_ms=d.get("init_ms"),
            first_run_ms=d.get("first_run_ms"),
            peak_rss_kib=d.get("peak_rss_kib"),
            rss_before_load_kib=d.get("rss_before_load_kib"),
            rss_after_load_kib=d.get("rss_after_load_kib"),
            layers=tuple(LayerTime(**x) for x in d.get("layers", ())),
            unattributed_share=d.get("unattributed_share"),
            layers_note=d.get("layers_note") or "",
            energy_mj=d.get("energy_mj"),
            energy_note=d.get("energy_note") or "",
            env=d.get("env", {}),
            started=d.get("started", 0.0),
            finished=d.get("finished", 0.0),
        )


def check_runnable(artifact: Artifact, target: Target) -> None:
    """Bad-input checks before any child starts: format accepted, target usable here."""
    if artifact.format not in target.spec.formats:
        raise BadInputError(
            f"target {target.label} runs {'/'.join(target.spec.formats)} models, not {artifact.format} "
            f"({Path(artifact.path).name}); give a zoo model name to get each target its format"
        )
    if target.remote or target.adb:
        return  # the board or phone is checked when the connection opens
    ok, why = usable(target)
    if not ok:
        raise BadInputError(f"target {target.label} is not usable here: {why}")


def _effective(target: Target, plan: Plan) -> Target:
    if plan.threads is not None:
        return target.with_option("threads", str(plan.threads))
    return target


def run_round(
    artifact: Artifact,
    target: Target,
    plan: Plan,
    index: int,
    layers: bool,
    on_start: Callable[[int], None] | None = None,
) -> tuple[RoundResult, dict[str, Any]]:
    """One child process. Returns the round and the child's raw result (env, layers)."""
    target = _effective(target, plan)
    if target.remote:
        return _run_round_ssh(artifact, target, plan, index, layers)
    if target.adb:
        return _run_round_adb(artifact, target, plan, index)
    with tempfile.TemporaryDirectory(prefix="xcel-round-") as d:
        req = {
            "model": artifact.path,
            "runtime": target.runtime,
            "options": target.runtime_opts,
            "inputs": [t.to_dict() for t in artifact.inputs],
            "plan": {**plan.to_dict(), "layers": layers},
        }
        req_path, out_path, err_path = Path(d) / "req.json", Path(d) / "out.json", Path(d) / "stderr.txt"
        req_path.write_text(json.dumps(req))
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        started = time.time()
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(RUNNER), str(req_path), str(out_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=env,
                start_new_session=True,
            )
            if on_start is not None:
                on_start(proc.pid)
            status, rusage, timed_out = _wait(proc, plan.timeout)
        finished = time.time()
        raw: dict[str, Any] = {}
        if out_path.exists():
            try:
                raw = json.loads(out_path.read_text())
            except json.JSONDecodeError:
                raw = {}
        tail = err_path.read_text(errors="replace").strip().splitlines()[-3:] if err_path.exists() else []
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    peak = raw.get("peak_rss_kib") or (int(rusage.ru_maxrss) if rusage is not None else None)
    if timed_out:
        rstatus, error = "timeout", f"round {index} exceeded the timeout of {plan.timeout:g} s and was killed"
    elif code is not None and code < 0:
        sig = signal.Signals(-code).name
        rstatus, error = "crashed", f"the runtime process died with {sig}" + (f": {tail[-1]}" if tail else "")
    elif not raw:
        rstatus = "crashed"
        error = f"the runtime process exited with code {code} without a result" + (f": {tail[-1]}" if tail else "")
    else:
        rstatus, error = raw.get("status", "failed"), raw.get("error", "")
    rr = RoundResult(
        index=index,
        status=rstatus,
        error=error,
        samples_ms=tuple(raw.get("samples_ms", ())),
        warmup_ms=tuple(raw.get("warmup_ms", ())),
        init_ms=raw.get("init_ms"),
        first_run_ms=raw.get("first_run_ms"),
        peak_rss_kib=peak,
        rss_before_load_kib=raw.get("rss_before_load_kib"),
        rss_after_load_kib=raw.get("rss_after_load_kib"),
        stop_reason=raw.get("stop_reason", ""),
        started=started,
        finished=finished,
        pid=proc.pid,
    )
    return rr, raw


def _run_round_ssh(
    artifact: Artifact, target: Target, plan: Plan, index: int, layers: bool
) -> tuple[RoundResult, dict[str, Any]]:
    from xcelerator.targets.ssh import run_round_remote

    raw, started, finished, error = run_round_remote(
        target.remote,
        target.opts,
        target.runtime,
        target.runtime_opts,
        artifact.path,
        [t.to_dict() for t in artifact.inputs],
        {**plan.to_dict(), "layers": layers},
        plan.timeout,
    )
    if error:
        rstatus = "failed" if error.startswith("connection") else "crashed"
    else:
        rstatus, error = raw.get("status", "failed"), raw.get("error", "")
    rr = RoundResult(
        index=index,
        status=rstatus,
        error=error,
        samples_ms=tuple(raw.get("samples_ms", ())),
        warmup_ms=tuple(raw.get("warmup_ms", ())),
        init_ms=raw.get("init_ms"),
        first_run_ms=raw.get("first_run_ms"),
        peak_rss_kib=raw.get("peak_rss_kib"),
        rss_before_load_kib=raw.get("rss_before_load_kib"),
        rss_after_load_kib=raw.get("rss_after_load_kib"),
        stop_reason=raw.get("stop_reason", ""),
        started=started,
        finished=finished,
        pid=int(raw.get("env", {}).get("pid", 0) or 0),
    )
    return rr, raw


def _run_round_adb(artifact: Artifact, target: Target, plan: Plan, index: int) -> tuple[RoundResult, dict[str, Any]]:
    """One benchmark_model run on the phone is one round; its mean is the round's sample."""
    from xcelerator.targets.adb import AdbTarget, run_adb

    started = time.time()
    out = run_adb(AdbTarget(target.adb, target.options), artifact.path)
    f = out["figures"]
    mem = f.get("peak_memory_mb")
    rr = RoundResult(
        index=index,
        status="ok",
        error="",
        samples_ms=(float(f["mean_ms"]),),
        warmup_ms=(float(f["warmup_mean_ms"]),) if "warmup_mean_ms" in f else (),
        init_ms=f.get("init_ms"),
        first_run_ms=f.get("first_run_ms"),
        peak_rss_kib=None,  # benchmark_model reports a footprint delta, not the process peak: kept in env
        rss_before_load_kib=None,
        rss_after_load_kib=None,
        stop_reason="benchmark_model runs",
        started=started,
        finished=time.time(),
        pid=0,
    )
    raw: dict[str, Any] = {
        "env": {"phone": out["facts"], "runtime": "tflite benchmark_model", "memory_footprint_delta_mb": mem}
    }
    if out["ops"]:
        total = sum(o["avg_ms"] for o in out["ops"]) or 1.0
        raw["layers"] = [{"name": o["op_type"], "op_type": o["op_type"], "mean_ms": o["avg_ms"]} for o in out["ops"]]
        raw["layers_e2e_ms"] = max(float(f["mean_ms"]), total)
    return rr, raw


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, Any, bool]:
    """Reap the child with wait4 (its own peak RSS comes with it), killing its group on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, False
        if time.monotonic() > deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class _Accumulator:
    """Rounds of one (artifact, target) pair, combined into a Measurement."""

    def __init__(self, artifact: Artifact, target: Target, plan: Plan) -> None:
        self.artifact, self.target, self.plan = artifact, target, plan
        self.rounds: list[RoundResult] = []
        self.raw_layers: dict[str, Any] | None = None
        self.env: dict[str, Any] = {}
        self.energy: list[dict[str, Any]] = []
        self.windows: list[list[float]] = []
        self.started = time.time()

    @property
    def failed(self) -> bool:
        return any(r.status != "ok" for r in self.rounds)

    def done(self) -> bool:
        if self.failed or len(self.rounds) >= self.plan.max_rounds:
            return True
        if len(self.rounds) < self.plan.min_rounds:
            return False
        s = st.compute([list(r.samples_ms) for r in self.rounds])
        return s.rel_ci <= self.plan.rel_ci

    def add(self, rr: RoundResult, raw: dict[str, Any]) -> None:
        self.rounds.append(rr)
        if raw.get("env"):
            self.env = raw["env"]
        if raw.get("energy"):
            self.energy.append(raw["energy"])
        if raw.get("timed_start") and raw.get("timed_end"):  # for aligning an external power monitor
            self.windows.append([raw["timed_start"], raw["timed_end"], len(raw.get("samples_ms", ()))])
        if "layers" in raw or "layers_error" in raw:
            self.raw_layers = raw

    def result(self) -> Measurement:
        ok_rounds = [r for r in self.rounds if r.status == "ok" and r.samples_ms]
        bad = next((r for r in self.rounds if r.status != "ok"), None)
        stats = st.compute([list(r.samples_ms) for r in ok_rounds]) if ok_rounds else None

        def med(vals: Sequence[float | None]) -> float | None:
            v = sorted(x for x in vals if x is not None)
            return v[len(v) // 2] if v else None

        layers: tuple[LayerTime, ...] = ()
        unattributed = None
        note = "" if self.plan.layers else "layers not requested (--layers)"
        if self.raw_layers is not None:
            if "layers_error" in self.raw_layers:
                note = self.raw_layers["layers_error"]
            else:
                e2e = float(self.raw_layers.get("layers_e2e_ms") or 0.0)
                rows = sorted(self.raw_layers["layers"], key=lambda x: -x["mean_ms"])
                layers = tuple(
                    LayerTime(
                        x["name"],
                        x["op_type"],
                        float(x["mean_ms"]),
                        float(x["mean_ms"]) / e2e if e2e else 0.0,
                    )
                    for x in rows
                )
                unattributed = max(0.0, 1.0 - sum(x.share for x in layers)) if e2e else None
        peaks = [r.peak_rss_kib for r in self.rounds if r.peak_rss_kib]
        mj = [e["mj_per_inference"] for e in self.energy if e.get("mj_per_inference") is not None]
        if not self.plan.energy:
            enote = "energy not requested (--energy)"
        elif mj:
            src = self.energy[0].get("source", "")
            enote = {"rapl": "RAPL package energy: the whole CPU package, other load included"}.get(src, src)
        else:
            enote = "unavailable: " + next((e.get("note", "") for e in self.energy if e.get("note")), "no reading")
        return Measurement(
            model=self.artifact.name,
            artifact_sha256=self.artifact.sha256,
            target=self.target.label,
            plan=self.plan,
            status=bad.status if bad else "ok",
            error=bad.error if bad else "",
            rounds=tuple(self.rounds),
            stats=stats,
            init_ms=med([r.init_ms for r in self.rounds]),
            first_run_ms=med([r.first_run_ms for r in self.rounds]),
            peak_rss_kib=max(peaks) if peaks else None,
            rss_before_load_kib=int(med([r.rss_before_load_kib for r in self.rounds]) or 0) or None,
            rss_after_load_kib=int(med([r.rss_after_load_kib for r in self.rounds]) or 0) or None,
            layers=layers,
            unattributed_share=unattributed,
            layers_note=note,
            energy_mj=med(mj) if mj else None,
            energy_note=enote,
            env={
                **self.env,
                "timed_windows": self.windows,
                "xcelerator": _version(),
                "target_uri": _effective(self.target, self.plan).uri,
            },
            started=self.started,
            finished=time.time(),
        )


def _version() -> str:
    from xcelerator import __version__

    return __version__


ProgressFn = Callable[[str], None]


def measure(
    artifact: Artifact,
    target: Target,
    plan: Plan | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: ProgressFn | None = None,
) -> Measurement:
    """Measure one artifact on one target: adaptive rounds, each in its own child process."""
    return measure_many([(artifact, target)], plan, on_start=on_start, progress=progress)[0]


def measure_many(
    pairs: Sequence[tuple[Artifact, Target]],
    plan: Plan | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: ProgressFn | None = None,
) -> list[Measurement]:
    """Measure several (artifact, target) pairs, interleaved round by round (A B B A ...), so
    their ratios stay honest while the machine's speed drifts. Layers are profiled once per
    pair, in its first round."""
    plan = plan or Plan()
    for a, t in pairs:
        check_runnable(a, t)
    accs = [_Accumulator(a, t, plan) for a, t in pairs]
    r = 0
    while not all(acc.done() for acc in accs):
        order = list(range(len(accs))) if r % 2 == 0 else list(reversed(range(len(accs))))
        for i in order:
            acc = accs[i]
            if acc.done():
                continue
            if progress:
                progress(f"{acc.artifact.name} on {acc.target.label}, round {len(acc.rounds) + 1}")
            rr, raw = run_round(
                acc.artifact,
                acc.target,
                plan,
                len(acc.rounds),
                layers=plan.layers and not acc.rounds,
                on_start=on_start,
            )
            acc.add(rr, raw)
            if rr.status != "ok":
                log.warning("%s on %s: %s", acc.artifact.name, acc.target.label, rr.error)
        r += 1
    return [acc.result() for acc in accs]
