"""Latency predictors with the scikit-learn estimator contract, saved as JSON (never pickle),
one file each, registered by kind like runtimes.

``X`` is a sequence of ``GraphStats`` (what ``load_artifact`` computes for any model file), ``y``
end-to-end latencies in ms. The built-in kinds:

* ``gbm`` (``gbm.py``): LightGBM on model-level features (``features.model_vector``), log target.
* ``layer`` (``layer.py``): LightGBM on kernel rows (the graph split as ONNX Runtime fuses it),
  trained on the runtime's own per-node times (``fit(..., layers=...)``), summed per op family
  and calibrated on end-to-end times: nn-Meter's idea, learned from profiles of whole models
  rather than from separate kernel test cases.
* ``lstm`` (``lstm.py``): the cost-model seed's sequence model (an LSTM over the layer rows).
* ``ensemble`` (``ensemble.py``): the inverse-variance weighted geometric mean of members.
* ``adapted`` (``adapted.py``): a predictor of one target carried over to another from a few
  signature measurements.

Each is a bagged ensemble: the spread of its members plus their out-of-bag error gives an
interval with every prediction (``predict_interval``), and ``explain`` warns when a model lies
outside what the predictor saw (feature ranges, op types it has to ignore).

**Adding a predictor** is one file in this folder defining a ``LatencyPredictor`` subclass with
its ``kind`` (found by ``kinds()``); a third-party package registers its class under the
entry-point group ``xcelerator.predictors``. ``xcelerator.testing.check_predictor(kind)`` is the
conformance check every registered kind passes (``tests/test_costmodel.py``).

A predictor file records the conditions it was trained on (target, runtime and its version,
CPU, plan); ``load`` refuses another format version, and callers compare conditions.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from sklearn.exceptions import NotFittedError

from xcelerator.costmodel.features import FAMILIES, match_layers
from xcelerator.costmodel.predictors._base import (
    FORMAT,
    FORMAT_VERSION,
    LatencyPredictor,
    Prediction,
    from_json,
    load,
    make,
)
from xcelerator.costmodel.predictors.adapted import AdaptedPredictor, _family_times, design_signature
from xcelerator.costmodel.predictors.ensemble import EnsemblePredictor
from xcelerator.costmodel.predictors.gbm import GBMPredictor
from xcelerator.costmodel.predictors.layer import _MIN_FAMILY_SHARE, LayerPredictor, _kernel_families
from xcelerator.costmodel.predictors.lstm import LSTMPredictor

GROUP = "xcelerator.predictors"
_FIRST = ("gbm", "layer", "lstm", "ensemble", "adapted")  # listed in this order, then the rest by name


def _defined_in(mod: Any) -> list[type[LatencyPredictor]]:
    return [
        v
        for v in vars(mod).values()
        if isinstance(v, type) and issubclass(v, LatencyPredictor) and v.__module__ == mod.__name__ and v.kind
    ]


def _plugin(cls: Any, source: str) -> type[LatencyPredictor]:
    if not (isinstance(cls, type) and issubclass(cls, LatencyPredictor) and cls.kind):
        raise TypeError("not a LatencyPredictor subclass with a kind")
    return cls


@functools.cache
def kinds() -> dict[str, type[LatencyPredictor]]:
    """Every registered predictor class by kind: each file of this folder, then plug-ins
    (``xcelerator.plugins``)."""
    from xcelerator.plugins import add_plugins, folder_members

    out: dict[str, type[LatencyPredictor]] = {}
    for name in folder_members(__file__):
        for cls in _defined_in(importlib.import_module(f"{__name__}.{name}")):
            out[cls.kind] = cls
    out = {k: out[k] for k in _FIRST if k in out} | {k: out[k] for k in sorted(out) if k not in _FIRST}
    return add_plugins(GROUP, out, _plugin, lambda c: c.kind, "predictor")


class _Kinds(Mapping[str, type[LatencyPredictor]]):
    """``KINDS``, the older name of ``kinds()``: a read-only view, filled on first use."""

    def __getitem__(self, k: str) -> type[LatencyPredictor]:
        return kinds()[k]

    def __iter__(self) -> Iterator[str]:
        return iter(kinds())

    def __len__(self) -> int:
        return len(kinds())


KINDS = _Kinds()

__all__ = [
    "FAMILIES",
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "_MIN_FAMILY_SHARE",
    "AdaptedPredictor",
    "EnsemblePredictor",
    "GBMPredictor",
    "LSTMPredictor",
    "LatencyPredictor",
    "LayerPredictor",
    "NotFittedError",
    "Prediction",
    "_family_times",
    "_kernel_families",
    "design_signature",
    "from_json",
    "kinds",
    "load",
    "make",
    "match_layers",
]
