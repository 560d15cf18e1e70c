"""How much each channel group of a network can lose, and a first schedule of points from it.

``measure_sensitivity`` prunes each group alone at a few ratios and scores the result with the
user's ``evaluate``, without fine-tuning: a few evaluations a group, seconds on a small network.
A group whose accuracy falls far at a small ratio holds channels the network needs; one that
barely moves at half its width can go further.

``schedule`` turns that into the search's first points, from small to large reductions
(NetAdapt's order: the budget goes first to what can be had cheaply): for a reduction level
``L``, every group is pruned as far as it can go within one common accuracy loss without
fine-tuning, that loss chosen so that ``L`` of the searched channels go in all. A uniform ratio
prunes a sensitive group as hard as a robust one; this does not.

Written here rather than taken from torch-pruning: its importance criteria rank channels
inside a group, not groups against each other by the user's own metric.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xcelerator.compress.prune import PruneSpace


@dataclass(frozen=True)
class Sensitivity:
    """Accuracy without fine-tuning of each group pruned alone: ``scores[group][ratio]``."""

    baseline: float
    scores: dict[str, dict[float, float]]
    seconds: float

    def drop(self, group: str, ratio: float) -> float:
        """The accuracy lost at ``ratio`` (0 at 0; between and past the measured ratios, linear
        in the ratio and never smaller than at a lower ratio)."""
        pts = [(0.0, 0.0), *sorted((r, max(0.0, self.baseline - a)) for r, a in self.scores.get(group, {}).items())]
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
        }


def measure_sensitivity(
    space: PruneSpace, evaluate: Callable[[nn.Module], Any], ratios: Sequence[float] = (0.25, 0.5)
) -> Sensitivity:
    """Each group of ``space`` pruned alone at ``ratios`` (snapped to the space's channel
    multiple, as candidates are), scored by ``evaluate`` without fine-tuning."""
    from xcelerator.compress.evaluator import _number

    t0 = time.perf_counter()
    default = space.default_point()

    def score(point: dict[str, Any]) -> float:
        m = space.apply(point).eval()  # torch-pruning traces with autograd: no no_grad around it
        with torch.no_grad():
            return _number(evaluate(m), "evaluate")

    base = score(default)
    scores: dict[str, dict[float, float]] = {}
    for g in space.groups:
        scores[g.name] = {float(r): score({**default, f"ratio:{g.name}": r}) for r in ratios if r <= space.max_ratio}
    return Sensitivity(base, scores, time.perf_counter() - t0)


def schedule(space: PruneSpace, sens: Sensitivity, levels: Sequence[float]) -> list[dict[str, Any]]:
    """One point per reduction level, smallest first (see the module docstring). Ratios are on
    the space's grid; a level that gives the same ratios as a smaller one is left out."""
    grids = {p.name: sorted(p.values()) for p in space.params() if p.name.startswith("ratio:")}
    weight = {g.name: g.channels for g in space.groups}
    total = sum(weight.values()) or 1

    def at(loss: float) -> dict[str, float]:
        out = {}
        for g in space.groups:
            key = f"ratio:{g.name}"
            ok = [r for r in grids[key] if sens.drop(g.name, r) <= loss + 1e-12]
            out[key] = max(ok) if ok else 0.0
        return out

    losses = sorted({0.0} | {sens.drop(g.name, r) for g in space.groups for r in grids[f"ratio:{g.name}"]})
    points: list[dict[str, Any]] = []
    seen: set[tuple[float, ...]] = set()
    for level in sorted(levels):
        best, gap = None, float("inf")
        for loss in losses:  # the common loss whose channel-weighted mean ratio is nearest the level
            ratios = at(loss)
            mean = sum(ratios[f"ratio:{g}"] * w for g, w in weight.items()) / total
            if abs(mean - level) < gap - 1e-12:
                best, gap = ratios, abs(mean - level)
        if best is None:
            continue
        key = tuple(best.values())
        if key in seen or not any(key):
            continue
        seen.add(key)
        points.append(best)
    return points
