"""Every point of a finite space, in a seeded order (Optuna's grid sampler, driven by ask/tell)."""

from typing import Any

from xcelerator.errors import BadInputError

NAME = "grid"
HELP = "every point of a finite space (at most 100,000)"
SETTINGS: dict[str, dict[str, Any]] = {"search": {"max_points": 100_000}}


def make(space: Any, seed: int, max_points: int = 100_000) -> Any:
    import optuna

    class AskTellGrid(optuna.samplers.GridSampler):
        """Optuna's grid sampler stops the study from ``after_trial`` when the grid is exhausted,
        which only works inside ``study.optimize``; with ask/tell the study checks
        ``is_exhausted`` instead."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    size = space.size()
    if size is None or size > max_points:
        raise BadInputError(
            f"strategy grid: space {space.name} has {size or 'unbounded'} points; "
            f"grid search needs a finite space of at most {max_points:,}"
        )
    return AskTellGrid({p.name: p.values() for p in space.params()}, seed=seed)
