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

Rounds taken within one run do not sample how the machine's state drifts over minutes; a
``RunNoise`` adds that spread to the interval (``compute(..., noise=)``), so that it covers the
median of a repeat minutes later. Its basis (``Stats.ci_basis``) is one of ``BASES``:

* ``calibrated``: the target's spread from an ``xcel calibrate`` run in the store;
* ``model history``: no calibration, but the store holds repeated runs of models on the target
  (every ``profile``/``compare`` adds some: runs of one model minutes apart are calibration data);
* ``prior``: neither; a conservative spread by latency class, measured here and shipped with
  the package (``prior.json``: its machine, date and command inside);
* ``rounds only``: asked for (``--ci rounds``): the interval covers this run's rounds only.

A learned spread is pooled with the prior as ``PRIOR_DF`` pseudo-degrees of freedom, so one
repeated model does not narrow the interval at once, and a handful of runs outweigh the prior.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

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

# rounds whose medians step apart by this ratio or more ran at two speeds (``Stats.round_groups``)
SPLIT_RATIO = 1.3


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
    # the CI includes; None for a CI of this run's rounds only (``ci_basis``)
    between_run_sd: float | None = None
    ci_basis: str = "rounds only"  # one of BASES
    ci_detail: str = ""  # what the spread was learned from, in words

    @property
    def rel_ci(self) -> float:
        """Relative half-width of the CI of the median."""
        return (self.ci_high_ms - self.ci_low_ms) / 2 / self.median_ms if self.median_ms > 0 else float("inf")

    @property
    def round_groups(self) -> tuple[tuple[int, float], tuple[int, float]] | None:
        """Where the rounds ran at two speeds: ((rounds, median ms) of the fast group, of the
        slow one), else None. Two groups: the widest step between the sorted round medians is a
        ratio of ``SPLIT_RATIO`` or more, with at least two rounds on each side (one slow round is
        an outlier, not a second speed). Seen here at two threads on two cores: whole rounds at
        1.2 ms or at 2.6 ms, so the median is whichever group holds more rounds."""
        m = sorted(x for x in self.round_medians_ms if x > 0)
        if len(m) < 4:
            return None
        ratio, i = max((m[k + 1] / m[k], k) for k in range(len(m) - 1))
        fast, slow = m[: i + 1], m[i + 1 :]
        if ratio < SPLIT_RATIO or min(len(fast), len(slow)) < 2:
            return None
        return (len(fast), float(np.median(fast))), (len(slow), float(np.median(slow)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["round_medians_ms"] = list(self.round_medians_ms)
        d["rel_ci"] = self.rel_ci
        g = self.round_groups
        d["round_groups"] = [{"rounds": n, "median_ms": ms} for n, ms in g] if g else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stats:
        d = {k: v for k, v in d.items() if k not in ("rel_ci", "round_groups")}
        d["round_medians_ms"] = tuple(d.get("round_medians_ms", ()))
        return cls(**d)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile. scipy.special, imported here: ``scipy.stats`` takes 1.6 s to import,
    which every ``xcel`` command would pay before it parses its arguments."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def _binom_half_cdf(j: int, n: int) -> float:
    """P(Binom(n, 1/2) <= j)."""
    from scipy.special import bdtr

    return float(bdtr(j, n, 0.5)) if j >= 0 else 0.0


def _binom_half_ppf(q: float, n: int) -> int:
    """The smallest j with P(Binom(n, 1/2) <= j) >= q (scipy.stats.binom.ppf), by bisection."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if _binom_half_cdf(mid, n) >= q:
            hi = mid
        else:
            lo = mid + 1
    return lo


def order_stat_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Exact distribution-free CI of the median from order statistics (x need not be sorted)."""
    n = len(x)
    xs = np.sort(x)
    if n < 6:
        return float(xs[0]), float(xs[-1])
    alpha = 1 - level
    # largest j with P(Binom(n, .5) < j) <= alpha/2  → interval [x_(j), x_(n-j+1)] (1-based)
    j = _binom_half_ppf(alpha / 2, n)
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
        cov = 1 - 2 * _binom_half_cdf(j - 1, k)
        if cov >= level:
            best_j, best_cov = j, cov
        else:
            break
    return xs[best_j - 1], xs[k - best_j], best_cov


def compute(rounds: list[list[float]], level: float = 0.95, noise: RunNoise | None = None, sha256: str = "") -> Stats:
    """Stats over all samples of all rounds (each round a list of ms). With ``noise`` (the
    target's calibrated spread of a run's median between runs) the CI also holds ``median *
    exp(±t * sd)``: ``sd`` the relative SD of whole runs' medians at this latency, t with the
    calibration's degrees of freedom, so it covers the median of a repeat minutes later (the
    rounds of one run cannot see that spread). ``sha256`` lets the model's own repeats
    (``RunNoise.sd_at``) take precedence."""
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
    basis, detail = "rounds only", f"the spread of this run's {len(meds)} rounds"
    if noise is not None:  # another run's median may well be below this run's fastest (one round too)
        between, df_b, detail = noise.sd_at(med, sha256)
        basis = noise.source
        if noise.rounds > len(meds):  # runs shorter than the calibrated ones spread more
            between *= float(np.sqrt(noise.rounds / len(meds)))
        half = t_quantile(0.5 + level / 2, max(df_b, 1)) * between
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
        ci_detail=detail,
    )


@dataclass(frozen=True)
class NoisePoint:
    """One model's spread between runs on a target: the SD of the log of its runs' medians (the
    statistic that is reported, so whatever moves it counts: the rounds' own spread, the state of
    the machine, and a median that jumps between the modes of a bimodal machine), ``df`` = runs
    - 1; ``rounds``: the median rounds per run (a run with fewer may spread more)."""

    sha256: str
    name: str
    latency_ms: float
    sd: float
    df: int
    runs: int
    rounds: int = 0


@dataclass(frozen=True)
class RunNoise:
    """How much a run's median moves between runs (processes minutes apart) on one target, the
    part of the noise that lives outside one run (here: the machine's state, which flips between
    a fast and a slow mode for seconds to minutes and moves every model together). Learned from
    repeated measurements in the store (``xcel calibrate``, or any repeats): per model, the SD
    of log run medians; across models, log SD against log latency (small models are the
    noisiest), interpolated between the two references around a latency and clamped to the
    calibrated range. A model with its own repeats (4 or
    more degrees of freedom) uses its own estimate. Why not a random-effects split into within-
    and between-run parts: on this machine the median of a run jumps between the modes of a
    bimodal machine state, which the rounds' spread does not predict; the SD of whole runs'
    medians is what a repeat will differ by."""

    target: str
    points: tuple[NoisePoint, ...]
    source: str = "calibrated"  # calibrated | model history | prior (``BASES``)
    prior: RunNoise | None = None  # pooled in as PRIOR_DF pseudo-degrees of freedom (``with_prior``)
    machine: str = ""  # the prior's: where and when it was measured

    @property
    def df(self) -> int:
        return sum(p.df for p in self.points)

    @property
    def rounds(self) -> int:
        """Rounds per run the spread was calibrated on (the fewest of its models)."""
        return min((p.rounds for p in self.points), default=0)

    def sd_at(self, latency_ms: float, sha256: str = "") -> tuple[float, int, str]:
        """(relative SD, degrees of freedom, what it was learned from) at a median of
        ``latency_ms``; a learned spread pooled with the prior, when it has one."""
        sd, df, detail = self._learned(latency_ms, sha256)
        if self.prior is None:
            return sd, df, detail
        p_sd, p_df, _ = self.prior._learned(latency_ms)
        pooled = float(np.sqrt((p_df * p_sd**2 + df * sd**2) / (p_df + df)))
        return pooled, df + p_df, f"{detail}, pooled with the shipped prior ({p_sd:.1%} here, as {p_df} df)"

    def _learned(self, latency_ms: float, sha256: str = "") -> tuple[float, int, str]:
        if self.source == "prior":  # a step by latency class: the class's upper bound above this latency
            pts = sorted(self.points, key=lambda p: p.latency_ms)
            p = next((p for p in pts if latency_ms < p.latency_ms), pts[-1])
            return p.sd, p.df, f"the shipped prior for {p.name}"
        own = next((p for p in self.points if sha256 and p.sha256 == sha256 and p.df >= 4), None)
        if own is not None:
            return own.sd, own.df, f"rounds + {own.runs} earlier runs of this model"
        pts = [p for p in self.points if p.latency_ms > 0]
        learned = "calibration" if self.source == "calibrated" else "history"
        basis = f"rounds + target {learned} ({len(pts)} models, {sum(p.runs for p in pts)} runs)"
        if len(pts) == 1 or len({round(np.log(p.latency_ms), 3) for p in pts}) < 2:
            sd = float(np.sqrt(sum(p.df * p.sd**2 for p in pts) / max(self.df, 1)))
            return sd, self.df, basis
        # between the two references that bracket this latency, linear in log SD against log
        # latency (clamped at the ends): the spread is not a straight line in latency here (a
        # 1.2 ms model spread 16 % while a line through 0.4, 11 and 63 ms references said 7.5 %),
        # so a dense set of references is followed, not smoothed; df are those two references'
        pts = sorted(pts, key=lambda p: p.latency_ms)
        xq = float(np.log(latency_ms))
        if xq <= np.log(pts[0].latency_ms):
            return pts[0].sd, pts[0].df, basis
        if xq >= np.log(pts[-1].latency_ms):
            return pts[-1].sd, pts[-1].df, basis
        i = next(i for i in range(1, len(pts)) if np.log(pts[i].latency_ms) >= xq)
        a, b = pts[i - 1], pts[i]
        xa, xb = np.log(a.latency_ms), np.log(b.latency_ms)
        f = 0.0 if xb == xa else (xq - xa) / (xb - xa)
        ly = (1 - f) * np.log(max(a.sd, 1e-4)) + f * np.log(max(b.sd, 1e-4))
        return float(np.exp(ly)), a.df + b.df, basis

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "points": [asdict(p) for p in self.points], "df": self.df, "source": self.source}


BASES = ("calibrated", "model history", "prior", "rounds only")
PRIOR_DF = 4  # the prior weighs as much as one model run five times


@functools.cache
def _prior_table() -> dict[str, Any]:
    """``prior.json``, read once per process (every measurement session asks for the prior)."""
    return dict(json.loads(Path(__file__).with_name("prior.json").read_text()))


def prior_noise(target: str = "") -> RunNoise:
    """The shipped prior (``prior.json``, written by ``benchmarks/prior.py``): per latency class
    (upper bound in ms), a relative SD of whole runs' medians, the largest any calibration on the
    machines this project measured on showed in that class (so it errs wide), counted as
    ``PRIOR_DF`` degrees of freedom."""
    doc = _prior_table()
    m = doc["measured"]
    pts = tuple(
        NoisePoint(
            "",
            f"{c['name']}: {c['from']}",
            float(c["below_ms"]),
            float(c["sd"]),
            PRIOR_DF,
            PRIOR_DF + 1,
            int(m["rounds"]),
        )
        for c in doc["classes"]
    )
    return RunNoise(target, pts, source="prior", machine=f"{m['machine']}, {m['date']}")


def with_prior(learned: RunNoise | None, target: str, ci: str = "auto") -> RunNoise | None:
    """The spread a measurement on ``target`` adds to its CI: none with ``ci="rounds"``; the
    prior where nothing was learned; else what was learned (``Store.run_noise``), pooled with
    the prior."""
    if ci == "rounds":
        return None
    prior = prior_noise(target)
    return prior if learned is None else replace(learned, prior=prior)


def run_noise(
    target: str, groups: Sequence[tuple[str, str, Sequence[tuple[float, int]]]], source: str = "calibrated"
) -> RunNoise | None:
    """``RunNoise`` from repeated runs: ``groups`` are (sha256, name, runs), each run its
    (median ms, rounds). A model needs 3 or more runs; None when no model has. ``source``:
    ``calibrated`` or ``model history`` (``BASES``)."""
    pts = []
    for sha, name, runs in groups:
        ok = [(m, k) for m, k in runs if m and m > 0]
        if len(ok) < 3:
            continue
        logs = np.log([m for m, _ in ok])
        lat = float(np.exp(np.median(logs)))
        rounds = int(np.median([k for _, k in ok]))
        pts.append(NoisePoint(sha, name, lat, float(logs.std(ddof=1)), len(ok) - 1, len(ok), rounds))
    return RunNoise(target, tuple(sorted(pts, key=lambda p: p.latency_ms)), source=source) if pts else None
