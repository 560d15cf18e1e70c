"""The model-level GBM predictor (kind ``gbm``)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from xcelerator.costmodel.features import (
    model_vector,
)
from xcelerator.costmodel.predictors._base import LatencyPredictor, _Bag, _bagged
from xcelerator.models.graphstats import GraphStats


# ----------------------------------------------------------------------------- model-level GBM
class GBMPredictor(LatencyPredictor):
    """LightGBM on model-level features, log-latency target, bagged.

    The 80% interval is ``± q80`` in log-latency, ``q80`` the 80% quantile of the absolute
    out-of-bag errors: each training network predicted by the members that never saw it, so the
    interval is what held-out networks showed, without a normal assumption (the errors are
    heavy-tailed: an RMS-based normal interval, plus the members' spread that the out-of-bag
    error already contains, covered 91% of held-out mixed networks instead of 80%). Networks
    unlike the training set are flagged by ``explain``'s range warnings."""

    kind = "gbm"
    min_samples = 10
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="right")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 5,
        n_members: int = 5,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X: Sequence[Any], y: Any, layers: Any = None) -> GBMPredictor:
        stats, arr = self._check_fit_input(X, y)
        V = np.stack([model_vector(s)[0] for s in stats])
        self.bag_ = _Bag.fit(V, np.log(arr), self.get_params(), self.n_members, self.random_state)
        return self

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "bag_")
        V = np.stack([model_vector(s)[0] for s in stats])
        return _bagged(self.bag_.predict_all(V), self.bag_.oob_q80, self.bag_.oob_sigma)

    def _state(self) -> dict[str, Any]:
        return self.bag_.to_json()

    def _load_state(self, d: dict[str, Any]) -> None:
        self.bag_ = _Bag.from_json(d)
