"""Points, noise-aware Pareto fronts, estimators and the seed's JSON.

Objectives: execution time (median, with its 95 % CI) and peak RSS (KiB), both minimized; an
output error (or accuracy drop) is a third objective when precision changes.

**Fronts that hold**: before the front is declared, the points near it (``near_front``) are
measured again side by side, interleaved round by round, and each one's time is its paired
ratio to the fastest of them (the A/B protocol: the machine's drift is shared by all and
cancels), put back on the scale of the first measurements (``ConfigEvaluator.confirm``), so two
runs agree on which configurations form the front (``confirmed`` in the dump).

**Dominance that respects noise**: ``a`` dominates ``b`` only when ``a`` is no worse in every
objective and better in one *beyond the noise*: for time, ``a``'s CI lies entirely below
``b``'s; for memory, ``a`` uses at least ``rss_tol`` (2 %) less; for error, ``a``'s is lower by
more than ``err_tol``. A configuration that is faster only within the CI is not declared
dominated.

**Estimators** (each calls ``evaluate(id)`` at most ``budget`` times, never twice on one id):

* ``brute``: every id in order.
* ``random``: ids without replacement (the seed's random sampler).
* ``hlps``: the seed's merged local search: a random start, then Hamming-1 neighbours of the
  current front (exploitation) and, when those are spent, Hamming-d neighbours with growing d
  (exploration).
* ``nsga2``: Optuna's NSGA-II over the digits (repeated ids answered from memory, not counted).
* ``corners`` (ours, the default): the two extreme configurations first (every digit at its first
  choice, every digit at its last, e.g. all fp32 and all int8), then neighbours of the
  noise-aware front ordered by how many front points they neighbour, then exploration as in
  hlps. Starting at both ends is what the seed's random sampler missed (the all-CPU end).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError

ESTIMATORS = ("corners", "brute", "random", "hlps", "nsga2")
RSS_TOL = 0.02
ERR_TOL = 1e-3


@dataclass
class Point:
    id: int
    exec_time: float  # ms, median
    ci_low: float
    ci_high: float
    max_rss: int  # KiB
    error: float | None = None  # output error against fp32 (relative L2), when precision changes
    setting: str = ""
    status: str = "ok"
    note: str = ""
    confirmed: bool = False  # time re-measured side by side with the others near the front (``near_front``)

    def objectives(self, with_error: bool) -> list[float]:
        v = [self.exec_time, float(self.max_rss)]
        if with_error:
            v.append(self.error or 0.0)
        return v


def dominates(a: Point, b: Point, with_error: bool = False, noise: bool = True) -> bool:
    if noise:
        t_better = a.ci_high < b.ci_low
        t_not_worse = a.ci_low <= b.ci_high
    else:
        t_better, t_not_worse = a.exec_time < b.exec_time, a.exec_time <= b.exec_time
    tol = RSS_TOL if noise else 0.0
    m_better = a.max_rss < b.max_rss * (1 - tol)
    m_not_worse = a.max_rss <= b.max_rss * (1 + tol)
    better, not_worse = [t_better, m_better], [t_not_worse, m_not_worse]
    if with_error:
        ea, eb = a.error or 0.0, b.error or 0.0
        et = ERR_TOL if noise else 0.0
        better.append(ea < eb - et)
        not_worse.append(ea <= eb + et)
    return all(not_worse) and any(better)


def front(points: Sequence[Point], with_error: bool = False, noise: bool = True) -> list[Point]:
    ok = [p for p in points if p.status == "ok"]
    return [p for p in ok if not any(dominates(q, p, with_error, noise) for q in ok if q is not p)]


def near_front(points: Sequence[Point], with_error: bool = False, drift: float = 0.15, limit: int = 64) -> list[Point]:
    """The points a repeat could put on the front: those on it when every time CI is widened by
    ``drift`` (a run's median moves by 5-16 % between runs here, so a point just outside the
    front in one run may be on it in the next), fastest first, at most ``limit``. These are the
    ones ``pareto`` measures again side by side before it declares the front: all of them, as a
    front judged partly on re-measured points and partly on the others changed with which points
    a limit left out (measured here: with 12 or 16 of a larger set confirmed, two runs' fronts
    ended 0.14 and 0.25-0.31 apart in normalized IGD)."""
    wide = [replace(p, ci_low=p.ci_low / (1 + drift), ci_high=p.ci_high * (1 + drift)) for p in points]
    ids = {p.id for p in front(wide, with_error)}
    return sorted((p for p in points if p.id in ids), key=lambda p: p.exec_time)[:limit]


def igd(
    found: Sequence[Point], true_front: Sequence[Point], lo: np.ndarray, span: np.ndarray, with_error: bool
) -> float:
    """Inverted generational distance: mean distance from each true-front point to the nearest
    found point, objectives scaled to [0, 1] by the whole space's range."""
    if not found:
        return float("inf")
    F = (np.array([p.objectives(with_error) for p in found]) - lo) / span
    T = (np.array([p.objectives(with_error) for p in true_front]) - lo) / span
    return float(np.mean([np.min(np.linalg.norm(F - t, axis=1)) for t in T]))


# ----------------------------------------------------------------------------- estimators
Evaluate = Callable[[int], Point]


def run_estimator(
    name: str,
    space: Any,
    evaluate: Evaluate,
    budget: int,
    seed: int = 0,
    with_error: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Point]:
    """Evaluated points in the order the estimator asked for them."""
    if budget < 1:
        raise BadInputError(f"--budget {budget}: must be >= 1")
    size = space.size
    budget = min(budget, size)
    rng = random.Random(seed)
    seen: dict[int, Point] = {}
    order: list[Point] = []

    def ev(cid: int) -> Point:
        if cid not in seen:
            p = evaluate(cid)
            seen[cid] = p
            order.append(p)
            if progress:
                progress(f"{name}: id {cid} {p.exec_time:.4g} ms {p.max_rss / 1024:.0f} MiB")
        return seen[cid]

    if name == "brute":
        for cid in range(budget):
            ev(cid)
    elif name == "random":
        for cid in rng.sample(range(size), budget):
            ev(cid)
    elif name in ("hlps", "corners"):
        if name == "corners":
            starts = [0, space.encode([b - 1 for b in space.bases])]
        else:
            starts = [rng.randrange(size)]
        for s in starts:
            if len(seen) < budget:
                ev(s)
        dist = 1
        while len(seen) < budget:
            fr = front(list(seen.values()), with_error)
            cand: dict[int, int] = {}
            for p in fr:
                for q in space.neighbours(p.id, dist):
                    if q not in seen:
                        cand[q] = cand.get(q, 0) + 1
            if not cand:
                if dist < len(space.bases):
                    dist += 1  # exploration: Hamming-d around the front
                    continue
                rest = [c for c in range(size) if c not in seen]
                if not rest:
                    break
                ev(rng.choice(rest))
                continue
            if name == "corners":
                best = max(cand.values())
                pick = rng.choice(sorted(c for c, k in cand.items() if k == best))
            else:
                pick = rng.choice(sorted(cand))
            ev(pick)
            dist = 1
    elif name == "nsga2":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        n_dir = 3 if with_error else 2
        study = optuna.create_study(
            directions=["minimize"] * n_dir,
            sampler=optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(16, size // 4))),
        )
        dists: dict[str, optuna.distributions.BaseDistribution] = {
            f"d{i}": optuna.distributions.IntDistribution(0, b - 1) for i, b in enumerate(space.bases)
        }
        stalls = 0
        while len(seen) < budget and stalls < 50 * size:
            t = study.ask(dists)
            cid = space.encode([t.params[f"d{i}"] for i in range(len(space.bases))])
            fresh = cid not in seen
            p = ev(cid)
            stalls = 0 if fresh else stalls + 1
            if p.status == "ok":
                study.tell(t, p.objectives(with_error)[:n_dir])
            else:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
        rest = [c for c in range(size) if c not in seen]
        while len(seen) < budget and rest:
            ev(rest.pop(rng.randrange(len(rest))))
    else:
        raise BadInputError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    return order


# ----------------------------------------------------------------------------- the seed's JSON
@dataclass
class FrontDoc:
    mode: str
    oplist: list[str]
    points: list[Point]
    space: str = ""
    target: str = ""
    model: str = ""
    estimator: str = ""
    budget: int = 0
    size: int = 0
    choices: list[list[str]] = field(default_factory=list)
    with_error: bool = False
    before_confirmation: list[Point] = field(default_factory=list)  # the confirmed points as first measured

    def to_json(self) -> dict[str, Any]:
        fr = front(self.points, self.with_error)
        measured = [p for p in self.points if p.status == "ok"]
        return {
            # the seed's fields, with its semantics: the solutions are the measured points (all of
            # them for brute force), the front is ours under its own key
            "mode": self.mode,
            "oplist": self.oplist,
            "solutions": [{"id": p.id, "exec_time": p.exec_time, "max_rss": p.max_rss} for p in measured],
            "configs": {str(p.id): p.setting for p in measured},
            "front": [p.id for p in fr],
            # the points whose time was measured again side by side before the front was declared
            "confirmed": [p.id for p in self.points if p.confirmed],
            # ours
            "format": "xcelerator-pareto/1",
            "space": self.space,
            "model": self.model,
            "target": self.target,
            "estimator": self.estimator,
            "budget": self.budget,
            "size": self.size,
            "choices": self.choices,
            "with_error": self.with_error,
            "evaluated": [asdict(p) for p in self.points],
            "before_confirmation": [asdict(p) for p in self.before_confirmation],
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        tmp.replace(p)
        return p


def load_front(path: str | Path) -> FrontDoc:
    """Read ours back, or a plain seed file (``solutions`` only: their points, no CI)."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise BadInputError(f"{p}: no such file") from None
    except (OSError, ValueError) as e:
        raise BadInputError(f"{p}: not JSON ({e})") from None
    if not isinstance(d, dict) or "oplist" not in d or "solutions" not in d:
        raise BadInputError(f"{p}: not a pareto file (needs 'oplist' and 'solutions')")
    if "evaluated" in d:
        pts = [Point(**e) for e in d["evaluated"]]
    else:
        configs = d.get("configs", {})
        pts = []
        for s in d["solutions"]:
            t = float(s.get("exec_time", s.get("time")))
            pts.append(
                Point(
                    int(s["id"]),
                    t,
                    t,
                    t,
                    int(s.get("max_rss", s.get("memory", 0))),
                    None,
                    configs.get(str(s["id"]), ""),
                )
            )
    return FrontDoc(
        mode=str(d.get("mode", "name")),
        oplist=list(d["oplist"]),
        points=pts,
        space=str(d.get("space", "")),
        target=str(d.get("target", "")),
        model=str(d.get("model", "")),
        estimator=str(d.get("estimator", "")),
        budget=int(d.get("budget", len(pts))),
        size=int(d.get("size", 0)),
        choices=list(d.get("choices", [])),
        with_error=bool(d.get("with_error", False)),
    )
