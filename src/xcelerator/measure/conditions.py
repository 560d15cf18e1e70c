"""Was the machine quiet? Conditions that make a latency number worth less, flagged with it.

A measurement is ``quiet`` unless one of these was seen:

- another process kept a core busy (``psutil``, sampled before the first round and after the
  last: any process outside this measurement above ``BUSY_PCT`` % of a core);
- the 1-minute load average, before a round, exceeded the cores this measurement does not use
  (``cores - 1``: our own runner adds about one);
- the CPU frequency governor is readable and is not ``performance``;
- the CPU throttled between rounds (Linux ``thermal_throttle`` counters rose), or a thermal zone
  warmed by more than ``THERMAL_RISE_C`` over the measurement (boards and phones report theirs).

``wait_quiet(seconds)`` waits for no busy process before measuring (``--wait-quiet``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

BUSY_PCT = 20.0
THERMAL_RISE_C = 8.0


@dataclass(frozen=True)
class Quiet:
    quiet: bool
    reasons: tuple[str, ...] = ()
    busy: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"quiet": self.quiet, "reasons": list(self.reasons), "busy": [dict(b) for b in self.busy]}


def busy_processes(interval: float = 0.3, exclude: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Processes other than this one (and its children, and ``exclude``) above ``BUSY_PCT`` % of a
    core over ``interval`` seconds."""
    try:
        import psutil
    except ImportError:
        return []
    me = psutil.Process()
    skip = {me.pid, *exclude}
    try:
        skip |= {c.pid for c in me.children(recursive=True)}
    except psutil.Error:
        pass
    procs = []
    for p in psutil.process_iter(["pid", "name"]):
        if p.info["pid"] in skip:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except psutil.Error:
            continue
    time.sleep(interval)
    out = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= BUSY_PCT:
            out.append({"pid": p.info["pid"], "name": p.info["name"], "cpu_pct": round(pct, 1)})
    return sorted(out, key=lambda d: -d["cpu_pct"])


def assess(envs: Sequence[dict[str, Any]], busy: Sequence[dict[str, Any]]) -> Quiet:
    """The verdict for one measurement from its rounds' conditions and the busy processes seen."""
    reasons: list[str] = []
    if busy:
        top = ", ".join(f"{b['name']} ({b['cpu_pct']:.0f}%)" for b in busy[:3])
        reasons.append(f"other processes were busy: {top}")
    cores = next((int(e["cores"]) for e in envs if e.get("cores")), os.cpu_count() or 1)
    loads = [float(e["loadavg_before"][0]) for e in envs if e.get("loadavg_before")]
    if loads and max(loads) > max(1.0, cores - 1) + 0.5:
        reasons.append(f"load average {max(loads):.2f} on {cores} cores (others were running)")
    govs = {e.get("governor") for e in envs if e.get("governor")}
    if govs and govs != {"performance"}:
        reasons.append(f"CPU frequency governor {', '.join(sorted(g for g in govs if g))}, not performance")
    throttle = [int(e["throttle_count"]) for e in envs if e.get("throttle_count") is not None]
    if len(throttle) >= 2 and max(throttle) > min(throttle):
        reasons.append(f"the CPU throttled {max(throttle) - min(throttle)} time(s) during the measurement")
    first = next((e.get("thermal") for e in envs if e.get("thermal")), None)
    last = next((e.get("thermal_after") for e in reversed(envs) if e.get("thermal_after")), None)
    if first and last:
        rise = max((last[z] - first[z] for z in first if z in last), default=0.0)
        if rise > THERMAL_RISE_C:
            reasons.append(f"a thermal zone warmed by {rise:.1f} °C during the measurement")
    return Quiet(not reasons, tuple(reasons), tuple(busy))


def wait_quiet(seconds: float, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Wait up to ``seconds`` for no busy process; returns what is still busy (empty: quiet)."""
    deadline = time.monotonic() + seconds
    busy = busy_processes()
    while busy and time.monotonic() < deadline:
        if progress:
            progress(f"waiting for a quiet machine: {busy[0]['name']} at {busy[0]['cpu_pct']:.0f}%")
        time.sleep(1.0)
        busy = busy_processes()
    return busy
