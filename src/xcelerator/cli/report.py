"""``xcel report`` (a self-contained HTML file and PNGs) and ``xcel dashboard`` (optuna-dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xcelerator import api
from xcelerator.cli import common


def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.html, PNGs and records.json")] = Path(
        "xcel-report"
    ),
    study: Annotated[list[str] | None, typer.Option("--study", help="a study in the database (repeatable)")] = None,
    measurements: Annotated[
        bool, typer.Option("--measurements", help="the latest stored measurements (see --model, --target, --last)")
    ] = False,
    model: Annotated[str | None, typer.Option("--model", help="only measurements of this model")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="target filter / predictor target")] = None,
    last: Annotated[int, typer.Option("--last", help="the latest N measurements")] = 10_000,
    detail: Annotated[int, typer.Option("--detail", help="distributions and layers of the latest N measurements")] = 6,
    predictor: Annotated[
        str | None, typer.Option("--predictor", "-p", help="a predictor scored on --target's measurements")
    ] = None,
    include_training: Annotated[bool, typer.Option("--include-training")] = False,
    data: Annotated[str | None, typer.Option("--data", help="cross-device study: phones | phones-gpu")] = None,
    pareto: Annotated[
        list[str] | None, typer.Option("--pareto", help="a front written by xcel pareto --out (repeatable)")
    ] = None,
    method: Annotated[str, typer.Option("--method", "-m")] = "spearman",
    mode: Annotated[str, typer.Option("--mode")] = "stacked",
    size: Annotated[int, typer.Option("--size")] = 10,
    title: Annotated[str, typer.Option("--title")] = "xcelerator report",
    png: Annotated[bool, typer.Option("--png/--no-png", help="also write PNGs (matplotlib)")] = True,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write a self-contained HTML report (works offline) and PNGs."""
    with common.err.status("drawing"):
        res = api.report(
            out, db=common.store(), studies=study or [], measurements=measurements, model=model, target=target,
            last=last, detail=detail, predictor=predictor, include_training=include_training, data=data,
            pareto=pareto or [], method=method, mode=mode, size=size, title=title, png=png,
        )  # fmt: skip
    if json:
        common.emit_json(res)
        return
    common.out.print(
        f"report: {res['html']} ({res['bytes'] / 1e6:.1f} MB, {len(res['figures'])} figures, "
        f"{len(res['notes'])} notes, {len(res['pngs'])} PNGs)"
    )


def dashboard(
    host: Annotated[str, typer.Option("--host", help="address to bind (keep it private)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
) -> None:
    """Serve optuna-dashboard on the project database (live studies)."""
    try:
        import optuna_dashboard
    except ImportError:
        from xcelerator.errors import MissingDependencyError

        raise MissingDependencyError("optuna_dashboard", "report", "xcel dashboard") from None
    st = common.store()
    common.err.print(f"optuna-dashboard on http://{host}:{port}/ for {st.url} (Ctrl-C stops it)")
    optuna_dashboard.run_server(st.url, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(dashboard)
