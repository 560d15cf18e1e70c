"""``corners`` (ours, the default): the two extreme configurations first (every digit at its
first choice, every digit at its last, e.g. all fp32 and all int8), then neighbours of the
noise-aware front ordered by how many front points they neighbour, then exploration as in hlps.
Starting at both ends is what the seed's random sampler missed (the all-CPU end)."""

from __future__ import annotations

from typing import Any

from xcelerator.fronts.estimators._neighbourhood import explore

NAME = "corners"
HELP = "both extreme configurations first, then the front's most shared neighbours"


def walk(w: Any) -> None:
    explore(w, [0, w.space.encode([b - 1 for b in w.space.bases])], most_shared=True)
