"""Latency predictors with the scikit-learn estimator contract, saved as JSON (never pickle).

``X`` is a sequence of ``GraphStats`` (what ``load_artifact`` computes for any model file), ``y``
end-to-end latencies in ms. Three predictors:

* ``GBMPredictor``: LightGBM on model-level features (``features.model_vector``), log target.
* ``LayerPredictor``: LightGBM on kernel rows (the graph split as ONNX Runtime fuses it),
  trained on the runtime's own per-node times (``fit(..., layers=...)``), summed per op family
  and calibrated on end-to-end times with a linear map (non-negative weights on the sums, a
  kernel-count weight and a constant of either sign): nn-Meter's idea, learned from profiles of
  whole models rather than from separate kernel test cases.
* ``LSTMPredictor``: the cost-model seed's sequence model (an LSTM over the layer rows), in
  PyTorch.
* ``EnsemblePredictor``: the geometric mean of the GBM and the layer predictor (the default of
  ``xcel costmodel fit`` until the layer predictor split kernels as the runtime fuses them and
  calibrated per op family; it is now ahead of the ensemble, and ``layer`` is the default).
* ``AdaptedPredictor``: a predictor of one target carried over to another from a few
  signature measurements.

Each is a bagged ensemble: the spread of its members plus their out-of-bag error gives an
interval with every prediction (``predict_interval``), and ``explain`` warns when a model lies
outside what the predictor saw (feature ranges, op types it has to ignore).

A predictor file records the conditions it was trained on (target, runtime and its version,
CPU, plan); ``load`` refuses another format version, and callers compare conditions.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from xcelerator.costmodel.features import (
    FAMILIES,
    KERNEL_COLUMNS,
    kernel_matrix,
    match_layers,
    model_columns,
    model_vector,
    nchwc_block,
)
from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats

FORMAT = "xcelerator-costmodel"
FORMAT_VERSION = 1
Z80 = 1.2816  # two-sided 80% normal interval

LayerList = Sequence[tuple[str, str, float]]


@dataclass
class Prediction:
    ms: float
    low_ms: float
    high_ms: float
    warnings: list[str] = field(default_factory=list)
    ignored_ops: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ms": self.ms,
            "low_ms": self.low_ms,
            "high_ms": self.high_ms,
            "interval": 0.8,
            "warnings": self.warnings,
            "ignored_ops": self.ignored_ops,
        }


def _as_stats(X: Sequence[Any]) -> list[GraphStats]:
    out = []
    for x in X:
        if isinstance(x, GraphStats):
            out.append(x)
        elif isinstance(x, dict):
            out.append(GraphStats.from_dict(x))
        elif getattr(x, "stats", None) is not None:  # an Artifact
            out.append(x.stats)
        else:
            raise BadInputError(f"cost model input: expected graph statistics or an artifact, got {type(x).__name__}")
    for s in out:
        if not s.nodes:
            raise BadInputError("cost model input: graph statistics without nodes (load the model file again)")
    return out


def _check_y(y: Any, n: int) -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise BadInputError(f"cost model: {n} models but {arr.shape[0]} latencies")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise BadInputError("cost model: latencies must be finite and > 0 ms")
    return arr


# ----------------------------------------------------------------------------- LightGBM bag
def _lgb_params(p: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "objective": "regression",
        "learning_rate": p["learning_rate"],
        "num_leaves": p["num_leaves"],
        "min_data_in_leaf": p["min_child_samples"],
        "feature_fraction": 0.9,
        "lambda_l2": 1e-3,
        "seed": seed,
        "num_threads": 1,
        "deterministic": True,
        "verbose": -1,
    }


class _Bag:
    """``n`` LightGBM boosters on bootstrap resamples (rows grouped by ``groups``), with the
    out-of-bag log-error as the part of the interval the spread does not see.

    Written here rather than with sklearn's BaggingRegressor because the boosters must be
    stored as LightGBM's own text (``model_to_string``) inside our JSON, never pickled, and the
    bootstrap has to resample whole models for kernel rows."""

    def __init__(self, boosters: list[Any], oob_sigma: float, oob_q80: float | None = None) -> None:
        self.boosters = boosters
        self.oob_sigma = oob_sigma  # RMS out-of-bag log-error
        self.oob_q80 = oob_q80  # its 80% quantile of |log-error| (None in files saved before it)
        self.left_out: list[np.ndarray] = []

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        t: np.ndarray,
        params: dict[str, Any],
        n: int,
        seed: int,
        groups: np.ndarray | None = None,
        early_stopping: int | None = None,
    ) -> _Bag:
        """With ``early_stopping``, each member grows up to ``n_estimators`` trees and stops
        when its out-of-bag rows (whole models it did not draw) stopped improving for that many
        rounds: how many trees the data supports is found per fit, not fixed."""
        import lightgbm as lgb

        rng = np.random.default_rng(seed)
        g = np.arange(len(X)) if groups is None else groups
        uniq = np.unique(g)
        boosters = []
        oob_sum = np.zeros(len(X))
        oob_cnt = np.zeros(len(X))
        left_out: list[np.ndarray] = []
        for i in range(n):
            pick = rng.choice(uniq, size=len(uniq), replace=True) if n > 1 else uniq
            left_out.append(np.setdiff1d(uniq, pick))
            counts = dict(zip(*np.unique(pick, return_counts=True), strict=True))
            w = np.array([counts.get(x, 0) for x in g], dtype=np.float64)
            ds = lgb.Dataset(X, t, weight=w, free_raw_data=True)
            out = w == 0
            if early_stopping and out.sum() > 10:
                valid = lgb.Dataset(X[out], t[out], reference=ds)
                b = lgb.train(
                    _lgb_params(params, seed + i),
                    ds,
                    num_boost_round=params["n_estimators"],
                    valid_sets=[valid],
                    callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
                )
                b = lgb.Booster(model_str=b.model_to_string(num_iteration=b.best_iteration))
            else:
                b = lgb.train(_lgb_params(params, seed + i), ds, num_boost_round=params["n_estimators"])
            boosters.append(b)
            if out.any():
                oob_sum[out] += b.predict(X[out])
                oob_cnt[out] += 1
        have = oob_cnt > 0
        resid = oob_sum[have] / oob_cnt[have] - t[have]
        sigma = float(np.sqrt(np.mean(resid**2))) if have.sum() > 2 else 0.0
        bag = cls(boosters, sigma, _q80(resid))
        bag.left_out = left_out  # per member, the groups it never drew (kept in memory, not saved)
        return bag

    def predict_all(self, X: np.ndarray) -> np.ndarray:
        return np.stack([b.predict(X) for b in self.boosters])  # members × rows

    def to_json(self) -> dict[str, Any]:
        return {
            "boosters": [b.model_to_string() for b in self.boosters],
            "oob_sigma": self.oob_sigma,
            "oob_q80": self.oob_q80,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Bag:
        import lightgbm as lgb

        q = d.get("oob_q80")
        boosters = [lgb.Booster(model_str=s) for s in d["boosters"]]
        return cls(boosters, float(d["oob_sigma"]), None if q is None else float(q))


def _q80(log_errors: Any) -> float:
    """The 80% quantile of absolute out-of-bag log-errors (0 with too few)."""
    e = np.abs(np.asarray(log_errors, dtype=np.float64))
    return float(np.quantile(e, 0.8)) if len(e) > 2 else 0.0


def _bagged(P: np.ndarray, q80: float | None, oob_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean log-latency of bagged members' predictions ``P`` (members × rows) and the SD whose
    80% interval is ``± q80`` (``GBMPredictor``'s docstring says why); files saved before
    ``q80`` was kept get the members' spread plus the RMS out-of-bag error."""
    if q80 is None:
        return P.mean(0), np.sqrt(P.std(0) ** 2 + oob_sigma**2)
    return P.mean(0), np.full(P.shape[1], q80 / Z80)


# ----------------------------------------------------------------------------- base
class LatencyPredictor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Common parts: input checks, ranges seen in training, intervals, JSON."""

    kind: ClassVar[str] = ""
    min_samples: ClassVar[int] = 10
    conditions: dict[str, Any]

    def _check_fit_input(self, X: Sequence[Any], y: Any) -> tuple[list[GraphStats], np.ndarray]:
        self._validate_params()
        stats = _as_stats(X)
        arr = _check_y(y, len(stats))
        if len(stats) < self.min_samples:
            raise BadInputError(
                f"too few measurements to fit a {self.kind} cost model: {len(stats)} (need at least {self.min_samples})"
            )
        vecs = np.stack([model_vector(s)[0] for s in stats])
        self.ranges_ = {"low": vecs.min(0).tolist(), "high": vecs.max(0).tolist()}
        self.n_train_ = len(stats)
        if not hasattr(self, "conditions"):
            self.conditions = {}
        return stats, arr

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        """Per model: mean log-latency and its standard deviation."""
        raise NotImplementedError

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        check_is_fitted(self, "n_train_")
        mu, _ = self._predict_log(_as_stats(X))
        return np.exp(mu)

    def predict_interval(self, X: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction and an 80% interval (ms)."""
        check_is_fitted(self, "n_train_")
        mu, sd = self._predict_log(_as_stats(X))
        return np.exp(mu), np.exp(mu - Z80 * sd), np.exp(mu + Z80 * sd)

    def explain(self, x: Any) -> Prediction:
        """One model: the prediction, its interval and what to be wary of."""
        stats = _as_stats([x])[0]
        ms, lo, hi = (float(v[0]) for v in self.predict_interval([stats]))
        vec, ignored = model_vector(stats)
        low, high = np.array(self.ranges_["low"]), np.array(self.ranges_["high"])
        slack = 0.05 * np.maximum(high - low, 1e-9)
        cols = model_columns()
        outside = [cols[i] for i in np.flatnonzero((vec < low - slack) | (vec > high + slack))]
        warnings = []
        if outside:
            warnings.append(
                "outside the training range in " + ", ".join(outside[:6]) + (" ..." if len(outside) > 6 else "")
            )
        if ignored:
            warnings.append("ignored op types unknown to the features: " + ", ".join(ignored))
        return Prediction(ms, lo, hi, warnings, ignored)

    # ------------------------------------------------------------------ JSON
    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_state(self, d: dict[str, Any]) -> None:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        check_is_fitted(self, "n_train_")
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "params": self.get_params(),
            "conditions": getattr(self, "conditions", {}),
            "n_train": self.n_train_,
            "ranges": self.ranges_,
            "model_columns": model_columns(),
            "kernel_columns": list(KERNEL_COLUMNS),
            "state": self._state(),
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(p)
        return p


def load(path: str | Path) -> LatencyPredictor:
    """Read a predictor file, refusing anything that is not one of ours of this format version."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise BadInputError(f"predictor file {p}: no such file") from None
    except (OSError, ValueError) as e:
        raise BadInputError(f"predictor file {p}: not JSON ({e})") from None
    return from_json(d, str(p))


def from_json(d: Any, where: str = "predictor") -> LatencyPredictor:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise BadInputError(f"{where}: not an xcelerator cost model file")
    if d.get("version") != FORMAT_VERSION:
        raise BadInputError(
            f"{where}: cost model format version {d.get('version')}, this xcelerator reads version "
            f"{FORMAT_VERSION}: fit it again with 'xcel costmodel fit'"
        )
    if d.get("model_columns") != model_columns() or d.get("kernel_columns") != list(KERNEL_COLUMNS):
        raise BadInputError(f"{where}: made with other features than this version computes: fit it again")
    cls = KINDS.get(d.get("kind", ""))
    if cls is None:
        raise BadInputError(f"{where}: unknown predictor kind {d.get('kind')!r}; known: {sorted(KINDS)}")
    try:
        est = cls(**d["params"])
        est.conditions = dict(d.get("conditions", {}))
        est.n_train_ = int(d["n_train"])
        est.ranges_ = d["ranges"]
        est._load_state(d["state"])
    except (KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{where}: damaged cost model file ({type(e).__name__}: {e})") from None
    return est


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


# ----------------------------------------------------------------------------- layer-level
class LayerPredictor(LatencyPredictor):
    """Per-kernel LightGBM on profiled node times, summed and calibrated on end-to-end times.

    Each bag member grows up to ``n_estimators`` trees and stops early on its out-of-bag models
    (``early_stopping_rounds``): a fixed 300 trees underfit the 25k kernel rows of 400 networks
    (5-fold on 500 mixed networks, layer predictor within ±10 %: 66.0 % with 300 trees, 70.6 %
    with 1000, 68.8 % stopping early; the number is found per fit, not on test folds)."""

    kind = "layer"
    min_samples = 10
    # how networks are cut into kernels (``features.kernels``' ``fuse``): 2 merges a
    # convolution's residual sum and adds the detail columns (5-fold on 500 mixed networks,
    # within ±10 %: 68.8 % at level 1, 73.8 % with the detail columns alone, 71.0 % with the
    # sum alone, 77.0 % with both; 79.8 % with profiles on the labels' scale and a Resize's
    # mode); 3 tells a fused ReLU from a clip (``features._act_kind``; 5-fold, within ±10 %:
    # 94.2 -> 97.0 % on 2000 mixed networks, 86.6 -> 87.6 % on 500); a saved file keeps the
    # level it was trained at
    split_level = 3
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **GBMPredictor._parameter_constraints,
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],
        "residual": ["boolean"],
    }

    def __init__(
        self,
        n_estimators: int = 3000,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 10,
        n_members: int = 5,
        random_state: int = 0,
        early_stopping_rounds: int | None = 50,
        residual: bool = True,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_members = n_members
        self.random_state = random_state
        self.early_stopping_rounds = early_stopping_rounds
        self.residual = residual

    def fit(self, X: Sequence[Any], y: Any, layers: Sequence[LayerList | None] | None = None) -> LayerPredictor:
        stats, arr = self._check_fit_input(X, y)
        if layers is None or len(layers) != len(stats):
            raise BadInputError("layer cost model: needs the per-node profile of every training model (--layers)")
        # kernels as ONNX Runtime executes them (its graph fusions applied): a transformer's
        # MatMul+bias, residual Add+LayerNormalization and GELU are one profiled node each, and
        # split apart they left much of its profile unmatched (median share of profiled time
        # matched, 500 mixed networks: vit 73 -> 94 %, text 75 -> 97 %)
        self.fuse_ = self.split_level
        # ONNX Runtime's layout reorders as kernels of their own, when the profiles hold them
        # (5-fold on 500 mixed networks: within ±5 % 61.3 -> 64.0 %, MAPE 5.31 -> 5.17 %, within
        # ±10 % 86.8 -> 86.7 %, means of two fold splits; left to the calibration before)
        self.nchwc_ = nchwc_block(stats, layers)
        split = [self._kernels(s)[:2] for s in stats]
        rows, targets, groups = [], [], []
        for i, ((mat, ks), lay) in enumerate(zip(split, layers, strict=True)):
            if not lay:
                continue
            for k, ms in match_layers(ks, lay).items():
                if ms > 0:
                    rows.append(mat[k])
                    targets.append(math.log(ms))
                    groups.append(i)
        with_layers = len(set(groups))
        if with_layers < self.min_samples:
            raise BadInputError(
                f"layer cost model: only {with_layers} training models have a per-node profile "
                f"(need at least {self.min_samples}); measure with --layers"
            )
        self.bag_ = _Bag.fit(
            np.array(rows),
            np.array(targets),
            self.get_params(),
            self.n_members,
            self.random_state,
            np.array(groups),
            early_stopping=self.early_stopping_rounds,
        )
        # End-to-end time from the kernel sums: a linear map weighted by 1/y² (least squares on
        # relative error, as the predictor is judged; unweighted, the largest networks set the
        # line and a 0.2 ms network is off by half). The sum of each op family that most
        # networks have gets its own weight, and the kernel count a weight of either sign: the
        # profiler adds its own time to every node it times, so the profiled kernels overstate
        # the end-to-end time by a constant per kernel (about 2 µs here), and how far the
        # profile over- or under-states a family's share differs by family (see _calibrate).
        mats = [mat for mat, _ in split]
        present = np.mean([np.isin(np.arange(len(FAMILIES)), _kernel_families(m)) for m in mats], axis=0)
        common = [f for f, share in zip(FAMILIES, present, strict=True) if share >= _MIN_FAMILY_SHARE]
        self.calib_families_: list[str] | None = common
        counts = np.array([len(ks) for _, ks in split])
        member_sums = self._member_sums(mats)
        A = self._design(member_sums.mean(0), counts)  # members' mean per model × group
        self._calibrate(A, arr)
        pred = self._calibrated(A)
        self.calib_sigma_ = float(np.std(np.log(np.maximum(pred, 1e-9)) - np.log(arr)))
        self.resid_: Any = None
        if self.residual:
            self._fit_residual(stats, arr, member_sums, counts, np.array(sorted(set(groups))))
        self.n_kernel_rows_ = len(rows)
        return self

    # the second stage's trees: small (500 networks' residuals), fixed (5-fold on 500 mixed
    # networks, within ±10 % between 87.0 and 88.2 % over 100-600 trees of 4-15 leaves)
    _RESID_PARAMS: ClassVar[dict[str, Any]] = {
        "objective": "regression",
        "learning_rate": 0.03,
        "num_leaves": 7,
        "min_data_in_leaf": 15,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "num_threads": 1,
        "deterministic": True,
        "verbose": -1,
    }
    _RESID_ROUNDS = 200
    _RESID_MIN = 30  # networks with an out-of-bag prediction needed for a second stage

    def _fit_residual(
        self, stats: list[GraphStats], y: np.ndarray, member_sums: np.ndarray, counts: np.ndarray, profiled: np.ndarray
    ) -> None:
        """The second stage: what the kernel sum misses about the whole network.

        The calibrated kernel sum is off by a network-level factor that the kernels alone do
        not show (how the network's tensors sit in the caches, the runtime's layout changes
        between kernels): 5-fold on 500 mixed networks, the layer predictor's own measured
        profiles, calibrated, put 81 % within ±10 %. A small LightGBM learns log(label /
        calibrated sum) from the model-level features (``features.model_vector``) and the log
        of the calibrated sum. It learns from out-of-bag predictions: each network's kernel
        times summed by the bag members that never drew it, so the trees see the errors the
        first stage makes on networks it has not seen (5-fold on 500 mixed networks, within
        ±10 %: 79.8 % without, 87.6 % with; in-sample sums did as well in a probe, but would not
        stay honest on a small corpus). The interval's calibration width is set from the
        second stage's own 5-fold errors (below)."""
        import lightgbm as lgb

        oob = np.zeros(member_sums.shape[1:])
        seen = np.zeros(len(stats))
        for m, left in enumerate(self.bag_.left_out):
            idx = np.intersect1d(left, profiled)
            oob[idx] += member_sums[m, idx]
            seen[idx] += 1
        have = seen > 0
        if have.sum() < self._RESID_MIN:
            return
        oob[have] /= seen[have][:, None]
        base = self._calibrated(self._design(oob[have], counts[have]))
        F = self._resid_features([s for s, h in zip(stats, have, strict=True) if h], base)
        r = np.log(y[have]) - np.log(np.maximum(base, 1e-9))
        params = {**self._RESID_PARAMS, "seed": self.random_state}
        cv = np.zeros(len(r))
        for k in range(5):
            test = np.arange(len(r)) % 5 == k
            b = lgb.train(params, lgb.Dataset(F[~test], r[~test]), num_boost_round=self._RESID_ROUNDS)
            cv[test] = b.predict(F[test])
        if np.sqrt(np.mean((r - cv) ** 2)) >= np.std(r):
            return  # the network-level features do not predict these errors: no second stage
        self.resid_ = lgb.train(params, lgb.Dataset(F, r), num_boost_round=self._RESID_ROUNDS)
        # the width the members' spread leaves: what puts 80 % of these networks' 5-fold errors
        # inside the interval with their own spread added (5-fold on 500 mixed networks, the
        # held-out coverage: 82 %; the RMS error on top of the spread covered 90 %). A network is
        # covered once the width reaches sqrt((err/Z80)² - spread²), so the width is the smallest
        # of those that covers 80 % of them.
        err = np.abs(r - cv)
        preds = np.stack([self._calibrated(self._design(m[have], counts[have])) for m in member_sums])
        spread = np.log(np.maximum(preds, 1e-9)).std(0)
        need = np.sort(np.sqrt(np.maximum((err / Z80) ** 2 - spread**2, 0.0)))
        self.calib_sigma_ = float(need[math.ceil(0.8 * len(need)) - 1])

    @staticmethod
    def _resid_features(stats: list[GraphStats], base_ms: np.ndarray) -> np.ndarray:
        vecs = np.stack([model_vector(s)[0] for s in stats]) if stats else np.zeros((0, len(model_columns())))
        return np.column_stack([vecs, np.log(np.maximum(base_ms, 1e-9))])

    def _kernels(self, s: GraphStats) -> tuple[np.ndarray, list[Any], list[str]]:
        """The kernel rows of ``s``, split as this predictor was trained (files saved before
        fusion-aware splitting keep the plain split)."""
        return kernel_matrix(s, fuse=getattr(self, "fuse_", False), nchwc=getattr(self, "nchwc_", 0))

    @staticmethod
    def _design(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Columns: the kernel-time sums (models × groups: one per calibrated family, then the
        rest; or one total), then the kernel count."""
        return np.column_stack([sums, counts])

    def _groups(self) -> int:
        fams = getattr(self, "calib_families_", None)
        return 1 if fams is None else len(fams) + 1

    def _member_sums(self, mats: list[np.ndarray]) -> np.ndarray:
        """Members × models × groups: each bag member's predicted kernel times of each model's
        kernel rows ``mats`` summed per calibrated family (the last group holds every other
        kernel), or in total."""
        fams = getattr(self, "calib_families_", None)
        slot = np.full(len(FAMILIES), self._groups() - 1)
        for g, f in enumerate(fams or ()):
            slot[FAMILIES.index(f)] = g
        out = np.zeros((len(self.bag_.boosters), len(mats), self._groups()))
        for j, mat in enumerate(mats):
            if len(mat):
                t = np.exp(self.bag_.predict_all(mat))  # members × kernels
                g = slot[_kernel_families(mat)]
                for k in range(self._groups()):
                    out[:, j, k] = t[:, g == k].sum(1)
        return out

    def _calibrate(self, A: np.ndarray, y: np.ndarray) -> None:
        """Weights ≥ 0 on the sums, any sign on the count and the constant, least relative
        error; each family's weight is pulled toward the one weight a single total would get
        (a 50 % departure costs as much as one network off by 100 %), so a family that few
        networks weigh on keeps a sensible scale. Written with scipy's bounded least squares
        because scikit-learn's ``positive`` bounds every coefficient or none."""
        from scipy.optimize import lsq_linear

        g = A.shape[1] - 1
        total = A[:, :g].sum(1)
        M1 = np.column_stack([total, A[:, g], np.ones(len(y))]) / y[:, None]
        lb1 = np.array([0.0, -np.inf, -np.inf])
        s0 = float(lsq_linear(M1, np.ones(len(y)), bounds=(lb1, np.full(3, np.inf))).x[0]) or 1.0
        lam = 2.0
        M = np.vstack(
            [
                np.column_stack([A, np.ones(len(y))]) / y[:, None],
                np.column_stack([lam / s0 * np.eye(g), np.zeros((g, 2))]) if g > 1 else np.zeros((0, g + 2)),
            ]
        )
        b = np.r_[np.ones(len(y)), np.full(g if g > 1 else 0, lam)]
        lb = np.r_[np.zeros(g), -np.inf, -np.inf]
        w = lsq_linear(M, b, bounds=(lb, np.full(g + 2, np.inf))).x
        lr = LinearRegression()
        lr.coef_, lr.intercept_, lr.n_features_in_ = w[:-1], float(w[-1]), g + 1
        self.calib_ = lr

    def _calibrated(self, A: np.ndarray) -> np.ndarray:
        """The calibrated time, at least a quarter of the sums' own share (a negative count
        weight must not drive a small network with many kernels to nothing)."""
        g = A.shape[1] - 1
        return np.maximum(self.calib_.predict(A), 0.25 * A[:, :g] @ np.maximum(self.calib_.coef_[:g], 0.0))

    def kernel_times(self, x: Any) -> list[tuple[str, str, float]]:
        """Predicted ms of each kernel (before calibration), for a layer breakdown."""
        check_is_fitted(self, "bag_")
        s = _as_stats([x])[0]
        mat, ks, _ = self._kernels(s)
        if not len(mat):
            return []
        t = np.exp(self.bag_.predict_all(mat)).mean(0)
        return [(k.name, k.op_type, float(v)) for k, v in zip(ks, t, strict=True)]

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "calib_")
        split = [self._kernels(s)[:2] for s in stats]
        counts = np.array([len(ks) for _, ks in split])
        sums = self._member_sums([mat for mat, _ in split])
        preds = np.stack([self._calibrated(self._design(m, counts)) for m in sums])
        logs = np.log(np.maximum(preds, 1e-9))
        logs = logs + self._resid_log(stats, self._calibrated(self._design(sums.mean(0), counts)))
        return logs.mean(0), np.sqrt(logs.std(0) ** 2 + self.calib_sigma_**2)

    def _resid_log(self, stats: list[GraphStats], base_ms: np.ndarray) -> np.ndarray:
        """The second stage's log-correction of calibrated kernel sums ``base_ms`` (0 without one)."""
        if getattr(self, "resid_", None) is None:
            return np.zeros(len(stats))
        return np.asarray(self.resid_.predict(self._resid_features(stats, base_ms)))

    def _state(self) -> dict[str, Any]:
        return {
            **self.bag_.to_json(),
            "calib_coef": self.calib_.coef_.tolist(),
            "calib_intercept": float(self.calib_.intercept_),
            "calib_sigma": self.calib_sigma_,
            "n_kernel_rows": self.n_kernel_rows_,
            "fuse": self.fuse_,
            "nchwc": self.nchwc_,
            "calib_families": self.calib_families_,
            "residual": None if self.resid_ is None else self.resid_.model_to_string(),
        }

    def _load_state(self, d: dict[str, Any]) -> None:
        self.bag_ = _Bag.from_json(d)
        lr = LinearRegression(positive=True)
        lr.coef_ = np.array(d["calib_coef"], dtype=np.float64)
        lr.intercept_ = float(d["calib_intercept"])
        lr.n_features_in_ = len(lr.coef_)
        self.calib_ = lr
        self.calib_sigma_ = float(d["calib_sigma"])
        self.n_kernel_rows_ = int(d["n_kernel_rows"])
        self.fuse_ = int(d.get("fuse", 0))  # files of level 1 say true
        self.nchwc_ = int(d.get("nchwc", 0))  # files saved before reorders were kernels have none
        self.calib_families_ = d.get("calib_families")
        r = d.get("residual")  # files saved before the second stage have none
        if r is None:
            self.resid_ = None
        else:
            import lightgbm as lgb

            self.resid_ = lgb.Booster(model_str=r)


_FAMILY_COLUMNS = [KERNEL_COLUMNS.index(f"is_{f}") for f in FAMILIES]
_MIN_FAMILY_SHARE = 0.1  # a family gets its own calibration weight when this share of models has it


def _kernel_families(mat: np.ndarray) -> np.ndarray:
    """The op family (index into ``FAMILIES``) of each kernel row."""
    return np.argmax(mat[:, _FAMILY_COLUMNS], axis=1) if len(mat) else np.zeros(0, dtype=int)


# ----------------------------------------------------------------------------- LSTM
class LSTMPredictor(LatencyPredictor):
    """The seed's sequence model: an LSTM over the kernel rows (standardized), mean- and
    last-pooled, then a small MLP to log-latency. Bagged over seeds for the interval.

    Batches hold networks of similar length, at most ``batch_size`` of them and at most
    ``batch_tokens`` padded kernel rows (default: ``batch_size`` × the training networks' median
    length), so the few networks with hundreds of kernels train in small batches instead of
    padding large ones. On 300 ``mixed`` networks (5-fold, 1 thread) that and ``hidden`` 32
    instead of 64 took a fold's fit from 58 s to 23 s, and ±10 % from 54.7 % to 57.0 %
    (hidden 64 with the token limit: 57.3 % in 41 s)."""

    kind = "lstm"
    min_samples = 20
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden": [Interval(Integral, 4, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, 1, closed="right")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "batch_tokens": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        hidden: int = 32,
        epochs: int = 100,
        lr: float = 3e-3,
        n_members: int = 3,
        random_state: int = 0,
        batch_size: int = 64,
        batch_tokens: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.epochs = epochs
        self.lr = lr
        self.n_members = n_members
        self.random_state = random_state

    def _net(self) -> Any:
        import torch
        from torch import nn

        hidden = self.hidden

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(len(KERNEL_COLUMNS), hidden, batch_first=True)
                self.head = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

            def forward(self, x: Any, lengths: Any, total: Any) -> Any:
                # padded, not packed: packing costs more than the padding it saves on CPU; the
                # rows past a model's length are masked out of the mean, and its last state is
                # the output at its own length
                out, _ = self.lstm(x[:, : int(lengths.max())])
                mask = (torch.arange(out.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
                mean = (out * mask).sum(1) / lengths.unsqueeze(1).to(out.dtype)
                last = out[torch.arange(out.shape[0]), lengths - 1]
                return self.head(torch.cat([mean, last, total.unsqueeze(1)], 1)).squeeze(1)

        return Net()

    def _tensors(self, stats: list[GraphStats]) -> tuple[Any, Any, Any]:
        import torch

        mats = [kernel_matrix(s)[0] for s in stats]
        mats = [m if len(m) else np.zeros((1, len(KERNEL_COLUMNS))) for m in mats]
        mu, sd = np.array(self.norm_["mean"]), np.array(self.norm_["std"])
        lengths = torch.tensor([len(m) for m in mats])
        x = torch.zeros(len(mats), int(lengths.max()), len(KERNEL_COLUMNS))
        for i, m in enumerate(mats):
            x[i, : len(m)] = torch.from_numpy((m - mu) / sd).float()
        tot = torch.tensor([(model_vector(s)[0][0] - self.norm_["tmean"]) / self.norm_["tstd"] for s in stats]).float()
        return x, lengths, tot

    def fit(self, X: Sequence[Any], y: Any, layers: Any = None) -> LSTMPredictor:
        import torch

        stats, arr = self._check_fit_input(X, y)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small sequences: one thread is faster, and leaves a core to measure on
        try:
            return self._fit(stats, arr)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, stats: list[GraphStats], arr: np.ndarray) -> LSTMPredictor:
        import torch

        allrows = np.concatenate([kernel_matrix(s)[0] for s in stats])
        totals = np.array([model_vector(s)[0][0] for s in stats])
        self.norm_ = {
            "mean": allrows.mean(0).tolist(),
            "std": np.maximum(allrows.std(0), 1e-6).tolist(),
            "tmean": float(totals.mean()),
            "tstd": float(max(totals.std(), 1e-6)),
            "ymean": float(np.log(arr).mean()),
            "ystd": float(max(np.log(arr).std(), 1e-6)),
        }
        x, lengths, tot = self._tensors(stats)
        t = torch.from_numpy((np.log(arr) - self.norm_["ymean"]) / self.norm_["ystd"]).float()
        self.members_ = []
        rng = np.random.default_rng(self.random_state)
        n = len(stats)
        oob_err: list[float] = []
        for m in range(self.n_members):
            torch.manual_seed(self.random_state + m)
            net = self._net()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            idx = rng.choice(n, n, replace=True) if self.n_members > 1 else np.arange(n)
            oob = np.setdiff1d(np.arange(n), idx)
            bs = self.batch_size
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs)
            lens = lengths.numpy()
            for _ in range(self.epochs):
                # batches of similar length (a random tie-break each epoch, batches in random
                # order): a batch is padded to its longest network, and lengths here run from a
                # few kernels to hundreds, so random batches would be mostly padding
                perm = rng.permutation(idx)
                perm = perm[np.argsort(lens[perm], kind="stable")]
                batches = self._batches(perm, lens, bs)
                for j in rng.permutation(len(batches)):
                    sel = torch.from_numpy(batches[j])
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(net(x[sel], lengths[sel], tot[sel]), t[sel])
                    loss.backward()
                    opt.step()
                sched.step()
            net.eval()
            if len(oob):
                with torch.no_grad():
                    o = torch.from_numpy(oob)
                    oob_err += ((net(x[o], lengths[o], tot[o]) - t[o]).numpy() * self.norm_["ystd"]).tolist()
            self.members_.append(net)
        self.oob_sigma_ = float(np.sqrt(np.mean(np.square(oob_err)))) if len(oob_err) > 2 else 0.0
        self.oob_q80_: float | None = _q80(oob_err)
        return self

    def _batches(self, order: np.ndarray, lens: np.ndarray, bs: int) -> list[np.ndarray]:
        """Consecutive runs of ``order`` (sorted by length): at most ``bs`` networks and at most
        ``batch_tokens`` padded rows (networks × the longest one; a longer network alone)."""
        tokens = self.batch_tokens or bs * float(np.median(lens))
        out, start = [], 0
        for i in range(1, len(order) + 1):
            if i == len(order) or i - start >= bs or (i - start + 1) * lens[order[i]] > tokens:
                out.append(order[start:i])
                start = i
        return out

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        check_is_fitted(self, "members_")
        x, lengths, tot = self._tensors(stats)
        with torch.no_grad():
            P = np.stack([m(x, lengths, tot).numpy() for m in self.members_])
        return _bagged(P * self.norm_["ystd"] + self.norm_["ymean"], self.oob_q80_, self.oob_sigma_)

    def _state(self) -> dict[str, Any]:
        blobs = []
        for m in self.members_:
            buf = io.BytesIO()
            # plain arrays in an .npz (read back with allow_pickle=False), base64 in the JSON
            np.savez(buf, **{k: v.detach().numpy() for k, v in m.state_dict().items()})
            blobs.append(base64.b64encode(buf.getvalue()).decode())
        return {"norm": self.norm_, "members": blobs, "oob_sigma": self.oob_sigma_, "oob_q80": self.oob_q80_}

    def _load_state(self, d: dict[str, Any]) -> None:
        import torch

        self.norm_ = d["norm"]
        self.oob_sigma_ = float(d["oob_sigma"])
        q = d.get("oob_q80")
        self.oob_q80_ = None if q is None else float(q)
        self.members_ = []
        for blob in d["members"]:
            arrs = np.load(io.BytesIO(base64.b64decode(blob)), allow_pickle=False)
            net = self._net()
            net.load_state_dict({k: torch.from_numpy(arrs[k]) for k in arrs.files})
            net.eval()
            self.members_.append(net)


# ----------------------------------------------------------------------------- ensemble
class EnsemblePredictor(LatencyPredictor):
    """The weighted geometric mean of several predictors (by default the model-level GBM and
    the layer-level predictor), each network's members weighted by the inverse variance of
    their own log-interval, so a member that is sure of a network counts for more there (5-fold
    on 500 mixed networks, within ±10 %: 84.8 % weighted against 74.0 % for the plain mean; the
    layer predictor alone, far ahead of the GBM, 87.6 %: BENCHMARKS.md ``costmodel-mixed-ref``).
    Files saved before the weighting keep the plain mean. Its interval is the narrower member's;
    the members' mean spread plus their disagreement covered 94% of held-out mixed networks
    instead of 80%."""

    kind = "ensemble"
    min_samples = 10
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "members": [list, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, members: list[str] | None = None, random_state: int = 0) -> None:
        self.members = members
        self.random_state = random_state

    def fit(self, X: Sequence[Any], y: Any, layers: Sequence[LayerList | None] | None = None) -> EnsemblePredictor:
        stats, arr = self._check_fit_input(X, y)
        kinds = ["gbm", "layer"] if self.members is None else self.members
        if not kinds:
            raise BadInputError("ensemble members: name at least one of gbm, layer, lstm")
        bad = [k for k in kinds if k not in ("gbm", "layer", "lstm")]
        if bad:
            raise BadInputError(f"ensemble members must be among gbm, layer, lstm; got {kinds}")
        self.fitted_ = [make(k, random_state=self.random_state).fit(stats, arr, layers=layers) for k in kinds]
        self.weighted_ = True
        return self

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "fitted_")
        parts = [m._predict_log(stats) for m in self.fitted_]
        mus = np.stack([p[0] for p in parts])
        sds = np.stack([p[1] for p in parts])
        if not getattr(self, "weighted_", False):  # files saved before: the plain mean
            return mus.mean(0), sds.min(0)
        w = 1.0 / np.maximum(sds, 1e-6) ** 2
        return (w * mus).sum(0) / w.sum(0), sds.min(0)

    def _state(self) -> dict[str, Any]:
        return {"members": [m.to_json() for m in self.fitted_], "weighting": "inverse-variance"}

    def _load_state(self, d: dict[str, Any]) -> None:
        self.fitted_ = [from_json(m, "ensemble member") for m in d["members"]]
        self.weighted_ = d.get("weighting") == "inverse-variance"


# ----------------------------------------------------------------------------- a new target
def _adapt_features(stats: GraphStats, base_log: float) -> list[float]:
    """What changes between two targets beyond one scale: the base prediction, the share of
    depthwise and of dense-conv MACs (they parallelize and vectorize differently) and the kernel
    count (per-op overhead)."""
    v = model_vector(stats)[0]
    cols = {c: i for i, c in enumerate(model_columns())}
    tot = math.expm1(v[cols["log_macs"]]) or 1.0
    dw = math.expm1(v[cols["log_macs_dwconv"]]) / tot
    conv = math.expm1(v[cols["log_macs_conv"]]) / tot
    return [base_log, dw, conv, math.log1p(v[cols["kernels"]])]


def _layer_member(p: LatencyPredictor) -> LayerPredictor | None:
    """The layer-level predictor in ``p`` (itself, or an ensemble's member), if any."""
    if isinstance(p, LayerPredictor):
        return p
    if isinstance(p, EnsemblePredictor):
        return next((m for m in p.fitted_ if isinstance(m, LayerPredictor)), None)
    return None


def design_signature(base: LatencyPredictor, X: Sequence[Any], size: int) -> list[int]:
    """Which ``size`` of the networks ``X`` to measure on a new target, to carry ``base`` there
    (``AdaptedPredictor``), chosen from ``base``'s predictions alone: an experimental design.

    The carried-over map weighs each op family's predicted time on its own, so the signature
    networks should pin each weight down: networks that split their time across families
    differently, at different sizes and kernel counts. Each network is described by the
    shares of its predicted time per op family, the log of its predicted kernel time and of
    its kernel count (standardized), and networks are added greedily where they most raise
    the log-determinant of the design's information matrix (D-optimal design; written here
    because scikit-learn and scipy have no greedy D-optimal subset selection). Against networks
    evenly spaced in predicted latency (``samples.statistical_signature``), on 120 mixed
    networks carried from ONNX Runtime, scored on the networks neither signature holds: within
    ±10 % on OpenVINO 77 against 66 % and 65 against 69 %, on ncnn 42 against 28 % and 40
    against 38 % (base fitted on all 500 source networks, or on the 380 the target never ran;
    level-2 base). With the level-3 base and the NCHWc reorders placed as ONNX Runtime places
    them (BENCHMARKS.md ``costmodel-transfer-mixed-ref``): on OpenVINO 74 against 72 % and 71
    against 64 %, on ncnn 40 against 30 % and 37 against 42 %. 20 networks make these move by a
    point or so per network. A base without a layer-level member falls back to the even
    spacing."""
    from xcelerator.costmodel.samples import statistical_signature

    stats = _as_stats(X)
    if size < 2 or size > len(stats):
        raise BadInputError(f"signature size {size}: must be between 2 and {len(stats)}")
    layer = _layer_member(base)
    if layer is None:
        return statistical_signature(base.predict(stats), size)
    F = _family_times(layer, stats)
    total = np.maximum(F[:, :-1].sum(1), 1e-12)
    D = np.column_stack([F[:, :-1] / total[:, None], np.log(total), np.log1p(F[:, -1])])
    D = D[:, D.std(0) > 0]
    D = (D - D.mean(0)) / D.std(0)
    # adding network d to the design M raises log det M by log(1 + dᵀ M⁻¹ d) (the matrix
    # determinant lemma): the next network is the one with the largest dᵀ M⁻¹ d
    M = 1e-2 * np.eye(D.shape[1])
    chosen: list[int] = []
    for _ in range(size):
        gain = np.einsum("ij,jk,ik->i", D, np.linalg.inv(M), D)
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
        M += np.outer(D[chosen[-1]], D[chosen[-1]])
    return sorted(chosen)


def _family_times(layer: LayerPredictor, stats: list[GraphStats]) -> np.ndarray:
    """Per model: the layer predictor's kernel times summed per op family, and the kernel count.
    The first stage's times only: the source runtime's second-stage correction applied to them
    made the carried-over map worse (a probe, OpenVINO within ±10 %: 48 against 65 %)."""
    out = np.zeros((len(stats), len(FAMILIES) + 1))
    for j, s in enumerate(stats):
        # the network's own kernels, without the source runtime's layout reorders (another
        # runtime lays tensors out its own way; with them, OpenVINO within ±10 %: 60 against 77 %)
        mat, ks, _ = kernel_matrix(s, fuse=getattr(layer, "fuse_", False))
        if not len(mat):
            continue
        t = np.exp(layer.bag_.predict_all(mat)).mean(0)
        out[j, : len(FAMILIES)] = np.bincount(_kernel_families(mat), weights=t, minlength=len(FAMILIES))
        out[j, -1] = len(ks)
    return out


def _nnls_toward(F: np.ndarray, y: np.ndarray, s0: float, lam: float) -> np.ndarray:
    """Non-negative weights minimizing the relative error of ``F @ w`` against ``y``, pulled
    toward the common scale ``s0`` (for families present) by ``lam``."""
    from scipy.optimize import nnls

    scale = np.where(F.mean(0) > 0, F.mean(0) / y.mean(), 0.0)
    prior = np.r_[np.full(F.shape[1] - 1, s0), 0.0]
    A = np.vstack([F / y[:, None], lam * np.diag(scale)])
    b = np.r_[np.ones(len(y)), lam * prior * scale]
    w, _ = nnls(A, b)
    return np.asarray(w)


class AdaptedPredictor(LatencyPredictor):
    """A predictor of another target carried over to this one from a few measured networks (a
    signature set). When the base holds a layer-level predictor (``layer``, or an ``ensemble``
    with one), each op family gets its own scale: the new target's latency is modelled as a
    non-negative combination of the base's kernel times summed per family (conv, depthwise,
    gemm, elementwise, ...), fitted on the signature set and pulled toward one common scale, so
    a runtime that is relatively faster on depthwise convolutions, say, is captured from ~20
    networks. Also: ridge regression of the log-latency on the base prediction and a few
    architecture ratios, and one scale factor on the base's prediction. Of these, the one with
    the smallest leave-one-out error on the signature set is kept (``mode_``; ``loo_rms_`` has
    all three), and that error gives the interval. The base is kept inside, whole."""

    kind = "adapted"
    min_samples = 3
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"base": [dict, None]}

    def __init__(self, base: dict[str, Any] | None = None) -> None:
        self.base = base

    def _layer(self) -> LayerPredictor | None:
        return _layer_member(self.base_)

    def fit(self, X: Sequence[Any], y: Any, layers: Any = None) -> AdaptedPredictor:
        from sklearn.linear_model import RidgeCV
        from sklearn.model_selection import LeaveOneOut, cross_val_predict

        if not self.base:
            raise BadInputError("adapted cost model: give the base predictor (--base FILE)")
        stats, arr = self._check_fit_input(X, y)
        self.base_ = from_json(self.base, "base predictor")
        layer = self._layer()
        t = np.log(arr)
        n = len(arr)
        # Three ways to carry the base over, each scored by its leave-one-out error on the
        # signature networks alone; the best is kept (with ~20 networks a richer map can lose
        # to one scale factor, and only the signature set can say which).
        loo: dict[str, np.ndarray] = {}
        base_ms = self.base_.predict(stats)
        shift_all = t - np.log(np.maximum(base_ms, 1e-9))
        loo["scale"] = np.array([float(np.median(np.delete(shift_all, i))) - shift_all[i] for i in range(n)])
        F = self._features(stats, base_ms)
        alphas = np.logspace(-3, 3, 13)
        loo["ridge"] = cross_val_predict(RidgeCV(alphas=alphas), F, t, cv=LeaveOneOut()) - t
        if layer is not None:
            Fam = _family_times(layer, stats)
            s0 = float(np.median(arr / np.maximum(Fam[:, :-1].sum(1), 1e-9)))
            lam = 0.3 * math.sqrt(n)
            fam_loo = []
            for i in range(n):
                keep = np.arange(n) != i
                w = _nnls_toward(Fam[keep], arr[keep], s0, lam)
                fam_loo.append(math.log(max(float(Fam[i] @ w), 1e-9)) - t[i])
            loo["families"] = np.array(fam_loo)
        self.loo_rms_ = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in loo.items()}
        self.mode_ = min(self.loo_rms_, key=lambda k: self.loo_rms_[k])
        if self.mode_ == "families":
            self.weights_ = _nnls_toward(Fam, arr, s0, lam)
        elif self.mode_ == "ridge":
            self.ridge_ = RidgeCV(alphas=alphas, fit_intercept=True).fit(F, t)
        else:
            self.shift_ = float(np.median(shift_all))
        self.loo_sigma_ = self.loo_rms_[self.mode_]
        return self

    def _features(self, stats: list[GraphStats], base_ms: np.ndarray | None = None) -> np.ndarray:
        if base_ms is None:
            base_ms = self.base_.predict(stats)
        return np.array([_adapt_features(s, math.log(b)) for s, b in zip(stats, base_ms, strict=True)])

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "mode_")
        if self.mode_ == "families":
            layer = self._layer()
            assert layer is not None
            mu = np.log(np.maximum(_family_times(layer, stats) @ self.weights_, 1e-9))
        elif self.mode_ == "scale":
            mu = np.log(np.maximum(self.base_.predict(stats), 1e-9)) + self.shift_
        else:
            mu = self.ridge_.predict(self._features(stats))
        return mu, np.full(len(mu), self.loo_sigma_)

    def _state(self) -> dict[str, Any]:
        if self.mode_ == "families":
            return {"mode": "families", "weights": self.weights_.tolist(), "loo_sigma": self.loo_sigma_}
        if self.mode_ == "scale":
            return {"mode": "scale", "shift": self.shift_, "loo_sigma": self.loo_sigma_}
        return {
            "mode": "ridge",
            "coef": self.ridge_.coef_.tolist(),
            "intercept": float(self.ridge_.intercept_),
            "alpha": float(self.ridge_.alpha_),
            "loo_sigma": self.loo_sigma_,
        }

    def _load_state(self, d: dict[str, Any]) -> None:
        from sklearn.linear_model import Ridge

        self.base_ = from_json(self.base, "base predictor")
        self.mode_ = d["mode"]
        self.loo_sigma_ = float(d["loo_sigma"])
        if self.mode_ == "families":
            self.weights_ = np.array(d["weights"], dtype=np.float64)
            return
        if self.mode_ == "scale":
            self.shift_ = float(d["shift"])
            return
        r = Ridge(alpha=float(d["alpha"]))
        r.coef_ = np.array(d["coef"], dtype=np.float64)
        r.intercept_ = float(d["intercept"])
        r.n_features_in_ = len(r.coef_)
        self.ridge_ = r


KINDS: dict[str, type[LatencyPredictor]] = {
    "gbm": GBMPredictor,
    "layer": LayerPredictor,
    "lstm": LSTMPredictor,
    "ensemble": EnsemblePredictor,
    "adapted": AdaptedPredictor,
}


def make(kind: str, **params: Any) -> LatencyPredictor:
    cls = KINDS.get(kind)
    if cls is None:
        raise BadInputError(f"unknown predictor {kind!r}; known: {', '.join(KINDS)}")
    try:
        return cls(**params)
    except TypeError as e:
        raise BadInputError(f"predictor {kind}: {e}") from None


__all__ = [
    "KINDS",
    "AdaptedPredictor",
    "EnsemblePredictor",
    "GBMPredictor",
    "LSTMPredictor",
    "LatencyPredictor",
    "LayerPredictor",
    "NotFittedError",
]
