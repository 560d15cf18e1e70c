"""Search strategies, one file each (like runtimes), registered by name, shared by ``xc.search``
and ``xc.optimize``; third-party packages add theirs through the entry-point group
``xcelerator.strategies`` (the entry point loads a module with the same four names).

A strategy file declares ``NAME``, ``HELP``, ``SETTINGS`` and ``make(space, seed, **settings)``
returning an Optuna sampler (ask/tell). ``SETTINGS`` maps each caller (``search``, ``optimize``)
to the sampler settings it uses there, as data: a strategy is offered where it has an entry
(optimize runs small budgets, so its TPE starts sooner and its NSGA-II population is smaller).
``xcelerator.testing.check_strategy`` is the conformance check every registered one passes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.plugins import folder_members, require

GROUP = "xcelerator.strategies"
# every file in this folder is a strategy: adding one is adding a file (listed in this order first)
_FIRST = ("tpe", "nsga2", "gp", "random", "grid", "dqn", "reinforce")
BUILTIN = folder_members(__file__, _FIRST)
CALLERS = ("search", "optimize")


@dataclass(frozen=True)
class Strategy:
    """A registered strategy, read from its file's declarations."""

    name: str
    help: str
    settings: Mapping[str, Mapping[str, Any]]  # caller -> the sampler's settings there
    make: Callable[..., Any] = field(repr=False, compare=False)
    source: str = "builtin"

    @classmethod
    def from_module(cls, mod: Any, source: str = "builtin") -> Strategy:
        require(mod, ("NAME", "HELP", "SETTINGS", "make"), "search strategy")
        unknown = set(mod.SETTINGS) - set(CALLERS)
        if unknown:
            raise TypeError(f"SETTINGS names unknown caller(s) {sorted(unknown)}; valid: {', '.join(CALLERS)}")
        return cls(str(mod.NAME), str(mod.HELP), {k: dict(v) for k, v in mod.SETTINGS.items()}, mod.make, source)


@functools.cache
def strategies() -> dict[str, Strategy]:
    """Every registered strategy by name: the built-in files, then plug-ins (``xcelerator.plugins``)."""
    from xcelerator.plugins import add_plugins

    out = {n: Strategy.from_module(importlib.import_module(f"{__name__}.{n}")) for n in BUILTIN}
    return add_plugins(GROUP, out, Strategy.from_module, lambda s: s.name, "strategy")


def names(caller: str) -> tuple[str, ...]:
    """The strategies offered to ``caller`` (``search`` or ``optimize``), in registry order."""
    return tuple(n for n, s in strategies().items() if caller in s.settings)


def sampler(name: str, caller: str, space: Any, seed: int) -> Any:
    """A fresh sampler of strategy ``name`` with ``caller``'s settings; an unknown name, or one
    not offered to this caller, is ``BadInputError`` naming the valid ones."""
    s = strategies().get(name)
    if s is None or caller not in s.settings:
        raise BadInputError(f"unknown strategy '{name}'; valid: {', '.join(names(caller))}")
    return s.make(space, seed, **s.settings[caller])
