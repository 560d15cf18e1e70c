"""This machine: each round is the runner in its own child process (own process group).

A runtime whose module names ``PRELOAD`` (PyTorch, ExecuTorch: seconds to import) has its rounds
forked from a zygote process that imported those modules once (``rounds/zygote.py``); the child
is as isolated as a spawned one and its environment says so (``env.round_process``).
``XCEL_FORK_ROUNDS=0`` spawns every round afresh.

A round that crashes (the child dies by a signal or exits without a result) or hangs past the
plan's timeout (the child's process group is killed) is a ``RoundResult`` with status
``crashed``/``timeout`` and the reason; peak RSS comes from ``wait4`` when the child cannot
report it.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from xcelerator.errors import BadInputError
from xcelerator.rounds import runner as round_runner
from xcelerator.rounds import zygote as round_zygote
from xcelerator.rounds.records import RoundRequest, RoundResult
from xcelerator.targets.transports.base import Transport

if TYPE_CHECKING:
    from xcelerator.targets.registry import Target

RUNNER = Path(round_runner.__file__)  # found by import; the same file is copied to boards
ZYGOTE = Path(round_zygote.__file__)


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


class ZygoteGone(RuntimeError):
    """The zygote process ended or stopped answering: rounds are spawned afresh instead."""


class Zygote:
    """One ``rounds/zygote.py`` process: the runner and ``modules`` imported, each round a fork."""

    def __init__(self, modules: tuple[str, ...], env: dict[str, str]) -> None:
        self.modules = modules
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE), str(RUNNER), *modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            bufsize=0,  # unbuffered: select() on the pipe sees every line the zygote wrote
            start_new_session=True,
        )
        got = self._line(300.0)
        if not got or not got.get("ready"):
            self.close()
            raise ZygoteGone(f"the zygote importing {', '.join(modules)} did not start")

    def _line(self, timeout: float) -> dict[str, Any] | None:
        """The zygote's next JSON line; None when none came within ``timeout`` s; ``ZygoteGone`` at EOF."""
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], max(timeout, 0.0))
        if not ready:
            return None
        line = out.readline()  # unbuffered: reads up to the newline and no further
        if not line:
            raise ZygoteGone("the zygote process ended")
        return dict(json.loads(line))

    def run(
        self, req: Path, out: Path, err: Path, timeout: float, on_start: Callable[[int], None] | None
    ) -> tuple[int | None, int | None, bool, int]:
        """Fork one round: ``(raw wait status, peak RSS KiB, timed out, pid)``."""
        with self.lock:
            if self.proc.poll() is not None or self.proc.stdin is None:
                raise ZygoteGone("the zygote process ended")
            try:
                self.proc.stdin.write((json.dumps({"req": str(req), "out": str(out), "err": str(err)}) + "\n").encode())
            except OSError as e:
                raise ZygoteGone(f"the zygote process does not listen: {e}") from None
            got = self._line(60.0)
            if not got or "pid" not in got:
                raise ZygoteGone("the zygote forked no round")
            pid = int(got["pid"])
            if on_start is not None:
                on_start(pid)
            try:
                done = self._line(timeout)
                timed_out = done is None
                if timed_out:
                    _kill_round(pid)
                    done = self._line(60.0)
                    if done is None:
                        raise ZygoteGone(f"the zygote did not reap round process {pid} after killing it")
            except ZygoteGone:
                _kill_round(pid)  # no round outlives the zygote that would have reaped it
                raise
            assert done is not None
            return int(done["status"]), int(done["maxrss_kib"]), timed_out, pid

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _kill_round(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # not yet its own group leader, or gone
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_ZYGOTES: dict[tuple[Any, ...], Zygote] = {}
_ZYGOTES_LOCK = threading.Lock()


def zygote_for(modules: tuple[str, ...], env: dict[str, str]) -> Zygote | None:
    """The running zygote for these modules and this environment (a changed environment gets a
    new one: a fork inherits the environment it was started with), or None where rounds are not
    forked (no ``PRELOAD``, no ``fork``, ``XCEL_FORK_ROUNDS=0``, or it would not start)."""
    if not modules or not hasattr(os, "fork") or env.get("XCEL_FORK_ROUNDS", "1") == "0":
        return None
    key = (modules, tuple(sorted(env.items())))
    with _ZYGOTES_LOCK:
        z = _ZYGOTES.get(key)
        if z is not None and z.proc.poll() is None:
            return z
        for k in [k for k in _ZYGOTES if k[0] == modules]:  # an old environment's zygote
            _ZYGOTES.pop(k).close()
        try:
            z = Zygote(modules, env)
        except (OSError, ZygoteGone):
            return None
        _ZYGOTES[key] = z
        return z


@atexit.register
def close_zygotes() -> None:
    with _ZYGOTES_LOCK:
        while _ZYGOTES:
            _ZYGOTES.popitem()[1].close()


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
            spec = self.target.spec
            zyg = zygote_for(tuple(spec.preload), env) if spec is not None else None
            started = time.time()
            forked = False
            if zyg is not None:
                try:
                    status, peak, timed_out, pid = zyg.run(req_path, out_path, err_path, timeout, self.on_start)
                    forked = True
                except ZygoteGone:
                    zyg.close()
                    started = time.time()
            if not forked:
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
                pid, peak = proc.pid, (int(rusage.ru_maxrss) if rusage is not None else None)
            finished = time.time()
            raw: dict[str, Any] = {}
            if out_path.exists():
                try:
                    raw = json.loads(out_path.read_text())
                except json.JSONDecodeError:
                    raw = {}
            stderr = err_path.read_text(errors="replace").strip() if err_path.exists() else ""
        if forked and spec is not None:
            for d in [raw, *(raw.get("side_by_side") or [])]:
                if isinstance(d, dict) and isinstance(d.get("env"), dict):
                    d["env"]["round_process"] = f"forked from a process that imported {', '.join(spec.preload)}"
        tail = stderr.splitlines()[-3:]
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        where = (started, finished, pid, peak)
        if timed_out:
            return raw, RoundResult.failure(
                i, "timeout", f"round {i} exceeded the timeout of {timeout:g} s and was killed", started, finished,
                detail=stderr[-8000:], pid=pid, peak_rss_kib=peak,
            ), where  # fmt: skip
        if code is not None and code < 0:
            sig = signal.Signals(-code).name
            return raw, RoundResult.failure(
                i, "crashed", f"the runtime process died with {sig}" + (f": {tail[-1]}" if tail else ""),
                started, finished, detail=stderr[-8000:], pid=pid, peak_rss_kib=peak,
            ), where  # fmt: skip
        if not raw:
            return raw, RoundResult.failure(
                i, "crashed",
                f"the runtime process exited with code {code} without a result" + (f": {tail[-1]}" if tail else ""),
                started, finished, detail=stderr[-8000:], pid=pid, peak_rss_kib=peak,
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
