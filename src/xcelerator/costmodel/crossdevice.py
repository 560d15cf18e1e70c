"""Cross-device cost models: predict a new device from a small signature set of measured networks.

The data is a ``LatencyTable``: networks × devices (ms), the group of each device (the phone
model: two runs of one phone model never sit on both sides of a split) and per-network
architecture features. A method sees the training devices' full columns and, for a new device,
only the latencies of the signature networks; it predicts the rest.

**Signature selection** (computed on training devices only; the seed's code also looked at the
held-out devices, which leaks):

* ``random``: uniform.
* ``statistical``: networks at evenly spaced quantiles of the mean log-latency, so the set spans
  the range from the fastest to the slowest network.
* ``spearman``: start from the network most rank-correlated (Spearman, across training devices,
  after removing each device's speed) with all the others; then repeatedly add the one whose
  largest |ρ| to those chosen is smallest (representative, then least redundant).
* ``mutual_info``: the same greedy order with mutual information (scikit-learn's k-NN
  estimator): relevance (mean MI with all networks) minus redundancy (mean MI with the chosen).
* ``greedy`` (ours): forward selection of the network that most lowers the leave-one-device-out
  error of the ``neighbours`` predictor on the training devices: it picks what the predictor
  needs, not what looks diverse.

**Learning modes**:

* ``individual``: a model of the new device alone, fitted on its signature only (architecture
  features → log-latency).
* ``combined``: one LightGBM over all training devices, its input the network's features plus the
  device's signature latencies (the seed's combined model, and the first baseline).
* ``collaborative``: collaborative filtering: a low-rank model of the training devices' log
  latencies (network effect + rank-k network × device factors); the new device's factors are
  fitted on its signature by ridge regression.
* ``neighbours``: the training devices whose signature latencies match the new device's best
  after one scale factor, scaled and averaged (the second baseline; no architecture features).
* ``stacked`` (ours, the default): ``neighbours`` plus a LightGBM correction of its log-error,
  learned leave-one-device-out on the training devices from the network's features, the
  neighbours' spread and the new device's signature residuals.
* ``sources``: the new device's log-latency as a ridge regression on every training device's
  log-latency (one weight per source column, fitted on the signature): a runtime whose kernels
  resemble a mix of two others is that mix (with few, very different source runtimes, as in the
  multi-runtime table, this is what ``neighbours`` cannot express).
* ``meta`` (HELP-style): ``combined``'s model, trained across the training devices with each
  device's signature latencies as its hardware embedding, then fine-tuned on the new device's
  signature (a few more boosting rounds on those networks alone, LightGBM's ``init_model``).
  HELP meta-learns its initialization (MAML); here the cross-device training plays that part.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError

SELECTIONS = ("random", "statistical", "spearman", "mutual_info", "greedy")
MODES = ("individual", "combined", "collaborative", "neighbours", "stacked", "sources", "meta")


@dataclass
class LatencyTable:
    networks: list[str]
    devices: list[str]
    groups: list[str]
    latency: np.ndarray  # networks × devices, ms
    features: np.ndarray  # networks × F
    source: str = ""
    info: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, d = self.latency.shape
        if n != len(self.networks) or d != len(self.devices) or d != len(self.groups) or len(self.features) != n:
            raise BadInputError("latency table: shapes of networks, devices, groups and features disagree")
        if not np.all(np.isfinite(self.latency)) or np.any(self.latency <= 0):
            raise BadInputError("latency table: latencies must be finite and > 0")

    def subset(self, devices: Sequence[int]) -> LatencyTable:
        idx = list(devices)
        return LatencyTable(
            self.networks,
            [self.devices[i] for i in idx],
            [self.groups[i] for i in idx],
            self.latency[:, idx],
            self.features,
            self.source,
            self.info,
        )


# ----------------------------------------------------------------------------- the phone dataset
PHONE_DATA = "xcelerator.costmodel.data"


def _phone_dir() -> Path:
    return Path(str(resources.files(PHONE_DATA))) / "mobile_latency"


def phone_model(run_id: str) -> str:
    """``SM-A505F_2`` → ``SM-A505F``: the trailing number counts repeated runs of one phone."""
    return re.sub(r"_\d+$", "", run_id)


def _encoding_features(rows13: list[float]) -> list[float]:
    """Aggregates of the seed's 13-feature layer rows: total MACs and layer count, then per
    layer kind (conv, depthwise, add, relu, pool) its count, MACs and output activations."""
    r = np.array(rows13, dtype=np.float64).reshape(-1, 13)
    r = r[r[:, :5].sum(1) > 0]  # padding rows are -1
    v = [float(np.log1p(r[:, 12].sum())), float(len(r))]
    for k in range(5):
        s = r[:, k] > 0
        v += [float(s.sum()), float(np.log1p(r[s, 12].sum())), float(np.log1p((r[s, 6] ** 2 * r[s, 8]).sum()))]
    return v


PHONE_TABLES = {"phones": "cpu", "phones-gpu": "gpu"}


def phone_table(name: str) -> LatencyTable:
    """A shipped phone table by its command-line name (``phones``: CPUs, ``phones-gpu``: GPUs)."""
    if name not in PHONE_TABLES:
        raise BadInputError(f"--data {name!r}: known latency tables are {', '.join(PHONE_TABLES)}")
    return load_phone_dataset(PHONE_TABLES[name])


def load_phone_dataset(kind: str = "cpu", runs: str = "2-30", root: Path | None = None) -> LatencyTable:
    """The public phone dataset (Ganesan et al., IISWC 2020; Apache-2.0, shipped in the package
    with its LICENSE): 118 networks × 105 CPU runs on 77 phone models (or 25 GPU runs).

    ``runs`` picks which of the 30 back-to-back runs make the median (``2-30`` drops the first,
    which is a median 1.10× slower)."""
    base = root or _phone_dir()
    lo, _, hi = runs.partition("-")
    try:
        r0, r1 = int(lo) - 1, int(hi or lo)
    except ValueError:
        raise BadInputError(f"runs {runs!r}: expected FIRST-LAST, e.g. 2-30") from None
    emb_rows = []
    with open(base / "onnxEmbeddings.csv") as f:
        for line in f:
            vals = [float(x) for x in line.strip().split(",") if x.strip()]
            if vals:
                emb_rows.append(vals)
    n_net = len(emb_rows)
    feats = np.array([_encoding_features(r) for r in emb_rows])
    folder = base / kind
    if not folder.is_dir():
        raise BadInputError(f"phone dataset: no {kind!r} part (cpu or gpu)")
    devices, cols = [], []
    for p in sorted(folder.glob("*.txt")):
        lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
        if len(lines) < n_net:
            continue
        a = np.array([[float(x) for x in ln.split(",") if x.strip()] for ln in lines[:n_net]])
        cols.append(np.median(a[:, r0:r1], axis=1))
        devices.append(p.stem)
    info: dict[str, dict[str, str]] = {}
    meta = base / "CpuFreqRAM.csv"
    if meta.exists():
        with open(meta) as f:
            for row in csv.DictReader(f):
                info[row["Device"]] = {"cpu": row.get("CPU", ""), "ghz": row.get("Frequency", "")}
    if kind == "gpu":  # <PHONE>_<date>_GPU_fp32
        groups = [re.sub(r"_\d\d-\d\d-\d{4}.*$", "", d) for d in devices]
    else:
        groups = [phone_model(d) for d in devices]
    return LatencyTable(
        networks=[f"net{i:03d}" for i in range(n_net)],
        devices=devices,
        groups=groups,
        latency=np.array(cols).T,
        features=feats,
        source=f"phones-{kind}",
        info=info,
    )


def table_from_store(store: Any, targets: Sequence[str]) -> LatencyTable:
    """Networks measured successfully on every one of ``targets`` (each target one device)."""
    from xcelerator.costmodel.features import model_vector
    from xcelerator.costmodel.samples import from_store

    if not targets:
        raise BadInputError("give at least one --target")
    per = [from_store(store, t) for t in targets]
    common = set(per[0].sha256)
    for s in per[1:]:
        common &= set(s.sha256)
    order = [h for h in per[0].sha256 if h in common]
    if len(order) < 3:
        raise BadInputError(f"only {len(order)} networks are measured on all of {', '.join(targets)}")
    pos = [{h: i for i, h in enumerate(s.sha256)} for s in per]
    first = per[0]
    return LatencyTable(
        networks=[first.names[pos[0][h]] for h in order],
        devices=[s.target_uri for s in per],
        groups=[s.target_uri for s in per],
        latency=np.array([[s.y_ms[p[h]] for s, p in zip(per, pos, strict=True)] for h in order]),
        features=np.array([model_vector(first.stats[pos[0][h]])[0] for h in order]),
        source="store",
    )


# ----------------------------------------------------------------------------- selection
def _centred(L: np.ndarray) -> np.ndarray:
    lg = np.log(L)
    return lg - np.median(lg, axis=0, keepdims=True)


def _greedy_order(sim: np.ndarray, size: int, relevance: np.ndarray, redundancy: str) -> list[int]:
    chosen = [int(np.argmax(relevance))]
    while len(chosen) < size:
        rest = [i for i in range(len(sim)) if i not in chosen]
        if redundancy == "max":
            score = [-np.max(np.abs(sim[i, chosen])) for i in rest]
        else:
            score = [relevance[i] - np.mean(sim[i, chosen]) for i in rest]
        chosen.append(rest[int(np.argmax(score))])
    return chosen


def select_signature(
    train: LatencyTable, method: str, size: int, seed: int = 0, predictor: str = "neighbours"
) -> list[int]:
    """Indices of ``size`` signature networks chosen from the training devices only."""
    n = len(train.networks)
    if not 1 <= size < n:
        raise BadInputError(f"signature size {size}: must be between 1 and {n - 1}")
    if train.latency.shape[1] < 2:
        raise BadInputError("signature selection needs at least 2 training devices")
    rng = np.random.default_rng(seed)
    if method == "random":
        return sorted(int(i) for i in rng.choice(n, size, replace=False))
    if method == "statistical":
        order = np.argsort(np.log(train.latency).mean(1))
        return sorted(int(order[i]) for i in np.linspace(0, n - 1, size).round().astype(int))
    if method == "spearman":
        from scipy.stats import spearmanr

        rho = np.asarray(spearmanr(_centred(train.latency).T).statistic)
        rho = np.nan_to_num(rho)
        return sorted(_greedy_order(rho, size, np.abs(rho).mean(1), "max"))
    if method == "mutual_info":
        from sklearn.feature_selection import mutual_info_regression

        C = _centred(train.latency)
        mi = np.zeros((n, n))
        for j in range(n):
            mi[:, j] = mutual_info_regression(C.T, C[j], random_state=seed, n_neighbors=3)
        mi = (mi + mi.T) / 2
        return sorted(_greedy_order(mi, size, mi.mean(1), "mean"))
    if method == "greedy":
        return sorted(_greedy_forward(train, size, predictor))
    raise BadInputError(f"unknown signature method {method!r}; known: {', '.join(SELECTIONS)}")


def _greedy_forward(train: LatencyTable, size: int, predictor: str) -> list[int]:
    L = train.latency
    lg = np.log(L)
    n, nd = L.shape
    groups = np.array(train.groups)  # a device is judged without its own model's other runs, as a new phone would be
    chosen: list[int] = []
    for _ in range(size):
        best, best_err = -1, np.inf
        for c in range(n):
            if c in chosen:
                continue
            sig = np.array([*chosen, c])
            err = 0.0
            for d in range(nd):
                others = np.flatnonzero(groups != groups[d])
                p, _, _ = _neighbours(L[:, others], sig, L[sig, d])
                err += float(np.mean(np.abs(p - lg[:, d])))
            if err < best_err:
                best, best_err = c, err
        chosen.append(best)
    return chosen


# ----------------------------------------------------------------------------- predictors
def _neighbours(L: np.ndarray, sig: np.ndarray, ysig: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-prediction from the k training devices closest to the signature after one scale
    factor each; also the neighbours' spread per network and their mean distance."""
    r = np.log(L[sig]) - np.log(ysig)[:, None]
    off = np.median(r, axis=0)
    dist = np.mean(np.abs(r - off), axis=0)
    nn = np.argsort(dist)[: min(k, L.shape[1])]
    S = np.log(L[:, nn]) - off[nn]
    return S.mean(1), S.std(1), float(dist[nn].mean())


def _lgb(params: dict[str, Any], X: np.ndarray, t: np.ndarray, rounds: int) -> Any:
    import lightgbm as lgb

    base = {"verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0}
    return lgb.train({**base, **params}, lgb.Dataset(X, t), rounds)


class CrossDeviceModel:
    """Fitted on training devices with a fixed signature set; ``predict`` takes a new device's
    signature latencies (ms, in the signature's order) and returns every network's latency."""

    def __init__(self, mode: str = "stacked", k: int = 5, rank: int = 3, seed: int = 0) -> None:
        if mode not in MODES:
            raise BadInputError(f"unknown learning mode {mode!r}; known: {', '.join(MODES)}")
        self.mode, self.k, self.rank, self.seed = mode, k, rank, seed

    def fit(self, train: LatencyTable, signature: Sequence[int]) -> CrossDeviceModel:
        self.train = train
        self.sig = np.array(signature, dtype=int)
        L = train.latency
        if self.mode in ("combined", "meta"):
            X, t = [], []
            for d in range(L.shape[1]):
                X.append(self._combined_x(L[self.sig, d]))
                t.append(np.log(L[:, d]))
            self.booster = _lgb(
                {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 10}, np.vstack(X), np.concatenate(t), 600
            )
        elif self.mode == "collaborative":
            lg = np.log(L)
            self.mu = lg.mean(1)
            U, s, _ = np.linalg.svd(lg - self.mu[:, None], full_matrices=False)
            self.factors = U[:, : self.rank] * s[: self.rank] / np.sqrt(L.shape[1])
        elif self.mode == "stacked":
            X, t = [], []
            nd = L.shape[1]
            groups = np.array(train.groups)
            for d in range(nd):
                others = np.flatnonzero(groups != groups[d])
                Xd, m = self._stacked_x(L[:, others], L[self.sig, d])
                X.append(Xd)
                t.append(np.log(L[:, d]) - m)
            self.booster = _lgb(
                {
                    "objective": "huber",
                    "alpha": 0.05,
                    "learning_rate": 0.03,
                    "num_leaves": 15,
                    "min_data_in_leaf": 20,
                    "feature_fraction": 0.8,
                    "bagging_fraction": 0.8,
                    "bagging_freq": 1,
                },
                np.vstack(X),
                np.concatenate(t),
                400,
            )
        return self

    def _combined_x(self, ysig: np.ndarray) -> np.ndarray:
        n = len(self.train.networks)
        return np.column_stack([self.train.features, np.tile(np.log(ysig), (n, 1))])

    def _stacked_x(self, L: np.ndarray, ysig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, s, dist = _neighbours(L, self.sig, ysig, self.k)
        res = np.log(ysig) - m[self.sig]
        n = L.shape[0]
        X = np.column_stack([self.train.features, m, s, np.full(n, dist), np.tile(res, (n, 1))])
        return X, m

    def predict(self, ysig: Sequence[float] | np.ndarray) -> np.ndarray:
        y = np.asarray(ysig, dtype=np.float64)
        if y.shape != self.sig.shape or np.any(y <= 0) or not np.all(np.isfinite(y)):
            raise BadInputError(f"new device: expected {len(self.sig)} positive signature latencies, got {y.tolist()}")
        L = self.train.latency
        if self.mode == "neighbours":
            return np.exp(_neighbours(L, self.sig, y, self.k)[0])
        if self.mode == "stacked":
            X, m = self._stacked_x(L, y)
            return np.exp(m + self.booster.predict(X))
        if self.mode == "combined":
            return np.exp(self.booster.predict(self._combined_x(y)))
        if self.mode == "meta":
            import lightgbm as lgb

            X = self._combined_x(y)
            params = {"verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0, "learning_rate": 0.05}
            params.update(num_leaves=7, min_data_in_leaf=max(2, len(y) // 5))
            tuned = lgb.train(params, lgb.Dataset(X[self.sig], np.log(y)), 30, init_model=self.booster)
            return np.exp(tuned.predict(X))
        if self.mode == "sources":
            from sklearn.linear_model import RidgeCV

            lg = np.log(L)
            r = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(lg[self.sig], np.log(y))
            return np.exp(r.predict(lg))
        if self.mode == "collaborative":
            A = np.column_stack([np.ones(len(self.sig)), self.factors[self.sig]])
            reg = np.eye(A.shape[1])
            reg[0, 0] = 0.0
            w = np.linalg.solve(A.T @ A + reg, A.T @ (np.log(y) - self.mu[self.sig]))
            return np.exp(self.mu + np.column_stack([np.ones(len(self.mu)), self.factors]) @ w)
        # individual: only the new device's own signature measurements
        from sklearn.linear_model import RidgeCV

        F = self.train.features
        Fs = F[:, :2]  # total MACs (log) and layer count: all 10 points can support
        lr = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(Fs[self.sig], np.log(y))
        return np.exp(lr.predict(Fs))


# ----------------------------------------------------------------------------- evaluation
def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """R², RMSE (ms), MAPE (%), share within ±5% and ±10% (%), Spearman and Kendall.
    ``within_5pct``/``within_10pct`` are DESIGN.md's names; ``within5``/``within10`` the older
    ones, kept as aliases."""
    from scipy.stats import kendalltau, spearmanr
    from sklearn.metrics import mean_absolute_percentage_error, mean_squared_error, r2_score

    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    rel = np.abs(p / y - 1)
    return {
        "n": len(y),
        "r2": float(r2_score(y, p)),
        "rmse_ms": float(np.sqrt(mean_squared_error(y, p))),
        "mape": float(100 * mean_absolute_percentage_error(y, p)),
        "within_5pct": float(100 * np.mean(rel <= 0.05)),
        "within_10pct": float(100 * np.mean(rel <= 0.10)),
        "within5": float(100 * np.mean(rel <= 0.05)),
        "within10": float(100 * np.mean(rel <= 0.10)),
        "spearman": float(spearmanr(y, p).statistic) if len(y) > 2 else float("nan"),
        "kendall": float(kendalltau(y, p).statistic) if len(y) > 2 else float("nan"),
    }


def evaluate_heldout(
    table: LatencyTable,
    selection: str,
    mode: str,
    size: int = 10,
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    signatures: dict[tuple[str, int, int, int], list[int]] | None = None,
) -> dict[str, Any]:
    """Grouped k-fold over device groups: selection and fitting on the training folds only;
    each held-out device is predicted from its signature; metrics over the non-signature
    networks of all held-out devices pooled, plus per device. ``signatures`` caches the
    selection per (method, size, seed, fold) across learning modes."""
    from sklearn.model_selection import GroupKFold

    ys, ps = [], []
    per_device: dict[str, dict[str, float]] = {}
    L = table.latency
    ng = len(set(table.groups))
    if ng < folds:
        raise BadInputError(f"held-out evaluation: {ng} device groups, fewer than {folds} folds")
    for f, (tr, te) in enumerate(GroupKFold(folds).split(L.T, groups=table.groups)):
        train = table.subset(tr)
        key = (selection, size, seed, f)
        if signatures is not None and key in signatures:
            sig = signatures[key]
        else:
            sig = select_signature(train, selection, size, seed=seed + f)
            if signatures is not None:
                signatures[key] = sig
        model = CrossDeviceModel(mode, seed=seed).fit(train, sig)
        rest = np.setdiff1d(np.arange(len(table.networks)), sig)
        for d in te:
            p = model.predict(L[sig, d])
            ys.append(L[rest, d])
            ps.append(p[rest])
            per_device[table.devices[d]] = metrics(L[rest, d], p[rest])
        if progress:
            progress(f"{selection}/{mode}: fold {f + 1}/{folds}")
    return {"pooled": metrics(np.concatenate(ys), np.concatenate(ps)), "per_device": per_device}
