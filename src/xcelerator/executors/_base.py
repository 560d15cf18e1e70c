"""What every executor is: ``submit``, ``wait``, ``result`` (``TaskFailed`` when a task's worker is
lost), ``devices``, ``put``, ``shutdown``; and how the registry builds one (``from_options``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class TaskFailed(Exception):
    """A task did not return: its exception, or the loss of its worker after the retries."""


@dataclass
class Handle:
    key: Any
    ref: Any
    resources: dict[str, float] = field(default_factory=dict)


class Executor:
    """One place tasks run. A file in ``executors/`` defining a subclass with its ``name`` is a
    registered executor; ``from_options`` is how ``make_executor`` (and ``--executor NAME``)
    builds it."""

    name = "executor"
    max_in_flight = 1

    @classmethod
    def from_options(cls, address: str | None = None, max_in_flight: int = 1, **kw: Any) -> Executor:
        """The executor for ``--executor NAME [--ray-address A] [--in-flight N]``."""
        raise NotImplementedError

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None) -> Handle:
        raise NotImplementedError

    def wait(self, handles: Sequence[Handle], timeout: float | None = None) -> list[Handle]:
        """The handles that are done (at least one unless ``timeout`` passes)."""
        raise NotImplementedError

    def result(self, h: Handle) -> Any:
        """The task's return value, or ``TaskFailed`` with the reason."""
        raise NotImplementedError

    def devices(self) -> dict[str, float]:
        """Device resources this executor can schedule on (name → units)."""
        return {}

    def put(self, obj: Any) -> Any:
        """A handle to pass one large object to many tasks (Ray: uploaded once)."""
        return obj

    def shutdown(self) -> None:
        pass
