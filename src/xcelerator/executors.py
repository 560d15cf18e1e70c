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
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xcelerator.errors import BadInputError, MissingDependencyError

EXECUTORS = ("local", "ray")


class TaskFailed(Exception):
    """A task did not return: its exception, or the loss of its worker after the retries."""


@dataclass
class Handle:
    key: Any
    ref: Any
    resources: dict[str, float] = field(default_factory=dict)


class Executor:
    name = "executor"
    max_in_flight = 1

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


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise BadInputError(f"--workers {workers}: must be >= 1")
        self.max_in_flight = workers
        self.pool = cf.ProcessPoolExecutor(workers) if workers > 1 else None

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None) -> Handle:
        if self.pool is not None:
            return Handle(key, self.pool.submit(fn, *args), dict(resources or {}))
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args))
        except Exception as e:
            fut.set_exception(e)
        return Handle(key, fut, dict(resources or {}))

    def wait(self, handles: Sequence[Handle], timeout: float | None = None) -> list[Handle]:
        by = {h.ref: h for h in handles}
        done, _ = cf.wait(list(by), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [by[f] for f in done]

    def result(self, h: Handle) -> Any:
        try:
            return h.ref.result()
        except cf.process.BrokenProcessPool as e:
            raise TaskFailed(f"worker process lost: {e}") from e

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``) or a local Ray instance started here."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        max_in_flight: int = 2,
        max_retries: int = 2,
        num_cpus: float = 1.0,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise MissingDependencyError("ray", "ray", "--executor ray") from None
        self.ray = ray
        if not ray.is_initialized():
            kw: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
                **(init_kwargs or {}),
            }
            try:
                ray.init(address=address, **kw)
            except (ConnectionError, ValueError, RuntimeError) as e:
                where = address or "a local instance"
                raise BadInputError(f"--executor ray: cannot connect to {where}: {str(e).splitlines()[0]}") from None
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self._remote = ray.remote(_call)

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None) -> Handle:
        res = dict(resources or {})
        missing = [r for r in res if r not in self.ray.cluster_resources()]
        if missing:
            have = ", ".join(sorted(self.devices())) or "none"
            raise BadInputError(f"no node of the Ray cluster offers {missing[0]!r} (device resources: {have})")
        ref = self._remote.options(
            resources=res, num_cpus=self.num_cpus, max_retries=self.max_retries, retry_exceptions=False
        ).remote(fn, *args)
        return Handle(key, ref, res)

    def wait(self, handles: Sequence[Handle], timeout: float | None = None) -> list[Handle]:
        by = {h.ref: h for h in handles}
        done, _ = self.ray.wait(list(by), num_returns=1, timeout=timeout)
        return [by[r] for r in done]

    def result(self, h: Handle) -> Any:
        from ray.exceptions import RayError, RayTaskError

        try:
            return self.ray.get(h.ref)
        except RayTaskError as e:  # the task raised: re-raise its own exception
            cause = e.as_instanceof_cause()
            raise cause from None
        except RayError as e:  # the worker or its node died, after Ray's retries
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TaskFailed(f"{type(e).__name__} after {self.max_retries} retries: {first}"[:400]) from e

    def devices(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.ray.cluster_resources().items() if k.startswith("device:")}

    def put(self, obj: Any) -> Any:
        return self.ray.put(obj)

    def shutdown(self) -> None:
        pass  # the Ray instance belongs to the process (tests and callers decide when it ends)


def make_executor(name: str = "local", address: str | None = None, max_in_flight: int = 1, **kw: Any) -> Executor:
    if name == "local":
        return LocalExecutor(max_in_flight)
    if name == "ray":
        return RayExecutor(address or os.environ.get("RAY_ADDRESS"), max_in_flight=max(1, max_in_flight), **kw)
    raise BadInputError(f"--executor {name!r}: known executors are {', '.join(EXECUTORS)}")
