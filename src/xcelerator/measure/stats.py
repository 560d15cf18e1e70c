"""Statistics of latency samples, with a CI of the median that covers the spread between processes.

Within one process the CI of the median is the exact distribution-free order-statistic
interval (binomial). Between processes the median itself moves (memory layout, arena
placement, which core, scheduling): here one network's median moved ±20% between processes
while staying within ±1% inside one. So the reported interval is built on the *round medians*
(each round a fresh process, one observation of the process-level median), distribution-free:
with k rounds the interval ``[x_(j), x_(k-j+1)]`` of the sorted round medians covers their
median with probability ``1 - 2 P(Binom(k, 1/2) <= j-1)``; j is the largest that keeps this at
95% or more, which needs 6 rounds (``[min, max]`` of 6 covers 96.9%; 3 rounds cover only 75%,
and ``rounds_ci_level`` then says so). The reported CI is the hull of that interval and the
pooled within-process one, never below the fastest run. The same interval decides when to stop
adding rounds (``Plan``), so what stops the measurement is what is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

# the statistics every measurement reports (the JSON contract of profile/compare, the CSV export)
STATS_KEYS = (
    "n",
    "mean_ms",
    "median_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "cv",
    "ci_low_ms",
    "ci_high_ms",
)


@dataclass(frozen=True)
class Stats:
    n: int
    mean_ms: float
    median_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    cv: float
    ci_low_ms: float
    ci_high_ms: float
    rounds: int = 1
    round_medians_ms: tuple[float, ...] = ()
    rounds_ci_level: float | None = None

    @property
    def rel_ci(self) -> float:
        """Relative half-width of the CI of the median."""
        return (self.ci_high_ms - self.ci_low_ms) / 2 / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["round_medians_ms"] = list(self.round_medians_ms)
        d["rel_ci"] = self.rel_ci
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stats:
        d = {k: v for k, v in d.items() if k != "rel_ci"}
        d["round_medians_ms"] = tuple(d.get("round_medians_ms", ()))
        return cls(**d)


def order_stat_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Exact distribution-free CI of the median from order statistics (x need not be sorted)."""
    n = len(x)
    xs = np.sort(x)
    if n < 6:
        return float(xs[0]), float(xs[-1])
    alpha = 1 - level
    # largest j with P(Binom(n, .5) < j) <= alpha/2  → interval [x_(j), x_(n-j+1)] (1-based)
    j = int(sps.binom.ppf(alpha / 2, n, 0.5))
    j = max(j, 1)
    return float(xs[j - 1]), float(xs[n - j])


def rounds_interval(meds: list[float] | tuple[float, ...], level: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free interval for the median of the round medians: (low, high, the coverage
    it has). With fewer than 6 rounds it is ``[min, max]`` at the lower coverage it has."""
    xs = sorted(meds)
    k = len(xs)
    if k == 0:
        raise ValueError("no rounds")
    best_j, best_cov = 1, 1 - 2 * 0.5**k
    for j in range(1, k // 2 + 1):
        cov = 1 - 2 * float(sps.binom.cdf(j - 1, k, 0.5))
        if cov >= level:
            best_j, best_cov = j, cov
        else:
            break
    return xs[best_j - 1], xs[k - best_j], best_cov


def compute(rounds: list[list[float]], level: float = 0.95) -> Stats:
    """Stats over all samples of all rounds (each round a list of ms)."""
    rounds = [r for r in rounds if r]
    if not rounds:
        raise ValueError("no samples")
    x = np.concatenate([np.asarray(r, dtype=float) for r in rounds])
    med = float(np.median(x))
    lo, hi = order_stat_ci(x, level)
    meds = tuple(float(np.median(r)) for r in rounds)
    rounds_level: float | None = None
    if len(meds) >= 2:
        rlo, rhi, rounds_level = rounds_interval(meds, level)
        lo, hi = min(lo, rlo), max(hi, rhi)
        lo = max(lo, float(x.min()))  # a median is never below the fastest run that was seen
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    p90, p95, p99 = (float(v) for v in np.percentile(x, [90, 95, 99]))
    return Stats(
        n=len(x),
        mean_ms=mean,
        median_ms=med,
        std_ms=std,
        min_ms=float(x.min()),
        max_ms=float(x.max()),
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        cv=std / mean if mean > 0 else 0.0,
        ci_low_ms=lo,
        ci_high_ms=hi,
        rounds=len(rounds),
        round_medians_ms=meds,
        rounds_ci_level=rounds_level,
    )
