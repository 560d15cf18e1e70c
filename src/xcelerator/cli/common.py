"""Shared CLI pieces: consoles (stderr for humans, stdout for --json), the store, progress."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def _width(stream: object) -> int | None:
    if os.environ.get("COLUMNS"):
        return int(os.environ["COLUMNS"])
    return None if getattr(stream, "isatty", lambda: False)() else 150


err = Console(stderr=True, width=_width(sys.stderr))
out = Console(width=_width(sys.stdout))


class State:
    db: str | None = None
    debug: bool = False


state = State()


def store() -> Any:
    from xcelerator.store.db import Store

    return Store(state.db)


def strict(doc: Any) -> Any:
    """``doc`` with every NaN or infinity as ``None`` (JSON has neither)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: strict(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [strict(v) for v in doc]
    return doc


def emit_json(doc: Any) -> None:
    """The one JSON document on stdout: strict JSON (no NaN, no Infinity: null)."""
    print(json.dumps(strict(doc), indent=1, default=str, allow_nan=False))


@contextmanager
def progress(total: int | None, what: str) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields ``advance(description)``."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=not err.is_terminal,
    ) as p:
        task = p.add_task(what, total=total)

        def advance(desc: str) -> None:
            p.update(task, description=desc[:70])
            p.advance(task)

        yield advance


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )
