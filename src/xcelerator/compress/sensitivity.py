"""How much each channel group of a network can lose, and a first schedule of points from it.

``measure_sensitivity`` prunes each group alone at a few ratios and scores the result with the
user's ``evaluate``, without fine-tuning: a few evaluations a group, seconds on a small network.
A group whose accuracy falls far at a small ratio holds channels the network needs; one that
barely moves at half its width can go further.

``schedule`` turns that into the search's first points, from small to large reductions
(NetAdapt's order: the budget goes first to what can be had cheaply): for a reduction level
``L``, every group is pruned as far as it can go within one common accuracy loss without
fine-tuning, at the smallest loss that removes ``L`` of the network's MACs (each group's share
counted when it is pruned alone), then every ratio is scaled down alike to ``L``. A uniform
ratio prunes a sensitive group as hard as a robust one; this does not. Losses under ``NOISE``
(a tenth of a point) count as none: a validation set of a few thousand images does not resolve
them, and they would rank groups by chance.

Written here rather than taken from torch-pruning: its importance criteria rank channels
inside a group, not groups against each other by the user's own metric.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xcelerator.compress.prune import PruneSpace

NOISE = 0.001


@dataclass(frozen=True)
class Sensitivity:
    """Accuracy without fine-tuning of each group pruned alone: ``scores[group][ratio]``;
    ``macs[group]``: the share of the network's MACs that pruning the group alone removes, per
    unit of ratio (at the largest ratio scored)."""

    baseline: float
    scores: dict[str, dict[float, float]]
    seconds: float
    macs: dict[str, float] = field(default_factory=dict)

    def drop(self, group: str, ratio: float) -> float:
        """The accuracy lost at ``ratio`` (0 at 0; between and past the measured ratios, linear
        in the ratio and never smaller than at a lower ratio)."""
        pts = [(0.0, 0.0), *sorted((r, _loss(self.baseline - a)) for r, a in self.scores.get(group, {}).items())]
        best = 0.0
        for (r0, d0), (r1, d1) in itertools.pairwise(pts):
            if ratio <= r1:
                return max(best, d0 + (d1 - d0) * (ratio - r0) / (r1 - r0))
            best = max(best, d1)
        if len(pts) >= 2:  # past the last measured ratio: the last segment's slope
            (r0, d0), (r1, d1) = pts[-2], pts[-1]
            return max(best, d1 + (d1 - d0) * (ratio - r1) / (r1 - r0))
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "seconds": round(self.seconds, 2),
            "groups": {g: {f"{r:g}": a for r, a in sorted(s.items())} for g, s in self.scores.items()},
            "macs_share_per_ratio": {g: round(v, 6) for g, v in self.macs.items()},
        }


def _loss(drop: float) -> float:
    return drop if drop >= NOISE else 0.0


def measure_sensitivity(
    space: PruneSpace, evaluate: Callable[[nn.Module], Any], ratios: Sequence[float] = (0.25, 0.5)
) -> Sensitivity:
    """Each group of ``space`` pruned alone at ``ratios`` (snapped to the space's channel
    multiple, as candidates are), scored by ``evaluate`` without fine-tuning; the MACs each
    removes counted by torch-pruning (``count_ops_and_params``)."""
    from torch_pruning.utils import count_ops_and_params

    from xcelerator.compress.evaluator import _number

    t0 = time.perf_counter()
    default = space.default_point()
    macs: dict[str, float] = {}

    def score(point: dict[str, Any], group: str | None = None, ratio: float = 0.0) -> float:
        m = space.apply(point).eval()  # torch-pruning traces with autograd: no no_grad around it
        if group is not None:
            macs[group] = (base_macs - float(count_ops_and_params(m, space.example)[0])) / base_macs / ratio
        with torch.no_grad():
            return _number(evaluate(m), "evaluate")

    base_macs = float(count_ops_and_params(space.apply(default).eval(), space.example)[0]) or 1.0
    base = score(default)
    scores: dict[str, dict[float, float]] = {}
    for g in space.groups:
        scores[g.name] = {float(r): score({**default, f"ratio:{g.name}": r}, g.name, r) for r in sorted(ratios)
                          if r <= space.max_ratio}  # fmt: skip
    return Sensitivity(base, scores, time.perf_counter() - t0, macs)


def schedule(space: PruneSpace, sens: Sensitivity, levels: Sequence[float]) -> list[dict[str, Any]]:
    """One point per reduction level, smallest first (see the module docstring). Ratios are on
    the space's grid; a level that gives the same ratios as a smaller one is left out."""
    grids = {p.name: sorted(p.values()) for p in space.params() if p.name.startswith("ratio:")}
    total_channels = sum(g.channels for g in space.groups) or 1
    # each group's share of the MACs per unit of ratio (by channels where it was not counted)
    weight = {g.name: sens.macs.get(g.name, g.channels / total_channels) for g in space.groups}

    def at(loss: float) -> dict[str, float]:
        out = {}
        for g in space.groups:
            key = f"ratio:{g.name}"
            ok = [r for r in grids[key] if sens.drop(g.name, r) <= loss + 1e-12]
            out[key] = max(ok) if ok else 0.0
        return out

    def removed(ratios: dict[str, float]) -> float:
        return min(1.0, sum(ratios[f"ratio:{g}"] * w for g, w in weight.items()))

    losses = sorted({0.0} | {sens.drop(g.name, r) for g in space.groups for r in grids[f"ratio:{g.name}"]})
    points: list[dict[str, Any]] = []
    seen: set[tuple[float, ...]] = set()
    for level in sorted(levels):
        # the smallest common loss that removes the level's share (else the largest loss), then
        # every ratio scaled down alike to the level: the sensitivity sets the proportions
        ratios = next((r for r in (at(x) for x in losses) if removed(r) >= level), at(losses[-1]))
        got = removed(ratios)
        if got > level > 0:
            ratios = {k: nearest(grids[k], r * level / got) for k, r in ratios.items()}
        key = tuple(ratios.values())
        if key in seen or not any(key):
            continue
        seen.add(key)
        points.append(ratios)
    return points


def nearest(values: Sequence[Any], r: float) -> Any:
    """The value of a ratio grid nearest ``r``."""
    return min(values, key=lambda v: abs(float(v) - r))
