"""``Measurement``: the rounds of one (artifact, target, plan) triple combined, frozen, and
round-tripping through JSON (``to_dict``/``from_dict``). The round records it is made of
(``RoundRequest``, ``RoundResult``, ``LayerTime``) live in ``xcelerator.rounds.records`` and are
re-exported here, where plug-in transports have imported them from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xcelerator.measure import stats as st
from xcelerator.rounds.plan import Plan
from xcelerator.rounds.records import STATUSES, LayerTime, RoundRequest, RoundResult

__all__ = ["STATUSES", "LayerTime", "Measurement", "RoundRequest", "RoundResult"]


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
    def reduced_precision(self) -> str | None:
        """``bfloat16`` or ``float16`` where the runtime says it ran the model at that precision
        by its own choice (OpenVINO's default hint on a CPU with bf16 instructions), else None:
        such a time is not an FP32 time, and its outputs differ from FP32's."""
        p = str((self.env or {}).get("precision", "")).lower()
        if "bf16" in p or "bfloat16" in p:
            return "bfloat16"
        if "f16" in p or "float16" in p:
            return "float16"
        return None

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
                round_groups=sd["round_groups"],
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
