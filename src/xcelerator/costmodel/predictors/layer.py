"""The layer-level predictor (kind ``layer``): per-kernel times summed and calibrated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
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
from xcelerator.costmodel.predictors._base import Z80, LatencyPredictor, LayerList, _as_stats, _Bag
from xcelerator.costmodel.predictors.gbm import GBMPredictor
from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats


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
