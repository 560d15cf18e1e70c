"""``hlps``: the seed's merged local search: a random start, then Hamming-1 neighbours of the
current front (exploitation) and, when those are spent, Hamming-d neighbours with growing d."""

from __future__ import annotations

from typing import Any

from xcelerator.fronts.estimators._neighbourhood import explore

NAME = "hlps"
HELP = "the seed's local search around the front from a random start"


def walk(w: Any) -> None:
    explore(w, [w.rng.randrange(w.size)], most_shared=False)
