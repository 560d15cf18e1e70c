"""Objectives and constraints of a search, parsed from plain strings with clear errors.

Objectives: ``accuracy`` (maximize), ``error``, ``latency`` (ms), ``memory`` (MiB of the
model's own peak RSS: the child's peak minus its RSS before loading), ``macs``, ``params``,
``size`` (bytes of the ONNX file) — all minimized. ``energy`` is not measured by the local
targets of this version and is refused with that reason.

Constraints: ``NAME<=VALUE`` or ``NAME>=VALUE`` on any objective name, and
``accuracy>=baseline-DELTA`` (DELTA in accuracy units, e.g. 0.005 for half a point) relative to
the space's default point, which every search evaluates first. Optuna's convention: a
constraint value <= 0 is satisfied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from xcelerator.errors import BadInputError

DIRECTIONS = {
    "accuracy": "maximize",
    "error": "minimize",
    "latency": "minimize",
    "memory": "minimize",
    "macs": "minimize",
    "params": "minimize",
    "size": "minimize",
}


def parse_objectives(names: list[str] | str) -> list[str]:
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not items:
        raise BadInputError("objectives: give at least one (e.g. accuracy,latency)")
    for n in items:
        if n == "energy":
            raise BadInputError("objective energy: no local target of this version measures energy")
        if n not in DIRECTIONS:
            raise BadInputError(f"unknown objective '{n}'; valid: {', '.join(DIRECTIONS)}")
    if len(set(items)) != len(items):
        raise BadInputError(f"objectives: {items} repeats a name")
    return items


_CONSTRAINT = re.compile(r"^\s*([a-z]+)\s*(<=|>=)\s*(baseline\s*-\s*)?([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    name: str
    op: str  # <= or >=
    value: float
    relative_to_baseline: bool = False

    def bound(self, baseline: dict[str, float] | None) -> float:
        if not self.relative_to_baseline:
            return self.value
        if baseline is None or self.name not in baseline:
            raise BadInputError(f"constraint {self}: needs the baseline's {self.name}")
        return baseline[self.name] - self.value

    def violation(self, values: dict[str, float], baseline: dict[str, float] | None) -> float:
        """> 0 when violated (Optuna's convention), in the objective's units."""
        b = self.bound(baseline)
        v = values[self.name]
        return v - b if self.op == "<=" else b - v

    def __str__(self) -> str:
        rhs = f"baseline-{self.value:g}" if self.relative_to_baseline else f"{self.value:g}"
        return f"{self.name}{self.op}{rhs}"


def parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT.match(text)
    if not m:
        raise BadInputError(f"constraint {text!r}: expected NAME<=VALUE, NAME>=VALUE or accuracy>=baseline-DELTA")
    name, op, rel, val = m.group(1), m.group(2), bool(m.group(3)), m.group(4)
    if name not in DIRECTIONS:
        raise BadInputError(f"constraint {text!r}: unknown quantity '{name}'; valid: {', '.join(DIRECTIONS)}")
    try:
        value = float(val)
    except ValueError:
        raise BadInputError(f"constraint {text!r}: {val!r} is not a number") from None
    if rel and (name not in ("accuracy", "error") or value < 0):
        raise BadInputError(f"constraint {text!r}: baseline-DELTA applies to accuracy with DELTA >= 0")
    if not rel:
        if name in ("latency", "memory", "macs", "params", "size") and op == "<=" and value <= 0:
            raise BadInputError(f"constraint {text!r}: nothing can meet {name} <= {value:g}")
        if name == "accuracy" and op == ">=" and value > 1:
            raise BadInputError(f"constraint {text!r}: accuracy is a fraction in [0, 1]; nothing can reach {value:g}")
    return Constraint(name, op, value, rel)


def dominates(a: list[float], b: list[float], directions: list[str]) -> bool:
    better = False
    for x, y, d in zip(a, b, directions, strict=True):
        if d == "minimize":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_front(points: list[tuple[Any, list[float]]], directions: list[str]) -> list[Any]:
    """Keys of the non-dominated points (ties kept)."""
    return [k for k, v in points if not any(dominates(w, v, directions) for _, w in points)]


def hypervolume_2d(points: list[list[float]], ref: list[float]) -> float:
    """Hypervolume of 2-D minimization points against a reference point (both normalized by the
    caller). Used by benchmarks; Optuna's own hypervolume is private API, so we keep this one."""
    pts = sorted((p for p in points if p[0] < ref[0] and p[1] < ref[1]), key=lambda p: (p[0], p[1]))
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv
