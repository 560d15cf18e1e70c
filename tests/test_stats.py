from __future__ import annotations

import numpy as np
import pytest

from xcelerator.measure.stats import compute, order_stat_ci
from xcelerator.rounds.runner import median_ci


def test_stats_agree_with_numpy() -> None:
    rng = np.random.default_rng(1)
    r1, r2 = list(rng.lognormal(0, 0.1, 200)), list(rng.lognormal(0, 0.1, 300))
    s = compute([r1, r2])
    x = np.array(r1 + r2)
    assert s.n == 500 and s.rounds == 2
    assert s.median_ms == pytest.approx(np.median(x))
    assert s.mean_ms == pytest.approx(x.mean())
    assert s.std_ms == pytest.approx(x.std(ddof=1))
    assert s.p99_ms == pytest.approx(np.percentile(x, 99))
    assert s.cv == pytest.approx(x.std(ddof=1) / x.mean())
    assert s.ci_low_ms <= s.median_ms <= s.ci_high_ms


def test_order_statistic_ci_covers_the_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(2)
    true_median = 1.0  # lognormal(0, s) has median exp(0)
    hits = sum(lo <= true_median <= hi for lo, hi in (order_stat_ci(rng.lognormal(0, 0.3, 101)) for _ in range(2000)))
    assert 0.93 <= hits / 2000 <= 0.98


def test_child_side_ci_is_the_exact_one() -> None:
    """The round stops on the interval that is reported: the same order statistics, for any n."""
    rng = np.random.default_rng(3)
    for n in (6, 7, 40, 400, 1001, 20000):
        x = list(rng.normal(10, 1, n))
        _, lo, hi = median_ci(x)
        assert (lo, hi) == order_stat_ci(np.array(x)), n


def test_round_level_ci_covers_the_process_median_about_95_percent() -> None:
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(1000):
        # each process has its own median (drift sd 5%), samples tight around it
        rounds = [list(rng.normal(rng.normal(1.0, 0.05), 0.002, 50)) for _ in range(6)]
        s = compute(rounds)
        hits += s.ci_low_ms <= 1.0 <= s.ci_high_ms
    assert s.rounds_ci_level == pytest.approx(1 - 2 * 0.5**6)  # [min, max] of 6 round medians
    assert 0.95 <= hits / 1000 <= 0.99


def test_ci_covers_drift_between_rounds() -> None:
    rng = np.random.default_rng(4)
    # three processes whose medians differ by +-10%, each very tight inside
    rounds = [list(rng.normal(m, 0.001, 500)) for m in (0.9, 1.0, 1.1)]
    s = compute(rounds)
    pooled_lo, pooled_hi = order_stat_ci(np.concatenate(rounds))
    assert (pooled_hi - pooled_lo) < 0.2 * (s.ci_high_ms - s.ci_low_ms)
    assert s.ci_low_ms <= 0.9 + 0.01 and s.ci_high_ms >= 1.1 - 0.01
    assert s.rounds_ci_level == pytest.approx(0.75)  # three rounds: [min, max] covers 75%, and says so


# round medians (ms) recorded here: mobilenet_v2_0.5_160 on ncnn?threads=2, a two-core machine,
# three runs minutes apart; the first split its rounds between two speeds, the second had one slow
# round, the third ran every round at the slow speed
SPLIT = (1.1979, 1.2231, 2.6209, 2.5861, 2.6527, 2.7154)
ONE_SLOW = (1.1927, 1.2017, 1.2197, 1.1957, 1.1949, 2.6176)
ALL_SLOW = (2.6431, 2.6085, 2.5967, 2.8570, 2.6049, 2.6663)


def test_rounds_at_two_speeds_are_found_and_an_outlier_round_is_not() -> None:
    rng = np.random.default_rng(0)

    def stats(meds: tuple[float, ...]):  # rounds of samples around each recorded median
        return compute([list(m * (1 + 0.01 * rng.standard_normal(200))) for m in meds])

    split = stats(SPLIT)
    (nf, fast), (ns, slow) = split.round_groups
    assert (nf, ns) == (2, 4)
    assert fast == pytest.approx(1.21, rel=0.03) and slow == pytest.approx(2.64, rel=0.03)
    assert stats(ONE_SLOW).round_groups is None
    assert stats(ALL_SLOW).round_groups is None
    assert stats(SPLIT[:3]).round_groups is None  # too few rounds to call two groups
    d = split.to_dict()
    assert [g["rounds"] for g in d["round_groups"]] == [2, 4]
    assert type(split).from_dict(d) == split  # the derived key does not break reading a record back
