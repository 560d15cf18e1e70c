"""A space's parameters as Optuna distributions (shared by the study and the RL samplers)."""

from __future__ import annotations

import optuna

from xcelerator.models.spaces import Param, Space


def distributions(space: Space) -> dict[str, optuna.distributions.BaseDistribution]:
    return {p.name: distribution(p) for p in space.params()}


def distribution(p: Param) -> optuna.distributions.BaseDistribution:
    if p.kind == "choice":
        return optuna.distributions.CategoricalDistribution(list(p.choices))
    if p.kind == "int":
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
    return optuna.distributions.FloatDistribution(p.low, p.high, step=p.step or None)
