"""The records that cross stage lines: ``RoundRequest`` → (transport) → ``RoundResult`` → ``Measurement``.

A transport receives a ``RoundRequest`` (what to run, with which inputs, under which plan and
runtime options) and returns a ``RoundResult``: every failure (a crash, a timeout, a lost
connection, a missing runtime on a board, a vendor binary that exits non-zero) is a result with
a ``status`` and an ``error``, never an exception. ``Measurement`` combines the rounds of one
(artifact, target, plan) triple. All three are frozen and round-trip through JSON
(``to_dict``/``from_dict``); the runner, which runs without xcelerator on a board, reads the
request's ``document()`` and writes the plain JSON that ``RoundResult.from_runner`` reads back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from xcelerator.measure import stats as st
from xcelerator.measure.inputs import InputSpec
from xcelerator.measure.plan import Plan

STATUSES = ("ok", "failed", "timeout", "crashed")


@dataclass(frozen=True)
class LayerTime:
    name: str
    op_type: str
    mean_ms: float
    share: float


@dataclass(frozen=True)
class RoundRequest:
    """One round to run: the model file, its runtime and options, the inputs and the plan."""

    model: str  # path of the model file on this machine
    format: str
    runtime: str
    options: tuple[tuple[str, str], ...]  # the runtime's own options (transport options excluded)
    inputs: tuple[InputSpec, ...]  # resolved: concrete shapes and where each input's data comes from
    plan: Plan
    layers: bool = False  # profile layers in this round (a separate pass after the timed loop)
    index: int = 0
    name: str = ""
    artifact_sha256: str = ""

    @property
    def opts(self) -> dict[str, str]:
        return dict(self.options)

    def document(self, model: str | None = None, adapter: str = "") -> dict[str, Any]:
        """The runner's input: plain JSON, with the model path and the runtime's adapter file as
        they are seen where the runner runs (a board has its own paths)."""
        return {
            "model": model or self.model,
            "format": self.format,
            "runtime": self.runtime,
            "adapter": adapter,
            "options": self.opts,
            "inputs": [t.to_dict() for t in self.inputs],
            "plan": {**self.plan.to_dict(), "layers": self.layers},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "format": self.format,
            "runtime": self.runtime,
            "options": [list(kv) for kv in self.options],
            "inputs": [t.to_dict() for t in self.inputs],
            "plan": self.plan.to_dict(),
            "layers": self.layers,
            "index": self.index,
            "name": self.name,
            "artifact_sha256": self.artifact_sha256,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoundRequest:
        return cls(
            model=d["model"],
            format=d["format"],
            runtime=d["runtime"],
            options=tuple((str(k), str(v)) for k, v in d.get("options", ())),
            inputs=tuple(InputSpec.from_dict(t) for t in d.get("inputs", ())),
            plan=Plan.from_dict(d["plan"]),
            layers=bool(d.get("layers", False)),
            index=int(d.get("index", 0)),
            name=d.get("name", ""),
            artifact_sha256=d.get("artifact_sha256", ""),
        )


@dataclass(frozen=True)
class RoundResult:
    """What one round produced. ``status`` is one of ``STATUSES``; ``error`` is one line naming
    the cause, ``detail`` the runtime's whole error text (shown with ``--debug``)."""

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
    env: dict[str, Any] = field(default_factory=dict)
    layers: tuple[LayerTime, ...] = ()
    layers_e2e_ms: float | None = None
    layers_error: str = ""
    energy: dict[str, Any] | None = None
    timed_window: tuple[float, float] | None = None
    detail: str = ""
    inputs_sha256: str = ""

    @classmethod
    def failure(
        cls, index: int, status: str, error: str, started: float, finished: float, detail: str = "", **kw: Any
    ) -> RoundResult:
        """A round that produced no samples (crash, timeout, lost link, missing runtime)."""
        return cls(
            index=index,
            status=status,
            error=error,
            samples_ms=(),
            warmup_ms=(),
            init_ms=None,
            first_run_ms=None,
            peak_rss_kib=kw.pop("peak_rss_kib", None),
            rss_before_load_kib=None,
            rss_after_load_kib=None,
            stop_reason="",
            started=started,
            finished=finished,
            pid=kw.pop("pid", 0),
            detail=detail,
            **kw,
        )

    @classmethod
    def from_runner(
        cls,
        raw: dict[str, Any],
        index: int,
        started: float,
        finished: float,
        pid: int = 0,
        peak_rss_kib: int | None = None,
        env: dict[str, Any] | None = None,
    ) -> RoundResult:
        """The runner's JSON document as a round (``raw`` came back from a child or a board)."""
        e2e = raw.get("layers_e2e_ms")
        layers = tuple(
            LayerTime(
                str(x["name"]),
                str(x["op_type"]),
                float(x["mean_ms"]),
                float(x["mean_ms"]) / float(e2e) if e2e else 0.0,
            )
            for x in sorted(raw.get("layers", ()), key=lambda x: -float(x["mean_ms"]))
        )
        window = (raw["timed_start"], raw["timed_end"]) if raw.get("timed_start") and raw.get("timed_end") else None
        return cls(
            index=index,
            status=str(raw.get("status", "failed")),
            error=str(raw.get("error", "")),
            samples_ms=tuple(float(x) for x in raw.get("samples_ms", ())),
            warmup_ms=tuple(float(x) for x in raw.get("warmup_ms", ())),
            init_ms=raw.get("init_ms"),
            first_run_ms=raw.get("first_run_ms"),
            peak_rss_kib=raw.get("peak_rss_kib") or peak_rss_kib,
            rss_before_load_kib=raw.get("rss_before_load_kib"),
            rss_after_load_kib=raw.get("rss_after_load_kib"),
            stop_reason=str(raw.get("stop_reason", "")),
            started=started,
            finished=finished,
            pid=int(pid or raw.get("env", {}).get("pid", 0) or 0),
            env={**raw.get("env", {}), **(env or {})},
            layers=layers,
            layers_e2e_ms=float(e2e) if e2e else None,
            layers_error=str(raw.get("layers_error", "")),
            energy=raw.get("energy"),
            timed_window=window,
            detail=str(raw.get("traceback", "")),
            inputs_sha256=str(raw.get("inputs_sha256", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timed_window"] = list(self.timed_window) if self.timed_window else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoundResult:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["samples_ms"] = tuple(d.get("samples_ms", ()))
        kw["warmup_ms"] = tuple(d.get("warmup_ms", ()))
        kw["layers"] = tuple(LayerTime(**x) for x in d.get("layers", ()))
        if d.get("timed_window"):
            kw["timed_window"] = tuple(d["timed_window"])
        return cls(**kw)


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
    inputs: tuple[dict[str, Any], ...] = ()
    quiet: dict[str, Any] | None = None  # measure/conditions.py: {"quiet", "reasons", "busy"}
    purpose: str = ""  # "calibration" for ``xcel calibrate``'s runs (the store's spread is then ``calibrated``)

    @property
    def samples_ms(self) -> list[float]:
        return [s for r in self.rounds for s in r.samples_ms]

    @property
    def ci_target_met(self) -> bool | None:
        """Whether the reported CI is as narrow as the plan asked (``None`` without statistics)."""
        if self.stats is None:
            return None
        return bool(self.stats.rel_ci <= self.plan.rel_ci + 1e-12)

    @property
    def error_detail(self) -> str:
        """The whole error text of the first failed round (the runtime's own words)."""
        return next((r.detail for r in self.rounds if r.status != "ok" and r.detail), "")

    def by_op_type(self) -> dict[str, float]:
        """Mean ms per op type, largest first."""
        acc: dict[str, float] = {}
        for layer in self.layers:
            acc[layer.op_type] = acc.get(layer.op_type, 0.0) + layer.mean_ms
        return dict(sorted(acc.items(), key=lambda kv: -kv[1]))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``profile``/``compare`` (keys may be added, never renamed)."""
        s = self.stats
        stats_d: dict[str, Any] | None = None
        if s is not None:
            sd = s.to_dict()
            stats_d = {k: sd[k] for k in st.STATS_KEYS}
            stats_d.update(
                rounds=s.rounds,
                round_medians_ms=list(s.round_medians_ms),
                rel_ci=s.rel_ci,
                rounds_ci_level=s.rounds_ci_level,
                between_run_sd=s.between_run_sd,
                ci_basis=s.ci_basis,
                ci_detail=s.ci_detail,
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
            "inputs": [dict(x) for x in self.inputs],
            "inputs_sha256": next((r.inputs_sha256 for r in self.rounds if r.inputs_sha256), None),
            "ci_target_met": self.ci_target_met,
            "quiet": self.quiet,
            "warmup_ms": [list(r.warmup_ms) for r in self.rounds],
            "env": self.env,
            "plan": self.plan.to_dict(),
            "started": self.started,
            "finished": self.finished,
            "purpose": self.purpose or None,
        }

    def to_dict(self) -> dict[str, Any]:
        """Full round-trip form (used by the store and db export). Per-round layers and env are
        dropped: the measurement keeps the profiled layers and the conditions once."""
        d = self.to_json()
        d["rounds"] = [{**r.to_dict(), "layers": [], "env": {}} for r in self.rounds]
        d["stats_full"] = self.stats.to_dict() if self.stats else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        return cls(
            model=d["model"],
            artifact_sha256=d["artifact_sha256"],
            target=d["target"],
            plan=Plan.from_dict(d["plan"]),
            status=d["status"],
            error=d.get("error") or "",
            rounds=tuple(RoundResult.from_dict(r) for r in d.get("rounds", ())),
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
            inputs=tuple(d.get("inputs") or ()),
            quiet=d.get("quiet"),
            purpose=d.get("purpose") or "",
        )
