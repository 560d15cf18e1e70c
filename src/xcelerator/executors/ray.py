"""``ray``: tasks are Ray tasks on a cluster or a local Ray instance (the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from xcelerator.errors import BadInputError, MissingDependencyError
from xcelerator.executors._base import Executor, Handle, TaskFailed


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``) or a local Ray instance started here."""

    name = "ray"

    @classmethod
    def from_options(cls, address: str | None = None, max_in_flight: int = 1, **kw: Any) -> RayExecutor:
        return cls(address or os.environ.get("RAY_ADDRESS"), max_in_flight=max(1, max_in_flight), **kw)

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
