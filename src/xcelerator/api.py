"""The Python API behind the command line (``import xcelerator as xc``).

    m = xc.profile("det.onnx", target="onnxruntime?threads=1", shape={"x": (1, 3, 640, 640)})
    m.status, m.stats.median_ms, m.stats.ci_low_ms, m.inputs
    c = xc.compare(["a.onnx", "b.onnx"], ["onnxruntime?threads=1", "ncnn?threads=1"])

Bad input raises ``BadInputError`` before anything runs; a run that fails is a ``Measurement``
with ``status`` other than ``ok`` and its reason in ``error`` (the whole text in ``error_detail``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xcelerator.measure.records import Measurement
from xcelerator.rounds.plan import Plan, make_plan

Shape = Mapping[str, Sequence[int]] | Sequence[int] | None


def plan_for(
    plan: Plan | None = None,
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    **plan_kw: Any,
) -> Plan:
    """A Plan from keyword arguments (``Plan``'s fields), the input options added: ``shape`` as
    ``{"x": (1, 3, 640, 640)}`` or ``(1, 3, 640, 640)`` for a one-input model, ``dims`` as
    ``{"height": 640}``, ``fill`` as ``{"sr": 16000}``, ``input`` as ``random``, ``zeros`` or a
    ``.npz`` path."""
    base = plan or Plan()
    kw: dict[str, Any] = dict(plan_kw)
    if input != "random":  # zeros, or a .npz checked to exist
        given = make_plan(inputs=input)
        kw.update(input=given.input, npz=given.npz)
    shapes: list[tuple[str, tuple[int, ...]]] = []
    if isinstance(shape, Mapping):
        shapes = [(str(k), tuple(int(d) for d in v)) for k, v in shape.items()]
    elif shape is not None:
        shapes = [("", tuple(int(d) for d in shape))]
    if shapes:
        kw["shapes"] = tuple(sorted(shapes))
    if dims:
        kw["dims"] = tuple(sorted((str(k), int(v)) for k, v in dims.items()))
    if fill:
        kw["fills"] = tuple(sorted((str(k), float(v)) for k, v in fill.items()))
    return base.replace(**kw) if kw else base


def _space_options(options: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """A space's options as a mapping, or parsed from ``KEY=VALUE`` strings."""
    from xcelerator.models.spaces import parse_options

    return dict(options) if isinstance(options, Mapping) else parse_options(list(options or []))


def open_store(db: Any = None) -> Any:
    """The store at ``db`` (a SQLite path, a SQLAlchemy URL, or a ``Store``, returned as is;
    None: ``XCEL_DB`` or ``./xcel.db``)."""
    from xcelerator.store.db import Store

    return db if isinstance(db, Store) else Store(None if db is None else str(db))


def make_executor(name: str = "local", address: str | None = None, in_flight: int = 1) -> Any:
    """A registered executor by name (``local``, ``ray``; ``address``: a Ray cluster), running
    ``in_flight`` tasks at once where it schedules on a cluster."""
    from xcelerator.errors import BadInputError
    from xcelerator.executors import make_executor as make

    if in_flight < 1:
        raise BadInputError(f"--in-flight {in_flight}: must be >= 1")
    return make(name, address, in_flight if name == "ray" else 1)


def _store(db: Any) -> Any:
    return None if db is None else open_store(db)


def profile(
    model: str,
    target: str = "onnxruntime",
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    plan: Plan | None = None,
    db: Any = None,
    **plan_kw: Any,
) -> Measurement:
    """Measure one model (a file or a zoo name) on one target; stored when ``db`` is given (a URL,
    a path or a ``Store``)."""
    return compare([model], [target], shape=shape, dims=dims, fill=fill, input=input, plan=plan, db=db, **plan_kw)[0]


def compare(
    models: Sequence[str],
    targets: Sequence[str],
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    plan: Plan | None = None,
    db: Any = None,
    side_by_side: bool = True,
    **plan_kw: Any,
) -> list[Measurement]:
    """Every model on every target, interleaved round by round; the measurements in model-major
    order (the first model and the first target are the references). Models on one target of
    this machine are timed side by side in one process after a first round alone
    (``side_by_side=False``: every round its own process; see docs/measurement.md)."""
    p = plan_for(plan, shape=shape, dims=dims, fill=fill, input=input, **plan_kw)
    return list(measure(models, targets, p, db=db, side_by_side=side_by_side).measurements)


# about 0.4, 2.8, 5.4, 11 and 63 ms on one thread here: dense enough in latency that the spread is
# interpolated between near neighbours (it is not a straight line in latency)
CALIBRATION_MODELS = (
    "mobilenet_v1_0.25_96",
    "mobilenet_v2_0.5_128",
    "mobilenet_v1_0.5_224",
    "squeezenet_224",
    "resnet50_160",
)


def calibrate(
    target: str = "onnxruntime",
    models: Sequence[str] = (),
    *,
    runs: int = 5,
    over: float = 0.0,
    db: Any = "xcel.db",
    plan: Plan | None = None,
    progress: Any = None,
    **plan_kw: Any,
) -> Any:
    """Learn how much a median moves between runs on ``target`` (``measure.stats.RunNoise``): each
    model (by default five zoo networks of about 0.4 to 60 ms on one CPU thread) measured
    ``runs`` times, each time as its own measurement, models interleaved, all stored in ``db``.
    Later ``profile``/``compare`` calls with that ``db`` widen their CIs by it, so they cover a
    repeat of the measurement minutes later, not only this run's rounds. ``over``: seconds to
    spread the runs across (idle between them): a machine's state drifts over minutes, and runs
    taken back to back see only the state of those few minutes (BENCHMARKS.md, ``coverage-spaced``).
    Returns the RunNoise."""
    import time

    from xcelerator.errors import BadInputError
    from xcelerator.measure import session
    from xcelerator.targets.registry import parse_target

    if runs < 3:
        raise BadInputError(f"calibrate: runs must be 3 or more (a spread needs repeats), got {runs}")
    p = plan_for(plan, **plan_kw) if plan is not None or plan_kw else Plan(min_rounds=6, max_rounds=6)
    p = p.replace(ci="rounds")  # what it learns is each run's median; their CIs are not used
    st = _store(db)
    pairs = session.prepare(list(models or CALIBRATION_MODELS), [target], plan=p)
    if over < 0:
        raise BadInputError(f"calibrate: over must be >= 0 seconds, got {over:g}")
    start = time.monotonic()
    for i in range(runs):
        wait = start + over * i / max(runs - 1, 1) - time.monotonic()
        if i and wait > 0:
            time.sleep(wait)
        for pair in pairs if i % 2 == 0 else list(reversed(pairs)):
            if progress is not None:
                progress(f"{pair[0].name}, run {i + 1} of {runs}")
            session.execute([pair], p, store=st, purpose="calibration")
    return st.run_noise(parse_target(target).uri)


def search(
    space: str = "scaling",
    *,
    target: str = "onnxruntime?threads=1",
    objectives: Sequence[str] = ("accuracy", "latency"),
    constraints: Sequence[str] = (),
    strategy: str = "tpe",
    budget: int = 20,
    dataset: str = "digits",
    epochs: int = 3,
    db: Any = "xcel.db",
    out: str = "search-out",
    study: str | None = None,
    resume: bool = False,
    seed: int = 0,
    executor: Any = None,
    space_options: Mapping[str, Any] | None = None,
    progress: Any = None,
    **settings: Any,
) -> Any:
    """Search one of our design spaces (``xcel space list``) for the best network under
    ``constraints``: an Optuna study in ``db`` (study and measurements in one database, given once).
    Returns the ``SearchResult``; the best network is copied to ``OUT/best.onnx``. ``settings``:
    any other ``SearchConfig`` field (``inherit``, ``finetune_epochs``, ``max_seconds``, ...). For
    your own network use ``optimize``."""
    cfg = search_settings(
        None, space_options=space_options, space=space, objectives=list(objectives), constraints=list(constraints),
        strategy=strategy, trials=budget, dataset=dataset, epochs=epochs, target=target, study=study, seed=seed,
        out=out, **settings,
    )  # fmt: skip
    return search_config(cfg, db=db, executor=executor, resume=resume, progress=progress)


def search_config(
    cfg: Any, *, db: Any = "xcel.db", executor: Any = None, resume: bool = False, progress: Any = None
) -> Any:
    """``search`` from a whole ``SearchConfig`` (what ``xcel search`` parses its options and
    ``--config`` file into): the study in ``db``, the best network copied to ``OUT/best.onnx``
    (``best["exported"]``). ``executor``: an ``Executor`` or a registered executor's name."""
    from pathlib import Path

    from xcelerator.nas.evaluators import export_best
    from xcelerator.nas.study import run_search

    if isinstance(executor, str):
        executor = make_executor(executor, None, 2)
    st = _store(db)
    res = run_search(cfg, st.url, store=st, progress=progress, resume=resume, executor=executor)
    if res.best is not None and not cfg.benchmark and res.best["user_attrs"].get("onnx"):
        res.best["exported"] = str(export_best(res.best["user_attrs"]["onnx"], Path(cfg.out) / "best.onnx"))
    return res


def optimize_config(
    cfg: Any, *, db: Any = "xcel.db", executor: Any = None, resume: bool = False, progress: Any = None
) -> tuple[Any, dict[str, Any]]:
    """``xc.optimize`` from a whole ``OptimizeConfig`` (what ``xcel optimize`` parses its options
    and ``--config`` file into): the user's model, training and evaluation loaded from their
    files, the study in ``db``, the outputs written to ``cfg.out``. Returns the
    ``OptimizeResult`` and what was written."""
    from pathlib import Path

    from xcelerator.compress.config import write_outputs
    from xcelerator.compress.core import optimize

    module, example, train_fn, eval_fn = cfg.validate().load()
    res = optimize(
        module, example, train=train_fn, evaluate=eval_fn, config=cfg, executor=executor, db=_store(db),
        resume=resume, progress=progress,
    )  # fmt: skip
    return res, write_outputs(res, Path(cfg.out))


def pareto(
    model: str,
    target: str = "onnxruntime?threads=1",
    *,
    db: Any = None,
    shape: Sequence[str] | None = None,
    dim: Sequence[str] | None = None,
    fill: Sequence[str] | None = None,
    **options: Any,
) -> Any:
    """The Pareto front of how ``model`` runs on ``target`` over a configuration space
    (``space``: one of ``pareto_spaces()``); see ``xcelerator.fronts.run``. ``shape``/``dim``/
    ``fill``: the inputs as ``xcel pareto`` takes them (``NAME=1x3x640x640``, ``NAME=VALUE``) on
    the front's own plan, unless ``plan`` is given. Returns the ``FrontDoc`` (``.points``,
    ``.front()``, ``.to_json()``)."""
    from xcelerator.fronts.run import run_pareto

    if (shape or dim or fill) and "plan" not in options:
        from xcelerator.fronts.evaluate import PARETO_PLAN
        from xcelerator.rounds.plan import input_options

        options["plan"] = PARETO_PLAN.replace(**input_options(list(shape or []), list(dim or []), list(fill or [])))
    return run_pareto(model, target=target, store=_store(db), **options)


def pareto_spaces() -> list[str]:
    """The configuration spaces ``pareto`` searches (quantize, runtime-options, backend, placement)."""
    from xcelerator.fronts.run import SPACES

    return list(SPACES)


# ----------------------------------------------------------------------------- cost models
# ``xcel characterize`` and ``xcel costmodel ...``: each command parses its options, calls one of
# these (or a method of ``xc.CostModel``), and prints what it returns.


def characterize(
    space: str,
    count: int,
    targets: Sequence[str],
    *,
    db: Any = "xcel.db",
    plan: Plan | None = None,
    seed: int = 0,
    options: Mapping[str, Any] | Sequence[str] | None = None,
    resume: bool = False,
    executor: Any = None,
    strategy: str = "random",
    pool: int = 4,
    batch: int | None = None,
    reference: str | None = None,
    progress: Any = None,
) -> Any:
    """Measure ``count`` networks of ``space`` on every target into ``db`` for cost models
    (``costmodel.characterize.characterize``; ``options``: the space's options as a mapping or as
    ``KEY=VALUE`` strings; ``plan``: the corpus plan by default). Returns the
    ``CharacterizeResult``."""
    from xcelerator.costmodel.characterize import CORPUS_PLAN
    from xcelerator.costmodel.characterize import characterize as run

    opts = _space_options(options)
    return run(
        space, count, list(targets), _store(db), plan=plan or CORPUS_PLAN, seed=seed, progress=progress,
        resume=resume, options=opts, executor=executor, strategy=strategy, pool=pool, batch=batch,
        reference=reference,
    )  # fmt: skip


def corpus_plan(
    *, rounds: str | None = None, min_time: float | None = None, rel_ci: float = 0.02, layers: bool = True
) -> Plan:
    """The corpus plan (``costmodel.characterize.CORPUS_PLAN``) with ``rounds`` as ``N`` or
    ``MIN..MAX``, ``min_time`` seconds of timed runs per round, the CI target and profiles."""
    from xcelerator.costmodel.characterize import CORPUS_PLAN
    from xcelerator.errors import BadInputError

    kw: dict[str, Any] = {"rel_ci": rel_ci, "layers": layers}
    if min_time is not None:
        kw.update(min_seconds=min_time, max_seconds=max(min_time, CORPUS_PLAN.max_seconds))
    if rounds is not None:
        lo, _, hi = rounds.partition("..")
        try:
            kw.update(min_rounds=int(lo), max_rounds=int(hi or lo))
        except ValueError:
            raise BadInputError(f"--rounds {rounds!r}: expected N or MIN..MAX, e.g. 2..3") from None
    return CORPUS_PLAN.replace(**kw)


def _phone_table(data: str) -> Any:
    from xcelerator.costmodel.crossdevice import phone_table

    return phone_table(data)


def evaluate_devices(
    data: str = "phones",
    *,
    method: str = "greedy",
    mode: str = "stacked",
    size: int = 10,
    folds: int = 5,
    seed: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """A cross-device method on held-out devices of a shipped latency table (``phones`` or
    ``phones-gpu``), grouped ``folds``-fold: the document ``xcel costmodel eval --data`` prints
    (``metrics`` pooled, ``per_target`` per held-out device)."""
    from xcelerator.costmodel.crossdevice import evaluate_heldout

    table = _phone_table(data)
    res = evaluate_heldout(table, method, mode, size=size, folds=folds, seed=seed, progress=progress)
    return {
        "dataset": data, "signature_method": method, "signature_size": size, "data": data, "method": method,
        "mode": mode, "size": size, "folds": folds, "metrics": res["pooled"], "per_target": res["per_device"], **res,
    }  # fmt: skip


def evaluate_predictor(
    predictor: str, target: str, *, db: Any = "xcel.db", include_training: bool = False
) -> dict[str, Any]:
    """A predictor file scored on ``db``'s measurements of ``target`` (those it was not fitted
    on, unless ``include_training``): the document ``xcel costmodel eval -p`` prints (metrics,
    per model, and the conditions that differ from its training)."""
    from xcelerator.costmodel import predictors as P
    from xcelerator.costmodel.crossdevice import metrics
    from xcelerator.costmodel.samples import condition_mismatch, from_store
    from xcelerator.errors import BadInputError

    est = P.load(predictor)
    samples = from_store(_store(db), target)
    trained = set(est.conditions.get("trained_on", []))
    idx = [i for i, h in enumerate(samples.sha256) if include_training or h not in trained]
    if not idx:
        raise BadInputError(
            f"every measurement of {samples.target_uri} was used to fit {predictor}; "
            "measure other models or pass --include-training"
        )
    ev = samples.take(idx)
    warn = condition_mismatch({k: v for k, v in est.conditions.items() if k != "trained_on"}, samples.conditions)
    pred = est.predict(ev.stats)
    m = metrics(ev.y_ms, pred) if len(idx) > 2 else None
    return {
        "predictor": predictor,
        "target": samples.target_uri,
        "dataset": "store",
        "metrics": m,
        "per_target": {samples.target_uri: m} if m else {},
        "models": [
            {"model": n, "measured_ms": float(y), "predicted_ms": float(p), "error_pct": float(100 * (p / y - 1))}
            for n, y, p in zip(ev.names, ev.y_ms, pred, strict=True)
        ],
        "condition_warnings": warn,
    }


def signature(
    method: str,
    size: int = 10,
    *,
    data: str | None = None,
    targets: Sequence[str] = (),
    predictor: str | None = None,
    db: Any = "xcel.db",
    seed: int = 0,
) -> dict[str, Any]:
    """A signature set: the networks to measure on a new device, chosen over a phone table
    (``data``) or ``db``'s measurements of ``targets`` by ``method``; ``method="design"`` with a
    ``predictor`` and one target: the networks of that target that best pin down the predictor's
    map to a new target, from its predictions alone. The document ``xcel costmodel signature``
    prints (``signature``: index, model, mean ms)."""
    from xcelerator.costmodel.crossdevice import select_signature, table_from_store
    from xcelerator.errors import BadInputError

    if method == "design":
        if predictor is None or data is not None or len(targets) != 1:
            raise BadInputError(
                "--method design: give the predictor to carry over (-p FILE) and the one target whose "
                "measured networks to choose from (-t TARGET), not --data"
            )
        from xcelerator.costmodel.model import CostModel
        from xcelerator.costmodel.samples import from_store

        S = from_store(_store(db), targets[0])
        idx = CostModel.load(predictor).signature(S.stats, size)
        rows = [{"index": i, "model": S.names[i], "mean_ms": float(S.y_ms[i])} for i in idx]
        return {"method": method, "size": size, "devices": [S.target_uri], "networks": len(S), "signature": rows}
    if predictor is not None:
        raise BadInputError("--predictor is for --method design")
    if (data is None) == (not targets):
        raise BadInputError("give either --data phones or one or more --target")
    table = _phone_table(data) if data is not None else table_from_store(_store(db), list(targets))
    idx = select_signature(table, method, size, seed=seed)
    rows = [{"index": i, "model": table.networks[i], "mean_ms": float(table.latency[i].mean())} for i in idx]
    return {
        "method": method,
        "size": size,
        "devices": table.devices,
        "networks": len(table.networks),
        "signature": rows,
    }


def sources(table: str | None = None) -> dict[str, Any]:
    """The source columns a new device adapts from (the shipped latency table, or a ``.json.gz``
    table file): per column its runtime, threads, versions, machine and networks."""
    from xcelerator.costmodel.table import describe, load_table

    t = load_table(table)
    return {"networks": len(t.names), "runtimes": t.runtimes(), "columns": describe(t)}


# ----------------------------------------------------------------------------- reports


def report(
    out: Any = "xcel-report",
    *,
    db: Any = "xcel.db",
    studies: Sequence[str] = (),
    measurements: bool = False,
    model: str | None = None,
    target: str | None = None,
    last: int = 10_000,
    detail: int = 6,
    predictor: str | None = None,
    include_training: bool = False,
    data: str | None = None,
    pareto: Sequence[str] = (),
    method: str = "spearman",
    mode: str = "stacked",
    size: int = 10,
    title: str = "xcelerator report",
    png: bool = True,
) -> dict[str, Any]:
    """A self-contained HTML report (and PNGs) in the folder ``out``: the named Optuna
    ``studies`` in ``db``, a ``predictor`` scored on ``target``'s measurements, a cross-device
    study of a phone table (``data``), configuration fronts (``pareto`` files), and the latest
    measurements (``measurements``, or when nothing else is asked; ``model``/``target``/``last``
    filter them, ``detail`` draws distributions and layers of the latest few). Returns what
    ``report.html.build`` wrote (``html``, ``figures``, ``pngs``, ``notes``, ``bytes``)."""
    from pathlib import Path

    from xcelerator.errors import BadInputError
    from xcelerator.report import sections as S
    from xcelerator.report.html import build
    from xcelerator.report.records import pareto_record

    if last < 1:
        raise BadInputError(f"--last {last}: must be >= 1")
    st = _store(db)
    parts: list[tuple[str, list[Any]]] = []
    if studies:
        parts += S.study_sections(st.url, list(studies))
    if predictor:
        if not target:
            raise BadInputError("--predictor needs --target (whose measurements to score it on)")
        parts += S.predictor_sections(st, predictor, target, include_training)
    if data:
        parts += S.crossdevice_sections(data, method, mode, size)
    parts += [(f"configuration front {Path(p).name}", [pareto_record(p)]) for p in pareto]
    if measurements or not (studies or predictor or data or pareto):
        parts += S.measurement_sections(st, model, None if predictor else target, last, detail)
    return dict(build(parts, Path(out), title=title, png=png))


# ----------------------------------------------------------------------------- design spaces


def spaces() -> list[dict[str, Any]]:
    """The registered design spaces (name, description, number of architectures; None:
    unbounded), and the ``user`` form (a YAML file of parameters and a builder)."""
    from xcelerator.models.spaces import SPACES

    rows: list[dict[str, Any]] = [
        {"name": n, "description": f().description, "size": f().size()} for n, f in SPACES.items()
    ]
    rows.append(
        {
            "name": "user",
            "description": "a YAML file of parameters + a builder module:function (--space user:FILE.yaml)",
            "size": None,
        }
    )
    return rows


def space_point(
    name: str,
    *,
    options: Mapping[str, Any] | Sequence[str] | None = None,
    point: Mapping[str, Any] | str | None = None,
    arch: str | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """A space's parameters (``space``: name, description, size, params) and one point of it:
    ``point`` (a mapping or JSON), a NAS-Bench-201 ``arch`` string, the point drawn with seed
    ``sample``, or the default; with its ``arch`` id and, where the space describes its layers,
    its ``spec``, ``totals`` (MACs, params, peak activation) and per-layer ``layers``."""
    import json
    import random

    from xcelerator.errors import BadInputError
    from xcelerator.models.archspec import describe
    from xcelerator.models.spaces import NasBench201Space, get_space

    sp = get_space(name, **_space_options(options))
    if isinstance(point, str):
        try:
            point = json.loads(point)
        except json.JSONDecodeError as e:
            raise BadInputError(f"--point: not valid JSON ({e})") from None
        if not isinstance(point, dict):
            raise BadInputError("--point: expected a JSON object of parameter values")
    if point is not None:
        pt = dict(point)
    elif arch is not None:
        pt = dict(NasBench201Space.from_arch_string(arch))
    elif sample is not None:
        pt = dict(sp.sample(random.Random(sample)))
    else:
        pt = dict(sp.default_point())
    pt = sp.check(pt)
    spec = sp.to_spec(pt)
    doc: dict[str, Any] = {"space": sp.info(), "point": pt, "arch": sp.arch_id(pt)}
    if spec is not None:
        d = describe(spec)
        doc.update(spec=spec.to_dict(), totals=d.totals(), layers=[r.__dict__ for r in d.rows])
    return doc


def generate(
    space: str,
    count: int,
    out: Any,
    *,
    seed: int = 0,
    options: Mapping[str, Any] | Sequence[str] | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Sample ``count`` distinct networks from ``space`` (same seed, same networks) and export
    each to ``out``: ONNX, spec JSON, ``index.csv`` and ``encode13.csv``. Returns one row per
    network (keys starting with ``_`` are internal)."""
    from pathlib import Path

    from xcelerator.models.generate import generate as gen
    from xcelerator.models.spaces import get_space

    sp = get_space(space, **_space_options(options))
    return list(gen(sp, count, seed, Path(out), progress=progress))


# ----------------------------------------------------------------------------- the zoo


def zoo_models() -> list[dict[str, Any]]:
    """The built-in model zoo's families: kind, description, widths, resolutions, an example name."""
    from xcelerator.models import zoo

    rows: list[dict[str, Any]] = []
    for name in zoo.list_models():
        e = zoo.entry(name)
        rows.append(
            {
                "family": name,
                "kind": e.kind,
                "description": e.description,
                "widths": list(e.widths),
                "resolutions": list(e.resolutions) if e.kind == "image" else [],
                "example": zoo.parse_name(name).name,
            }
        )
    return rows


def export_zoo(
    name: str,
    out: Any,
    *,
    fmt: str | None = None,
    width: float | None = None,
    resolution: int | None = None,
    seq_len: int | None = None,
) -> Any:
    """A zoo model (``mobilenet_v2`` or ``mobilenet_v2_0.5_128``) written to ``out`` in ``fmt``
    (onnx, tflite, openvino or torch; default: from the file's extension). Returns its ``Artifact``."""
    from pathlib import Path

    from xcelerator.errors import BadInputError
    from xcelerator.models.export import EXT, materialize
    from xcelerator.models.zoo import parse_name

    out = Path(out)
    by_ext = {v: k for k, v in EXT.items()}
    f = fmt or by_ext.get(out.suffix.lower())
    if f is None:
        raise BadInputError(
            f"--out {out}: cannot tell the format from '{out.suffix}'; use --format "
            f"({', '.join(EXT)}) or an extension ({', '.join(EXT.values())})"
        )
    return materialize(parse_name(name, width=width, resolution=resolution, seq_len=seq_len), f, out=out)


# ----------------------------------------------------------------------------- search settings


def strategy_names(caller: str) -> list[str]:
    """The search strategies ``caller`` (``search`` or ``optimize``) offers (the registry's)."""
    from xcelerator.nas import strategies

    return list(strategies.names(caller))


def search_settings(
    config: Any = None, *, space_options: Sequence[str] | Mapping[str, Any] | None = None, **given: Any
) -> Any:
    """The ``SearchConfig`` of a YAML file (``config``; else the defaults) with every field in
    ``given`` that is not None set over it, and ``space_options`` (``KEY=VALUE`` strings or a
    mapping) merged into its space options: what ``xcel search`` parses its options into."""
    from xcelerator.nas.study import SearchConfig

    cfg = _set_over(SearchConfig.from_yaml(config) if config else SearchConfig(), given, "search")
    if space_options:
        cfg.space_options = {**cfg.space_options, **_space_options(space_options)}
    return cfg


def parse_point(text: str) -> dict[str, Any]:
    """``w=0.6,d=0.6,r=32`` or a JSON object → a point (w/d/r: width/depth/resolution)."""
    import json

    from xcelerator.errors import BadInputError
    from xcelerator.models.spaces import parse_scalar

    text = text.strip()
    if text.startswith("{"):
        try:
            return dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise BadInputError(f"--point: not valid JSON ({e})") from None
    alias = {"w": "width", "d": "depth", "r": "resolution"}
    out = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            raise BadInputError(f"--point {text!r}: expected KEY=VALUE,... or a JSON object")
        out[alias.get(k.strip(), k.strip())] = parse_scalar(v.strip())
    return out


def evaluate_point(
    space: str,
    point: Mapping[str, Any] | str,
    *,
    target: str = "onnxruntime?threads=1",
    dataset: str = "digits",
    epochs: int = 3,
    options: Sequence[str] | Mapping[str, Any] | None = None,
    out: Any = ".xcel/evaluate",
    seed: int = 0,
    db: Any = "xcel.db",
) -> dict[str, Any]:
    """Build, train and measure one point of a space: ``{"point", "values", "attrs"}`` (accuracy,
    latency, memory, MACs, params; the exported file in ``attrs["onnx"]``)."""
    from pathlib import Path

    from xcelerator.models.spaces import get_space
    from xcelerator.nas.evaluators import TrainMeasureEvaluator
    from xcelerator.train.datasets import load_dataset

    sp = get_space(space, **_space_options(options))
    pt = sp.check(parse_point(point) if isinstance(point, str) else dict(point))
    ev = TrainMeasureEvaluator(
        sp, load_dataset(dataset, seed), target, epochs, out=Path(out), store=_store(db), seed=seed
    )
    res = ev.evaluate(pt, "point")
    return {"point": pt, "values": res.values, "attrs": res.attrs}


def optimize_settings(config: Any = None, **given: Any) -> Any:
    """The ``OptimizeConfig`` of a YAML file (``config``; else the defaults) with every field in
    ``given`` that is not None set over it (``shape`` may be the text ``--shape`` takes):
    what ``xcel optimize`` parses its options into; validated when it runs."""
    from pathlib import Path

    from xcelerator.compress.config import OptimizeConfig
    from xcelerator.rounds.inputs import parse_shape

    if isinstance(given.get("shape"), str):
        given["shape"] = list(parse_shape(given["shape"])[1])
    return _set_over(OptimizeConfig.from_yaml(Path(config)) if config else OptimizeConfig(), given, "optimize")


def _set_over(cfg: Any, given: Mapping[str, Any], what: str) -> Any:
    """``cfg`` (a settings dataclass) with every field in ``given`` that is not None set over it;
    ``BadInputError`` naming the valid fields for one it does not have."""
    from xcelerator.errors import BadInputError

    fields = type(cfg).__dataclass_fields__
    for k, v in given.items():
        if k not in fields:
            raise BadInputError(f"{what}: unknown setting {k!r}; valid: {sorted(fields)}")
        if v is not None:
            setattr(cfg, k, v)
    return cfg


# ----------------------------------------------------------------------------- measuring (the CLI's)


def measure(
    models: Sequence[str],
    targets: Sequence[str],
    plan: Plan | None = None,
    *,
    db: Any = None,
    wait_quiet: float | None = None,
    side_by_side: bool = True,
    phase: Any = None,
    progress: Any = None,
    on_busy: Any = None,
    **zoo_kw: Any,
) -> Any:
    """``compare`` as ``xcel profile``/``compare`` run it: every model resolved for every target
    (``zoo_kw``: ``width``, ``resolution``, ``seq_len`` of a zoo name) and checked, then, with
    ``wait_quiet``, up to that many seconds waiting for no other busy process (``on_busy(list)``
    hears what was still busy), then every pair measured and stored in ``db``. ``phase(text,
    total)`` is told each phase (``total``: the rounds it will take, when known), ``progress(text)``
    each round. Returns the ``session.Comparison`` (``measurements``, ``speedups()``)."""
    from xcelerator.measure import session

    p = plan or Plan()
    if phase is not None:
        phase("preparing models")
    pairs = session.prepare(list(models), list(targets), plan=p, **zoo_kw)
    if wait_quiet:
        from xcelerator.measure.conditions import wait_quiet as wait

        if phase is not None:
            phase("waiting for a quiet machine")
        still = wait(wait_quiet, (lambda d: phase(d)) if phase is not None else None)
        if still and on_busy is not None:
            on_busy(still)
    if phase is not None:
        phase(f"measuring {len(pairs)} model×target pair(s)", len(pairs) * p.min_rounds)
    return session.execute(pairs, p, store=_store(db), progress=progress, side_by_side=side_by_side)


def targets() -> dict[str, Any]:
    """What this machine can run and why the rest cannot (``targets``: one probe per runtime
    variant), each runtime's options, and the transports (scheme, example, options)."""
    from xcelerator.targets.registry import probe_all, runtimes, transports

    return {
        "targets": [p.__dict__ for p in probe_all()],
        "options": {
            r: {k: {"help": o.help, "choices": list(o.choices)} for k, o in s.options.items()}
            for r, s in runtimes().items()
        },
        "transports": {
            n: {"scheme": c.scheme, "example": c.example, "options": sorted(c.OPTIONS)} for n, c in transports().items()
        },
    }


def ray_devices(address: str | None = None) -> dict[str, Any]:
    """The device resources of a Ray cluster (``device:NAME``): ``devices`` (device, units, node,
    alive) and the number of ``nodes``."""
    from xcelerator.executors import make_executor

    nodes = make_executor("ray", address).ray.nodes()  # type: ignore[attr-defined]
    devs = [
        {"device": k, "units": v, "node": n["NodeManagerAddress"], "alive": n["Alive"]}
        for n in nodes
        for k, v in n.get("Resources", {}).items()
        if k.startswith("device:")
    ]
    return {"devices": devs, "nodes": len(nodes)}


def energy(csv: Any, measurement: int, t0: float, *, db: Any = "xcel.db") -> dict[str, Any]:
    """Energy per inference of a stored measurement from a Monsoon power-monitor CSV
    (``Time(ms),Main(mA),Main Voltage(V)``; ``t0``: when its time 0 was, seconds since the epoch):
    per round and the median, in mJ."""
    import statistics

    from xcelerator.errors import BadInputError
    from xcelerator.measure.energy import monsoon_mj_per_inference

    rows = dict(_store(db).measurements())
    if measurement not in rows:
        raise BadInputError(f"no measurement {measurement} in the store")
    m = rows[measurement]
    windows = m.env.get("timed_windows") or []
    if not windows:
        raise BadInputError(f"measurement {measurement} has no recorded timed windows (measured before 0.2)")
    per = [monsoon_mj_per_inference(csv, t0, a, b, int(n)) for a, b, n in windows if n]
    doc = {"measurement": measurement, "model": m.model, "target": m.target, "mj_per_inference": per}
    doc["median_mj"] = statistics.median(per)
    return doc


# ----------------------------------------------------------------------------- the store


def export_db(fmt: str = "json", out: Any = None, *, db: Any = "xcel.db") -> dict[str, Any]:
    """Everything in ``db`` as one JSON document or as CSV tables: written to ``out`` (a file for
    JSON, a folder for CSV) and listed in ``written``, or returned as ``text`` (JSON, or the
    measurements table for CSV) when ``out`` is None."""
    from pathlib import Path

    from xcelerator.errors import BadInputError
    from xcelerator.store.db import dumps, write_csv

    if fmt not in ("json", "csv"):
        raise BadInputError(f"--format {fmt!r}: expected json or csv")
    st = _store(db)
    if fmt == "json":
        text = dumps(st.export_json())
        if out is None:
            return {"text": text, "written": []}
        Path(out).write_text(text)
        return {"text": None, "written": [str(out)]}
    tables = st.export_csv()
    if out is None:
        return {"text": tables["measurements.csv"], "written": []}
    return {"text": None, "written": [str(p) for p in write_csv(tables, Path(out))]}


def import_db(src: Any, *, db: Any = "xcel.db") -> int:
    """Add the measurements of a JSON file ``xcel db export`` wrote to ``db`` (one transaction);
    returns how many."""
    import json
    from pathlib import Path

    from xcelerator.errors import BadInputError

    p = Path(src)
    if not p.exists():
        raise BadInputError(f"{p}: no such file")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInputError(f"{p}: not valid JSON ({e})") from e
    return int(_store(db).import_json(doc))


# ----------------------------------------------------------------------------- the demo


def demo(
    out: Any = "demo-out",
    *,
    quick: bool = False,
    dataset: str | None = None,
    db: Any = None,
    say: Any = None,
    show: Any = None,
    phase: Any = None,
    progress: Any = None,
) -> dict[str, Any]:
    """The end-to-end demo on built-in data (``xcelerator.demo.tour``): the zoo on every usable
    runtime, then ``optimize`` on a published Fashion-MNIST baseline measured against a MACs
    proxy's choice; its files in ``out``, its measurements in ``db``. ``say(text)``,
    ``show(kind, what)`` (``comparison``: the zoo's ``Comparison``; ``layers``: one
    ``Measurement``), ``phase(text, total)`` and ``progress(text)`` hear what it does. Returns
    what ``demo.json`` holds (``summary``, ``failed``, ``html_report``, ...)."""
    from pathlib import Path

    from xcelerator.demo.tour import Hooks, run_demo

    hooks = Hooks(say=say, show=show, phase=phase, step=progress)
    return run_demo(Path(out), quick=quick, hooks=hooks, db=_store(db), dataset=dataset)
