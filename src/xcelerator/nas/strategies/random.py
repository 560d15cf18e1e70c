"""Uniform random sampling (the baseline every other strategy is judged against)."""

from typing import Any

NAME = "random"
HELP = "uniform random sampling"
SETTINGS: dict[str, dict[str, Any]] = {"search": {}, "optimize": {}}


def make(space: Any, seed: int, **settings: Any) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed, **settings)
