"""Energy from an external power monitor: the MobileAccelerator seed's Monsoon CSV.

The monitor writes ``Time(ms),Main(mA),Main Voltage(V)`` rows, time relative to the moment it
started recording (``t0``, seconds since the epoch, which the user notes or the monitor's
software prints). The inference window is the measurement's timed loop (absolute times); the
energy over it is the trapezoid integral of current × voltage, divided by the number of
inferences. RAPL and NVML readings are taken by the runner itself (``rounds/runner.py``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from xcelerator.errors import BadInputError

HEADER = ("Time(ms)", "Main(mA)", "Main Voltage(V)")


def read_monsoon(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, relative) and power (mW)."""
    p = Path(path)
    try:
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise BadInputError(f"power CSV {p}: cannot read ({e})") from None
    if not rows or tuple(c.strip() for c in rows[0][:3]) != HEADER:
        raise BadInputError(f"power CSV {p}: expected the header {','.join(HEADER)}")
    try:
        a = np.array([[float(x) for x in r[:3]] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as e:
        raise BadInputError(f"power CSV {p}: not numbers ({e})") from None
    if len(a) < 2 or np.any(np.diff(a[:, 0]) <= 0):
        raise BadInputError(f"power CSV {p}: needs at least 2 rows with increasing time")
    return a[:, 0] / 1000.0, a[:, 1] * a[:, 2]


def window_energy_mj(t: np.ndarray, mw: np.ndarray, start: float, end: float) -> float:
    """mJ between ``start`` and ``end`` (s, same clock as ``t``), interpolating at the edges."""
    if not t[0] <= start < end <= t[-1]:
        raise BadInputError(
            f"the inference window {start:.3f}–{end:.3f} s lies outside the recording {t[0]:.3f}–{t[-1]:.3f} s"
        )
    inner = (t > start) & (t < end)
    ts = np.concatenate([[start], t[inner], [end]])
    ps = np.concatenate([[np.interp(start, t, mw)], mw[inner], [np.interp(end, t, mw)]])
    return float(np.trapezoid(ps, ts))  # mW × s = mJ


def monsoon_mj_per_inference(path: str | Path, t0: float, start: float, end: float, runs: int) -> float:
    """Energy per inference (mJ) of a timed loop from ``start`` to ``end`` (epoch seconds)
    with ``runs`` inferences, from a Monsoon CSV whose time 0 is ``t0`` (epoch seconds)."""
    if runs < 1:
        raise BadInputError("runs must be >= 1")
    t, mw = read_monsoon(path)
    return window_energy_mj(t, mw, start - t0, end - t0) / runs
