"""A/B verdicts: is B faster than A on this target, by how much, and how sure are we?

Two measurements compared here were taken interleaved round by round (A B B A ...), so round *i*
of A and round *i* of B saw the same state of the machine (its load, its frequency, the drift of
the hour). On a target whose transport can hold several models in one process (this machine),
models on the same target are timed *side by side* after a first round alone: round *i* is one
process that times every model in alternating 20 ms blocks (``runner.alternate``), so the pair
sees the same machine state to within milliseconds, not seconds, and each new process redraws
what a process decides (memory layout, arena placement). Only those rounds are paired then
(``pairing: "one process"``); elsewhere (a board, a phone, a vendor binary, one target against
another) each round is its own process (``pairing: "separate processes"``). On this shared VM
the log-ratio of one pair spread 1.2-4 % side by side against 13-15 % in separate processes.
The verdict is built on the pairs:

- per pair, the log of the ratio of the round medians, ``d_i = log(median_A_i / median_B_i)``;
- the speed-up is ``exp(mean d)`` (the geometric mean of the paired ratios; > 1: B is faster);
- its 95% CI is ``exp(mean d ± t(k-1) · sd(d) / sqrt(k))`` over the k pairs (Student's t on the
  paired differences: the drift common to A and B cancels, what is left is what differs);
- the verdict is ``faster`` when the whole CI is above 1, ``slower`` when it is below 1, and
  ``no detectable difference`` otherwise, with the smallest difference this run could have
  detected (the CI's half-width, in percent).

A regression gate (``--fail-if-slower 5%``) fails when B is slower than A by more than 5% with
95% confidence: the upper end of the speed-up's CI is below ``1 / 1.05``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from xcelerator.measure.records import Measurement
from xcelerator.measure.stats import t_quantile

FASTER, SLOWER, SAME = "faster", "slower", "no detectable difference"


@dataclass(frozen=True)
class Speedup:
    model: str
    reference: str  # the reference model (or target, for a comparison across targets)
    target: str
    speedup: float | None  # reference time / this time: > 1 is faster
    ci_low: float | None
    ci_high: float | None
    verdict: str
    detectable_pct: float | None  # the smallest difference (in %) this run could tell from none
    pairs: int
    against: str = "model"  # model: against the first model on this target; target: against the first target
    pairing: str = "separate processes"  # or "one process": the pairs were timed side by side

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def slower_than(self, tolerance: float) -> bool:
        """Slower than the reference by more than ``tolerance`` (0.05: 5%) with 95% confidence."""
        return self.ci_high is not None and self.ci_high < 1.0 / (1.0 + tolerance)


def _round_medians(m: Measurement) -> dict[int, tuple[float, int]]:
    import statistics

    return {r.index: (statistics.median(r.samples_ms), r.pid) for r in m.rounds if r.status == "ok" and r.samples_ms}


def paired(ref: Measurement, other: Measurement, label: str = "", level: float = 0.95) -> Speedup:
    """The verdict on ``other`` against ``ref`` from their paired rounds: those timed side by
    side in one process (same index, same process) when there are at least two, else every
    round index both have (each round its own process)."""
    ra, rb = _round_medians(ref), _round_medians(other)
    keys = sorted(i for i in set(ra) & set(rb) if ra[i][1] and ra[i][1] == rb[i][1])
    pairing = "one process"
    if len(keys) < 2:
        keys = sorted(set(ra) & set(rb))
        pairing = "separate processes"
    a, b = {i: ra[i][0] for i in keys}, {i: rb[i][0] for i in keys}
    name = label or ref.model
    if not keys or ref.status != "ok" or other.status != "ok":
        return Speedup(other.model, name, other.target, None, None, None, SAME, None, len(keys), pairing=pairing)
    d = [math.log(a[i] / b[i]) for i in keys]
    k = len(d)
    mean = sum(d) / k
    if k < 2:
        return Speedup(other.model, name, other.target, math.exp(mean), None, None, SAME, None, k, pairing=pairing)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (k - 1))
    half = t_quantile(0.5 + level / 2, k - 1) * sd / math.sqrt(k)
    lo, hi = math.exp(mean - half), math.exp(mean + half)
    verdict = FASTER if lo > 1.0 else SLOWER if hi < 1.0 else SAME
    detectable = 100 * (math.exp(half) - 1)
    return Speedup(other.model, name, other.target, math.exp(mean), lo, hi, verdict, detectable, k, pairing=pairing)


def speedups(measurements: list[Measurement], models: list[str], targets: list[str]) -> list[Speedup]:
    """Every model against the first model on each target, then every target against the first
    target for each model (the reference ``target`` names it)."""
    cell = {(m.model, m.target): m for m in measurements}
    out: list[Speedup] = []
    for t in targets:
        ref = cell.get((models[0], t))
        for model in models[1:]:
            m = cell.get((model, t))
            if ref is not None and m is not None:
                out.append(paired(ref, m, models[0]))
    for model in models:
        ref = cell.get((model, targets[0]))
        for t in targets[1:]:
            m = cell.get((model, t))
            if ref is not None and m is not None:
                s = paired(ref, m, model)
                out.append(Speedup(**{**s.to_dict(), "reference": f"{model} on {targets[0]}", "against": "target"}))
    return out
