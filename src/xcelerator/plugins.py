"""The one way every extension point is registered, the way runtimes are: the files of a package
folder (each one member; adding a member is adding a file), then the plug-ins of its entry-point
group (a third-party package's ``pyproject.toml``: ``[project.entry-points."GROUP"]``).

Groups: ``xcelerator.runtimes``, ``xcelerator.transports`` (``targets``),
``xcelerator.strategies`` (``nas/strategies``), ``xcelerator.predictors``
(``costmodel/predictors``), ``xcelerator.executors`` (``executors``),
``xcelerator.estimators`` (``fronts/estimators``), ``xcelerator.pareto_spaces``
(``fronts/spaces``). Each registry has a conformance check in ``xcelerator.testing`` that every
registered member passes. A plug-in that fails to load, or takes a name already registered, is
left out and kept in ``plugin_errors()`` (``xcel targets`` shows them) with the reason.
"""

from __future__ import annotations

import logging
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class PluginError:
    group: str
    name: str
    error: str


_ERRORS: list[PluginError] = []


def require(module: Any, attrs: Sequence[str], what: str) -> None:
    """A plug-in module declares ``attrs``; ``TypeError`` naming what it lacks."""
    missing = [a for a in attrs if not hasattr(module, a)]
    if missing:
        raise TypeError(f"not a {what}: lacks {', '.join(missing)}")


def folder_members(init_file: str, first: Sequence[str] = ()) -> tuple[str, ...]:
    """The module names in the folder of a package's ``__init__.py`` (``_private`` ones left out),
    ``first`` in its order, then the rest by name."""
    here = sorted(m.name for m in pkgutil.iter_modules([str(Path(init_file).parent)]) if not m.name.startswith("_"))
    return tuple([n for n in first if n in here] + [n for n in here if n not in first])


def entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group`` (none, recorded, when the metadata cannot be read)."""
    from importlib.metadata import entry_points as eps

    try:
        return list(eps(group=group))
    except Exception as e:  # a broken distribution's metadata must not stop the registry
        _ERRORS.append(PluginError(group, "?", f"{type(e).__name__}: {e}"))
        return []


def add_plugins(
    group: str,
    registry: Mapping[str, T],
    load: Callable[[Any, str], T],
    name_of: Callable[[T], str],
    what: str,
) -> dict[str, T]:
    """``registry`` plus every plug-in of ``group``: ``load(loaded_object, source)`` makes the
    member (raising what is wrong with it); a plug-in may not take a registered name."""
    out = dict(registry)
    for ep in entry_points(group):
        try:
            member = load(ep.load(), f"plug-in {ep.value}")
            name = name_of(member)
            if name in out:
                raise TypeError(f"{what} name {name!r} is taken")
            out[name] = member
        except Exception as e:
            _ERRORS.append(PluginError(group, ep.name, f"{type(e).__name__}: {e}"))
            log.warning("%s plug-in %s failed to load: %s", what, ep.name, e)
    return out


def plugin_errors() -> list[PluginError]:
    """Plug-ins left out so far, with the reason (each once)."""
    return list(dict.fromkeys(_ERRORS))


def clear_errors() -> None:
    _ERRORS.clear()


__all__ = ["PluginError", "add_plugins", "clear_errors", "entry_points", "folder_members", "plugin_errors", "require"]
