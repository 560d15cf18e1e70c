"""Pareto configuration spaces, one file each (like runtimes), registered by name; a third-party
package adds one through the entry-point group ``xcelerator.pareto_spaces`` (the entry point
loads a module with the same names).

A space file declares ``NAME``, ``HELP`` and ``make(art, target, options)`` returning a
``fronts.space.ConfigSpace`` for the model ``art`` on ``target`` (``options``: a
``SpaceOptions``, what ``xcel pareto`` was given), refusing with ``BadInputError`` what it
cannot do before anything is measured. The shared machinery (``ConfigSpace``, ``Config``, the
quantize, runtime-options and backend classes) is in ``fronts/space.py``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xcelerator.plugins import folder_members, require

GROUP = "xcelerator.pareto_spaces"
_FIRST = ("quantize", "runtime-options", "backend", "placement")
# a file's name is its space's name with "-" for "_" (runtime_options.py: runtime-options)
BUILTIN = tuple(n.replace("_", "-") for n in folder_members(__file__, [f.replace("-", "_") for f in _FIRST]))


@dataclass(frozen=True)
class SpaceOptions:
    """What ``xcel pareto`` passes every space (each uses what concerns it)."""

    mode: str = "name"
    max_keys: int | None = None
    calibration: str | None = None
    backends: Sequence[str] = ("cpu", "acl_cl")
    flags: Sequence[str] | None = None


@dataclass(frozen=True)
class ParetoSpace:
    name: str
    help: str
    make: Callable[..., Any] = field(repr=False, compare=False)
    source: str = "builtin"

    @classmethod
    def from_module(cls, mod: Any, source: str = "builtin") -> ParetoSpace:
        require(mod, ("NAME", "HELP", "make"), "Pareto space")
        return cls(str(mod.NAME), str(mod.HELP), mod.make, source)


@functools.cache
def spaces() -> dict[str, ParetoSpace]:
    """Every registered space by name: the built-in files, then plug-ins (``xcelerator.plugins``)."""
    from xcelerator.plugins import add_plugins

    out = {n: ParetoSpace.from_module(importlib.import_module(f"{__name__}.{n.replace('-', '_')}")) for n in BUILTIN}
    return add_plugins(GROUP, out, ParetoSpace.from_module, lambda s: s.name, "Pareto space")


__all__ = ["BUILTIN", "GROUP", "ParetoSpace", "SpaceOptions", "spaces"]
