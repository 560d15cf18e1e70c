"""``xcel db export|import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xcelerator import api
from xcelerator.cli import common

app = typer.Typer(help="The store: export and import measurements.", no_args_is_help=True)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="file (json) or folder (csv); default stdout")] = None,
) -> None:
    """Everything in the store, as one JSON document or as CSV tables."""
    doc = api.export_db(fmt, out, db=common.store())
    if doc["text"] is not None:
        print(doc["text"], end="" if fmt == "csv" else "\n")
    for p in doc["written"]:
        common.err.print(f"wrote {p}")


@app.command("import")
def import_(src: Annotated[Path, typer.Argument(help="a JSON file written by `xcel db export`")]) -> None:
    """Add the measurements of an export to this store (one transaction)."""
    n = api.import_db(src, db=common.store())
    common.err.print(f"imported {n} measurement(s)")
