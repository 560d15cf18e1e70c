"""Predict, then measure when unsure: the latency of a search or optimize candidate.

``--latency measured`` measures every candidate on the device (the default without a cost
model). ``predicted`` never does: the cost model's prediction and its 80% interval stand in.
``hybrid`` (the default when a cost model for the target is given) measures a candidate only
when its predicted interval cannot settle what the search needs to know:

- a latency constraint ``latency <= B``: measured when ``low <= B < high``; a candidate whose
  whole interval lies above B is infeasible without measuring, one whose whole interval lies
  below needs no measurement for the constraint;
- the front of (accuracy, latency) so far: a candidate whose optimistic latency (``low``) is
  still dominated by a point already on the front (at that point's pessimistic latency) cannot
  enter it and is not measured; one that enters it whatever its latency (no point as accurate
  could be as fast as its ``high``, at that point's optimistic latency) is not measured *yet*:
  it is measured at the end if it is still on the front (``search.study._confirm_front``). A
  candidate over the latency bound never joins the front.
- a candidate whose interval cannot decide (it straddles the bound, or may or may not enter the
  front) is not measured yet either: it is *unsettled*. At the end of the run, once every point
  of the front is measured, each unsettled candidate that is still neither surely infeasible
  nor surely dominated (by a measured point, or by a predicted one at its pessimistic latency)
  is measured, most accurate first, and the check is repeated after each measurement
  (``LatencyOracle.unsettled``). Deciding at the end decides against the run's final front, not
  against the front as it stood when the candidate was trained: most candidates that could have
  entered an early front are dominated by the end and never cost a measurement. The guarantee
  is the same as deciding at once: no candidate left unmeasured could be on the front within
  its interval. ``defer=False`` measures unsettled candidates at once instead.

So every point of the reported front carries a measured latency, and a candidate that is later
pushed off the front never costs a measurement. With objectives other than accuracy and latency
there is no front rule, and an unsettled candidate is measured at once.

The first candidate, the baseline, is always measured: speed-ups and constraints relative to
the baseline refer to it. Every measurement refines the predictor: the log ratio
measured/predicted of the run's measured candidates gives a bias (their mean) that shifts later
predictions and a spread (their SD) below which the interval does not shrink, so a predictor
that carries over from another device or corpus is corrected by the run's own device. At the
end the intervals of the unsettled candidates are recomputed with every measurement so far.

Why not refit the cost model itself: a saved predictor holds its boosters, not its training
corpus, and a few search candidates would not move a fit on hundreds of networks; a bias and a
spread learned from those candidates is what they can teach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError

MODES = ("predicted", "measured", "hybrid")
DEFERRED = "on the front whatever its latency: measured at the end if it is still there"
UNSETTLED = "undecided by its interval: measured at the end if it can still enter the front"
FIRST = "the first candidate (the baseline): always measured"
Z80 = 1.2816


@dataclass(frozen=True)
class LatencyDecision:
    """What the oracle decided for one candidate: measure it or not, and why."""

    measure: bool
    reason: str
    latency_ms: float | None = None  # the (bias-corrected) prediction
    low_ms: float | None = None
    high_ms: float | None = None
    raw_ms: float | None = None  # the cost model's own prediction (for the residual)


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture as the end-of-run check sees it: its accuracy and latency
    interval (a measured one has ``low_ms == high_ms``, its measured latency)."""

    key: str
    accuracy: float
    low_ms: float
    high_ms: float
    measured: bool


@dataclass
class LatencyOracle:
    """Decides per candidate whether to measure (see the module docstring) and keeps the run's
    residuals and front. ``bound``: the latency constraint (ms) or None; ``cost_model``: an
    ``xc.CostModel`` fitted for the target."""

    mode: str
    cost_model: Any = None
    bound: float | None = None
    front: list[tuple[float, float, float, float]] = field(default_factory=list)  # (accuracy, ms, low, high)
    residuals: list[float] = field(default_factory=list)  # log(measured / predicted)
    measured: int = 0
    predicted: int = 0
    front_rule: bool = True  # objectives are accuracy/error and latency only: skip what cannot enter the front
    defer: bool = True  # unsettled candidates are decided at the end (with the front rule on)
    _raw: dict[str, tuple[float, float, float]] = field(default_factory=dict, repr=False)  # path → model's own

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInputError(f"--latency {self.mode!r}: one of {', '.join(MODES)}")
        if self.mode != "measured" and self.cost_model is None:
            raise BadInputError(f"--latency {self.mode} needs a cost model for the target (--cost-model FILE)")

    @classmethod
    def make(
        cls, mode: str | None, cost_model: Any, target: str, constraints: list[Any], objectives: list[str] | None = None
    ) -> LatencyOracle | None:
        """The oracle for a run, or None to measure everything as before. ``mode`` None means
        hybrid when a cost model is given, measured otherwise. Memory goals need a measurement.
        With objectives other than accuracy/error and latency the front rule is off (a point
        dominated in accuracy and latency may still be on a front of more objectives)."""
        if cost_model is not None and not hasattr(cost_model, "predict"):
            from xcelerator.costmodel.model import CostModel

            cost_model = CostModel.load(cost_model)
        mode = mode or ("hybrid" if cost_model is not None else "measured")
        if mode == "measured":
            return None
        if cost_model is not None:
            cost_model.check_target(target)
        bound = None
        for c in constraints:
            if c.name == "memory":
                raise BadInputError(
                    f"--latency {mode} predicts latency only: a memory constraint needs every candidate "
                    "measured (--latency measured)"
                )
            if c.name == "latency" and c.op == "<=" and not c.relative_to_baseline:
                bound = c.value if bound is None else min(bound, c.value)
        front_rule = set(objectives or ["accuracy", "latency"]) <= {"accuracy", "error", "latency"}
        return cls(mode, cost_model, bound, front_rule=front_rule)

    # ------------------------------------------------------------------ predictions
    def _bias(self) -> tuple[float, float]:
        r = self.residuals
        if len(r) < 2:
            return (r[0] if r else 0.0), 0.0
        mean = sum(r) / len(r)
        sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
        return mean, sd

    def predict(self, onnx_path: str | Path) -> tuple[float, float, float, float]:
        """(latency, low, high, the cost model's own latency) in ms: its 80% interval, shifted by
        the run's bias and at least as wide as the run's residual spread."""
        key = str(onnx_path)
        if key not in self._raw:  # the end of a run asks again for every candidate left
            p = self.cost_model.predict(key)
            self._raw[key] = (float(p["latency_ms"]), float(p["low_ms"]), float(p["high_ms"]))
        ms, lo, hi = self._raw[key]
        bias, spread = self._bias()
        half = max(math.log(hi / lo) / 2 if lo > 0 else 0.0, Z80 * spread)
        centre = math.log(ms) + bias
        return math.exp(centre), math.exp(centre - half), math.exp(centre + half), ms

    def decide(self, onnx_path: str | Path, accuracy: float) -> LatencyDecision:
        ms, lo, hi, raw = self.predict(onnx_path)

        def out(measure: bool, why: str) -> LatencyDecision:
            return LatencyDecision(measure, why, ms, lo, hi, raw)

        if self.mode == "predicted":
            return out(False, "predicted (--latency predicted)")
        if self.measured == 0 and self.predicted == 0:
            return out(True, FIRST)
        lazy = self.front_rule and self.defer
        if self.bound is not None and lo > self.bound:
            return out(False, f"infeasible: even {lo:.3g} ms > {self.bound:g}")
        if self.front_rule and any(self._dominates(a, q_hi, accuracy, lo) for a, _, _, q_hi in self.front):
            return out(False, "dominated on the front even at its low latency")
        if self.bound is not None and lo <= self.bound < hi:
            why = f"interval {lo:.3g}-{hi:.3g} ms straddles latency <= {self.bound:g}"
            return out(False, f"{UNSETTLED} ({why})") if lazy else out(True, why)
        if self.front_rule and not any(a >= accuracy and q_lo <= hi for a, _, q_lo, _ in self.front):
            return out(False, DEFERRED)
        return out(False, f"{UNSETTLED} (may enter the front)") if lazy else out(True, "may enter the front")

    def relearn(self, measured: list[tuple[str | Path, float]]) -> None:
        """Set the run's residuals from its measured candidates, (onnx, measured ms) each,
        against the cost model's own predictions: what the end of a run knows, in the driver,
        also when the candidates were measured on Ray workers (each with its own oracle)."""
        self.residuals = [math.log(ms / self.predict(path)[3]) for path, ms in measured if ms > 0]

    def unsettled(self, cands: list[Candidate]) -> list[Candidate]:
        """The predicted candidates that could still be on the (accuracy, latency) front: not
        surely over the latency bound (``low > bound``) and not surely dominated by another
        candidate, a measured one at its latency or a predicted one at its pessimistic latency
        (``high``); only a candidate surely within the bound dominates. Most accurate first."""
        out = [
            c
            for c in cands
            if not c.measured
            and (self.bound is None or c.low_ms <= self.bound)
            and not any(self._dominates(q.accuracy, q.high_ms, c.accuracy, c.low_ms) for q in cands if q is not c)
        ]
        return sorted(out, key=lambda c: -c.accuracy)

    # ------------------------------------------------------------------ run state
    def record(
        self,
        accuracy: float,
        latency_ms: float,
        measured: bool,
        raw_ms: float | None = None,
        low_ms: float | None = None,
        high_ms: float | None = None,
    ) -> None:
        """A candidate's outcome: it joins the front bookkeeping (a predicted one with its
        interval ``low_ms``-``high_ms``); a measured one with the cost model's own prediction
        (``raw_ms``) adds a residual."""
        if measured:
            self.measured += 1
            if raw_ms:
                self.residuals.append(math.log(latency_ms / raw_ms))
            low_ms = high_ms = latency_ms
        else:
            self.predicted += 1
        p = (accuracy, latency_ms, low_ms or latency_ms, high_ms or latency_ms)
        if self.bound is not None and p[2] > self.bound:
            return  # infeasible (surely, for a predicted one): not on the front, dominates nothing
        # a point leaves the bookkeeping only when another is surely better (at its pessimistic latency)
        pts = [*self.front, p]
        self.front = [p for p in pts if not any(self._dominates(q[0], q[3], p[0], p[2]) for q in pts)]

    def _dominates(self, q_acc: float, q_high: float, acc: float, low: float) -> bool:
        """A point (accuracy ``q_acc``, pessimistic latency ``q_high``) surely dominates one of
        accuracy ``acc`` at its optimistic latency ``low``: at least as good in both, better in
        one, and within the latency bound even pessimistically (one across the bound may turn
        out infeasible and dominates nothing)."""
        return (
            q_acc >= acc
            and q_high <= low
            and (q_acc > acc or q_high < low)
            and (self.bound is None or q_high <= self.bound)
        )

    def summary(self) -> dict[str, Any]:
        bias, spread = self._bias()
        return {
            "mode": self.mode,
            "measured": self.measured,
            "predicted": self.predicted,
            "bias": math.exp(bias),
            "residual_sd": spread,
            "bound_ms": self.bound,
        }


def predicted_values(onnx_path: str | Path, accuracy: float, d: LatencyDecision) -> dict[str, float]:
    """A candidate's objective values without a measurement: the predicted latency, and what the
    exported graph itself tells (MACs, parameters, file size). No memory: that needs a run."""
    from xcelerator.models.artifact import load_artifact

    art = load_artifact(onnx_path)
    assert art.stats is not None and d.latency_ms is not None
    return {
        "accuracy": accuracy,
        "error": 1 - accuracy,
        "latency": d.latency_ms,
        "macs": float(art.stats.macs),
        "params": float(art.stats.params),
        "size": float(Path(onnx_path).stat().st_size),
    }


def skip_attrs(d: LatencyDecision) -> dict[str, Any]:
    """What a trial that was not measured records about its latency."""
    return {
        "latency_ci": [d.low_ms, d.high_ms],
        "latency_source": "predicted",
        "latency_reason": d.reason,
    }


def consult(oracle: LatencyOracle | None, onnx_path: str | Path, accuracy: float) -> tuple[Any, Any]:
    """What both evaluators ask before measuring: (the decision or None without an oracle, the
    objective values when the prediction settles it and nothing is to be measured, else None)."""
    if oracle is None:
        return None, None
    d = oracle.decide(onnx_path, accuracy)
    if d.measure:
        return d, None
    values = predicted_values(onnx_path, accuracy, d)
    oracle.record(accuracy, values["latency"], False, low_ms=d.low_ms, high_ms=d.high_ms)
    return d, values
