"""The aisys2021_AutoML seed's toy problem, to test search strategies in milliseconds:
memory = max(w, d), latency = w² + d², accuracy = 1 − distance of (w, d) to (0.5, 0.3)."""

from __future__ import annotations

import math
from typing import Any

from xcelerator.models.archspec import ArchSpec
from xcelerator.models.spaces import Param, Space
from xcelerator.nas.protocol import Evaluator, Outcome


class ToySpace(Space):
    name = "toy"
    description = "the seed's toy scaling problem (w, d in 0.1 steps)"

    def params(self) -> list[Param]:
        return [
            Param("width", "float", 0.1, 1.0, 0.1, default=1.0),
            Param("depth", "float", 0.1, 1.0, 0.1, default=1.0),
        ]

    def to_spec(self, point: dict[str, Any]) -> ArchSpec | None:
        return None

    def arch_id(self, point: dict[str, Any]) -> str:
        p = self.check(point)
        return f"w{p['width']:.1f}-d{p['depth']:.1f}"


def toy_values(point: dict[str, Any]) -> dict[str, float]:
    w, d = float(point["width"]), float(point["depth"])
    acc = 1 - math.hypot(w - 0.5, d - 0.3)
    return {
        "accuracy": acc,
        "error": 1 - acc,
        "latency": w * w + d * d,
        "memory": max(w, d),
        "macs": 0.0,
        "params": 0.0,
        "size": 0.0,
    }


class ToyEvaluator(Evaluator):
    def __init__(self) -> None:
        self.space = ToySpace()

    def evaluate(self, point: dict[str, Any], tag: str = "") -> Outcome:
        p = self.space.check(point)
        return Outcome(toy_values(p), {"arch": self.space.arch_id(p)})
