"""Executors: where evaluation tasks run. One small interface for ``search``, ``characterize``
and (later) ``pareto``:

* ``local`` (default): tasks run in this process, one at a time, or in a process pool
  (``workers > 1``, for training; measurements on one device are still serialized by the
  caller's device slots).
* ``ray``: tasks are Ray tasks. A measurement on a target with ``resource=NAME`` asks for one
  unit of the custom resource ``device:NAME``; the node that owns the device declares it
  (``ray start --resources='{"device:NAME": 1}'``), so measurements on one device never overlap
  while training runs on any CPU or GPU in the cluster. A worker or node lost mid-task is
  retried by Ray up to ``max_retries`` times; after that the task's error names the cause.

The driver alone writes the study and the store: tasks return results, never open the database.

**Adding an executor** is one file in this folder defining an ``Executor`` subclass with its
``name`` and ``from_options`` (found by ``executors()``); a third-party package registers its
class under the entry-point group ``xcelerator.executors``.
``xcelerator.testing.check_executor(name)`` is the conformance check every registered one passes.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.executors._base import Executor, Handle, TaskFailed
from xcelerator.executors.local import LocalExecutor
from xcelerator.executors.ray import RayExecutor

GROUP = "xcelerator.executors"
_FIRST = ("local", "ray")


def _plugin(cls: Any, source: str) -> type[Executor]:
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise TypeError("not an Executor subclass")
    return cls


@functools.cache
def executors() -> dict[str, type[Executor]]:
    """Every registered executor class by name: each file of this folder, then plug-ins
    (``xcelerator.plugins``)."""
    from xcelerator.plugins import add_plugins, folder_members

    out: dict[str, type[Executor]] = {}
    for name in folder_members(__file__, _FIRST):
        mod = importlib.import_module(f"{__name__}.{name}")
        for v in vars(mod).values():
            if isinstance(v, type) and issubclass(v, Executor) and v.__module__ == mod.__name__:
                out[v.name] = v
    return add_plugins(GROUP, out, _plugin, lambda c: c.name, "executor")


EXECUTORS = tuple(executors())


def make_executor(name: str = "local", address: str | None = None, max_in_flight: int = 1, **kw: Any) -> Executor:
    """The registered executor ``name`` built from the command-line options."""
    cls = executors().get(name)
    if cls is None:
        raise BadInputError(f"--executor {name!r}: known executors are {', '.join(executors())}")
    return cls.from_options(address, max_in_flight, **kw)


__all__ = [
    "EXECUTORS",
    "Executor",
    "Handle",
    "LocalExecutor",
    "RayExecutor",
    "TaskFailed",
    "executors",
    "make_executor",
]
