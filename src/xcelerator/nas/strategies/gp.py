"""Optuna's Gaussian-process Bayesian optimization."""

from typing import Any

NAME = "gp"
HELP = "Optuna's Gaussian-process Bayesian optimization"
SETTINGS = {"search": {"n_startup_trials": 8}}


def make(space: Any, seed: int, **settings: Any) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed, **settings)
