"""The local search ``hlps`` and ``corners`` share: neighbours of the noise-aware front
(Hamming-1 first), then Hamming-d with growing d when those are spent (exploration)."""

from __future__ import annotations

from typing import Any


def explore(w: Any, starts: list[int], most_shared: bool) -> None:
    """From ``starts``, measure neighbours of the current front until the budget is spent;
    ``most_shared``: prefer the neighbours of the most front points (``corners``), else any."""
    from xcelerator.fronts.core import front

    for s in starts:
        if not w.full():
            w.ev(s)
    dist = 1
    while not w.full():
        fr = front(list(w.seen.values()), w.with_error)
        cand: dict[int, int] = {}
        for p in fr:
            for q in w.space.neighbours(p.id, dist):
                if q not in w.seen:
                    cand[q] = cand.get(q, 0) + 1
        if not cand:
            if dist < len(w.space.bases):
                dist += 1  # exploration: Hamming-d around the front
                continue
            rest = [c for c in range(w.size) if c not in w.seen]
            if not rest:
                break
            w.ev(w.rng.choice(rest))
            continue
        if most_shared:
            best = max(cand.values())
            pick = w.rng.choice(sorted(c for c, k in cand.items() if k == best))
        else:
            pick = w.rng.choice(sorted(cand))
        w.ev(pick)
        dist = 1
