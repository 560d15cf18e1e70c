"""``local``: tasks in this process, one at a time, or in a process pool (``workers > 1``)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.executors._base import Executor, Handle, TaskFailed


class LocalExecutor(Executor):
    name = "local"

    @classmethod
    def from_options(cls, address: str | None = None, max_in_flight: int = 1, **kw: Any) -> LocalExecutor:
        return cls(max_in_flight)

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
        except BrokenProcessPool as e:  # (cf.process is not imported by cf: naming it raised AttributeError)
            raise TaskFailed(f"worker process lost: {e}") from e

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
