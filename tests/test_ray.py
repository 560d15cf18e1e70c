"""The Ray executor on a real local Ray instance with two simulated devices (custom resources
``device:a`` and ``device:b``, each an ONNX Runtime target pinned to one thread): a parallel
search, a task that kills its own worker (retried, then failed with the reason), measurements
that never overlap on one device, and the cluster's devices listed."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

ray = pytest.importorskip("ray")

from xcelerator.cli.main import main  # noqa: E402
from xcelerator.executors import RayExecutor  # noqa: E402
from xcelerator.nas.protocol import Outcome  # noqa: E402
from xcelerator.nas.study import SearchConfig, run_search  # noqa: E402
from xcelerator.nas.toy import ToySpace, toy_values  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():  # type: ignore[no-untyped-def]
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test evaluators travel by value
    ray.init(
        num_cpus=3,
        resources={"device:a": 1, "device:b": 1},
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()


class SlowToy:
    """The toy problem, taking ``delay`` seconds, recording when each evaluation ran."""

    def __init__(self, delay: float = 0.3) -> None:
        self.space = ToySpace()
        self.delay = delay

    def evaluate(self, point: dict[str, Any], tag: str = "") -> Outcome:
        p = self.space.check(point)
        t0 = time.time()
        time.sleep(self.delay)
        return Outcome(toy_values(p), {"arch": self.space.arch_id(p), "ran": [t0, time.time()], "pid": os.getpid()})


class KillsItsWorker(SlowToy):
    """Kills the worker process running it: once per point (``marker`` folder), or, with
    ``always``, every time for every point but the baseline (width 1, depth 1)."""

    def __init__(self, marker: str, always: bool = False) -> None:
        super().__init__(0.05)
        self.marker, self.always = marker, always

    def evaluate(self, point: dict[str, Any], tag: str = "") -> Outcome:
        p = self.space.check(point)
        flag = Path(self.marker) / self.space.arch_id(p)
        baseline = p["width"] == pytest.approx(1.0) and p["depth"] == pytest.approx(1.0)
        if (self.always and not baseline) or (not self.always and not flag.exists()):
            flag.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(point, tag)


def _cfg(name: str, trials: int, strategy: str = "random") -> SearchConfig:
    return SearchConfig(
        benchmark="toy", objectives=["accuracy", "latency"], strategy=strategy, trials=trials, study=name, seed=1
    )


def test_parallel_search_runs_trials_at_once(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 's.db'}"
    exe = RayExecutor(max_in_flight=2)
    res = run_search(_cfg("par", 9), url, evaluator=SlowToy(0.4), executor=exe)
    study = optuna.load_study(study_name="par", storage=url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 9 and len(res.trials) == 9
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    # after the baseline, two evaluations overlapped in time (two in flight, two CPUs free)
    spans = sorted(tuple(t.user_attrs["ran"]) for t in done if t.user_attrs.get("role") != "baseline")
    overlaps = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlaps >= 2, spans
    # the baseline ran alone, first: every other trial started after it ended
    base = next(t for t in done if t.user_attrs.get("role") == "baseline")
    assert all(s[0] >= base.user_attrs["ran"][1] - 1e-3 for s in spans)


@pytest.mark.slow  # ~60 s; a task that dies every time is failed with its reason in the fast suite
def test_killed_worker_is_retried_and_study_stays_consistent(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'k.db'}"
    marker = tmp_path / "marks"
    marker.mkdir()
    exe = RayExecutor(max_in_flight=2, max_retries=2)
    run_search(_cfg("kill", 6), url, evaluator=KillsItsWorker(str(marker)), executor=exe)
    study = optuna.load_study(study_name="kill", storage=url)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 6, [t.user_attrs.get("error") for t in study.trials]
    assert len(list(marker.iterdir())) >= 5  # each point's first attempt died; the retry finished it


def test_task_dying_every_time_fails_its_trial_with_the_reason(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'f.db'}"
    marker = tmp_path / "m"
    marker.mkdir()
    exe = RayExecutor(max_in_flight=2, max_retries=1)
    res = run_search(_cfg("die", 5), url, evaluator=KillsItsWorker(str(marker), always=True), executor=exe)
    study = optuna.load_study(study_name="die", storage=url)
    states = {t.number: t.state for t in study.trials}
    assert states[0] == optuna.trial.TrialState.COMPLETE  # the baseline
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 4 and len(study.trials) == 5
    for t in failed:
        assert "after 1 retries" in t.user_attrs["error"], t.user_attrs["error"]
    assert res.best is not None and res.best["number"] == 0


def test_measurements_on_one_device_never_overlap(ray_local, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.store.db import Store

    db = tmp_path / "c.db"
    args = ["--db", str(db), "characterize", "--space", "mobilegen", "--count", "4"]
    args += ["-o", "resolution=64", "-o", "macs_min=3e6", "-o", "macs_max=3e7"]
    args += ["-t", "onnxruntime?threads=1&resource=a", "-t", "onnxruntime?threads=1&resource=b"]
    args += ["--rounds", "1", "--min-time", "0.2", "--executor", "ray", "--in-flight", "4", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["measured"] == 8 and doc["failed"] == 0
    rows = [m for _, m in Store(str(db)).measurements()]
    for dev in ("a", "b"):
        spans = sorted((m.started, m.finished) for m in rows if f"resource={dev}" in m.target)
        assert len(spans) == 4
        for (s0, e0), (s1, _) in itertools.pairwise(spans):
            assert s1 >= e0, f"device {dev}: measurements overlap ({s0}-{e0} and {s1})"
    # the two devices did work side by side
    a = [(m.started, m.finished) for m in rows if "resource=a" in m.target]
    b = [(m.started, m.finished) for m in rows if "resource=b" in m.target]
    assert any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)


def test_unknown_device_resource_is_refused(ray_local, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--db", str(tmp_path / "u.db"), "characterize", "--space", "mobilegen", "--count", "1"]
    args += ["-o", "resolution=64", "-o", "macs_min=3e6", "-o", "macs_max=3e7"]
    args += ["-t", "onnxruntime?resource=pixel9", "--executor", "ray"]
    assert main(args) == 2
    assert "no node of the Ray cluster offers 'device:pixel9'" in capsys.readouterr().err


def test_targets_ray_lists_the_devices(ray_local, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["targets", "--ray", "--json"]) == 0
    devs = {d["device"] for d in json.loads(capsys.readouterr().out)["devices"]}
    assert devs == {"device:a", "device:b"}


def _digits_example():  # type: ignore[no-untyped-def]
    """The example user file, registered so that Ray ships its functions by value."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    try:
        d = importlib.import_module("digits_resnet")
    finally:
        sys.path.pop(0)
    ray.cloudpickle.register_pickle_by_value(d)
    return d


@pytest.mark.slow  # ~140 s; parallel search on Ray is in the fast suite
def test_optimize_trains_and_measures_candidates_on_ray(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """xc.optimize with the Ray executor: the user's own train/evaluate travel to the workers,
    candidates run two at a time, the study in the driver's database is complete."""

    import xcelerator as xc
    from xcelerator.executors import make_executor
    from xcelerator.rounds.plan import Plan

    d = _digits_example()
    fast = Plan(min_rounds=2, max_rounds=2, min_seconds=0.05, max_seconds=0.2, warmup_runs=2, timeout=60)
    res = xc.optimize(
        d.build(), d.example_inputs(), train=d.train, evaluate=d.evaluate, budget=4, epochs=1, strategy="random",
        executor=make_executor("ray", None, 2), out=tmp_path / "o", plan=fast, confirm=False, warm_start=(),
    )  # fmt: skip
    assert len(res.trials) == 4 and res.trials[0].state == "COMPLETE"
    assert all(c.state in ("COMPLETE", "PRUNED", "FAIL") for c in res.trials)
    done = [c for c in res.trials if c.state == "COMPLETE"]
    assert len(done) >= 2 and all(c.latency_ms and Path(c.onnx or "").exists() for c in done)


@pytest.mark.slow  # ~120 s
def test_optimize_searches_int8_on_ray_and_files_come_back(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The joint search on Ray: INT8 files are made and scored in the workers and every
    candidate's file is there for the driver (on one machine the workers' disk is the driver's,
    so this does not show a file crossing machines)."""

    import xcelerator as xc
    from xcelerator.executors import make_executor
    from xcelerator.rounds.plan import Plan

    d = _digits_example()
    x = d.splits()["train"][0][:128]
    fast = Plan(min_rounds=2, max_rounds=2, min_seconds=0.05, max_seconds=0.2, warmup_runs=2, timeout=60)
    res = xc.optimize(
        d.build(), d.example_inputs(), train=d.train, evaluate=d.evaluate, budget=4, epochs=1, strategy="random",
        executor=make_executor("ray", None, 2), out=tmp_path / "o", plan=fast, confirm=False, warm_start=(0.5,),
        precision=("fp32", "int8"), calibration=x, finetune_baseline=True, constraints=["accuracy>=baseline-0.02"],
    )  # fmt: skip
    assert res.trials[0].state == "COMPLETE" and res.trials[1].precision == "int8"
    int8 = [c for c in res.trials if c.state == "COMPLETE" and c.precision == "int8"]
    assert int8 and all(Path(c.artifact or "").exists() and c.artifact.endswith(".int8.onnx") for c in int8)  # type: ignore[union-attr]
    ua = res.study.trials[0].user_attrs
    assert ua["torch_accuracy"] == pytest.approx(res.trials[0].torch_accuracy)


def test_the_ray_executor_passes_the_conformance_check(ray_local) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.testing import check_executor

    check_executor("ray", max_in_flight=2)
