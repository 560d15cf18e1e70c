"""The checks every registered extension passes, shipped so a plug-in author runs the same ones
(scikit-learn's ``check_estimator``, timm's registry tests): ``check_strategy("mine")`` on a
search strategy registered through the ``xcelerator.strategies`` entry-point group. The test
suite runs them on every registered member (``tests/test_conformance.py`` does the same for
runtimes through real measurements)."""

from __future__ import annotations

from typing import Any


def check_strategy(name: str, trials: int = 12, seed: int = 3) -> None:
    """Strategy ``name``, for every caller it is offered to, with that caller's settings, on the
    toy space (two parameters, 100 points): its sampler proposes only points of the space through
    Optuna's ask/tell on a two-objective study, takes the values told back, and proposes the same
    points again from the same seed. Raises ``AssertionError`` naming what failed."""
    import optuna

    from xcelerator.nas import strategies
    from xcelerator.nas.distributions import distributions
    from xcelerator.nas.toy import ToySpace, toy_values

    registered = strategies.strategies()
    assert name in registered, f"strategy {name!r} is not registered; registered: {', '.join(registered)}"
    s = registered[name]
    assert s.name == name and s.help, f"strategy {name!r}: NAME must be its registered name and HELP say what it is"
    assert s.settings, f"strategy {name!r}: SETTINGS offers it to no caller ({', '.join(strategies.CALLERS)})"
    space = ToySpace()
    dists = distributions(space)
    for caller in s.settings:
        assert name in strategies.names(caller), f"strategy {name!r} is not offered to {caller}"
        runs: list[list[dict[str, Any]]] = []
        for _ in range(2):
            sampler = strategies.sampler(name, caller, space, seed)
            assert isinstance(sampler, optuna.samplers.BaseSampler), f"{name}: make() must return an Optuna sampler"
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
            seen: list[dict[str, Any]] = []
            for _ in range(trials):
                t = study.ask(dists)
                point = dict(t.params)
                space.check(point)  # raises BadInputError for a point outside the space
                v = toy_values(point)
                study.tell(t, [v["latency"], v["accuracy"]])
                seen.append(point)
            assert len(study.trials) == trials and all(t.state.is_finished() for t in study.trials)
            runs.append(seen)
        assert runs[0] == runs[1], f"strategy {name!r} ({caller}): the same seed proposed other points"


def check_predictor(kind: str, n_train: int = 45, n_test: int = 15, **params: Any) -> None:
    """Predictor ``kind`` on real measurements: the first networks of the shipped latency table
    (``costmodel.table``) with the labels and per-node profiles of a column that has them. It
    must be registered under its ``kind``; refuse to predict before ``fit``; after fitting on
    ``n_train`` networks, give positive finite predictions inside their own 80 % intervals on the
    ``n_test`` others, ranked like the measurements (Spearman > 0.5); and a saved file loaded
    back must predict the same. A kind taking ``base`` (a predictor carried over) gets a GBM
    fitted on the same networks. Raises ``AssertionError`` naming what failed."""
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from xcelerator.costmodel import predictors as P
    from xcelerator.costmodel.table import shipped

    registered = P.kinds()
    assert kind in registered, f"predictor {kind!r} is not registered; registered: {', '.join(registered)}"
    cls = registered[kind]
    assert cls.kind == kind, f"predictor {kind!r}: its class says kind {cls.kind!r}"
    table = shipped().widest()  # the columns that cover the table (some cover a prefix only)
    col = next((c.target for c in table.columns if len(table.layers.get(c.target, {})) >= n_train + n_test), None)
    assert col is not None, "the shipped table has no column with enough per-node profiles"
    j = table.targets.index(col)
    rows = [i for i in table.corpus_rows() if table.names[i] in table.layers[col]][: n_train + n_test]
    stats = [table.stats[i] for i in rows]
    y = table.latency[rows, j]
    layers = [table.layers[col][table.names[i]] for i in rows]
    if "base" in cls().get_params() and "base" not in params:
        params["base"] = P.make("gbm").fit(stats[:n_train], y[:n_train]).to_json()
    est = P.make(kind, **params)
    clone(est)  # the scikit-learn contract: parameters only in __init__
    try:
        est.predict(stats[:2])
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"predictor {kind!r}: predicted before fit")
    est.fit(stats[:n_train], y[:n_train], layers=layers[:n_train])
    pred, lo, hi = est.predict_interval(stats[n_train:])
    assert np.all(np.isfinite(pred)) and np.all(pred > 0), f"predictor {kind!r}: predictions must be finite and > 0"
    assert np.all(lo <= pred) and np.all(pred <= hi), f"predictor {kind!r}: a prediction outside its own interval"
    rho = float(spearmanr(pred, y[n_train:]).statistic)
    assert rho > 0.5, f"predictor {kind!r}: Spearman {rho:.2f} against the measured latencies (learned nothing)"
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = est.save(Path(d) / "p.json")
        again = P.load(path)
    assert type(again) is cls, f"predictor {kind!r}: its file loads as {type(again).__name__}"
    np.testing.assert_allclose(again.predict(stats[n_train:]), pred, rtol=1e-6, err_msg=f"{kind}: file round trip")


def check_executor(name: str, **options: Any) -> None:
    """Executor ``name`` built as ``--executor NAME`` builds it (``make_executor``): three tasks
    submitted, each result under its own key once ``wait`` says it is done; a task that raises
    gives back its own exception from ``result`` (not ``TaskFailed``: its worker was not lost);
    ``devices`` is a mapping and ``put`` hands back something a task can take. Raises
    ``AssertionError`` naming what failed."""
    import operator

    from xcelerator.executors import executors, make_executor

    registered = executors()
    assert name in registered, f"executor {name!r} is not registered; registered: {', '.join(registered)}"
    exe = make_executor(name, **options)
    assert exe.name == name, f"executor {name!r}: make_executor built {exe.name!r}"
    try:
        pending = [exe.submit(i, operator.pow, 2, i) for i in range(3)]
        got: dict[Any, Any] = {}
        while pending:
            done = exe.wait(pending, timeout=120)
            assert done, f"executor {name!r}: wait returned nothing in 120 s"
            for h in done:
                got[h.key] = exe.result(h)
                pending.remove(h)
        assert got == {0: 1, 1: 2, 2: 4}, f"executor {name!r}: results {got}"
        h = exe.submit("raises", operator.truediv, 1, 0)
        assert exe.wait([h], timeout=120), f"executor {name!r}: a failing task never finished"
        try:
            exe.result(h)
        except ZeroDivisionError:
            pass
        else:
            raise AssertionError(f"executor {name!r}: a task's own exception was not raised by result()")
        assert isinstance(exe.devices(), dict), f"executor {name!r}: devices() must be a mapping"
        ref = exe.put([1, 2])
        h = exe.submit("put", len, ref)
        exe.wait([h], timeout=120)
        assert exe.result(h) == 2, f"executor {name!r}: a task could not take what put() handed back"
    finally:
        exe.shutdown()


def check_estimator(name: str, seed: int = 1) -> None:
    """Pareto estimator ``name`` on a space of 64 configurations with a known table of points:
    with the whole space as budget it measures every configuration exactly once; with a budget
    of 10, exactly 10 distinct ones; the same seed gives the same order. Raises
    ``AssertionError`` naming what failed."""
    from xcelerator.fronts.core import Point, run_estimator
    from xcelerator.fronts.estimators import estimators
    from xcelerator.fronts.space import ConfigSpace

    registered = estimators()
    assert name in registered, f"estimator {name!r} is not registered; registered: {', '.join(registered)}"
    e = registered[name]
    assert e.name == name and e.help, f"estimator {name!r}: NAME must be its registered name and HELP say what it is"
    sp = ConfigSpace([f"op{i}" for i in range(6)], [["fp32", "int8"]] * 6)

    def point(cid: int) -> Point:
        d = sp.decode(cid)
        t = 30.0 - sum((i + 1) * v for i, v in enumerate(d))
        return Point(cid, t, t - 0.05, t + 0.05, 1000 + 100 * sum(d))

    calls: list[int] = []

    def ev(cid: int) -> Point:
        assert 0 <= cid < sp.size, f"estimator {name!r}: asked for id {cid}, outside the space (0..{sp.size - 1})"
        calls.append(cid)
        return point(cid)

    order = run_estimator(name, sp, ev, sp.size, seed=seed)
    assert len(calls) == len(set(calls)) == sp.size, f"estimator {name!r}: {len(calls)} calls, {len(set(calls))} ids"
    assert [p.id for p in order] == calls, f"estimator {name!r}: the order is not the order of the calls"
    short = [p.id for p in run_estimator(name, sp, point, 10, seed=seed)]
    assert len(short) == len(set(short)) == 10, f"estimator {name!r}: budget 10 gave {short}"
    again = [p.id for p in run_estimator(name, sp, point, 10, seed=seed)]
    assert again == short, f"estimator {name!r}: the same seed gave another order"


def check_pareto_space(name: str, model: str, target: str = "onnxruntime?threads=1") -> None:
    """Pareto space ``name`` over the ONNX file ``model`` on ``target``: it either refuses with
    one ``BadInputError`` (what it cannot do here: a GPU it needs, a command target) or gives a
    ``ConfigSpace`` of at least two configurations whose first and last decode, encode back and
    make ``Config``s with a target and a setting each. Raises ``AssertionError`` naming what
    failed."""
    from xcelerator.errors import BadInputError
    from xcelerator.fronts.run import make_space
    from xcelerator.fronts.space import Config, ConfigSpace
    from xcelerator.fronts.spaces import spaces

    registered = spaces()
    assert name in registered, f"Pareto space {name!r} is not registered; registered: {', '.join(registered)}"
    s = registered[name]
    assert s.name == name and s.help, f"Pareto space {name!r}: NAME must be its registered name and HELP say what it is"
    try:
        sp = make_space(name, model, target, "name", None, None, "cpu,acl_cl", None)
    except BadInputError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), f"Pareto space {name!r}: refusal not one line: {e}"
        return
    assert isinstance(sp, ConfigSpace), f"Pareto space {name!r}: make() gave {type(sp).__name__}"
    assert sp.size >= 2, f"Pareto space {name!r}: {sp.size} configuration(s)"
    for cid in (0, sp.size - 1):
        assert sp.encode(list(sp.decode(cid))) == cid, f"Pareto space {name!r}: id {cid} does not encode back"
        c = sp.config(cid)
        assert isinstance(c, Config) and c.target and sp.setting(cid), f"Pareto space {name!r}: config {cid}"
