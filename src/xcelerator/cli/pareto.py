"""``xcel pareto``: the Pareto front of how one model runs (backend, precision, runtime options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator.cli import common
from xcelerator.cli.measure import Dims, Fills, Shapes
from xcelerator.errors import BadInputError

SPACES = ("quantize", "runtime-options", "backend", "placement")


def make_space(
    space: str,
    model: str,
    target: str,
    mode: str,
    max_keys: int | None,
    calibration: str | None,
    backends: str,
    flags: list[str] | None,
):  # type: ignore[no-untyped-def]
    from xcelerator.models.artifact import is_model_file, load_artifact
    from xcelerator.pareto.space import BackendSpace, QuantizeSpace, RuntimeOptionsSpace, placement_space

    if is_model_file(model):
        art = load_artifact(model)
    else:
        from xcelerator.models.export import resolve_model

        art = resolve_model(model, "onnx")
    if space == "quantize":
        if target.startswith("cmd:"):
            raise BadInputError("space quantize: measures with our runner; give an onnxruntime or openvino target")
        return QuantizeSpace(art, target, mode=mode, max_keys=max_keys, calibration=calibration)
    if space == "runtime-options":
        return RuntimeOptionsSpace(art)
    if space == "backend":
        if not target.startswith("cmd:"):
            raise BadInputError("space backend: needs a command target (-t cmd:NAME, declared in xcel-targets.yaml)")
        from xcelerator.targets.transports.command import get_command

        get_command(target[4:])  # unknown name: say so before anything runs
        fl = None
        if flags:
            fl = {}
            for f in flags:
                k, sep, v = f.partition("=")
                if not sep or not v:
                    raise BadInputError(f"--flag {f!r}: expected NAME=VALUE1,VALUE2")
                fl[k] = v.split(",")
        return BackendSpace(art, target[4:], backends=backends.split(","), flags=fl)
    if space == "placement":
        return placement_space(art)
    raise BadInputError(f"--space {space!r}: known spaces are {', '.join(SPACES)}")


def register(app: typer.Typer) -> None:
    @app.command()
    def pareto(
        model: Annotated[str, typer.Argument(help="model file (.onnx) or zoo name")],
        space: Annotated[str, typer.Option("--space", "-s", help=" | ".join(SPACES))] = "quantize",
        strategy: Annotated[str, typer.Option("--strategy", "-e", help="corners | brute | random | hlps | nsga2")] = (
            "corners"
        ),
        budget: Annotated[int, typer.Option("--budget", "-n", help="configurations to measure at most")] = 16,
        target: Annotated[str, typer.Option("--target", "-t")] = "onnxruntime?threads=1",
        out: Annotated[Path, typer.Option("--out", "-o", help="the front as the seed's JSON (plus ours)")] = Path(
            "pareto.json"
        ),
        mode: Annotated[str, typer.Option("--mode", help="name (op types) | index (op type and tensor size)")] = "name",
        max_keys: Annotated[int | None, typer.Option("--max-keys", help="quantize: the K heaviest groups")] = None,
        calibration: Annotated[
            str | None, typer.Option("--calibration", help="quantize: .npz of inputs for static QDQ")
        ] = None,
        data: Annotated[str | None, typer.Option("--data", help=".npz with x (and y): accuracy drop")] = None,
        backends: Annotated[str, typer.Option("--backends", help="backend space: choices, e.g. cpu,acl_cl")] = (
            "cpu,acl_cl"
        ),
        flag: Annotated[
            list[str] | None, typer.Option("--flag", help="backend space over flags: NAME=V1,V2 (repeatable)")
        ] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        shape: Shapes = None,
        dim: Dims = None,
        fill: Fills = None,
        json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Estimate the Pareto front of execution time and peak memory (and output error) over
        configurations of one model; each configuration measured on the target."""
        from xcelerator.pareto.core import FrontDoc, front, run_estimator
        from xcelerator.pareto.evaluate import ConfigEvaluator

        sp = make_space(space, model, target, mode, max_keys, calibration, backends, flag)
        from xcelerator.measure.plan import input_options
        from xcelerator.pareto.evaluate import PARETO_PLAN

        plan = PARETO_PLAN.replace(**input_options(shape, dim, fill))
        ev = ConfigEvaluator(sp, plan=plan, store=common.store(), data=data)
        points: list = []
        doc = FrontDoc(
            mode=sp.mode,
            oplist=sp.oplist,
            points=points,
            space=sp.name,
            target=target,
            model=model,
            estimator=strategy,
            budget=budget,
            size=sp.size,
            choices=sp.choices,
            with_error=ev.with_error,
        )

        def keep(cid: int):  # type: ignore[no-untyped-def]
            p = ev(cid)
            points.append(p)
            doc.save(out)  # every measured point is on disk at once: an interruption keeps them
            return p

        try:
            with common.progress(min(budget, sp.size), f"pareto {sp.name} ({sp.size} configurations)") as advance:
                run_estimator(strategy, sp, keep, budget, seed=seed, with_error=ev.with_error, progress=advance)
        finally:
            if points:
                doc.save(out)
        fr = front(points, ev.with_error)
        measured = [p for p in points if p.status == "ok"]
        if json:
            common.emit_json(doc.to_json())
            if not measured:
                raise typer.Exit(1)  # every configuration failed: the work ran and produced nothing
            return
        t = Table(title=f"Pareto front: {len(fr)} of {len(points)} measured ({sp.size} in the space) → {out}")
        for c in ("id", "ms", "95% CI", "peak RSS MiB", *(["output error"] if ev.with_error else []), "setting"):
            t.add_column(c, justify="left" if c == "setting" else "right")
        for p in sorted(fr, key=lambda p: p.exec_time):
            t.add_row(
                str(p.id),
                f"{p.exec_time:.4g}",
                f"{p.ci_low:.4g}–{p.ci_high:.4g}",
                f"{p.max_rss / 1024:.1f}",
                *([f"{p.error:.2e}"] if ev.with_error else []),
                escape(p.setting),
            )
        common.out.print(t)
        failed = [p for p in points if p.status != "ok"]
        if failed:
            common.err.print(f"{len(failed)} configuration(s) failed, e.g. id {failed[0].id}: {escape(failed[0].note)}")
        if not measured:
            common.err.print(f"[red]no configuration was measured ({len(points)} tried, all failed)[/red]")
            raise typer.Exit(1)
