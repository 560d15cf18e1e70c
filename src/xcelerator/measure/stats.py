"""Statistics of latency samples, with a CI of the median that covers drift between rounds.

Within one process, the CI of the median is the exact distribution-free order-statistic
interval (binomial, via scipy). Between processes the median itself moves (memory layout,
scheduling): on this class of machine a 1.4 ms model gave medians from 1.0 to 1.6 ms across
processes. So when a measurement has several rounds, we also form a 95% Student-t interval
over the *round medians* (each round's median is one observation of the process-level
median; with k rounds the interval is mean ± t(k-1) s / sqrt(k)), and report the hull of the
two. Distribution-free alternatives over round medians need 6+ rounds for 95% coverage (with
3 rounds [min, max] covers only 75%), which is why we accept the t-interval's normality
assumption here. A CI that only looked at pooled samples would be far too narrow.
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
        m = np.asarray(meds)
        half = float(sps.t.ppf(0.5 + level / 2, len(m) - 1) * m.std(ddof=1) / np.sqrt(len(m)))
        rounds_level = level
        lo, hi = min(lo, float(m.mean()) - half), max(hi, float(m.mean()) + half)
        # with few rounds the t-interval can reach below zero: a median is never below the
        # fastest run that was seen, so the bound stops there
        lo = max(lo, float(x.min()))
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
