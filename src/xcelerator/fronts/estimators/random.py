"""``random``: ids without replacement (the seed's random sampler)."""

from __future__ import annotations

from typing import Any

NAME = "random"
HELP = "configurations drawn without replacement"


def walk(w: Any) -> None:
    for cid in w.rng.sample(range(w.size), w.budget):
        w.ev(cid)
