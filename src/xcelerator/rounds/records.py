"""The records of one round, the contract between measurement and a target:
``RoundRequest`` → (transport) → ``RoundResult``.

A transport receives a ``RoundRequest`` (what to run, with which inputs, under which plan and
runtime options) and returns a ``RoundResult``: every failure (a crash, a timeout, a lost
connection, a missing runtime on a board, a vendor binary that exits non-zero) is a result with
a ``status`` and an ``error``, never an exception. Both are frozen and round-trip through JSON
(``to_dict``/``from_dict``); the runner (``rounds/runner.py``), which runs without xcelerator on
a board, reads the request's ``document()`` and writes the plain JSON that
``RoundResult.from_runner`` reads back. ``measure`` (which combines rounds into a
``Measurement``) and ``targets`` (whose transports run them) both import this package; it
imports neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from xcelerator.rounds.inputs import InputSpec
from xcelerator.rounds.plan import Plan

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
