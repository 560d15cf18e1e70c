"""What every predictor shares: input checks, the LightGBM bag, intervals, JSON files, the kind registry lookup."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from xcelerator.costmodel.features import (
    KERNEL_COLUMNS,
    model_columns,
    model_vector,
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
    # scikit-learn's parameter validation; a predictor without constraints declares none
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
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
    known = kinds()
    cls = known.get(d.get("kind", ""))
    if cls is None:
        raise BadInputError(f"{where}: unknown predictor kind {d.get('kind')!r}; known: {sorted(known)}")
    try:
        est = cls(**d["params"])
        est.conditions = dict(d.get("conditions", {}))
        est.n_train_ = int(d["n_train"])
        est.ranges_ = d["ranges"]
        est._load_state(d["state"])
    except (KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{where}: damaged cost model file ({type(e).__name__}: {e})") from None
    return est


def kinds() -> dict[str, type[LatencyPredictor]]:
    """The registry (``costmodel.predictors.kinds``), looked up when a file is read."""
    from xcelerator.costmodel import predictors

    return predictors.kinds()


def make(kind: str, **params: Any) -> LatencyPredictor:
    """A new predictor of a registered ``kind`` with ``params``."""
    known = kinds()
    cls = known.get(kind)
    if cls is None:
        raise BadInputError(f"unknown predictor {kind!r}; known: {', '.join(known)}")
    try:
        return cls(**params)
    except TypeError as e:
        raise BadInputError(f"predictor {kind}: {e}") from None
