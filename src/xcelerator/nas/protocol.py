"""What a study asks of an evaluator: a point in, an ``Outcome`` out.

``Evaluator.evaluate(point, tag) -> Outcome`` is all a study needs; an outcome with no values
and ``attrs["pruned"]`` (the reason) stops the candidate early (multi-fidelity). A
``StagedEvaluator`` splits the work into a training stage (any CPU or GPU) that hands a
``Prepared`` record to a measuring stage (on the target's device, serialized by
``measure_resources``), which an executor runs apart; the study hands it the latency oracle
(``oracle``) and the baseline's result (``after_baseline``), and trains the baseline in the
driver first when ``inherit`` is on (later candidates inherit its weights). Both records are
frozen and hold plain data: they cross processes and machines (Ray).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One evaluated candidate. ``values``: its objective values (empty when it failed or was
    stopped early); ``attrs``: what its trial records (JSON data: Optuna user attributes);
    ``record``: its measurement as data, stored by the driver (only the driver writes the
    store); ``files``: the bytes of the files a worker made, by path, written by the driver
    where they are missing (a worker on another machine writes its own disk)."""

    values: dict[str, float]
    attrs: dict[str, Any]
    record: dict[str, Any] | None = None
    files: dict[str, bytes] | None = None

    @property
    def stopped(self) -> str:
        """Why the candidate stopped early, or empty."""
        return str(self.attrs.get("pruned") or "")


@dataclass(frozen=True)
class Prepared:
    """What a training stage hands the measuring stage: a trained, exported candidate (or one
    stopped early: ``pruned`` says why, and nothing is exported)."""

    point: dict[str, Any]
    tag: str
    onnx: str = ""  # the exported graph
    accuracy: float | None = None  # of the trained torch module
    curve: list[list[float]] = field(default_factory=list)  # [epochs, accuracy] at each rung
    epochs: int = 0
    train_seconds: float = 0.0  # in the user's train function
    train_wall: float = 0.0  # the whole stage
    pruned: str = ""
    saved_seconds: float = 0.0  # training a stopped candidate did not need
    state_dict: str = ""  # the trained weights
    spec: dict[str, Any] | None = None  # the architecture, for a space of specs
    inherited: bool = False  # the weights started from the baseline's
    precision: str = "fp32"
    target: str = ""  # the target it deploys to (a configuration search's choice)
    reused: str | None = None  # the tag whose training served again

    def stopped_attrs(self) -> dict[str, Any]:
        """What the trial of a candidate stopped early records."""
        return {
            "pruned": self.pruned,
            "curve": self.curve,
            "train_seconds": self.train_seconds,
            "saved_seconds": self.saved_seconds,
            "epochs": self.epochs,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prepared:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


class Evaluator(ABC):
    """A point in, an ``Outcome`` out; raises for a failure it cannot record."""

    @abstractmethod
    def evaluate(self, point: dict[str, Any], tag: str) -> Outcome:
        """The objective values of ``point`` (``tag`` names its files) and what to record with them."""


class StagedEvaluator(Evaluator):
    """Train here, measure there: the two stages a study's executor can run on different workers."""

    oracle: Any = None  # the latency oracle (``nas.hybrid.LatencyOracle``), set by the study
    inherit: bool = False  # the baseline trains first, in the driver; every later candidate inherits

    @abstractmethod
    def train_stage(self, point: dict[str, Any], tag: str) -> Prepared:
        """Build, train and export; the record is all ``measure_stage`` needs; a ``pruned``
        one stops the candidate here."""

    @abstractmethod
    def measure_stage(self, prep: Prepared) -> Outcome:
        """Measure what ``train_stage`` exported on the target."""

    def measure_resources(self) -> dict[str, float]:
        """The Ray resources one measurement holds (the target's device), none by default."""
        return {}

    def after_baseline(self, values: dict[str, float], attrs: dict[str, Any]) -> None:
        """Called once with the baseline's result, before the evaluator is shared with workers."""

    def evaluate(self, point: dict[str, Any], tag: str) -> Outcome:
        prep = self.train_stage(point, tag)
        if prep.pruned:
            return Outcome({}, prep.stopped_attrs())
        return self.measure_stage(prep)
