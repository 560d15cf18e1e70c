"""The spread between runs: estimated from repeats (the SD of runs' medians), put into the CI, learned by
``xcel calibrate`` on a real runtime and used by later profiles of the same database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import one_line_error, xcel
from xcelerator.measure.stats import BASES, PRIOR_DF, RunNoise, compute, prior_noise, run_noise, with_prior


def _runs(rng: np.random.Generator, median: float, sd_b: float, n_runs: int, k: int = 6) -> list[list[list[float]]]:
    """Runs of k rounds of 50 samples: a run-level factor exp(N(0, sd_b)) that rounds share,
    a round-level factor exp(N(0, 0.02)), a sample-level lognormal(0, 0.05)."""
    out = []
    for _ in range(n_runs):
        run_f = median * np.exp(rng.normal(0, sd_b))
        out.append([list(run_f * np.exp(rng.normal(0, 0.02)) * rng.lognormal(0, 0.05, 50)) for _ in range(k)])
    return out


def _summary(runs: list[list[list[float]]]) -> list[tuple[float, int]]:
    """What the store keeps of each run: its median (of all samples) and its rounds."""
    return [(float(np.median(np.concatenate(r))), len(r)) for r in runs]


def test_spread_of_run_medians_is_estimated_per_model_and_across_latencies() -> None:
    rng = np.random.default_rng(0)
    groups = [
        ("a" * 64, "small", _summary(_runs(rng, 1.0, 0.25, 40))),
        ("b" * 64, "big", _summary(_runs(rng, 50.0, 0.08, 40))),
    ]
    noise = run_noise("t", groups)
    assert noise is not None
    small, big = noise.points
    assert small.sd == pytest.approx(0.25, rel=0.3) and big.sd == pytest.approx(0.08, rel=0.3)
    assert (small.df, big.df, noise.rounds) == (39, 39, 6)
    # the curve between them is log-log, clamped outside the calibrated range
    mid, _, basis = noise.sd_at(np.sqrt(50.0))
    assert mid == pytest.approx(np.sqrt(small.sd * big.sd), rel=0.01)
    assert noise.sd_at(0.01)[0] == pytest.approx(small.sd, rel=0.01)
    assert noise.sd_at(1e4)[0] == pytest.approx(big.sd, rel=0.01)
    assert "target calibration" in basis
    # a model with its own repeats uses its own estimate
    assert noise.sd_at(10.0, "b" * 64)[0] == big.sd and "this model" in noise.sd_at(10.0, "b" * 64)[2]
    # with a third reference in between, a latency follows the two references around it (a
    # global line would pull the 1-5 ms stretch toward the 50 ms model), with their df
    mid_ref = ("c" * 64, "mid", _summary(_runs(rng, 5.0, 0.03, 10)))
    noise3 = run_noise("t", [*groups, mid_ref])
    assert noise3 is not None
    s, m, _ = sorted(noise3.points, key=lambda p: p.latency_ms)
    sd, df, _ = noise3.sd_at(float(np.sqrt(s.latency_ms * m.latency_ms)))
    assert sd == pytest.approx(np.sqrt(s.sd * m.sd), rel=0.01) and df == s.df + m.df
    assert noise3.sd_at(m.latency_ms)[0] == pytest.approx(m.sd, rel=1e-6)


def test_fewer_than_three_runs_teach_nothing() -> None:
    assert run_noise("t", [("a" * 64, "m", [(1.0, 6), (1.2, 6)])]) is None
    assert run_noise("t", [("a" * 64, "m", [(1.0, 6), (0.0, 6), (None, 6)])]) is None  # type: ignore[list-item]


def test_the_ci_covers_a_repeat_only_when_it_includes_the_spread_between_runs() -> None:
    """Synthetic runs whose median moves 20% between runs: the rounds alone cover the long-run
    median far less than 95%; with a calibration of 10 runs (a new one for every 25 runs: the t
    quantile pays for the estimate's own uncertainty) they cover it at least 90% of the time."""
    rng = np.random.default_rng(1)
    plain = calibrated = trials = 0
    for _ in range(12):
        noise = run_noise("t", [("c" * 64, "ref", _summary(_runs(rng, 5.0, 0.2, 10)))])
        assert isinstance(noise, RunNoise)
        for run in _runs(rng, 5.0, 0.2, 25):
            a, b = compute(run), compute(run, noise=noise)
            trials += 1
            plain += a.ci_low_ms <= 5.0 <= a.ci_high_ms
            calibrated += b.ci_low_ms <= 5.0 <= b.ci_high_ms
            assert b.ci_low_ms <= a.ci_low_ms and b.ci_high_ms >= a.ci_high_ms  # never narrower
            assert b.between_run_sd == pytest.approx(noise.points[0].sd) and a.between_run_sd is None
            # a run of 3 rounds against a calibration on 6: wider by sqrt(2)
            c = compute(run[:3], noise=noise)
            assert c.between_run_sd == pytest.approx(noise.points[0].sd * np.sqrt(2))
    assert plain / trials < 0.6
    assert calibrated / trials >= 0.9


def test_calibrate_then_profile_on_onnxruntime(tmp_path: Path, tiny_onnx: Path) -> None:
    """Real runs: calibrate stores its repeats; a later profile with that database widens its CI
    by the spread they showed and says so; a database without repeats leaves the CI alone."""
    from tests.conftest import make_conv_model

    other = make_conv_model(tmp_path / "other.onnx", cout=16, hw=32)
    fast = ["--rounds", "2", "--threads", "1", "--over", "0"]
    r = xcel("--db", "cal.db", "calibrate", str(tiny_onnx), str(other), "--runs", "3", *fast, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    pts = doc["noise"]["points"]
    assert sorted(p["runs"] for p in pts) == [3, 3] and all(p["sd"] >= 0 for p in pts)
    prof = ["--rounds", "2..3", "--max-time", "0.2", "--min-time", "0.05", "--threads", "1", "--json"]
    third = make_conv_model(tmp_path / "third.onnx", cout=8, hw=24)
    r = xcel("--db", "cal.db", "profile", str(third), *prof, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["measurements"][0]["stats"]
    assert s["ci_basis"] == "calibrated"
    assert s["ci_detail"].startswith("rounds + target calibration (2 models, 6 runs)")
    assert "pooled with the shipped prior" in s["ci_detail"]
    assert s["between_run_sd"] is not None and s["ci_low_ms"] <= s["median_ms"] <= s["ci_high_ms"]
    # a fresh database: the shipped prior, and the one line saying how to narrow it
    r = xcel("--db", "plain.db", "profile", str(third), *prof, cwd=tmp_path)
    s = json.loads(r.stdout)["measurements"][0]["stats"]
    assert s["ci_basis"] == "prior" and s["between_run_sd"] > 0 and "shipped prior" in s["ci_detail"]
    assert "xcel calibrate" in r.stderr
    # this run's rounds only, when asked
    r = xcel("--db", "plain.db", "profile", str(third), *prof, "--ci", "rounds", cwd=tmp_path)
    s = json.loads(r.stdout)["measurements"][0]["stats"]
    assert s["ci_basis"] == "rounds only" and s["between_run_sd"] is None
    # learned as it goes: with three runs of the model in the database, its history (pooled with the prior)
    r = xcel("--db", "plain.db", "profile", str(third), *prof, cwd=tmp_path)
    assert json.loads(r.stdout)["measurements"][0]["stats"]["ci_basis"] == "prior"  # two runs before it
    r = xcel("--db", "plain.db", "profile", str(third), *prof, cwd=tmp_path)
    s = json.loads(r.stdout)["measurements"][0]["stats"]
    assert s["ci_basis"] == "model history" and "pooled with the shipped prior" in s["ci_detail"]
    r = xcel("--db", "plain.db", "profile", str(third), *prof, "--ci", "sometimes", cwd=tmp_path)
    assert r.returncode == 2 and "--ci 'sometimes': expected auto" in one_line_error(r)


def test_calibrate_bad_input_exit_2(tmp_path: Path, tiny_onnx: Path) -> None:
    r = xcel("--db", "cal.db", "calibrate", str(tiny_onnx), "--runs", "2", "--over", "0", cwd=tmp_path)
    assert r.returncode == 2 and "runs must be 3 or more" in one_line_error(r)
    if (tmp_path / "cal.db").exists():
        from xcelerator.store.db import Store

        assert Store(str(tmp_path / "cal.db")).count() == 0  # nothing was measured


def test_the_shipped_prior_covers_by_latency_class_and_gives_way_to_what_is_learned() -> None:
    """The prior: a step by latency class, measured here (its machine and date inside), as
    PRIOR_DF degrees of freedom; a learned spread pooled with it moves toward the learned one as
    its degrees of freedom grow."""
    prior = prior_noise("t")
    assert prior.source == "prior" and prior.machine and len(prior.points) >= 3
    bounds = [p.latency_ms for p in prior.points]
    assert bounds == sorted(bounds)
    for p in prior.points:  # a latency just under a class's bound gets that class's spread
        sd, df, detail = prior.sd_at(p.latency_ms * 0.999)
        assert (sd, df) == (p.sd, PRIOR_DF) and p.name in detail
    rng = np.random.default_rng(3)
    run = _runs(rng, 2.0, 0.1, 1)[0]
    plain, wide = compute(run), compute(run, noise=with_prior(None, "t"))
    assert (plain.ci_basis, wide.ci_basis) == ("rounds only", "prior") and set(BASES) >= {"prior", "rounds only"}
    assert wide.ci_low_ms <= plain.ci_low_ms and wide.ci_high_ms >= plain.ci_high_ms
    assert with_prior(None, "t", ci="rounds") is None
    # a quiet target learned from repeats: the pooled spread lies between the two and nears the
    # learned one with more runs
    p_sd = prior.sd_at(2.0)[0]
    pooled = []
    for n in (3, 8, 40):
        learned = run_noise("t", [("a" * 64, "m", _summary(_runs(rng, 2.0, 0.005, n)))], source="model history")
        assert learned is not None
        sd, df, detail = with_prior(learned, "t").sd_at(2.0)
        assert learned.points[0].sd < sd < p_sd and df == n - 1 + PRIOR_DF and "pooled" in detail
        pooled.append(sd)
    assert pooled[0] > pooled[1] > pooled[2]
    assert compute(run, noise=with_prior(learned, "t")).ci_basis == "model history"


def test_a_new_users_recorded_runs_are_covered_as_the_store_learns() -> None:
    """Recorded: 60 default profiles (three zoo models, 20 runs each, interleaved over ten
    minutes, one fresh database; ``benchmarks/coverage.py --fresh``). Replayed through the
    statistics as the store would see them (each run's spread learned from the runs before it,
    pooled with the shipped prior): the basis moves from the prior to the model's history as the
    recorded runs said, each run's CI covers the median of the other runs at least 90 % of the
    time for every model, and the intervals narrow as the history grows."""
    doc = json.loads((Path(__file__).parent / "fixtures" / "coverage_fresh_runs.json").read_text())
    runs = doc["runs"]
    seen: dict[str, list[tuple[float, int]]] = {}
    cis: dict[str, list[tuple[float, float, float]]] = {}
    for r in runs:
        learned = run_noise(
            "t", [(m, m, list(v)) for m, v in seen.items()], source="model history"
        )  # the store's repeats, before this run
        s = compute([[x] for x in r["round_medians"]], noise=with_prior(learned, "t"), sha256=r["model"])
        assert s.ci_basis == r["basis"]  # as recorded live
        cis.setdefault(r["model"], []).append((s.ci_low_ms, s.median_ms, s.ci_high_ms))
        seen.setdefault(r["model"], []).append((r["median"], len(r["round_medians"])))
    for model, rows in cis.items():
        meds = [m for m, _ in seen[model]]
        hits = [lo <= float(np.median(meds[:i] + meds[i + 1 :])) <= hi for i, (lo, _, hi) in enumerate(rows)]
        assert sum(hits) / len(hits) >= 0.9, (model, hits)
        half = [(hi - lo) / 2 / med for lo, med, hi in rows]
        assert half[-1] < 0.75 * half[0]  # the prior gave way to what the store learned
