"""``xcel zoo list|export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xcelerator import api
from xcelerator.cli import common
from xcelerator.models.graphstats import human

app = typer.Typer(help="The built-in model zoo (fake, seeded weights; nothing downloaded).", no_args_is_help=True)


@app.command("list")
def list_(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Zoo families and their options."""
    rows = api.zoo_models()
    if json:
        common.emit_json({"models": rows})
        return
    t = Table(title="model zoo")
    for c in ("family", "example name", "widths", "description"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["family"], r["example"], ", ".join(f"{w:g}" for w in r["widths"]) or "-", r["description"])
    common.out.print(t)
    common.err.print(
        "image models take --resolution (multiple of 8, 32..512; seed values 96..224); text models take --seq-len"
    )


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="zoo name, e.g. mobilenet_v2 or mobilenet_v2_0.5_128")],
    out: Annotated[Path, typer.Option("--out", help="output file")],
    width: Annotated[float | None, typer.Option("--width")] = None,
    resolution: Annotated[int | None, typer.Option("--resolution")] = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="onnx, tflite, openvino or torch (default: from --out)")
    ] = None,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Export a zoo model (ONNX; TFLite when a converter is installed; OpenVINO IR; torch .pt2)."""
    with common.err.status(f"exporting {name}"):
        a = api.export_zoo(name, out, fmt=fmt, width=width, resolution=resolution, seq_len=seq_len)
    if json:
        common.emit_json({"artifact": a.to_dict()})
        return
    s = a.stats
    common.out.print(
        f"{a.name} → {out} ({a.format}, sha256 {a.sha256[:12]})"
        + (f": {human(s.macs)} MACs, {human(s.params)} params, {s.node_count} nodes" if s else "")
    )
