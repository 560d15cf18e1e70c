"""Shared CLI pieces: consoles (stderr for humans, stdout for --json), the store, progress."""

from __future__ import annotations

import json
import logging
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


def emit_json(doc: Any) -> None:
    """The one JSON document on stdout."""
    print(json.dumps(doc, indent=1, default=str))


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
