"""Training sets from the store, conditions, and adapting a predictor to a second target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats
from xcelerator.targets.registry import parse_target

# the parts of a measurement's environment and plan that change what a latency means
CONDITION_ENV = ("runtime", "runtime_version", "cpu_model", "cores", "options", "providers")
CONDITION_PLAN = ("threads", "input")


@dataclass
class Samples:
    target_uri: str
    names: list[str]
    sha256: list[str]
    stats: list[GraphStats]
    y_ms: np.ndarray
    layers: list[list[tuple[str, str, float]]]
    conditions: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def take(self, idx: Sequence[int]) -> Samples:
        ix = list(idx)
        return Samples(
            self.target_uri,
            [self.names[i] for i in ix],
            [self.sha256[i] for i in ix],
            [self.stats[i] for i in ix],
            self.y_ms[ix],
            [self.layers[i] for i in ix],
            self.conditions,
        )


def conditions_of(target_uri: str, env: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = {"target": target_uri}
    c.update({k: env.get(k) for k in CONDITION_ENV if k in env})
    c.update({f"plan.{k}": plan.get(k) for k in CONDITION_PLAN if k in plan})
    return c


def from_store(store: Any, target: str) -> Samples:
    """Every successful measurement on ``target`` (URI or alias) that has graph statistics."""
    uri = parse_target(target).uri
    rows = [r for r in store.samples(uri) if r.get("stats") and r["stats"].get("nodes") and r.get("median_ms")]
    if not rows:
        known = ", ".join(store.target_uris()) or "none"
        raise BadInputError(
            f"no successful measurements with graph statistics on target {uri} in {store.url} "
            f"(targets there: {known}); run 'xcel characterize' first"
        )
    return Samples(
        target_uri=uri,
        names=[r["name"] for r in rows],
        sha256=[r["sha256"] for r in rows],
        stats=[GraphStats.from_dict(r["stats"]) for r in rows],
        y_ms=np.array([float(r["median_ms"]) for r in rows]),
        layers=[list(r["layers"]) for r in rows],
        conditions=conditions_of(uri, rows[-1].get("env", {}), rows[-1].get("plan", {})),
    )


def condition_mismatch(trained: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Keys whose values differ (only keys both sides know)."""
    return [f"{k}: {trained[k]!r} ≠ {now[k]!r}" for k in trained if k in now and trained[k] != now[k]]


def split(n: int, test: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < test < 1:
        raise BadInputError(f"--test {test}: must be a fraction in (0, 1)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    k = max(1, round(test * n))
    return np.sort(perm[k:]), np.sort(perm[:k])


def statistical_signature(pred_ms: np.ndarray, size: int) -> list[int]:
    """Indices at evenly spaced quantiles of predicted latency (fastest to slowest)."""
    if size < 2 or size > len(pred_ms):
        raise BadInputError(f"signature size {size}: must be between 2 and {len(pred_ms)}")
    order = np.argsort(pred_ms)
    return sorted({int(order[i]) for i in np.linspace(0, len(order) - 1, size).round().astype(int)})
