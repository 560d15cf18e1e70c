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

**Estimators** (each calls ``evaluate(id)`` at most ``budget`` times, never twice on one id), one
file each under ``fronts/estimators/`` (``brute``, ``random``, ``hlps``, ``nsga2`` and ours,
``corners``, the default: both extreme configurations first, then the front's neighbours);
``run_estimator`` runs any registered one.
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
from xcelerator.fronts.estimators import BUILTIN

ESTIMATORS = BUILTIN  # the built-in estimators' names (one file each under fronts/estimators/)
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
    from xcelerator.fronts.estimators import Walk, estimators

    budget = min(budget, space.size)
    known = estimators()
    if name not in known:
        raise BadInputError(f"unknown estimator {name!r}; known: {', '.join(known)}")
    w = Walk(name, space, budget, random.Random(seed), evaluate, with_error, progress, seed)
    known[name].walk(w)
    return w.order


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

    def front(self) -> list[Point]:
        """The measured points no other measured point beats (on time and memory, and output
        error when it was measured), within the noise."""
        return front(self.points, self.with_error)

    def to_json(self) -> dict[str, Any]:
        fr = self.front()
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
