"""What a study asks of an evaluator: a point in, objective values out.

``Evaluator.evaluate(point, tag) -> (values, attrs)`` is all a study needs; empty ``values``
with ``attrs["pruned"]`` (the reason) stops the candidate early (multi-fidelity). A
``StagedEvaluator`` splits the work into a training stage (any CPU or GPU) and a measuring stage
(on the target's device, serialized by ``measure_resources``), which an executor runs apart; the
study hands it the latency oracle (``oracle``) and the baseline's result (``after_baseline``),
and trains the baseline in the driver first when ``inherit`` is on (later candidates inherit
its weights). Evaluators that only duck-type ``evaluate`` still work as plain evaluators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Evaluator(ABC):
    """A point in, ``(values, attrs)`` out; raises for a failure it cannot record."""

    @abstractmethod
    def evaluate(self, point: dict[str, Any], tag: str) -> tuple[dict[str, float], dict[str, Any]]:
        """The objective values of ``point`` (``tag`` names its files) and what to record with them."""


class StagedEvaluator(Evaluator):
    """Train here, measure there: the two stages a study's executor can run on different workers."""

    oracle: Any = None  # the latency oracle (``nas.hybrid.LatencyOracle``), set by the study
    inherit: bool = False  # the baseline trains first, in the driver; every later candidate inherits

    @abstractmethod
    def train_stage(self, point: dict[str, Any], tag: str) -> dict[str, Any]:
        """Build, train and export; the returned dict is all ``measure_stage`` needs (it crosses
        processes, so plain data); ``prep["pruned"]`` stops the candidate here."""

    @abstractmethod
    def measure_stage(self, prep: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
        """Measure what ``train_stage`` exported on the target."""

    def measure_resources(self) -> dict[str, float]:
        """The Ray resources one measurement holds (the target's device), none by default."""
        return {}

    def after_baseline(self, values: dict[str, float], attrs: dict[str, Any]) -> None:
        """Called once with the baseline's result, before the evaluator is shared with workers."""

    def evaluate(self, point: dict[str, Any], tag: str) -> tuple[dict[str, float], dict[str, Any]]:
        prep = self.train_stage(point, tag)
        if prep.get("pruned"):
            return {}, prep
        return self.measure_stage(prep)
