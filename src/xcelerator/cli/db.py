"""``xcel db export|import``."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from xcelerator.cli import common
from xcelerator.errors import BadInputError

app = typer.Typer(help="The store: export and import measurements.", no_args_is_help=True)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="file (json) or folder (csv); default stdout")] = None,
) -> None:
    """Everything in the store, as one JSON document or as CSV tables."""
    from xcelerator.store.db import dumps, write_csv

    if fmt not in ("json", "csv"):
        raise BadInputError(f"--format {fmt!r}: expected json or csv")
    st = common.store()
    if fmt == "json":
        text = dumps(st.export_json())
        if out is None:
            print(text)
        else:
            out.write_text(text)
            common.err.print(f"wrote {out}")
        return
    tables = st.export_csv()
    if out is None:
        print(tables["measurements.csv"], end="")
        return
    for p in write_csv(tables, out):
        common.err.print(f"wrote {p}")


@app.command("import")
def import_(src: Annotated[Path, typer.Argument(help="a JSON file written by `xcel db export`")]) -> None:
    """Add the measurements of an export to this store (one transaction)."""
    if not src.exists():
        raise BadInputError(f"{src}: no such file")
    try:
        doc = jsonlib.loads(src.read_text())
    except (jsonlib.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInputError(f"{src}: not valid JSON ({e})") from e
    n = common.store().import_json(doc)
    common.err.print(f"imported {n} measurement(s)")
