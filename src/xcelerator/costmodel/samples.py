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


INPUT_KEYS = ("input", "seed", "npz", "shapes", "dims", "fills")


def _plan_key(plan: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v for k, v in sorted(plan.items()) if k != "layers"}, sort_keys=True)


def from_store(store: Any, target: str, plan: dict[str, Any] | None = None) -> Samples:
    """Successful measurements on ``target`` (URI or alias) that have graph statistics, all under
    one plan and input spec: ``plan`` (keys to match, e.g. ``{"shapes": [...]}``) or else the plan
    most measurements were taken under (the corpus's). Measurements of other plans or inputs, such
    as a user's profile at another shape, are left out and counted in the conditions."""
    uri = parse_target(target).uri
    rows = [r for r in store.samples(uri) if r.get("stats") and r["stats"].get("nodes") and r.get("median_ms")]
    if plan:
        rows = [r for r in rows if all(r.get("plan", {}).get(k) == v for k, v in plan.items())]
    if not rows:
        known = ", ".join(store.target_uris()) or "none"
        raise BadInputError(
            f"no successful measurements with graph statistics on target {uri}"
            + (f" under plan {plan}" if plan else "")
            + f" in {store.url} (targets there: {known}); run 'xcel characterize' first"
        )
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(_plan_key(r.get("plan", {})), []).append(r)
    key = max(groups, key=lambda k: len(groups[k]))
    left_out = len(rows) - len(groups[key])
    rows = groups[key]
    y, labels = labels_of(rows)
    # a per-node profile on the labels' scale: a network timed side by side with the reference
    # has its profile (taken in the same process, in the same machine state as its own median)
    # scaled as its label was, by label / own median (5-fold on 500 mixed networks, layer
    # predictor within ±10 %: 77.0 % from the profiles as taken, 78.8 % scaled)
    own = np.array([float(r["median_ms"]) for r in rows])
    return Samples(
        target_uri=uri,
        names=[r["name"] for r in rows],
        sha256=[r["sha256"] for r in rows],
        stats=[GraphStats.from_dict(r["stats"]) for r in rows],
        y_ms=y,
        layers=[
            [(name, op, float(ms) * f) for name, op, ms in r["layers"]] if f != 1.0 else list(r["layers"])
            for r, f in zip(rows, y / own, strict=True)
        ],
        conditions={
            **conditions_of(uri, rows[-1].get("env", {}), rows[-1].get("plan", {})),
            **{f"plan.{k}": rows[-1].get("plan", {}).get(k) for k in INPUT_KEYS},
            "other_plans_left_out": left_out,
            **labels,
        },
    )


def labels_of(rows: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, Any]]:
    """The latency labels of stored measurements, and how they were made.

    A measurement taken side by side with a reference (``characterize --reference``) carries
    the ratio of its latency to the reference's, timed in the same blocks of the same process.
    Its label is that ratio times the reference's median over every such measurement here: the
    latency in the machine's typical state, on one scale for the whole corpus, where its own
    median carries whatever state the machine was in during its few seconds. Measurements
    without a ratio to the most common reference keep their own median."""
    import statistics
    from collections import Counter

    raw = np.array([float(r["median_ms"]) for r in rows])
    refs = [(r.get("env") or {}).get("reference") or {} for r in rows]
    ok = [x if x.get("ratio") and x.get("median_ms") else {} for x in refs]
    counts = Counter(x["sha256"] for x in ok if x)
    if not counts:
        return raw, {"labels": "own median"}
    sha, _ = counts.most_common(1)[0]
    mine = [x if x and x["sha256"] == sha else {} for x in ok]
    typical = statistics.median(float(x["median_ms"]) for x in mine if x)
    y = np.array([float(x["ratio"]) * typical if x else m for x, m in zip(mine, raw, strict=True)])
    name = next(x["name"] for x in mine if x)
    n = sum(1 for x in mine if x)
    return y, {
        "labels": f"ratio to {name} timed side by side x its median {typical:.4g} ms",
        "labels_reference": name,
        "labels_reference_ms": typical,
        "labels_relative": n,
        "labels_own_median": len(rows) - n,
    }


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
