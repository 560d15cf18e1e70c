"""``placement``: op types on CPU or GPU (``fronts.space.placement_space``; needs a GPU)."""

from __future__ import annotations

from typing import Any

NAME = "placement"
HELP = "op types on CPU or GPU (needs a GPU)"


def make(art: Any, target: str, options: Any) -> Any:
    from xcelerator.fronts.space import placement_space

    return placement_space(art)
