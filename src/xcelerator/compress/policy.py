"""Saving and loading the DQN strategy's learned Q-network, so that a later run on a similar
network starts from what an earlier one learned.

The Q-network reads one number per parameter of the space (its grid position) and scores two
moves per parameter; a policy carries over to a network whose space has the same parameter
kinds in the same order (the same architecture family pruned the same way, e.g. another
training run or a sibling width). Otherwise loading says so and the run starts afresh.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def _layout(sampler: Any) -> list[str]:
    return [f"{p.kind}:{len(v)}" for p, v in zip(sampler.params, sampler.values, strict=True)]


def save_policy(sampler: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "layout": _layout(sampler),
            "names": [p.name for p in sampler.params],
            "q": sampler.q.state_dict(),
            "epsilon": float(sampler.epsilon),
        },
        path,
    )
    return path


def load_policy(sampler: Any, path: Path) -> bool:
    """Load ``path`` into ``sampler`` when the layouts match; True when it did."""
    doc = torch.load(path, weights_only=True)
    if doc.get("layout") != _layout(sampler):
        log.warning(
            "policy %s: learned on a space with %d parameters, this one has %d; starting afresh",
            path,
            len(doc.get("layout", [])),
            len(sampler.params),
        )
        return False
    sampler.q.load_state_dict(doc["q"])
    sampler.target.load_state_dict(doc["q"])
    sampler.epsilon = max(0.1, float(doc.get("epsilon", sampler.epsilon)))
    return True
