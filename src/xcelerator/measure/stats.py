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

from collections.abc import Sequence
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
    # the spread of the median between runs on this target (relative SD, from ``RunNoise``) that
    # the CI includes; None when the target is not calibrated (the CI then covers this run only)
    between_run_sd: float | None = None
    ci_basis: str = "rounds"

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


def compute(rounds: list[list[float]], level: float = 0.95, noise: RunNoise | None = None, sha256: str = "") -> Stats:
    """Stats over all samples of all rounds (each round a list of ms). With ``noise`` (the
    target's calibrated spread between runs) the CI also holds ``median * exp(±t * sqrt(sd_b² +
    s_r²/k))``: the run-level effect ``sd_b`` that no round of this run can see, plus the spread of
    this run's k round medians (``s_r``, log scale), t with Welch-Satterthwaite degrees of
    freedom. ``sha256`` lets the model's own history (``RunNoise.sd_at``) take precedence."""
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
        lo = max(lo, float(x.min()))  # this run's median is never below its fastest run
    between: float | None = None
    basis = "rounds"
    if noise is not None and len(meds) >= 2:  # another run's median may well be: no floor here
        between, df_b, basis = noise.sd_at(med, sha256)
        half = between_half_width(meds, between, df_b, level)
        lo, hi = min(lo, med * float(np.exp(-half))), max(hi, med * float(np.exp(half)))
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
        between_run_sd=between,
        ci_basis=basis,
    )


def between_half_width(meds: Sequence[float], sd_b: float, df_b: int, level: float = 0.95) -> float:
    """Half-width (log scale) of ``median * exp(±h)``: the run-level spread ``sd_b`` (estimated with
    ``df_b`` degrees of freedom) plus the k round medians' own (variance s_r²/k, k-1 degrees of
    freedom), with a Welch-Satterthwaite t."""
    lm = np.log(np.asarray(meds, dtype=float))
    k = len(lm)
    a = sd_b**2
    b = float(lm.var(ddof=1)) / k if k > 1 else 0.0
    if a + b <= 0:
        return 0.0
    den = (a * a / max(df_b, 1) if a else 0.0) + (b * b / (k - 1) if b and k > 1 else 0.0)
    df = (a + b) ** 2 / den if den > 0 else float(max(df_b, 1))
    return float(sps.t.ppf(0.5 + level / 2, max(df, 1.0))) * float(np.sqrt(a + b))


def rounds_settled(meds: Sequence[float], noise: RunNoise, sha256: str = "") -> bool:
    """Whether more rounds can no longer narrow the CI much: the round medians' own variance
    (s_r²/k) is at most a quarter of the run-level one (it then widens the interval by at most
    12%), so rounds stop on the interval that is reported."""
    if len(meds) < 2:
        return False
    lm = np.log(np.asarray(meds, dtype=float))
    sd_b, _, _ = noise.sd_at(float(np.median(meds)), sha256)
    return float(lm.var(ddof=1)) / len(lm) <= 0.25 * sd_b**2


@dataclass(frozen=True)
class NoisePoint:
    """One model's spread between runs on a target: the relative SD of its run medians beyond
    what their rounds explain (one-way random effects on log round medians), ``df`` = runs - 1."""

    sha256: str
    name: str
    latency_ms: float
    sd: float
    df: int
    runs: int


@dataclass(frozen=True)
class RunNoise:
    """How much a run's median moves between runs (processes minutes apart) on one target, the
    part of the noise that lives outside one run (here: the machine's state, which flips between
    a fast and a slow mode for seconds to minutes and moves every model together). Learned from
    repeated measurements in the store (``xcel calibrate``, or any repeats): per model, a
    random-effects estimate; across models, a log-log line of SD against latency (small models
    are the noisiest), clamped to the calibrated latency range. A model with its own repeats (4
    or more degrees of freedom) uses its own estimate."""

    target: str
    points: tuple[NoisePoint, ...]

    @property
    def df(self) -> int:
        return sum(p.df for p in self.points)

    def sd_at(self, latency_ms: float, sha256: str = "") -> tuple[float, int, str]:
        """(relative SD, degrees of freedom, basis) at a median of ``latency_ms``."""
        own = next((p for p in self.points if sha256 and p.sha256 == sha256 and p.df >= 4), None)
        if own is not None:
            return own.sd, own.df, f"rounds + {own.runs} earlier runs of this model"
        pts = [p for p in self.points if p.latency_ms > 0]
        basis = f"rounds + target calibration ({len(pts)} models, {sum(p.runs for p in pts)} runs)"
        if len(pts) == 1 or len({round(np.log(p.latency_ms), 3) for p in pts}) < 2:
            sd = float(np.sqrt(sum(p.df * p.sd**2 for p in pts) / max(self.df, 1)))
            return sd, self.df, basis
        x = np.log([p.latency_ms for p in pts])
        y = np.log([max(p.sd, 1e-4) for p in pts])
        w = np.array([p.df for p in pts], dtype=float)
        slope, icpt = np.polyfit(x, y, 1, w=np.sqrt(w))
        xq = float(np.clip(np.log(latency_ms), x.min(), x.max()))
        return float(np.exp(icpt + slope * xq)), self.df, basis

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "points": [asdict(p) for p in self.points], "df": self.df}


def run_noise(target: str, groups: Sequence[tuple[str, str, Sequence[Sequence[float]]]]) -> RunNoise | None:
    """``RunNoise`` from repeated runs: ``groups`` are (sha256, name, runs), each run its round
    medians (ms). A model needs 3 or more runs of 2 or more rounds; None when no model has."""
    pts = []
    for sha, name, runs in groups:
        runs = [r for r in runs if len(r) >= 2 and min(r) > 0]
        if len(runs) < 3:
            continue
        logs = [np.log(np.asarray(r, dtype=float)) for r in runs]
        means = np.array([float(v.mean()) for v in logs])
        within = float(np.mean([v.var(ddof=1) / len(v) for v in logs]))
        sd2 = max(0.0, float(means.var(ddof=1)) - within)
        lat = float(np.exp(np.median(means)))
        pts.append(NoisePoint(sha, name, lat, float(np.sqrt(sd2)), len(runs) - 1, len(runs)))
    return RunNoise(target, tuple(sorted(pts, key=lambda p: p.latency_ms))) if pts else None
