"""Pareto-front estimators, one file each (like search strategies), registered by name; a
third-party package adds one through the entry-point group ``xcelerator.estimators`` (the entry
point loads a module with the same names).

An estimator file declares ``NAME``, ``HELP`` and ``walk(w)``: it calls ``w.ev(id)`` for the
configurations it wants measured, in its order, until ``w.full()`` (``Walk`` holds the space,
the budget, the seeded ``rng``, what was ``seen`` and ``with_error``). ``run_estimator`` (in
``fronts.core``) gives every estimator the same ``Walk``; ``xcelerator.testing.check_estimator``
is the conformance check every registered one passes.
"""

from __future__ import annotations

import functools
import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xcelerator.plugins import folder_members, require

GROUP = "xcelerator.estimators"
_FIRST = ("corners", "brute", "random", "hlps", "nsga2")
BUILTIN = folder_members(__file__, _FIRST)


@dataclass
class Walk:
    """What an estimator walks: ``ev(id)`` measures a configuration once (a repeat is answered
    from ``seen``) and records it in ``order``."""

    name: str
    space: Any
    budget: int
    rng: random.Random
    evaluate: Callable[[int], Any]
    with_error: bool = False
    progress: Callable[[str], None] | None = None
    seed: int = 0
    seen: dict[int, Any] = field(default_factory=dict)
    order: list[Any] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.space.size)

    def full(self) -> bool:
        return len(self.seen) >= self.budget

    def ev(self, cid: int) -> Any:
        if cid not in self.seen:
            p = self.evaluate(cid)
            self.seen[cid] = p
            self.order.append(p)
            if self.progress:
                self.progress(f"{self.name}: id {cid} {p.exec_time:.4g} ms {p.max_rss / 1024:.0f} MiB")
        return self.seen[cid]


@dataclass(frozen=True)
class Estimator:
    name: str
    help: str
    walk: Callable[[Walk], None] = field(repr=False, compare=False)
    source: str = "builtin"

    @classmethod
    def from_module(cls, mod: Any, source: str = "builtin") -> Estimator:
        require(mod, ("NAME", "HELP", "walk"), "Pareto estimator")
        return cls(str(mod.NAME), str(mod.HELP), mod.walk, source)


@functools.cache
def estimators() -> dict[str, Estimator]:
    """Every registered estimator by name: the built-in files, then plug-ins (``xcelerator.plugins``)."""
    from xcelerator.plugins import add_plugins

    out = {n: Estimator.from_module(importlib.import_module(f"{__name__}.{n}")) for n in BUILTIN}
    return add_plugins(GROUP, out, Estimator.from_module, lambda e: e.name, "estimator")


__all__ = ["BUILTIN", "GROUP", "Estimator", "Walk", "estimators"]
