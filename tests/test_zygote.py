"""Rounds forked from a zygote that imported PyTorch once (``rounds/zygote.py``): each round is
still a process of its own (own pid and process group, killed alone, crash and timeout kept as
results), its environment says it was forked, and a zygote that dies costs nothing but a restart."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from xcelerator.measure.core import measure
from xcelerator.measure.session import artifact_for
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target, runtimes
from xcelerator.targets.transports import local

MODEL = "mobilenet_v2_0.35_96"
PLAN = Plan(min_rounds=2, max_rounds=2, min_runs=5, min_seconds=0.05, max_seconds=0.2, warmup_runs=1, timeout=120)


@pytest.fixture
def torch_target():  # type: ignore[no-untyped-def]
    t = parse_target("torch?threads=1")
    return t, artifact_for(MODEL, t)


def _forked(m) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(r.env.get("round_process", "")) for r in m.rounds]


def test_torch_rounds_are_forked_processes_of_their_own(torch_target) -> None:  # type: ignore[no-untyped-def]
    t, art = torch_target
    assert "torch" in runtimes()["torch"].preload
    m = measure(art, t, PLAN)
    assert m.status == "ok", m.error
    assert all("imported torch" in p for p in _forked(m)), _forked(m)
    pids = [r.pid for r in m.rounds]
    zyg = [z for k, z in local._ZYGOTES.items() if k[0] == runtimes()["torch"].preload]
    assert len(zyg) == 1
    assert len(set(pids)) == len(pids) and zyg[0].proc.pid not in pids and os.getpid() not in pids
    assert all(r.peak_rss_kib and r.peak_rss_kib > 50_000 for r in m.rounds)  # torch is in it
    # the same zygote serves the next measurement
    again = measure(art, t, PLAN)
    assert again.status == "ok" and [z for k, z in local._ZYGOTES.items() if k[0] == zyg[0].modules] == zyg


def test_fork_rounds_off_spawns_every_round(torch_target, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    t, art = torch_target
    monkeypatch.setenv("XCEL_FORK_ROUNDS", "0")
    m = measure(art, t, PLAN)
    assert m.status == "ok", m.error
    assert _forked(m) == ["", ""]


def test_a_dead_zygote_is_started_again(torch_target) -> None:  # type: ignore[no-untyped-def]
    t, art = torch_target
    assert measure(art, t, PLAN).status == "ok"
    (old,) = [z for k, z in local._ZYGOTES.items() if k[0] == runtimes()["torch"].preload]
    os.killpg(old.proc.pid, signal.SIGKILL)
    old.proc.wait()
    m = measure(art, t, PLAN)
    assert m.status == "ok", m.error
    assert all("imported torch" in p for p in _forked(m))
    (new,) = [z for k, z in local._ZYGOTES.items() if k[0] == runtimes()["torch"].preload]
    assert new.proc.pid != old.proc.pid and new.proc.poll() is None


def test_a_forked_round_killed_by_a_signal_is_crashed_and_the_zygote_lives(torch_target) -> None:  # type: ignore[no-untyped-def]
    t, art = torch_target
    plan = Plan(min_rounds=2, max_rounds=3, min_seconds=60, max_seconds=60, max_runs=10**9, timeout=120)

    def kill_soon(pid: int) -> None:
        threading.Timer(3.0, lambda: os.kill(pid, signal.SIGABRT)).start()

    t0 = time.time()
    m = measure(art, t, plan, on_start=kill_soon)
    assert time.time() - t0 < 60
    assert m.status == "crashed" and "SIGABRT" in m.error, m.error
    (z,) = [z for k, z in local._ZYGOTES.items() if k[0] == runtimes()["torch"].preload]
    assert z.proc.poll() is None
    assert measure(art, t, PLAN).status == "ok"
