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
