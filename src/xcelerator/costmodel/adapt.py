"""A latency predictor for a new device from a few measurements, starting from the shipped table.

``adapt(target, budget=20)``:

1. the source table (``costmodel.table``: networks × runtime columns measured on this project's
   machine), less the runtimes ``exclude`` names and any column of the target itself;
2. ``budget`` signature networks chosen on the source columns alone
   (``crossdevice.select_signature``; default ``statistical``: evenly spaced in their mean
   log-latency);
3. each exported (a corpus point is rebuilt from its space, seed and index; a zoo model from its
   name) and measured on the new target side by side with the table's reference, into the store;
4. every learning mode fitted on the signature and scored by cross-validation over the signature
   networks alone (leave-one-out error in log space): the cross-device modes over the table
   (``crossdevice.MODES``); when the new target gives per-node profiles, ``kernel``
   (LitePred's idea: 20 networks are about 2,000 kernel measurements, enough to fit the layer
   predictor on the new device itself); and ``carried:<column>``, the layer predictor of each
   source column with profiles carried over (``predictors.AdaptedPredictor``: per op family
   weights on its kernel times, a ridge map or one scale, whichever its own leave-one-out
   prefers); ``profiles:<column>``, the source column's measured per-node profiles of the table
   networks summed per op family and weighted per family (where its node names match); and
   ``blend``, the geometric mean of the three modes with the smallest error. The
   mode with the smallest error is kept ("which wins" is the benchmark's table:
   BENCHMARKS.md ``costmodel-adapt``);
5. a ``carried`` mode kept is itself the predictor written (it predicts any model from its
   graph); any other mode predicts every table network on the new device (the measured ones keep
   their measurement), and the layer predictor (or the GBM, when no source column has per-node
   profiles) is fitted on those labels and features. Either is written like any other predictor
   (``costmodel predict``, ``search --latency predicted|hybrid``, ``optimize``).

The cross-validated error on the signature is the honest estimate the predictor carries
(``conditions["adapt"]``); ``explain`` warns about models outside the table's feature ranges.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from xcelerator.costmodel.crossdevice import CrossDeviceModel, LatencyTable, select_signature
from xcelerator.costmodel.table import SourceTable
from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats

# modes tried by default: the cheap-to-fit cross-device modes, the two the table adds, and the
# kernel-level mode where the new target profiles per node
ADAPT_MODES = (
    "neighbours", "stacked", "collaborative", "combined", "sources", "meta", "kernel", "carried", "profiles", "blend",
)  # fmt: skip
BLEND = 3  # modes in the blend
# evenly spaced in the source columns' mean log-latency: with a handful of source columns the
# rank-correlation selections (spearman, mutual_info) see as many observations as columns, tie,
# and fall back to the table's first networks
SELECTION = "statistical"
CV_FOLDS = 5


@dataclass(frozen=True)
class NewDevice:
    """What a new device gave: the signature networks (rows of the table's complete part), their
    labels (ms) and, where its runtime profiles per node, their per-node times."""

    signature: tuple[int, ...]
    y_ms: np.ndarray
    layers: tuple[Sequence[tuple[str, str, float]] | None, ...] = ()

    @property
    def has_layers(self) -> bool:
        return bool(self.layers) and all(bool(x) for x in self.layers)


@dataclass(frozen=True)
class ModeFit:
    """One learning mode's predictions of every table network on the new device, and its
    cross-validated error on the signature (RMS log-error; within ±10 % share)."""

    mode: str
    pred_ms: np.ndarray
    cv_rms: float
    cv_within10: float
    estimator: Any = None  # carried modes: the AdaptedPredictor fitted on the whole signature
    cv_log_errors: np.ndarray | None = field(default=None, repr=False)  # per signature network


@dataclass(frozen=True)
class Adapted:
    """The result of ``adapt``: the predictor and how it was made."""

    estimator: Any  # the LatencyPredictor written (its conditions say how it was made)
    target: str
    mode: str
    fits: dict[str, dict[str, float]]  # per mode: cv_rms, cv_within10
    signature: tuple[str, ...]
    sources: tuple[str, ...]
    measured_s: float
    fit_s: float
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "fits": self.fits,
            "signature": list(self.signature),
            "sources": list(self.sources),
            "measured_s": self.measured_s,
            "fit_s": self.fit_s,
            "failed": self.failed,
            "target": self.target,
            "kind": self.estimator.kind,
        }


# ----------------------------------------------------------------------------- fitting
def _kernel_predict(stats: Sequence[GraphStats], dev: NewDevice, idx: Sequence[int], seed: int) -> np.ndarray:
    """The layer predictor fitted on the new device's own per-node profiles of ``idx`` (positions
    in the signature), predicting every network of ``stats``."""
    from xcelerator.costmodel.predictors import LayerPredictor

    class FewNetworks(LayerPredictor):
        min_samples = 3  # 20 networks are ~2,000 kernel rows: enough for the kernel model

    sig = [dev.signature[i] for i in idx]
    est = FewNetworks(random_state=seed, n_estimators=150)
    est.fit([stats[i] for i in sig], dev.y_ms[list(idx)], layers=[dev.layers[i] for i in idx])
    return est.predict(list(stats))


@dataclass(frozen=True)
class Base:
    """A source column's layer predictor and what a carried-over map reads of every table
    network through it (computed once: ``AdaptedPredictor.fit_arrays``)."""

    column: str
    predictor: Any  # LayerPredictor
    base_ms: np.ndarray
    features: np.ndarray
    families: np.ndarray

    @classmethod
    def fit(cls, table: SourceTable, column: str, stats: Sequence[GraphStats], seed: int) -> Base | None:
        """The layer predictor fitted on ``table``'s networks of ``column`` that have profiles;
        None when too few do."""
        from xcelerator.costmodel.predictors import LayerPredictor

        j = table.targets.index(column)
        lay = table.layers.get(column, {})
        rows = [i for i, n in enumerate(table.names) if n in lay and np.isfinite(table.latency[i, j])]
        if len(rows) < 2 * LayerPredictor.min_samples:
            return None
        try:
            est = LayerPredictor(random_state=seed).fit(
                [table.stats[i] for i in rows], table.latency[rows, j], layers=[lay[table.names[i]] for i in rows]
            )
        except BadInputError:  # profiles whose nodes do not map onto the graphs (too few usable)
            return None
        return cls(column, est, *_base_arrays(est, stats))

    def arrays(self, stats: Sequence[GraphStats]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What a carried-over map reads of any networks (not only the table's): base ms,
        features, op-family times."""
        return _base_arrays(self.predictor, stats)


def _base_arrays(est: Any, stats: Sequence[GraphStats]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from xcelerator.costmodel.predictors import _family_times
    from xcelerator.costmodel.predictors.adapted import _adapt_features

    st = list(stats)
    base_ms = est.predict(st)
    features = np.array([_adapt_features(x, math.log(b)) for x, b in zip(st, base_ms, strict=True)])
    return base_ms, features, _family_times(est, st)


@dataclass(frozen=True)
class Profiles:
    """A source column's measured per-node profiles of every table network, summed per op family
    (the network's kernels split as the layer predictor splits them, matched to the profile by
    name), with the kernel count: the ``profiles:<column>`` mode maps them to the new device with
    one non-negative weight per family, fitted on the signature (``_nnls_toward``). Only where
    every network's profile matches by name (ONNX Runtime's and OpenVINO's name their nodes;
    ncnn's and MNN's name their own layers)."""

    column: str
    families: np.ndarray  # networks × (families + kernel count)

    @classmethod
    def of(cls, table: SourceTable, column: str, min_matched: float = 0.8) -> Profiles | None:
        """None unless nine networks in ten have a profile and the median share of profiled time
        matched by name reaches ``min_matched``; each network's family times are scaled up to its
        whole profiled time (what did not match is spread in proportion); one without a profile
        gets its label split as the others' median family shares."""
        from xcelerator.costmodel.predictors import FAMILIES, LayerPredictor, _kernel_families, match_layers

        lay = table.layers.get(column, {})
        probe = LayerPredictor()
        probe.fuse_ = LayerPredictor.split_level
        F = np.zeros((len(table.names), len(FAMILIES) + 1))
        shares = []
        missing = []
        for i, (name, s) in enumerate(zip(table.names, table.stats, strict=True)):
            prof = lay.get(name)
            mat, ks, _ = probe._kernels(s)
            F[i, -1] = len(ks)
            if not prof:
                missing.append(i)
                continue
            fam = _kernel_families(mat)
            for k, ms in match_layers(ks, prof).items():
                F[i, fam[k]] += ms
            total, matched = sum(ms for _, _, ms in prof), F[i, :-1].sum()
            shares.append(matched / total if total > 0 else 0.0)
            if matched > 0:
                F[i, :-1] *= total / matched
        have = np.setdiff1d(np.arange(len(F)), missing)
        if len(missing) > len(F) // 10 or np.median(shares) < min_matched or np.any(F[have, :-1].sum(1) <= 0):
            return None
        if missing:  # a network without a profile: its label split as the others' median shares
            j = table.targets.index(column)
            share = np.median(F[have, :-1] / F[have, :-1].sum(1, keepdims=True), axis=0)
            F[missing, :-1] = table.latency[missing, j][:, None] * share[None, :]
        return cls(column, F)


def _profiled(p: Profiles, dev: NewDevice, idx: Sequence[int]) -> tuple[np.ndarray, None]:
    from xcelerator.costmodel.predictors.adapted import _nnls_toward

    sig = [dev.signature[i] for i in idx]
    F, y = p.families[sig], dev.y_ms[list(idx)]
    s0 = float(np.median(y / np.maximum(F[:, :-1].sum(1), 1e-9)))
    w = _nnls_toward(F, y, s0, 0.3 * float(np.sqrt(len(y))))
    return np.maximum(p.families @ w, 1e-9), None


def _carried(base: Base, dev: NewDevice, idx: Sequence[int]) -> tuple[np.ndarray, Any]:
    from xcelerator.costmodel.predictors import AdaptedPredictor

    sig = [dev.signature[i] for i in idx]
    a = AdaptedPredictor().fit_arrays(base.base_ms[sig], base.features[sig], base.families[sig], dev.y_ms[list(idx)])
    return np.exp(a.predict_arrays(base.base_ms, base.features, base.families)), a


def _mode_predict(
    mode: str, lt: LatencyTable, stats: Sequence[GraphStats], dev: NewDevice, idx: Sequence[int], seed: int
) -> tuple[np.ndarray, None]:
    """Every network's latency on the new device from the signature positions ``idx``."""
    if mode == "kernel":
        return _kernel_predict(stats, dev, idx, seed), None
    sig = [dev.signature[i] for i in idx]
    m = CrossDeviceModel(mode, seed=seed, k=min(5, lt.latency.shape[1])).fit(lt, sig)
    return m.predict(dev.y_ms[list(idx)]), None


def fit_modes(
    lt: LatencyTable,
    stats: Sequence[GraphStats],
    dev: NewDevice,
    modes: Sequence[str] = ADAPT_MODES,
    seed: int = 0,
    folds: int = CV_FOLDS,
    bases: Sequence[Base] = (),
    profiles: Sequence[Profiles] = (),
) -> dict[str, ModeFit]:
    """Each mode fitted on the whole signature, and scored by ``folds``-fold cross-validation over
    the signature networks (the only labels of the new device there are). A mode that cannot
    run here (``kernel`` without profiles; one that needs more source columns) is left out;
    ``carried`` is one mode per base (``carried:<column>``)."""
    from sklearn.model_selection import KFold

    n = len(dev.signature)
    cv = list(KFold(min(folds, n), shuffle=True, random_state=seed).split(np.arange(n)))

    def scored(name: str, fit: Callable[[list[int]], tuple[np.ndarray, Any]]) -> ModeFit:
        """``fit(positions)`` predicts every network from those signature positions: its
        cross-validated log-errors on the signature, then the fit on all of it."""
        errs = np.zeros(n)
        for tr, te in cv:
            p, _ = fit(tr.tolist())
            errs[te] = np.log(p[[dev.signature[i] for i in te]]) - np.log(dev.y_ms[te])
        full, est = fit(list(range(n)))
        return _mode_fit(name, full, errs, est)

    out: dict[str, ModeFit] = {}
    for b in bases if "carried" in modes else ():
        out[f"carried:{b.column}"] = scored(f"carried:{b.column}", partial(_carried, b, dev))
    for pr in profiles if "profiles" in modes else ():
        out[f"profiles:{pr.column}"] = scored(f"profiles:{pr.column}", partial(_profiled, pr, dev))
    for mode in modes:
        if mode in ("carried", "blend", "profiles") or (mode == "kernel" and not dev.has_layers):
            continue
        if mode in ("neighbours", "stacked", "combined", "meta", "collaborative") and lt.latency.shape[1] < 2:
            continue
        try:
            out[mode] = scored(mode, partial(_mode_predict, mode, lt, stats, dev, seed=seed))
        except (BadInputError, ValueError, np.linalg.LinAlgError):
            continue
    if "blend" in modes and len(out) >= BLEND:
        out["blend"] = _blend(list(out.values()))
    if not out:
        raise BadInputError("adapt: no learning mode could be fitted on this signature")
    return out


def _blend(fits: list[ModeFit]) -> ModeFit:
    """The geometric mean of the ``BLEND`` modes with the smallest cross-validated error. Its own
    cross-validated error needs no refit: averaging log-predictions averages their log-errors
    on each held-out signature network (the choice of which modes enter is made on the same
    folds, so it is a little optimistic)."""
    top = sorted(fits, key=lambda f: f.cv_rms)[:BLEND]
    errs = np.mean([f.cv_log_errors for f in top if f.cv_log_errors is not None], axis=0)
    return _mode_fit("blend", np.exp(np.mean([np.log(f.pred_ms) for f in top], axis=0)), errs)


def _mode_fit(name: str, pred_ms: np.ndarray, errs: np.ndarray, estimator: Any = None) -> ModeFit:
    """A mode's predictions with its error summaries from its cross-validated log-errors."""
    rms, w10 = float(np.sqrt(np.mean(errs**2))), float(100 * np.mean(np.abs(np.expm1(errs)) <= 0.10))
    return ModeFit(name, pred_ms, rms, w10, estimator, errs)


def best(fits: dict[str, ModeFit]) -> ModeFit:
    return min(fits.values(), key=lambda f: f.cv_rms)


# ----------------------------------------------------------------------------- the new device
def _network(table: SourceTable, row: int, root: Any = None, fmt: str = "onnx") -> Any:
    """The artifact of table row ``row`` in ``fmt`` (onnx, torch or tflite), rebuilt where it
    came from."""
    from xcelerator.costmodel.characterize import corpus_twin
    from xcelerator.models.export import resolve_model

    o = table.origins[row]
    if "space" in o:
        art = corpus_network(o["space"], int(o["seed"]), int(o["index"]), root=root)
        return corpus_twin(art, fmt, o["space"])
    if "zoo" in o:
        return resolve_model(o["zoo"], fmt)
    raise BadInputError(f"table network {table.names[row]} is a file that does not ship: it cannot be a signature")


def corpus_network(space_spec: str, seed: int, index: int, root: Any = None) -> Any:
    """Network ``index`` of the ``space``/``seed`` corpus, exported alone (the corpus's other
    networks are drawn, which is cheap, but not exported)."""
    from xcelerator.costmodel.characterize import _cached, corpus_dir
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.generate import draw_distinct, materialize_point
    from xcelerator.models.spaces import get_space

    space = get_space(space_spec)
    out = corpus_dir(space_spec, seed, root)
    for i, point, arch in draw_distinct(space, index + 1, seed):
        if i != index:
            continue
        ident = f"{i:05d}"
        art = _cached(out / f"{ident}.json", arch)
        if art is None:
            out.mkdir(parents=True, exist_ok=True)
            materialize_point(space, point, out, ident, seed=seed * 1_000_003 + i)
            art = _cached(out / f"{ident}.json", arch)
        if art is None:
            raise BadInputError(f"{space_spec}-{seed}/{ident}: could not be exported")
        return load_artifact(art.path, name=f"{space_spec}-{seed}/{ident}", spec=art.spec)
    raise BadInputError(f"{space_spec}-{seed}: no network {index}")


def _reference_of(table: SourceTable) -> str | None:
    return next((c.reference for c in table.columns if c.reference), None)


def measure_signature(
    table: SourceTable,
    rows: Sequence[int],
    target: Any,
    store: Any,
    plan: Any,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[int], np.ndarray, list[Any], dict[str, str]]:
    """Measure table rows on ``target`` (side by side with the table's reference when its labels
    are relative to one), store each, and return the rows that succeeded with their labels and
    per-node times; a failure is kept by name with its cause."""
    from xcelerator.costmodel.characterize import corpus_format
    from xcelerator.costmodel.samples import labels_of
    from xcelerator.measure.core import measure, measure_against
    from xcelerator.measure.session import artifact_for, for_target

    fmt = corpus_format(target)
    ref_name = _reference_of(table)
    ref = artifact_for(ref_name, target, plan) if ref_name else None
    ok_rows, docs, layers, failed = [], [], [], {}
    for r in rows:
        name = table.names[r]
        try:
            art = for_target(_network(table, r, fmt=fmt), target, plan)
        except BadInputError as e:
            failed[name] = str(e)
            continue
        m = measure_against(ref, art, target, plan) if ref is not None else measure(art, target, plan)
        store.add(m, art, target)
        if m.status != "ok" or m.stats is None:
            failed[name] = m.error or m.status
        else:
            ok_rows.append(r)
            docs.append({"median_ms": m.stats.median_ms, "env": m.env})
            layers.append([(x.name, x.op_type, x.mean_ms) for x in m.layers] if m.layers else None)
        if progress:
            progress(f"{name}: {failed[name] if name in failed or m.stats is None else f'{m.stats.median_ms:.3g} ms'}")
    if not ok_rows:
        return [], np.zeros(0), [], failed
    y, _ = labels_of(docs)
    own = np.array([d["median_ms"] for d in docs])
    layers = [
        None if lay is None else [(a, b, ms * f) for a, b, ms in lay] for lay, f in zip(layers, y / own, strict=True)
    ]
    return ok_rows, y, layers, failed


def _distil(table: SourceTable, y_all: np.ndarray, seed: int) -> Any:
    """A predictor of any model on the new device: the layer predictor fitted on the table's
    networks with the new device's labels and the per-node shares of a source column that has
    profiles (scaled to those labels); the GBM when no source column has them."""
    from xcelerator.costmodel.predictors import GBMPredictor, LayerPredictor

    prof = next((c.target for c in table.columns if table.layers.get(c.target)), None)
    stats = list(table.stats)
    if prof is not None:
        j = table.targets.index(prof)
        have = [i for i, n in enumerate(table.names) if n in table.layers[prof] and np.isfinite(table.latency[i, j])]
        if len(have) >= LayerPredictor.min_samples:
            lay = []
            for i in have:
                f = y_all[i] / table.latency[i, j]
                lay.append([(a, b, ms * f) for a, b, ms in table.layers[prof][table.names[i]]])
            return LayerPredictor(random_state=seed).fit([stats[i] for i in have], y_all[have], layers=lay)
    return GBMPredictor(random_state=seed).fit(stats, y_all)


def adapt(
    target: str,
    *,
    budget: int = 20,
    exclude: Sequence[str] = (),
    table: str | SourceTable | None = None,
    store: Any = None,
    selection: str = SELECTION,
    modes: Sequence[str] = ADAPT_MODES,
    plan: Any = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Adapted:
    """A predictor for ``target`` from ``budget`` measured networks (the module docstring)."""
    from xcelerator.costmodel.characterize import CORPUS_PLAN
    from xcelerator.costmodel.table import load_table
    from xcelerator.store.db import Store
    from xcelerator.targets.registry import parse_target

    if budget < 5:
        raise BadInputError(f"--budget {budget}: at least 5 signature networks (20 is the usual)")
    unknown = [m for m in modes if m not in ADAPT_MODES]
    if unknown:
        raise BadInputError(f"adapt: unknown mode(s) {', '.join(unknown)}; known: {', '.join(ADAPT_MODES)}")
    t = parse_target(target)
    src = table if isinstance(table, SourceTable) else load_table(table)
    if exclude:
        src = src.without(list(exclude))
    own = [j for j, c in enumerate(src.columns) if c.target != t.uri]
    src = src.take_columns(own).widest()
    if not src.columns:
        raise BadInputError(f"adapt: the table has no column besides {t.uri}")
    if budget >= len(src.corpus_rows()) - 5:
        raise BadInputError(f"--budget {budget}: the table has {len(src.corpus_rows())} corpus networks; give fewer")
    lt = src.cross_device() if len(src.columns) >= 2 else None
    corpus = src.corpus_rows()  # signature networks are corpus networks: any machine rebuilds them
    src_c = src.take_rows(corpus)
    rows = [
        corpus[i] for i in _signature(src_c, src_c.cross_device() if lt is not None else None, selection, budget, seed)
    ]
    st = store if isinstance(store, Store) else Store(str(store if store is not None else "xcel.db"))
    plan = plan or CORPUS_PLAN
    t0 = time.time()
    ok, y, layers, failed = measure_signature(src, rows, t, st, plan, progress)
    measured_s = time.time() - t0
    if len(ok) < 5:
        from xcelerator.errors import RunFailedError

        why = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        raise RunFailedError(f"adapt: only {len(ok)} of {len(rows)} signature networks ran on {t.uri} ({why})")
    t1 = time.time()
    dev = NewDevice(tuple(ok), y, tuple(layers))
    if lt is None:  # one source column: the sources mode alone
        lt = _one_column(src)
    bases = _bases(src, src.stats, seed) if "carried" in modes else []
    profs = [p for c in src.columns if (p := Profiles.of(src, c.target)) is not None] if "profiles" in modes else []
    fits = fit_modes(lt, src.stats, dev, modes, seed=seed, bases=bases, profiles=profs)
    win = best(fits)
    if win.mode.startswith("carried:"):
        from xcelerator.costmodel.predictors import AdaptedPredictor

        b = next(x for x in bases if f"carried:{x.column}" == win.mode)
        est = AdaptedPredictor(base=b.predictor.to_json()).fit([src.stats[i] for i in ok], y)
        est.ranges_ = b.predictor.ranges_  # what is out of distribution: unlike the table, not the 20
    else:
        y_all = win.pred_ms.copy()
        y_all[list(ok)] = y
        est = _distil(src, y_all, seed)
    est.conditions = {
        "target": t.uri,
        "adapt": {
            "mode": win.mode,
            "cv_rms_log": win.cv_rms,
            "cv_within10": win.cv_within10,
            "modes": {k: {"cv_rms_log": f.cv_rms, "cv_within10": f.cv_within10} for k, f in fits.items()},
            "signature": [src.names[i] for i in ok],
            "sources": src.targets,
            "selection": selection,
        },
        "labels": "ratio to the table's reference" if _reference_of(src) else "own median",
    }
    fit_s = time.time() - t1
    return Adapted(
        est,
        t.uri,
        win.mode,
        {k: {"cv_rms_log": f.cv_rms, "cv_within10": f.cv_within10} for k, f in fits.items()},
        tuple(src.names[i] for i in ok),
        tuple(src.targets),
        measured_s,
        fit_s,
        failed,
    )


def _bases(table: SourceTable, stats: Sequence[GraphStats], seed: int) -> list[Base]:
    """A ``Base`` for every column of ``table`` with enough per-node profiles."""
    out = [Base.fit(table, c.target, stats, seed) for c in table.columns]
    return [b for b in out if b is not None]


def _one_column(src: SourceTable) -> LatencyTable:
    from xcelerator.costmodel.features import model_vector

    return LatencyTable(
        list(src.names),
        src.targets,
        [c.runtime for c in src.columns],
        np.array(src.latency, dtype=np.float64),
        np.array([model_vector(s)[0] for s in src.stats]),
    )


def _signature(src: SourceTable, lt: LatencyTable | None, selection: str, size: int, seed: int) -> list[int]:
    if lt is None:
        from xcelerator.costmodel.samples import statistical_signature

        return statistical_signature(src.latency[:, 0], size)
    return select_signature(lt, selection, size, seed=seed)


# ----------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class HeldOut:
    """One held-out column at one signature size: each mode's metrics on the corpus networks the
    signature does not hold, the mode ``adapt`` would keep, and the per-model errors (%) of the
    networks outside the corpus (zoo, real models): from their measured source rows through the
    kept mode (``cross``) and from their graph alone through the written predictor (``file``)."""

    column: str
    runtime: str
    size: int
    sources: int
    metrics: dict[str, dict[str, float]]
    kept: str
    outside_cross: dict[str, float]
    outside_file: dict[str, float]
    errors: dict[str, float] = field(default_factory=dict)  # the kept mode's error (%) per scored network


def _score(
    lt: LatencyTable,
    stats: Sequence[GraphStats] | None,
    truth: np.ndarray,
    sig: list[int],
    rest: list[int],
    layers: dict[str, Any],
    modes: Sequence[str],
    seed: int,
    bases: Sequence[Base] = (),
    profiles: Sequence[Profiles] = (),
) -> tuple[dict[str, ModeFit], dict[str, dict[str, float]]]:
    """Every mode fitted on the signature ``sig`` of a held-out column ``truth``, and each one's
    metrics (with ``auto``: the mode ``adapt`` keeps) on the ``rest``."""
    from xcelerator.costmodel.crossdevice import metrics

    dev = NewDevice(tuple(sig), truth[sig], tuple(layers.get(lt.networks[i]) for i in sig))
    usable = [m for m in modes if stats is not None or m not in ("kernel", "carried", "profiles")]
    fits = fit_modes(lt, stats or (), dev, usable, seed=seed, bases=bases, profiles=profiles)
    ms = {k: metrics(truth[rest], f.pred_ms[rest]) for k, f in fits.items()}
    ms["auto"] = metrics(truth[rest], best(fits).pred_ms[rest])
    return fits, ms


def leave_runtime_out(
    table: SourceTable,
    sizes: Sequence[int] = (10, 20, 50),
    modes: Sequence[str] = ADAPT_MODES,
    selection: str = SELECTION,
    seed: int = 0,
    columns: Sequence[str] | None = None,
    distil_sizes: Sequence[int] = (20,),
    progress: Callable[[str], None] | None = None,
) -> list[HeldOut]:
    """For each column (or those named): every column of its runtime left out of the sources
    (and, where columns cover different networks, the table ``SourceTable.around`` it: the
    networks it has and the columns that have them), ``size`` signature networks chosen on the
    rest among the corpus networks, their labels taken
    from the held-out column (and its per-node profiles, for ``kernel``), the rest predicted.
    Networks outside the corpus (zoo, real models) are never in a signature: they are predicted
    as a user's model would be: through the cross-device route (``outside_cross``: needs their
    latencies on every source column) and through the predictor file (``outside_file``: their
    graphs alone, so also those a source column could not run, e.g. an ONNX-only model on LiteRT)."""
    out: list[HeldOut] = []
    for col in table.columns:
        if (columns and col.target not in columns) or len(table.runtimes()) < 2:
            continue
        full = table.around(col.target)
        j = len(full.columns) - 1
        if len(full.runtimes()) < 2:
            continue
        corpus = full.corpus_rows()
        outside = [i for i in range(len(full.names)) if i not in set(corpus)]
        # outside networks the held-out column has that ``around`` left out (a source lacks them)
        j0 = table.targets.index(col.target)
        extra = [
            i
            for i, o in enumerate(table.origins)
            if "space" not in o and np.isfinite(table.latency[i, j0]) and table.names[i] not in set(full.names)
        ]
        o_names = [full.names[i] for i in outside] + [table.names[i] for i in extra]
        o_stats = [full.stats[i] for i in outside] + [table.stats[i] for i in extra]
        o_truth = [float(full.latency[i, j]) for i in outside] + [float(table.latency[i, j0]) for i in extra]
        src = full.without([col.runtime])
        lt = src.cross_device() if len(src.columns) >= 2 else _one_column(src)
        src_c = src.take_rows(corpus)
        lt_c = src_c.cross_device() if len(src.columns) >= 2 else None
        truth = full.latency[:, j]
        bases = _bases(src_c, full.stats, seed) if "carried" in modes else []
        profs = [p for c in src.columns if (p := Profiles.of(src, c.target)) is not None] if "profiles" in modes else []
        for size in sizes:
            if size >= len(corpus) - 5:
                continue
            sig = [corpus[i] for i in _signature(src_c, lt_c, selection, size, seed)]
            rest = [i for i in corpus if i not in set(sig)]
            lay = full.layers.get(col.target, {})
            fits, ms = _score(lt, full.stats, truth, sig, rest, lay, modes, seed, bases, profs)
            win = best(fits)
            cross = {full.names[i]: log_error_pct(truth[i], win.pred_ms[i]) for i in outside}
            file_err: dict[str, float] = {}
            if size in distil_sizes and o_names:
                if win.estimator is not None:  # a carried mode: its own predictor is the file
                    b = next(x for x in bases if f"carried:{x.column}" == win.mode)
                    p = np.exp(win.estimator.predict_arrays(*b.arrays(o_stats)))
                else:
                    y_all = win.pred_ms.copy()
                    y_all[sig] = truth[sig]
                    p = _distil(src_c, y_all[corpus], seed).predict(o_stats)
                file_err = {n: log_error_pct(y, float(v)) for n, y, v in zip(o_names, o_truth, p, strict=True)}
            errors = {full.names[i]: log_error_pct(truth[i], win.pred_ms[i]) for i in rest}
            out.append(HeldOut(col.target, col.runtime, size, len(src.columns), ms, win.mode, cross, file_err, errors))
            if progress:
                progress(f"{col.target}: {size} networks, kept {win.mode}, ±10 % {ms['auto']['within10']:.1f}")
    return out


def leave_device_out(
    lt: LatencyTable,
    held: Sequence[int],
    sizes: Sequence[int] = (10, 20),
    modes: Sequence[str] = ADAPT_MODES,
    selection: str = SELECTION,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[HeldOut]:
    """``leave_runtime_out`` on a table without graphs (the phone dataset): for each held-out
    device, every device of its group (a phone model's other runs) left out of the sources."""
    out: list[HeldOut] = []
    groups = np.array(lt.groups)
    for d in held:
        others = np.flatnonzero(groups != groups[d]).tolist()
        src = lt.subset(others)
        truth = lt.latency[:, d]
        for size in sizes:
            sig = select_signature(src, selection, size, seed=seed)
            rest = [i for i in range(len(lt.networks)) if i not in set(sig)]
            fits, ms = _score(src, None, truth, sig, rest, {}, modes, seed)
            out.append(HeldOut(lt.devices[d], lt.groups[d], size, len(others), ms, best(fits).mode, {}, {}))
        if progress:
            progress(f"{lt.devices[d]}: done")
    return out


def log_error_pct(y: float, p: float) -> float:
    return 100 * (math.exp(math.log(p) - math.log(y)) - 1)


__all__ = [
    "ADAPT_MODES",
    "Adapted",
    "HeldOut",
    "NewDevice",
    "adapt",
    "corpus_network",
    "fit_modes",
    "leave_runtime_out",
]
