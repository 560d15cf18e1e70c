"""Every registered search strategy through the shipped conformance check, and the registry's
refusals (an unknown name, or one not offered to a caller, names the valid ones)."""

from __future__ import annotations

import pytest

from xcelerator.errors import BadInputError
from xcelerator.nas import strategies
from xcelerator.nas.toy import ToySpace
from xcelerator.testing import check_strategy


@pytest.mark.parametrize("name", sorted(strategies.strategies()))
def test_every_registered_strategy_passes_the_conformance_check(name: str) -> None:
    check_strategy(name)


def test_search_and_optimize_share_one_registry_with_their_own_settings() -> None:
    assert set(strategies.names("optimize")) <= set(strategies.names("search"))
    assert {"tpe", "nsga2", "random", "dqn"} <= set(strategies.names("optimize"))
    tpe = strategies.strategies()["tpe"]
    assert tpe.settings["search"] != tpe.settings["optimize"]  # optimize's budgets are smaller


def test_an_unknown_strategy_or_one_a_caller_is_not_offered_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(BadInputError, match=r"unknown strategy 'annealing'; valid: tpe, nsga2"):
        strategies.sampler("annealing", "search", ToySpace(), 0)
    with pytest.raises(BadInputError, match="unknown strategy 'grid'; valid: ") as e:
        strategies.sampler("grid", "optimize", ToySpace(), 0)
    assert "grid" not in str(e.value).split("valid: ")[1].split(", ")


def test_a_strategy_that_is_not_one_is_refused_with_what_it_lacks() -> None:
    import types

    mod = types.SimpleNamespace(NAME="x", HELP="x", SETTINGS={"search": {}})
    with pytest.raises(TypeError, match="lacks make"):
        strategies.Strategy.from_module(mod)
    mod.make = lambda space, seed: None
    mod.SETTINGS = {"serach": {}}
    with pytest.raises(TypeError, match=r"unknown caller\(s\) \['serach'\]"):
        strategies.Strategy.from_module(mod)


def test_the_local_executor_passes_the_conformance_check() -> None:
    """``check_executor`` on ``local`` (one at a time and a process pool); ``ray`` passes it in
    tests/test_ray.py on a real local Ray instance."""
    from xcelerator.executors import executors
    from xcelerator.testing import check_executor

    assert set(executors()) >= {"local", "ray"}
    check_executor("local")
    check_executor("local", max_in_flight=2)
