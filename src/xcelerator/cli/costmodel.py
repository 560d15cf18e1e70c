"""``xcel characterize`` and ``xcel costmodel fit|eval|predict|signature``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.markup import escape

from xcelerator import api
from xcelerator.cli import common
from xcelerator.cli.measure import Dims, Json, Rounds, Shapes
from xcelerator.errors import BadInputError
from xcelerator.rounds.plan import parse_rel_ci

app = typer.Typer(no_args_is_help=True, help="latency cost models: fit, evaluate, predict, signature sets")


@dataclass(frozen=True)
class CharacterizeOptions:
    """``xcel characterize``'s options (``plan()``: the corpus plan they make)."""

    seed: Annotated[int, typer.Option("--seed", help="corpus seed")] = 0
    opt: Annotated[
        list[str] | None, typer.Option("--opt", "-o", help="space option KEY=VALUE (e.g. resolution=128)")
    ] = None
    resume: Annotated[
        bool, typer.Option("--resume", help="continue a corpus already partly stored (skip what is measured)")
    ] = False
    rounds: Rounds = None
    min_time: Annotated[float | None, typer.Option("--min-time", help="seconds of timed runs per round")] = None
    rel_ci: Annotated[str, typer.Option("--rel-ci", help="stop a round at this CI half-width")] = "0.02"
    layers: Annotated[bool, typer.Option("--layers/--no-layers", help="keep per-node profiles")] = True
    executor: common.ExecutorName = "local"
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address")] = None
    in_flight: Annotated[int, typer.Option("--in-flight", help="measurements at once across devices (ray)")] = 4
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="random (the corpus in order) or active (measure where a predictor is least sure)",
        ),
    ] = "random"
    pool: Annotated[int, typer.Option("--pool", help="active: candidates exported per network measured")] = 4
    batch: Annotated[
        int | None, typer.Option("--batch", help="active: networks picked per refit (default count/10)")
    ] = None
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="zoo name or model file timed side by side with every network: labels become its ratio to "
            "this reference (one scale on a noisy machine; docs/costmodel.md)",
        ),
    ] = None
    json: Json = False

    def plan(self) -> Any:
        return api.corpus_plan(rounds=self.rounds, min_time=self.min_time, rel_ci=parse_rel_ci(self.rel_ci),
                               layers=self.layers)  # fmt: skip


def characterize(
    space: Annotated[str, typer.Option("--space", "-s", help="space to draw the corpus from (xcel space list)")],
    count: Annotated[int, typer.Option("--count", "-n", help="networks in the corpus")],
    target: Annotated[list[str], typer.Option("--target", "-t", help="target URI or alias (repeatable)")],
    opts: CharacterizeOptions = CharacterizeOptions(),
) -> None:
    """Measure a corpus of networks from a space into the store, for cost models (the `mixed`
    space spans the families users deploy)."""
    st = common.store()
    exe = common.executor(opts.executor, opts.ray_address, opts.in_flight)
    with common.progress(count * len(target), "characterize") as advance:
        res = api.characterize(
            space, count, target, db=st, plan=opts.plan(), seed=opts.seed, progress=advance,
            resume=opts.resume, options=opts.opt or [], executor=exe, strategy=opts.strategy,
            pool=opts.pool, batch=opts.batch, reference=opts.reference,
        )  # fmt: skip
    doc = {
        "strategy": res.strategy, "order": res.order, "batches": res.batches, "networks": res.networks,
        "targets": list(target), "measured": res.measured, "skipped": res.skipped, "failed": res.failed,
        "dropped": res.dropped, "unbuilt": res.unbuilt, "db": st.url,
    }  # fmt: skip
    if opts.json:
        common.emit_json(doc)
    else:
        common.out.print(
            f"{res.networks} networks × {len(target)} target(s): measured {res.measured} "
            f"({res.failed} failed), already stored {res.skipped}; db {st.url}"
        )
    for uri, why in res.dropped.items():
        common.err.print(f"[red]device out of rotation:[/red] {uri}: {why}")
    for name, why in res.unbuilt.items():
        common.err.print(f"[red]could not be exported:[/red] {name}: {escape(why)}")
    if res.failed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.command()(common.with_options(CharacterizeOptions)(characterize))


Target = Annotated[str, typer.Option("--target", "-t", help="target URI or alias whose measurements to use")]
Predictor = Annotated[str, typer.Option("--predictor", "-p", help="predictor file (JSON) from 'xcel costmodel fit'")]


def _table(rows: list[dict[str, object]], title: str) -> None:
    from rich.table import Table

    if not rows:
        return
    t = Table(title=title)
    for c in rows[0]:
        t.add_column(str(c), justify="left" if c in ("model", "method", "mode", "device", "what") else "right")
    for r in rows:
        t.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()))
    common.out.print(t)


def _metric_row(what: str, m: dict[str, float]) -> dict[str, object]:
    return {
        "what": what,
        "n": m["n"],
        "R²": m["r2"],
        "RMSE ms": m["rmse_ms"],
        "MAPE %": m["mape"],
        "±5 %": m["within5"],
        "±10 %": m["within10"],
        "Spearman": m["spearman"],
        "Kendall": m["kendall"],
    }


@app.command()
def fit(
    target: Target,
    out: Annotated[str, typer.Option("--out", "-o", help="predictor file to write (JSON)")],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            "-k",
            help="layer (the default; ensemble with --members) | ensemble (gbm + layer) | gbm | lstm | adapted",
        ),
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="for --kind adapted: the predictor of another target to carry over")
    ] = None,
    test: Annotated[float | None, typer.Option("--test", help="hold out this fraction and report on it")] = None,
    seed: Annotated[int, typer.Option("--seed", help="split and model seed")] = 0,
    members: Annotated[
        str | None,
        typer.Option(
            "--members",
            help="for --kind ensemble: its predictors, comma-separated, among gbm, layer, lstm (default gbm,layer)",
        ),
    ] = None,
    json: Json = False,
) -> None:
    """Fit a latency predictor on the store's measurements of one target."""
    from xcelerator import CostModel

    mem = [m.strip() for m in members.split(",") if m.strip()] if members is not None else None
    with common.progress(None, f"fitting {kind or 'the default predictor'}"):
        cm = CostModel.fit(common.store(), target, kind=kind, base=base, test=test, seed=seed, members=mem)
    path = cm.save(out)
    doc: dict[str, object] = {"predictor": str(path), "kind": cm.kind, "target": cm.target, "n_train": cm.n_train}
    if mem is not None:
        doc["members"] = mem
    if cm.test is not None:
        doc["test"] = cm.test
    if json:
        common.emit_json(doc)
        return
    common.out.print(f"{cm.kind} predictor fitted on {cm.n_train} measurements of {cm.target} → {path}")
    if cm.test is not None:
        _table([_metric_row("held-out", doc["test"])], "held-out measurements")  # type: ignore[arg-type]


@app.command("eval")
def eval_(
    predictor: Annotated[
        str | None, typer.Option("--predictor", "-p", help="predictor file; evaluated on the target's measurements")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="target whose measurements to evaluate on")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "--data",
            help="phones | phones-gpu (cross-device, held-out phones) | store (a --predictor on stored measurements)",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--signature-method", "--method", "-m", help="signature selection (phones)")
    ] = "greedy",
    mode: Annotated[str, typer.Option("--mode", help="learning mode (phones)")] = "stacked",
    size: Annotated[int, typer.Option("--signature-size", "--size", help="signature size (phones)")] = 10,
    folds: Annotated[int, typer.Option("--folds", help="grouped folds over devices (with --data)")] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    include_training: Annotated[
        bool, typer.Option("--include-training", help="also score the models the predictor was fitted on")
    ] = False,
    json: Json = False,
) -> None:
    """Score a predictor on stored measurements, or a cross-device method on held-out devices."""
    if data == "store":
        data = None
    if data is not None:
        if predictor is not None:
            raise BadInputError("give either --predictor (with --target) or --data, not both")
        _eval_devices(data, method, mode, size, folds, seed, json)
        return
    if predictor is None or target is None:
        raise BadInputError(
            "give --predictor FILE and --target T (--dataset store), or --dataset phones for the cross-device study"
        )
    _eval_predictor(predictor, target, include_training, json)


def _eval_devices(data: str, method: str, mode: str, size: int, folds: int, seed: int, json: bool) -> None:
    """A cross-device method on held-out devices of a shipped latency table."""
    with common.progress(folds, f"{method}/{mode}") as advance:
        doc = api.evaluate_devices(data, method=method, mode=mode, size=size, folds=folds, seed=seed, progress=advance)
    if json:
        common.emit_json(doc)
        return
    _table([_metric_row(f"{method}/{mode}", doc["metrics"])], f"{data}: held-out devices (grouped {folds}-fold)")


def _eval_predictor(predictor: str, target: str, include_training: bool, json: bool) -> None:
    """A predictor file on the store's measurements of ``target`` (those it was not fitted on)."""
    doc = api.evaluate_predictor(predictor, target, db=common.store(), include_training=include_training)
    if json:
        common.emit_json(doc)
        return
    for w in doc["condition_warnings"]:
        common.err.print(f"[yellow]warning:[/yellow] conditions differ from training: {w}")
    if doc["metrics"]:
        _table([_metric_row(doc["target"], doc["metrics"])], f"{predictor} on {len(doc['models'])} measurements")
    if len(doc["models"]) <= 30:
        _table(doc["models"], "per model")


@app.command()
def predict(
    models: Annotated[
        list[str], typer.Argument(help="model files (.onnx, or a format with an ONNX twin) or zoo names")
    ],
    predictor: Predictor,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="refuse if the predictor was fitted for another target")
    ] = None,
    layers: Annotated[int, typer.Option("--layers", help="show the N slowest kernels (layer predictor)")] = 0,
    shape: Shapes = None,
    dim: Dims = None,
    json: Json = False,
) -> None:
    """Predict a model's latency at its input shape (``--shape``/``--dim`` for dynamic ones), with
    an 80% interval and warnings."""
    from xcelerator import CostModel
    from xcelerator.rounds.plan import input_options

    cm = CostModel.load(predictor)
    if target is not None:
        cm.check_target(target)
    given = input_options(shape, dim)
    named = dict(given["shapes"])
    preds = [
        {"predictor": predictor, **cm.predict(m, shape=named or None, dims=dict(given["dims"]), layers=layers)}
        for m in models
    ]
    if json:
        # DESIGN.md's document; with one model its keys also stay at the top level, as before
        common.emit_json({**(preds[0] if len(preds) == 1 else {}), "predictions": preds})
        return
    for doc in preds:
        common.out.print(
            f"{doc['model']}: {doc['ms']:.4g} ms (80% interval {doc['low_ms']:.4g}–{doc['high_ms']:.4g}) "
            f"on {doc['target'] or 'the training target'} [{doc['kind']}]"
        )
        for w in doc["warnings"]:
            common.err.print(f"[yellow]warning:[/yellow] {w}")
        if doc["kernels"]:
            _table(
                [{"model": k["name"], "op": k["op_type"], "ms": k["ms"]} for k in doc["kernels"]],
                "slowest kernels (before calibration)",
            )


@app.command()
def signature(
    method: Annotated[
        str,
        typer.Option("--method", "-m", help="random | statistical | spearman | mutual_info | greedy | design"),
    ],
    size: Annotated[int, typer.Option("--size", "-k", help="networks in the signature set")] = 10,
    data: Annotated[str | None, typer.Option("--data", help="phones | phones-gpu")] = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="training targets in the store (repeatable)")
    ] = None,
    predictor: Annotated[
        str | None,
        typer.Option("--predictor", "-p", help="design: the predictor to carry over (its target's networks)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json: Json = False,
) -> None:
    """Choose a signature set: the networks to measure on a new device. With ``-m design -p
    FILE -t TARGET``: the networks measured on TARGET that best pin down FILE's map to a new
    target (``--kind adapted --base FILE``), chosen from its predictions alone."""
    doc = api.signature(
        method, size, data=data, targets=target or [], predictor=predictor, db=common.store(), seed=seed
    )
    if json:
        common.emit_json({k: v for k, v in doc.items() if k != "networks"})
        return
    where = (
        f"{doc['networks']} networks on {doc['devices'][0]}"
        if method == "design"
        else (f"{doc['networks']} networks, {len(doc['devices'])} devices")
    )
    _table(doc["signature"], f"signature set ({method}, {size} of {where})")


@app.command()
def sources(
    table: Annotated[
        str | None, typer.Option("--table", help="a latency table file (.json.gz); default: the one shipped")
    ] = None,
    json: Json = False,
) -> None:
    """The source columns a new device adapts from: runtime, threads, versions, machine, networks."""
    doc = api.sources(table)
    rows = doc["columns"]
    if json:
        common.emit_json(doc)
        return
    _table(
        [
            {
                "what": r["target"],
                "runtime": f"{r['runtime']} {r['runtime_version']}",
                "networks": r["networks"],
                "median ms": r["median_ms"],
                "layer profiles": r["layer_profiles"],
                "machine": r["machine"],
                "measured": r["measured"],
            }
            for r in rows
        ],
        f"latency table: {doc['networks']} networks × {len(rows)} columns",
    )


@app.command()
def adapt(
    target: Annotated[str, typer.Option("--target", "-t", help="the new target (URI or alias) to measure")],
    out: Annotated[str, typer.Option("--out", "-o", help="predictor file to write (JSON)")],
    budget: Annotated[int, typer.Option("--budget", "-n", help="signature networks to measure")] = 20,
    exclude: Annotated[
        str | None,
        typer.Option("--exclude", help="runtimes whose columns to leave out of the sources, comma-separated"),
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="a latency table file (.json.gz); default: the one shipped")
    ] = None,
    selection: Annotated[
        str, typer.Option("--selection", help="signature selection: statistical | spearman | mutual_info | random")
    ] = "statistical",
    modes: Annotated[
        str | None, typer.Option("--modes", help="learning modes to try, comma-separated (default: all)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json: Json = False,
) -> None:
    """A predictor for a new target from a few measured networks and the shipped multi-runtime
    table: picks the signature networks, measures them, keeps the learning mode with the
    smallest cross-validated error on them, writes the predictor."""
    from xcelerator import CostModel

    ex = [x.strip() for x in (exclude or "").split(",") if x.strip()]
    md = [x.strip() for x in modes.split(",") if x.strip()] if modes else None
    with common.progress(budget, f"adapting to {target}") as advance:
        cm, res = CostModel.adapt(
            target,
            budget=budget,
            exclude=ex,
            table=table,
            store=common.store(),
            selection=selection,
            modes=md,
            seed=seed,
            progress=advance,
            details=True,
        )
    path = cm.save(out)
    doc = {"predictor": str(path), **res.to_dict(), "n_train": cm.n_train}
    if json:
        common.emit_json(doc)
        return
    common.out.print(
        f"{cm.kind} predictor for {cm.target} from {len(res.signature)} measured networks "
        f"(measured in {res.measured_s:.0f} s, fitted in {res.fit_s:.0f} s), mode {res.mode} → {path}"
    )
    _table(
        [{"mode": k, "cv rms log-error": v["cv_rms_log"], "cv ±10 %": v["cv_within10"]} for k, v in res.fits.items()],
        "learning modes, cross-validated on the signature networks",
    )
    for name, why in res.failed.items():
        common.err.print(f"[yellow]signature network failed:[/yellow] {name}: {escape(why)}")
