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


def pretrain(
    sampler: Any,
    space: Any,
    cost_model: Any,
    evaluate: Any,
    *,
    steps: int = 30,
    episode: int = 8,
    progress: Any = None,
) -> dict[str, Any]:
    """Train the DQN on a surrogate before it touches the device (the xcelerator seed's idea).

    The surrogate of a point: the pruned network's accuracy *before* fine-tuning (the user's
    ``evaluate`` on the pruned copy: cheap, and it ranks what pruning destroys) and its latency
    predicted by ``cost_model`` (an ``xc.CostModel`` for the target) on its exported graph. The
    agent walks ``episode`` steps from the unchanged network, ``steps`` in all, with the same
    moves and reward as on the device; every step is one prediction, no measurement. Returns
    what it did: steps, surrogate evaluations, seconds.
    """
    import tempfile
    import time

    from xcelerator.models.export import export_onnx

    t0 = time.time()
    cache: dict[tuple[int, ...], dict[str, float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="xcel-dqn-"))

    def point(idx: list[int]) -> dict[str, Any]:
        return {p.name: sampler.values[i][j] for i, (p, j) in enumerate(zip(sampler.params, idx, strict=True))}

    def surrogate(idx: list[int]) -> dict[str, float]:
        key = tuple(idx)
        if key not in cache:
            module = space.apply(point(idx)).eval()
            acc = float(evaluate(module))
            path = export_onnx(module, space.example, tmp / f"p{len(cache)}.onnx")
            cache[key] = {"accuracy": acc, "latency": float(cost_model.predict(str(path))["latency_ms"])}
        return cache[key]

    start = [
        sampler.values[i].index(p.default) if p.default in sampler.values[i] else 0
        for i, p in enumerate(sampler.params)
    ]
    idx, cur = list(start), surrogate(start)
    for step in range(steps):
        if step and step % episode == 0:
            idx, cur = list(start), surrogate(start)
        new, action = sampler.act(idx, {**cur, "_feasible": 1.0})
        off = any(not 0 <= j < len(v) for j, v in zip(new, sampler.values, strict=True))
        new = [min(max(0, j), len(v) - 1) for j, v in zip(new, sampler.values, strict=True)]
        vals = surrogate(new)
        reward = -0.5 if off else sampler.reward(cur, vals, True)
        sampler.learn(idx, action, reward, new, done=False)
        idx, cur = new, vals
        if progress:
            progress(f"dqn pre-training: step {step + 1}/{steps}")
    return {"steps": steps, "evaluations": len(cache), "seconds": round(time.time() - t0, 1)}
