"""``xcel pareto``: the Pareto front of how one model runs (backend, precision, runtime options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator import api
from xcelerator.cli import common
from xcelerator.cli.measure import Dims, Fills, Shapes


@dataclass(frozen=True)
class ParetoOptions:
    """``xcel pareto``'s options (``run_options()``: the keywords of ``api.pareto``)."""

    space: Annotated[str, typer.Option("--space", "-s", help=" | ".join(api.pareto_spaces()))] = "quantize"
    strategy: Annotated[str, typer.Option("--strategy", "-e", help="corners | brute | random | hlps | nsga2")] = (
        "corners"
    )
    budget: Annotated[int, typer.Option("--budget", "-n", help="configurations to measure at most")] = 16
    target: Annotated[str, typer.Option("--target", "-t")] = "onnxruntime?threads=1"
    out: Annotated[Path, typer.Option("--out", "-o", help="the front as the seed's JSON (plus ours)")] = Path(
        "pareto.json"
    )
    mode: Annotated[str, typer.Option("--mode", help="name (op types) | index (op type and tensor size)")] = "name"
    max_keys: Annotated[int | None, typer.Option("--max-keys", help="quantize: the K heaviest groups")] = None
    calibration: Annotated[
        str | None, typer.Option("--calibration", help="quantize: .npz of inputs for static QDQ")
    ] = None
    data: Annotated[str | None, typer.Option("--data", help=".npz with x (and y): accuracy drop")] = None
    backends: Annotated[str, typer.Option("--backends", help="backend space: choices, e.g. cpu,acl_cl")] = "cpu,acl_cl"
    flag: Annotated[
        list[str] | None, typer.Option("--flag", help="backend space over flags: NAME=V1,V2 (repeatable)")
    ] = None
    seed: Annotated[int, typer.Option("--seed")] = 0
    shape: Shapes = None
    dim: Dims = None
    fill: Fills = None
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm/--no-confirm",
            help="measure the points near the front again side by side before declaring it (default on)",
        ),
    ] = True
    json: Annotated[bool, typer.Option("--json")] = False

    def run_options(self) -> dict[str, Any]:
        return {
            "space": self.space, "strategy": self.strategy, "budget": self.budget, "out": self.out,
            "mode": self.mode, "max_keys": self.max_keys, "calibration": self.calibration, "data": self.data,
            "backends": self.backends, "flags": self.flag, "seed": self.seed, "confirm": self.confirm,
            "shape": self.shape, "dim": self.dim, "fill": self.fill,
        }  # fmt: skip


def pareto(
    model: Annotated[str, typer.Argument(help="model file (.onnx) or zoo name")],
    opts: ParetoOptions = ParetoOptions(),
) -> None:
    """Estimate the Pareto front of execution time and peak memory (and output error) over
    configurations of one model; each configuration measured on the target."""
    with common.progress(opts.budget, f"pareto {opts.space}") as advance:
        doc = api.pareto(model, opts.target, db=common.store(), progress=advance, **opts.run_options())
    if opts.json:
        common.emit_json(doc.to_json())
        if not any(p.status == "ok" for p in doc.points):
            raise typer.Exit(1)  # every configuration failed: the work ran and produced nothing
        return
    _print_front(doc, opts.out)


def _print_front(doc: Any, out: Path) -> None:
    points = doc.points
    fr = doc.front()
    measured = [p for p in points if p.status == "ok"]
    t = Table(title=f"Pareto front: {len(fr)} of {len(points)} measured ({doc.size} in the space) → {out}")
    for c in ("id", "ms", "95% CI", "confirmed", "peak RSS MiB", *(["output error"] if doc.with_error else []),
              "setting"):  # fmt: skip
        t.add_column(c, justify="left" if c == "setting" else "right")
    for p in sorted(fr, key=lambda p: p.exec_time):
        t.add_row(
            str(p.id),
            f"{p.exec_time:.4g}",
            f"{p.ci_low:.4g}–{p.ci_high:.4g}",
            "side by side" if p.confirmed else "-",
            f"{p.max_rss / 1024:.1f}",
            *([f"{p.error:.2e}"] if doc.with_error else []),
            escape(p.setting),
        )
    common.out.print(t)
    failed = [p for p in points if p.status != "ok"]
    if failed:
        common.err.print(f"{len(failed)} configuration(s) failed, e.g. id {failed[0].id}: {escape(failed[0].note)}")
    if not measured:
        common.err.print(f"[red]no configuration was measured ({len(points)} tried, all failed)[/red]")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(common.with_options(ParetoOptions)(pareto))
