"""The parts every design space shares: ``Param`` (one dimension) and ``Space`` (the base class).

Their own module so that a space in another file (``models/mixed.py``) can build on them while
``models/spaces.py`` keeps the registry that names it, without an import circle.
"""

from __future__ import annotations

import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import ArchSpec


@dataclass(frozen=True)
class Param:
    """One dimension of a space: ``int``/``float`` with ``low``, ``high`` and ``step`` (a grid),
    or ``choice`` among ``choices``."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0
    choices: tuple[Any, ...] = ()
    default: Any = None

    def values(self) -> list[Any]:
        if self.kind == "choice":
            return list(self.choices)
        n = self.count()
        if n is None:
            raise ValueError(f"{self.name} has no step: it is continuous")
        return [self._at(i) for i in range(n)]

    def _at(self, k: int) -> Any:
        """The k-th grid value."""
        v = self.low + k * self.step
        return round(v) if self.kind == "int" else round(v, 10)

    def count(self) -> int | None:
        """Number of values (None when continuous), without listing them."""
        if self.kind == "choice":
            return len(self.choices)
        if not self.step:
            return None
        return round((self.high - self.low) / self.step) + 1

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.step:
            return self._at(rng.randrange(self.count() or 1))
        if self.kind == "int":
            return rng.randint(int(self.low), int(self.high))
        return rng.uniform(self.low, self.high)

    def check(self, v: Any) -> Any:
        if self.kind == "choice":
            for c in self.choices:
                if v == c or (isinstance(c, (int, float)) and isinstance(v, (int, float)) and float(v) == float(c)):
                    return c
            raise BadInputError(f"point: {self.name}={v!r} is not one of {list(self.choices)}")
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise BadInputError(f"point: {self.name}={v!r} must be a number") from None
        if not self.low - 1e-9 <= x <= self.high + 1e-9:
            raise BadInputError(f"point: {self.name}={v!r} is outside {self.low:g}..{self.high:g}")
        if self.step:
            k = (x - self.low) / self.step
            if abs(k - round(k)) > 1e-6:
                raise BadInputError(
                    f"point: {self.name}={v!r} is not on the grid {self.low:g}, "
                    f"{self.low + self.step:g}, ... (step {self.step:g})"
                )
            return self._at(round(k))
        return round(x) if self.kind == "int" else round(x, 10)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "choice":
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, step=self.step or None)
        if self.default is not None:
            d["default"] = self.default
        return d


class Space(ABC):
    """A design space. Subclasses give ``params`` and ``to_spec``; user spaces override ``build``."""

    name: str = ""
    description: str = ""

    @abstractmethod
    def params(self) -> list[Param]: ...

    @abstractmethod
    def to_spec(self, point: dict[str, Any]) -> ArchSpec | None: ...

    # ------------------------------------------------------------------ generic
    def check(self, point: dict[str, Any]) -> dict[str, Any]:
        ps = {p.name: p for p in self.params()}
        unknown = set(point) - set(ps)
        if unknown:
            raise BadInputError(
                f"point: unknown parameter(s) {sorted(unknown)} for space {self.name}; "
                f"valid: {', '.join(ps) if len(ps) < 20 else str(len(ps)) + ' parameters'}"
            )
        out = {}
        for name, p in ps.items():
            if name not in point:
                if p.default is None:
                    raise BadInputError(f"point: missing parameter '{name}' of space {self.name}")
                out[name] = p.default
            else:
                out[name] = p.check(point[name])
        return out

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self.params()}

    def default_point(self) -> dict[str, Any]:
        return self.check({})

    def size(self) -> int | None:
        total = 1
        for p in self.params():
            n = p.count()
            if n is None:
                return None
            total *= n
        return total

    def enumerate(self) -> Iterator[dict[str, Any]]:
        if self.size() is None:
            raise BadInputError(f"space {self.name} is continuous: it cannot be enumerated")
        ps = self.params()
        for combo in product(*(p.values() for p in ps)):
            yield dict(zip((p.name for p in ps), combo, strict=True))

    def arch_id(self, point: dict[str, Any]) -> str:
        spec = self.to_spec(self.check(point))
        if spec is not None:
            return spec.hash
        return hashlib.sha256(json.dumps(self.check(point), sort_keys=True).encode()).hexdigest()[:16]

    def build(self, point: dict[str, Any], seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
        """(module, example inputs) of a point."""
        from xcelerator.models.builder import build, example_inputs

        spec = self.to_spec(self.check(point))
        assert spec is not None
        return build(spec, seed), example_inputs(spec, seed)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "size": self.size(),
            "params": [p.to_dict() for p in self.params()],
        }
