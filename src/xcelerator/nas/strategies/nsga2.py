"""Optuna's NSGA-II, a genetic multi-objective search."""

from typing import Any

NAME = "nsga2"
HELP = "Optuna's NSGA-II (genetic, multi-objective)"
SETTINGS = {"search": {"population_size": 20}, "optimize": {"population_size": 8}}


def make(space: Any, seed: int, **settings: Any) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, **settings)
