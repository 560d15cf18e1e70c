"""A process that imports a runtime's heavy modules once and forks each round from itself.

``python zygote.py RUNNER MODULE...`` imports the round runner (``RUNNER``, the file
``rounds/runner.py``) and each ``MODULE`` (a runtime's ``PRELOAD``, e.g. ``torch``), then
reads one JSON line per round on stdin: ``{"req": path, "out": path, "err": path}``. For each
it forks a child that starts its own session (process group), sends its output to ``err``, runs
the runner's ``main`` on ``req``/``out`` and exits; the zygote answers ``{"pid": N}`` at once,
then ``{"pid": N, "status": S, "maxrss_kib": K}`` when the child is reaped (``os.wait4``: the
raw wait status and the child's own peak RSS). EOF on stdin ends it.

Why: importing PyTorch takes seconds, and a round that must run in a fresh process (a crash or
a hang costs only that round; no state leaks between rounds) paid it every time (a PyTorch or
ExecuTorch measurement beside its reference took 20-25 s, four imports). A forked child is as
isolated as a spawned one (own address space, own process group, killed alone), starts with the
modules already imported, and has touched no runtime state: the zygote runs nothing but the
imports. Python's ``multiprocessing`` forkserver does the same but hands back no ``wait4``
rusage and no process group per task, which the local transport's crash, timeout and peak-RSS
handling need.

Stdlib only: it runs with whatever Python the transport runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback


def _child(runner: object, doc: dict[str, str]) -> None:
    """In the forked child: a session of its own, output to the round's stderr file, the runner."""
    code = 1
    try:
        os.setsid()
        fd = os.open(doc["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.close(null)
        sys.stdin = open(0, closefd=False)  # the child's own fds, closed at _exit
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        code = int(runner.main(["runner", doc["req"], doc["out"]]))  # type: ignore[attr-defined]
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(runner_path: str, modules: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("xcel_round_runner", runner_path)
    if spec is None or spec.loader is None:
        print(json.dumps({"error": f"cannot load the runner {runner_path}"}), flush=True)
        return 2
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    for m in modules:
        try:
            importlib.import_module(m)
        except Exception as e:  # the round then imports it itself and says what is wrong
            print(f"zygote: {m} does not import: {type(e).__name__}: {e}", file=sys.stderr)
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        doc = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(runner, doc)
        print(json.dumps({"pid": pid}), file=out, flush=True)
        _, status, rusage = os.wait4(pid, 0)
        print(json.dumps({"pid": pid, "status": status, "maxrss_kib": int(rusage.ru_maxrss)}), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], sys.argv[2:]))
