"""A predictor carried over to another target from a few signature networks (kind ``adapted``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from xcelerator.costmodel.features import (
    FAMILIES,
    kernel_matrix,
    model_columns,
    model_vector,
)
from xcelerator.costmodel.predictors._base import LatencyPredictor, _as_stats, from_json
from xcelerator.costmodel.predictors.ensemble import EnsemblePredictor
from xcelerator.costmodel.predictors.layer import LayerPredictor, _kernel_families
from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats


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
        if not self.base:
            raise BadInputError("adapted cost model: give the base predictor (--base FILE)")
        stats, arr = self._check_fit_input(X, y)
        self.base_ = from_json(self.base, "base predictor")
        layer = self._layer()
        base_ms = self.base_.predict(stats)
        Fam = _family_times(layer, stats) if layer is not None else None
        return self.fit_arrays(base_ms, self._features(stats, base_ms), Fam, arr)

    def fit_arrays(
        self, base_ms: np.ndarray, F: np.ndarray, Fam: np.ndarray | None, arr: np.ndarray
    ) -> AdaptedPredictor:
        """The fit from what it reads of the networks: the base's predictions ``base_ms``, the
        carry-over features ``F`` (``_features``), the base's family times ``Fam`` (None without a
        layer-level base) and the measured latencies ``arr``. ``costmodel.adapt`` fits many of
        these on one base and computes the arrays once."""
        from sklearn.linear_model import RidgeCV
        from sklearn.model_selection import LeaveOneOut, cross_val_predict

        t = np.log(arr)
        n = len(arr)
        # Three ways to carry the base over, each scored by its leave-one-out error on the
        # signature networks alone; the best is kept (with ~20 networks a richer map can lose
        # to one scale factor, and only the signature set can say which).
        loo: dict[str, np.ndarray] = {}
        shift_all = t - np.log(np.maximum(base_ms, 1e-9))
        loo["scale"] = np.array([float(np.median(np.delete(shift_all, i))) - shift_all[i] for i in range(n)])
        alphas = np.logspace(-3, 3, 13)
        loo["ridge"] = cross_val_predict(RidgeCV(alphas=alphas), F, t, cv=LeaveOneOut()) - t
        if Fam is not None:
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
            assert Fam is not None
            self.weights_ = _nnls_toward(Fam, arr, s0, lam)
        elif self.mode_ == "ridge":
            self.ridge_ = RidgeCV(alphas=alphas, fit_intercept=True).fit(F, t)
        else:
            self.shift_ = float(np.median(shift_all))
        self.loo_sigma_ = self.loo_rms_[self.mode_]
        return self

    def predict_arrays(self, base_ms: np.ndarray, F: np.ndarray, Fam: np.ndarray | None) -> np.ndarray:
        """Log-latencies from the same arrays ``fit_arrays`` takes."""
        check_is_fitted(self, "mode_")
        if self.mode_ == "families":
            assert Fam is not None
            return np.log(np.maximum(Fam @ self.weights_, 1e-9))
        if self.mode_ == "scale":
            return np.log(np.maximum(base_ms, 1e-9)) + self.shift_
        return np.asarray(self.ridge_.predict(F))

    def _features(self, stats: list[GraphStats], base_ms: np.ndarray | None = None) -> np.ndarray:
        if base_ms is None:
            base_ms = self.base_.predict(stats)
        return np.array([_adapt_features(s, math.log(b)) for s, b in zip(stats, base_ms, strict=True)])

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "mode_")
        layer = self._layer()
        if self.mode_ == "families":
            assert layer is not None
            mu = self.predict_arrays(np.zeros(0), np.zeros(0), _family_times(layer, stats))
        elif self.mode_ == "scale":
            mu = self.predict_arrays(self.base_.predict(stats), np.zeros(0), None)
        else:
            mu = self.predict_arrays(np.zeros(0), self._features(stats), None)
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
