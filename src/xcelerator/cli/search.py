"""``xcel search`` and ``xcel evaluate``."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator import api
from xcelerator.cli import common


@dataclass(frozen=True)
class SearchOptions:
    """``xcel search``'s options: each overrides the ``SearchConfig`` field of the same meaning
    (from ``--config`` or the defaults) when given."""

    config: Annotated[Path | None, typer.Option("--config", help="YAML file of search settings")] = None
    space: Annotated[str | None, typer.Option("--space")] = None
    opt: Annotated[list[str] | None, typer.Option("--opt", "-o", help="space option KEY=VALUE")] = None
    objectives: Annotated[str | None, typer.Option("--objectives", help="e.g. accuracy,latency")] = None
    constraint: Annotated[
        list[str] | None,
        typer.Option("--constraint", "-c", help="latency<=5, memory<=100, accuracy>=baseline-0.005 (repeatable)"),
    ] = None
    strategy: Annotated[str | None, typer.Option("--strategy", help=", ".join(api.strategy_names("search")))] = None
    budget: Annotated[int | None, typer.Option("--budget", "--trials", help="trials in the study")] = None
    max_time: Annotated[float | None, typer.Option("--max-time", help="stop asking after S seconds")] = None
    dataset: Annotated[str | None, typer.Option("--dataset")] = None
    epochs: Annotated[int | None, typer.Option("--epochs")] = None
    inherit: Annotated[
        bool | None,
        typer.Option("--inherit/--no-inherit", help="candidates inherit the trained baseline's weights and fine-tune"),
    ] = None
    finetune_epochs: Annotated[int | None, typer.Option("--finetune-epochs")] = None
    target: Annotated[str | None, typer.Option("--target", "-t")] = None
    benchmark: Annotated[str | None, typer.Option("--benchmark", help="nasbench201 (tabular)")] = None
    study: Annotated[str | None, typer.Option("--study", help="study name (same name continues it)")] = None
    seed: Annotated[int | None, typer.Option("--seed")] = None
    out: Annotated[Path | None, typer.Option("--out", help="folder for trial models and the best one")] = None
    resume: Annotated[bool, typer.Option("--resume", help="continue the named study (must exist)")] = False
    executor: common.ExecutorName = "local"
    ray_address: common.RayAddress = None
    in_flight: Annotated[int, typer.Option("--in-flight", help="trials evaluated at once (ray)")] = 2
    cost_model: Annotated[
        str | None,
        typer.Option("--cost-model", help="a cost model for the target (xcel costmodel fit): measure when unsure"),
    ] = None
    latency: Annotated[
        str | None,
        typer.Option("--latency", help="measured | predicted | hybrid (default hybrid with --cost-model)"),
    ] = None
    json: Annotated[bool, typer.Option("--json")] = False

    def to_config(self) -> Any:
        """The ``SearchConfig`` these options make (``--config``'s file, then each given option)."""
        return api.search_settings(
            self.config, space_options=self.opt or [], space=self.space,
            objectives=self.objectives.split(",") if self.objectives else None, constraints=self.constraint,
            strategy=self.strategy, trials=self.budget, max_seconds=self.max_time, dataset=self.dataset,
            epochs=self.epochs, inherit=self.inherit, finetune_epochs=self.finetune_epochs, target=self.target,
            benchmark=self.benchmark, study=self.study, seed=self.seed, out=str(self.out) if self.out else None,
            cost_model=self.cost_model, latency=self.latency,
        )  # fmt: skip


def search(opts: SearchOptions = SearchOptions()) -> None:
    """Search a space for the best architecture under constraints (an Optuna study in the database)."""
    exe = common.executor(opts.executor, opts.ray_address, opts.in_flight)
    cfg = opts.to_config()
    st = common.store()
    with common.progress(cfg.trials, f"search {cfg.space if not cfg.benchmark else cfg.benchmark}") as advance:
        res = api.search_config(cfg, db=st, executor=exe, resume=opts.resume, progress=advance)
    doc = res.to_json()
    if res.best is not None and res.best.get("exported"):
        doc["best"]["exported"] = res.best["exported"]
    if opts.json:
        common.emit_json(doc)
    else:
        _print(res)
    if not res.feasible:
        raise typer.Exit(1)


def evaluate(
    space: Annotated[str, typer.Option("--space")],
    point: Annotated[str, typer.Option("--point", help="w=0.6,d=0.6,r=32 or a JSON object")],
    target: Annotated[str, typer.Option("--target", "-t")] = "onnxruntime?threads=1",
    dataset: Annotated[str, typer.Option("--dataset")] = "digits",
    epochs: Annotated[int, typer.Option("--epochs")] = 3,
    opt: Annotated[list[str] | None, typer.Option("--opt", "-o", help="space option KEY=VALUE")] = None,
    out: Annotated[Path, typer.Option("--out")] = Path(".xcel/evaluate"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Build, train and measure one point of a space (the aisys2021_AutoML seed's env.py)."""
    with common.err.status(f"building, training ({epochs} epochs) and measuring {point}"):
        doc = api.evaluate_point(
            space, point, target=target, dataset=dataset, epochs=epochs, options=opt or [], out=out, seed=seed,
            db=common.store(),
        )  # fmt: skip
    pt, values, attrs = doc["point"], doc["values"], doc["attrs"]
    if json:
        common.emit_json({"point": pt, "values": values, "attrs": attrs})
        return
    common.out.print(
        f"accuracy {values['accuracy']:.4f}, latency {values['latency']:.4g} ms "
        f"(CI {attrs['latency_ci'][0]:.4g}–{attrs['latency_ci'][1]:.4g}), memory "
        f"{values['memory']:.1f} MiB, {values['macs'] / 1e6:.2f} M MACs, "
        f"{values['params'] / 1e3:.1f} k params → {escape(attrs['onnx'])}"
    )


def register(app: typer.Typer) -> None:
    app.command()(common.with_options(SearchOptions)(search))
    app.command()(evaluate)


def _print(res: Any) -> None:
    t = Table(
        title=f"study {res.study}: Pareto front of feasible trials ({len(res.trials)} trials, "
        f"constraints: {', '.join(res.constraints) or 'none'})"
    )
    t.add_column("trial", justify="right")
    for o in res.objectives:
        t.add_column(o, justify="right")
    t.add_column("params")
    by = {x["number"]: x for x in res.trials}
    for n in res.pareto:
        tr = by[n]
        t.add_row(
            str(n) + (" (baseline)" if tr["user_attrs"].get("role") == "baseline" else ""),
            *(f"{v:.4g}" for v in tr["values"]),
            escape(jsonlib.dumps(tr["params"])),
        )
    common.out.print(t)
    failed = [x for x in res.trials if x["state"] == "FAIL"]
    if failed:
        common.err.print(
            f"{len(failed)} trial(s) failed, e.g. #{failed[0]['number']}: "
            f"{escape(str(failed[0]['user_attrs'].get('error', '?')))}"
        )
    if res.best is None:
        common.err.print("[red]no architecture satisfies the constraints[/red]; closest:")
        for c in res.closest:
            common.err.print(
                f"  trial {c['number']}: {escape(jsonlib.dumps(c['params']))} violations "
                f"{escape(jsonlib.dumps(c['violations']))}"
            )
    else:
        b = res.best
        common.out.print(
            f"best feasible: trial {b['number']} {escape(jsonlib.dumps(b['objectives']))}"
            + (f" → {escape(b['exported'])}" if b.get("exported") else "")
        )
