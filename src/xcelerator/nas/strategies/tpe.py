"""Optuna's tree-structured Parzen estimator, multivariate."""

from typing import Any

NAME = "tpe"
HELP = "Optuna's TPE (multivariate), the default"
SETTINGS = {"search": {"n_startup_trials": 8}, "optimize": {"n_startup_trials": 6}}


def make(space: Any, seed: int, **settings: Any) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, **settings)
