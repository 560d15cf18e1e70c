"""``brute``: every configuration id in order."""

from __future__ import annotations

from typing import Any

NAME = "brute"
HELP = "every configuration in order"


def walk(w: Any) -> None:
    for cid in range(w.budget):
        w.ev(cid)
