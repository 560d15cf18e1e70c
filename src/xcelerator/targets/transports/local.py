"""This machine: each round is the runner in its own child process (own process group).

A round that crashes (the child dies by a signal or exits without a result) or hangs past the
plan's timeout (the child's process group is killed) is a ``RoundResult`` with status
``crashed``/``timeout`` and the reason; peak RSS comes from ``wait4`` when the child cannot
report it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from xcelerator.errors import BadInputError
from xcelerator.rounds import runner as round_runner
from xcelerator.rounds.records import RoundRequest, RoundResult
from xcelerator.targets.transports.base import Transport

if TYPE_CHECKING:
    from xcelerator.targets.registry import Target

RUNNER = Path(round_runner.__file__)  # found by import; the same file is copied to boards


def wait_child(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, Any, bool]:
    """Reap the child with wait4 (its own peak RSS comes with it), killing its group on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, False
        if time.monotonic() > deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class LocalTransport(Transport):
    name = "local"
    scheme = ""
    example = "RUNTIME?options"
    OPTIONS: ClassVar[dict[str, dict[str, Any]]] = {}

    on_start: Callable[[int], None] | None = None  # called with the child's pid (tests kill it)
    target: Target  # a registry target: its runtime spec gives the adapter file and the probe

    @classmethod
    def split(cls, rest: str) -> tuple[str, str, str]:
        runtime, _, query = rest.partition("?")
        return "", runtime, query

    def check(self) -> None:
        spec = self.target.spec
        if spec is None:
            raise BadInputError(f"target {self.target.label}: unknown runtime {self.target.runtime}")
        ok, why = spec.probe(self.target.runtime_opts)
        if not ok:
            raise BadInputError(f"target {self.target.label} is not usable here: {why}")

    side_by_side = True

    def _child(self, doc: dict[str, Any], timeout: float, i: int) -> tuple[dict[str, Any], RoundResult | None, Any]:
        """Run the runner on ``doc``: its result document, or the round's failure (crash, timeout,
        no result), and ``(started, finished, pid, peak_rss_kib)``."""
        with tempfile.TemporaryDirectory(prefix="xcel-round-") as d:
            req_path, out_path, err_path = Path(d) / "req.json", Path(d) / "out.json", Path(d) / "stderr.txt"
            req_path.write_text(json.dumps(doc))
            env = dict(os.environ)
            env.setdefault("PYTHONUNBUFFERED", "1")
            started = time.time()
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, str(RUNNER), str(req_path), str(out_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    env=env,
                    start_new_session=True,
                )
                if self.on_start is not None:
                    self.on_start(proc.pid)
                status, rusage, timed_out = wait_child(proc, timeout)
            finished = time.time()
            raw: dict[str, Any] = {}
            if out_path.exists():
                try:
                    raw = json.loads(out_path.read_text())
                except json.JSONDecodeError:
                    raw = {}
            stderr = err_path.read_text(errors="replace").strip() if err_path.exists() else ""
        tail = stderr.splitlines()[-3:]
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        peak = int(rusage.ru_maxrss) if rusage is not None else None
        where = (started, finished, proc.pid, peak)
        if timed_out:
            return raw, RoundResult.failure(
                i, "timeout", f"round {i} exceeded the timeout of {timeout:g} s and was killed", started, finished,
                detail=stderr[-8000:], pid=proc.pid, peak_rss_kib=peak,
            ), where  # fmt: skip
        if code is not None and code < 0:
            sig = signal.Signals(-code).name
            return raw, RoundResult.failure(
                i, "crashed", f"the runtime process died with {sig}" + (f": {tail[-1]}" if tail else ""),
                started, finished, detail=stderr[-8000:], pid=proc.pid, peak_rss_kib=peak,
            ), where  # fmt: skip
        if not raw:
            return raw, RoundResult.failure(
                i, "crashed",
                f"the runtime process exited with code {code} without a result" + (f": {tail[-1]}" if tail else ""),
                started, finished, detail=stderr[-8000:], pid=proc.pid, peak_rss_kib=peak,
            ), where  # fmt: skip
        return raw, None, where

    def run(self, request: RoundRequest) -> RoundResult:
        spec = self.target.spec
        assert spec is not None
        raw, failure, (started, finished, pid, peak) = self._child(
            request.document(adapter=spec.file), request.plan.timeout, request.index
        )
        if failure is not None:
            return failure
        return RoundResult.from_runner(raw, request.index, started, finished, pid=pid, peak_rss_kib=peak)

    def run_side_by_side(self, requests: list[RoundRequest]) -> list[RoundResult]:
        """The requests' models in one child process, timed in alternating blocks (the runner's
        ``side_by_side``). A crash or timeout of that process is every model's round failure; the
        process's own peak RSS is no one model's, so only the runner's per-model peak is kept."""
        spec = self.target.spec
        assert spec is not None
        i = requests[0].index
        timeout = sum(r.plan.timeout for r in requests)
        doc = {"side_by_side": [r.document(adapter=spec.file) for r in requests]}
        raw, failure, (started, finished, pid, _) = self._child(doc, timeout, i)
        docs = raw.get("side_by_side") if failure is None else None
        if failure is not None or not isinstance(docs, list) or len(docs) != len(requests):
            failure = failure or RoundResult.failure(
                i, "crashed", "the side-by-side runner gave no result per model", started, finished, pid=pid
            )
            return [failure for _ in requests]
        return [
            RoundResult.from_runner(d, r.index, started, finished, pid=pid) for d, r in zip(docs, requests, strict=True)
        ]
