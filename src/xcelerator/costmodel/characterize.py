"""Characterization: measure a corpus of networks from a space on one or more targets, into the store.

The corpus is deterministic: network ``i`` of ``--space S --seed K`` is the same architecture,
the same seeded weights and so the same ONNX bytes (sha256) every time, and it is kept in a
folder (``XCEL_CACHE/corpus/<space>-<seed>/``) so a re-run exports nothing twice. A pair
(artifact, target) already measured under the same plan is skipped, whatever its status (a
crash or a timeout is a result). Each measurement is stored in its own transaction as soon as
it ends, so an interrupted run loses at most the one in flight and the next run repeats nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError, XcelError
from xcelerator.executors import Executor, Handle, LocalExecutor, TaskFailed
from xcelerator.models.artifact import Artifact, load_artifact
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import Target, parse_target

# A corpus plan: fewer, shorter rounds than an interactive profile (thousands of networks), with
# the runtime's per-node profile kept for the layer-level predictor.
CORPUS_PLAN = Plan(
    warmup_runs=3,
    min_runs=10,
    min_seconds=0.3,
    max_seconds=3.0,
    rel_ci=0.02,
    min_rounds=2,
    max_rounds=3,
    layers=True,
    profile_runs=10,
    timeout=120.0,
)


log = logging.getLogger(__name__)
DROP_AFTER = 2  # tasks lost in a row on one device before it is taken out of rotation


STRATEGIES = ("random", "active")


@dataclass
class CharacterizeResult:
    measured: int = 0
    skipped: int = 0
    failed: int = 0
    networks: int = 0
    dropped: dict[str, str] = field(default_factory=dict)  # target URI → why it left the rotation
    unbuilt: dict[str, str] = field(default_factory=dict)  # network (space/seed/index) → why it could not be exported
    strategy: str = "random"
    # active: the networks in the order they were picked (names), and each batch's size
    order: list[str] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)


@dataclass
class _Run:
    """What every step of one ``characterize`` run shares: the targets, where results go, how
    each is measured, and each corpus network in the format a target takes (``twin``)."""

    tgts: list[Target]
    store: Any
    plan: Plan
    res: CharacterizeResult
    progress: Callable[[str], None] | None
    executor: Executor | None
    refs: dict[str, Artifact]
    twin: Callable[[Artifact, Target], Artifact]


def corpus_dir(space_name: str, seed: int, root: Path | None = None, options: dict[str, Any] | None = None) -> Path:
    base = root or Path(os.environ.get("XCEL_CACHE", Path.home() / ".cache" / "xcelerator"))
    name = space_name + "".join(f"-{k}={v}" for k, v in sorted((options or {}).items()))
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name)
    return base / "corpus" / f"{safe}-{seed}"


def corpus(
    space_spec: str,
    count: int,
    seed: int = 0,
    root: Path | None = None,
    on_network: Callable[[int, str], None] | None = None,
    options: dict[str, Any] | None = None,
    on_fail: Callable[[int, str, str], None] | None = None,
) -> list[Artifact]:
    """The first ``count`` networks of the space's corpus for this seed, exported once and reused.

    Points are drawn with ``Random(seed)`` and made distinct by architecture id, exactly as
    ``xcel space generate`` does, so ``count=N`` is a prefix of ``count=M > N``. A network that
    cannot be built or exported is left out and reported to ``on_fail(index, arch, why)``
    (without it, the error is raised): one bad point of a space must not stop the corpus."""
    from xcelerator.models.generate import draw_distinct, materialize_point
    from xcelerator.models.spaces import get_space

    space = get_space(space_spec, **(options or {}))
    out = corpus_dir(space_spec, seed, root, options)
    draws = list(draw_distinct(space, count, seed))
    out.mkdir(parents=True, exist_ok=True)
    arts: list[Artifact] = []
    for i, point, arch in draws:
        ident = f"{i:05d}"
        doc_path = out / f"{ident}.json"
        art = _cached(doc_path, arch)
        if art is None:
            try:
                materialize_point(space, point, out, ident, seed=seed * 1_000_003 + i)
            except Exception as e:  # any failure of the user's space or of the exporter
                if on_fail is None:
                    raise
                cause = e.__cause__ or e
                on_fail(i, arch, f"{type(cause).__name__}: {str(cause).strip().splitlines()[0][:300]}")
                continue
            art = _cached(doc_path, arch)
            assert art is not None
        arts.append(art)
        if on_network:
            on_network(i, arch)
    return arts


def _cached(doc_path: Path, arch: str) -> Artifact | None:
    """The artifact of an already exported network, if its files are whole and of this arch."""
    try:
        doc = json.loads(doc_path.read_text())
        if doc.get("arch") != arch:
            return None
        onnx_path = doc_path.parent / doc["artifact"]["path"]
        if not onnx_path.exists():
            return None
        # loaded from the file (not the JSON) so the graph statistics carry their nodes
        return load_artifact(onnx_path, name=f"{doc_path.parent.name}/{doc['id']}", spec=doc.get("spec"))
    except (OSError, ValueError, KeyError, XcelError):
        return None  # a missing or damaged file is exported again


# a corpus network for a runtime that takes no ONNX: exported from the same seeded module beside
# its ONNX file (which keeps giving its graph statistics), once: torch.export for PyTorch (and
# ExecuTorch, which lowers the .pt2), LiteRT's own converter for the interpreter
TWIN_SUFFIX = {"torch": ".pt2", "tflite": ".tflite"}


def corpus_format(target: Target) -> str:
    """The format a corpus network is handed to ``target`` in: ONNX where the target runs or
    converts it, else the first twin format it takes; ``BadInputError`` when none."""
    from xcelerator.measure.session import takes

    for fmt in ("onnx", *TWIN_SUFFIX):
        if takes(target, fmt):
            return fmt
    raise BadInputError(
        f"target {target.label}: a corpus is exported as {', '.join(('onnx', *TWIN_SUFFIX))}; this target "
        f"takes {'/'.join(target.formats)} (use a target that runs or converts one of them)"
    )


def corpus_twin(art: Artifact, fmt: str, space_spec: str, options: dict[str, Any] | None = None) -> Artifact:
    """The corpus network ``art`` (its ONNX file) in ``fmt`` ('onnx' is ``art`` itself), exported
    beside it from the same point and weights seed its JSON records, and kept. An export that
    fails raises ``BadInputError`` caused by the exporter's error: that network's failure on the
    targets that need the format, not the end of the corpus."""
    if fmt == "onnx":
        return art
    from xcelerator.models import export
    from xcelerator.models.spaces import get_space

    src = Path(art.path)
    path = src.with_suffix(TWIN_SUFFIX[fmt])
    if not path.exists():
        doc = json.loads(src.with_suffix(".json").read_text())
        try:
            module, example = get_space(space_spec, **(options or {})).build(doc["point"], seed=doc["seed"])
            (export.export_pt2 if fmt == "torch" else export.export_tflite)(module, example, path)
        except Exception as e:  # the exporter's own words: one network's failure
            cause = e.__cause__ or e
            raise BadInputError(
                f"{art.name}: export to {fmt} failed ({type(cause).__name__}: {str(cause).strip()[:200]})"
            ) from e
    return load_artifact(path, name=art.name, spec=art.spec)


def characterize(
    space_spec: str,
    count: int,
    targets: Sequence[str],
    store: Any,
    plan: Plan = CORPUS_PLAN,
    seed: int = 0,
    root: Path | None = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = True,
    options: dict[str, Any] | None = None,
    executor: Executor | None = None,
    strategy: str = "random",
    pool: int = 4,
    batch: int | None = None,
    reference: str | None = None,
) -> CharacterizeResult:
    """Measure ``count`` networks of the space on every target; skip what the store already has.

    ``progress`` is called once per (network, target) pair, measured or skipped. With
    ``resume=False`` a corpus that is already partly stored is refused rather than mixed in.
    With a Ray ``executor`` the pairs run as tasks, each asking for its target's device
    resource, so several devices measure at once and none runs two measurements; a device
    whose tasks are lost ``DROP_AFTER`` times in a row is taken out of rotation (``dropped``).

    ``strategy="active"`` (the nn-Meter idea, at model level): a pool of ``pool * count``
    networks is exported, a random fifth of ``count`` is measured first, then batches of
    ``batch`` (default a tenth of ``count``) are picked where the predictor fitted on what is
    measured so far is least sure (the widest 80 % interval on the first target), until
    ``count`` networks are measured: the default ``layer`` predictor when the plan profiles
    layers (a corpus plan does), a bagged LightGBM otherwise. ``random`` measures the first
    ``count`` of the corpus (a prefix of the pool).

    ``reference`` (a zoo name or a model file): every network is measured side by side with it
    (``measure.core.measure_against``), so its label can be taken relative to the reference
    timed in the same blocks (``costmodel.samples.from_store``). On this shared machine that is
    what makes a label repeat: see docs/costmodel.md, "Labels on one scale"."""
    if strategy not in STRATEGIES:
        raise BadInputError(f"characterize: strategy {strategy!r} must be one of {', '.join(STRATEGIES)}")
    if not targets:
        raise BadInputError("characterize: give at least one --target")
    if strategy == "active" and (pool < 2 or count < 20):
        raise BadInputError(f"characterize --strategy active needs --count >= 20 and a pool >= 2, got {count}, {pool}")
    tgts: list[Target] = [parse_target(t) for t in targets]
    fmts = {t.uri: corpus_format(t) for t in tgts}
    if strategy == "active" and fmts[tgts[0].uri] != "onnx":
        raise BadInputError(f"characterize --strategy active: the first target ({tgts[0].label}) must take ONNX")
    refs: dict[str, Artifact] = {}
    if reference is not None:
        from xcelerator.measure.session import artifact_for

        refs = {t.uri: artifact_for(reference, t, plan) for t in tgts}
    res = CharacterizeResult(strategy=strategy)

    def unbuilt(i: int, arch: str, why: str) -> None:
        res.failed += 1
        res.unbuilt[f"{space_spec}-{seed}/{i:05d}"] = why
        log.warning("network %d of %s (%s) could not be exported: %s", i, space_spec, arch, why)
        if progress:
            progress(f"network {i}: could not be exported ({why})")

    onnx_arts = corpus(
        space_spec, count * (pool if strategy == "active" else 1), seed, root, options=options, on_fail=unbuilt
    )

    twins: dict[tuple[str, str], Artifact] = {}  # PyTorch and ExecuTorch take the same .pt2: read it once

    def twin(art: Artifact, t: Target) -> Artifact:
        key = (art.path, fmts[t.uri])
        if key not in twins:
            twins[key] = corpus_twin(art, fmts[t.uri], space_spec, options)
        return twins[key]

    run = _Run(tgts, store, plan, res, progress, executor, refs, twin)
    if strategy == "random":
        res.networks = len(onnx_arts)
        _measure_indices(list(range(len(onnx_arts))), onnx_arts, run, resume)
        return res
    return _active(onnx_arts, count, run, resume, batch, seed)


def _active(
    pool_arts: list[Artifact], count: int, run: _Run, resume: bool, batch: int | None, seed: int
) -> CharacterizeResult:

    from xcelerator.costmodel.samples import from_store
    from xcelerator.measure.session import for_target

    tgts, store, plan, res = run.tgts, run.store, run.plan, run.res
    first = tgts[0]
    plan_d = plan.to_dict()
    # what is already stored of this pool (resume) counts as measured
    runs_on_first = [for_target(a, first) for a in pool_arts]
    done = [i for i, a in enumerate(runs_on_first) if store.measured(a.sha256, first.uri, plan_d)]
    if done and not resume:
        raise BadInputError(f"{len(done)} networks of this pool are already stored: pass --resume to measure the rest")
    step = batch or max(5, count // 10)
    init = max(10, count // 5)
    picked: list[int] = list(done)
    if len(picked) < init:
        picked += [i for i in range(len(pool_arts)) if i not in set(picked)][: init - len(picked)]
        _measure_indices(picked, pool_arts, run, True)
        res.batches.append(len(picked))
    while len(picked) < count:
        try:
            S = from_store(store, first.uri, plan=plan_d)
        except BadInputError:  # nothing of this plan measured successfully yet
            S = None
        ok = {} if S is None else {h: j for j, h in enumerate(S.sha256)}
        have = [ok[runs_on_first[i].sha256] for i in picked if runs_on_first[i].sha256 in ok]
        rest = [i for i in range(len(pool_arts)) if i not in set(picked)]
        if not rest:
            break
        n = min(step, count - len(picked), len(rest))
        est = _unsure_model(S, have, plan.layers, seed + len(picked)) if S is not None else None
        if est is not None:
            order = [rest[j] for j in unsure_first(est, [runs_on_first[i].stats for i in rest])]
        else:  # too few successes to fit: keep drawing in corpus order
            order = rest
        new = order[:n]
        picked += new
        _measure_indices(new, pool_arts, run, True)
        res.batches.append(len(new))
    res.networks = len(picked)
    res.order = [pool_arts[i].name for i in picked]
    return res


def _unsure_model(S: Any, have: list[int], layers: bool, seed: int) -> Any:
    """The predictor whose interval steers active sampling, fitted on the measured ``have``
    of ``S``: the default ``layer`` predictor when every one has a per-node profile (replayed
    on 500 mixed networks it reached a given accuracy with fewer networks than random
    sampling; a bagged GBM's spread did not: docs/costmodel.md), else a bagged LightGBM; None
    while too few are measured to fit either."""
    from xcelerator.costmodel.predictors import GBMPredictor, LayerPredictor

    sub = S.take(have)
    if layers and len(sub) >= LayerPredictor.min_samples and all(sub.layers):
        return LayerPredictor(random_state=seed).fit(sub.stats, sub.y_ms, layers=sub.layers)
    if len(sub) >= GBMPredictor.min_samples:
        return GBMPredictor(n_estimators=200, random_state=seed).fit(sub.stats, sub.y_ms)
    return None


def unsure_first(est: Any, stats: list[Any]) -> list[int]:
    """Positions of ``stats`` from the widest 80 % interval of ``est`` to the narrowest."""
    import numpy as np

    _, lo, hi = est.predict_interval(stats)
    return [int(j) for j in np.argsort(-np.log(hi / lo), kind="stable")]


def _not_converted(art: Artifact, target: Target, plan: Plan, why: str) -> Any:
    """The failed measurement of a network that ``target``'s converter could not take."""
    import time

    from xcelerator.measure.records import Measurement, RoundResult

    now = time.time()
    return Measurement(
        model=art.name,
        artifact_sha256=art.sha256,
        target=target.label,
        plan=plan,
        status="failed",
        error=why,
        rounds=(RoundResult.failure(0, "failed", why, now, now, detail=why),),
        stats=None,
        init_ms=None,
        first_run_ms=None,
        peak_rss_kib=None,
        rss_before_load_kib=None,
        rss_after_load_kib=None,
        started=now,
        finished=now,
    )


def _as_run(indices: Sequence[int], onnx_arts: list[Artifact], run: _Run) -> dict[tuple[int, str], Artifact]:
    """Each corpus network in the format each target runs (``run.twin``: the network in the
    format the target is handed); a network a target's exporter or converter refuses is stored
    as that pair's failure."""
    from xcelerator.measure.session import for_target

    tgts, store, plan, res, progress = run.tgts, run.store, run.plan, run.res, run.progress
    plan_d = plan.to_dict()
    # each target gets the corpus in the format it runs (converted once, cached); a network the
    # target's converter cannot take is that network's failure on that target, recorded with
    # the converter's words, not the end of the corpus (pnnx refuses a few generated networks)
    as_run: dict[tuple[int, str], Artifact] = {}
    unconverted: list[tuple[Artifact, Target, str]] = []
    for i in indices:
        for t in tgts:
            try:
                as_run[(i, t.uri)] = for_target(run.twin(onnx_arts[i], t), t)
            except BadInputError as e:
                if e.__cause__ is None:  # not the converter failing on this network: a missing tool
                    raise
                if store.measured(onnx_arts[i].sha256, t.uri, plan_d):
                    res.skipped += 1
                else:
                    unconverted.append((onnx_arts[i], t, str(e)))
    # statistics of stored networks computed by an older version are brought up to date, so a
    # corpus measured before a feature existed (a Resize's mode) can be fitted with it
    store.refresh_stats(list(as_run.values()))
    for art, t, why in unconverted:
        store.add(_not_converted(art, t, plan, why), art, t)
        res.measured += 1
        res.failed += 1
        log.warning("%s on %s: %s", art.name, t.label, why)
        if progress:
            progress(f"{art.name} on {t.label}: failed ({why})")
    return as_run


def _measure_indices(indices: Sequence[int], onnx_arts: list[Artifact], run: _Run, resume: bool) -> None:
    """Measure the corpus networks at ``indices`` on every target (what is stored is skipped),
    each side by side with the target's reference when ``run.refs`` has one."""
    from xcelerator.measure.core import check_runnable, measure, measure_against

    tgts, store, plan, res, progress, executor, refs = (
        run.tgts, run.store, run.plan, run.res, run.progress, run.executor, run.refs,
    )  # fmt: skip
    plan_d = plan.to_dict()
    as_run = _as_run(indices, onnx_arts, run)
    stored = {(a.sha256, uri) for (_, uri), a in as_run.items() if store.measured(a.sha256, uri, plan_d)}
    if stored and not resume:
        raise BadInputError(
            f"{len(stored)} of these {len(as_run)} measurements are already stored: "
            "pass --resume to measure only the rest"
        )
    exe = executor or LocalExecutor(1)
    todo: list[tuple[Artifact, Target]] = []
    for i in indices:
        for t in tgts:
            if (i, t.uri) not in as_run:
                continue
            art = as_run[(i, t.uri)]
            if (art.sha256, t.uri) in stored:
                res.skipped += 1
                if progress:
                    progress(f"{art.name} on {t.label}: stored")
                continue
            check_runnable(art, t)
            todo.append((art, t))
    # one measurement per device at a time: a target without a device resource is this machine
    limit = max(1, exe.max_in_flight) if exe.name == "ray" else 1
    pending: dict[int, Handle] = {}
    meta: dict[int, tuple[Artifact, Target]] = {}
    strikes: dict[str, int] = {}
    queue = list(enumerate(todo))
    while queue or pending:
        while queue and len(pending) < limit:
            i, (art, t) = queue.pop(0)
            if t.uri in res.dropped:
                res.failed += 1
                continue
            r = t.resource
            ref = (refs or {}).get(t.uri)
            res_kw = {r: 1.0} if r else None
            if ref is not None:
                pending[i] = exe.submit(i, measure_against, ref, art, t, plan, resources=res_kw)
            else:
                pending[i] = exe.submit(i, measure, art, t, plan, resources=res_kw)
            meta[i] = (art, t)
        if not pending:
            break
        for h in exe.wait(list(pending.values())):
            art, t = meta.pop(h.key)
            pending.pop(h.key)
            try:
                m = exe.result(h)
            except TaskFailed as e:  # the worker or node was lost, after Ray's retries
                res.failed += 1
                strikes[t.uri] = strikes.get(t.uri, 0) + 1
                if strikes[t.uri] >= DROP_AFTER:
                    res.dropped[t.uri] = str(e)
                if progress:
                    progress(f"{art.name} on {t.label}: lost ({e})")
                continue
            strikes[t.uri] = 0
            store.add(m, art, t)  # the driver alone writes the store
            res.measured += 1
            if m.status != "ok":
                res.failed += 1
            if progress:
                ms = f"{m.stats.median_ms:.3g} ms" if m.stats else m.status
                progress(f"{art.name} on {t.label}: {ms}")
