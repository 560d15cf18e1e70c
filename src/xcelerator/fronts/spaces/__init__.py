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
import logging
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
GROUP = "xcelerator.pareto_spaces"
_FIRST = ("quantize", "runtime-options", "backend", "placement")
_FILES = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def _name(module: str) -> str:
    return module.replace("_", "-")


BUILTIN = tuple(
    [n for n in _FIRST if n.replace("-", "_") in _FILES] + [_name(f) for f in _FILES if _name(f) not in _FIRST]
)


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
        missing = [a for a in ("NAME", "HELP", "make") if not hasattr(mod, a)]
        if missing:
            raise TypeError(f"not a Pareto space: lacks {', '.join(missing)}")
        return cls(str(mod.NAME), str(mod.HELP), mod.make, source)


@functools.cache
def spaces() -> dict[str, ParetoSpace]:
    """Every registered space by name: the built-in files, then plug-ins (which may not replace a
    built-in; one that fails to load is logged and left out)."""
    from importlib.metadata import entry_points

    out = {n: ParetoSpace.from_module(importlib.import_module(f"{__name__}.{n.replace('-', '_')}")) for n in BUILTIN}
    for ep in entry_points(group=GROUP):
        try:
            s = ParetoSpace.from_module(ep.load(), source=f"plug-in {ep.value}")
            if s.name in out:
                raise TypeError(f"space name {s.name!r} is taken by {out[s.name].source}")
            out[s.name] = s
        except Exception as e:
            log.warning("Pareto space plug-in %s failed to load: %s", ep.name, e)
    return out


__all__ = ["BUILTIN", "GROUP", "ParetoSpace", "SpaceOptions", "spaces"]
