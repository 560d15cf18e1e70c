"""Shared CLI pieces: consoles (stderr for humans, stdout for --json), the store, progress."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import math
import os
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
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
    from xcelerator import api

    return api.open_store(state.db)


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
    """A Rich progress bar on stderr; yields ``advance(description)`` (one step done), whose
    ``advance.phase(description, total)`` starts a new phase of ``total`` steps."""
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

        class Advance:
            def __call__(self, desc: str) -> None:
                p.update(task, description=desc[:70])
                p.advance(task)

            def phase(self, desc: str, total: int | None = None) -> None:
                """A new phase: its description, and the steps it will take when known."""
                p.update(task, description=desc[:70], total=total, completed=0)

        yield Advance()


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )


ExecutorName = Annotated[str, typer.Option("--executor", help="local | ray")]
RayAddress = Annotated[
    str | None, typer.Option("--ray-address", help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
]


def executor(name: str, address: str | None, in_flight: int) -> Any:
    """The executor ``--executor NAME --ray-address A --in-flight N`` names (one task at a time
    unless it schedules on a cluster)."""
    from xcelerator import api

    return api.make_executor(name, address, in_flight)


def with_options(options: type, name: str = "opts") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options shared by several commands, declared once: the fields of the dataclass
    ``options`` (each an ``Annotated`` Typer option with its default) are added to the decorated
    command's parameters, and the command receives them as one ``options`` object in its
    parameter ``name``. Typer reads a command's parameters from its signature; this rewrites
    the signature rather than adding a dependency for option groups."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(fn).parameters.values() if p.name != name]
        shared_hints = typing.get_type_hints(options, include_extras=True)
        shared = [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=shared_hints[f.name]
            )
            for f in dataclasses.fields(options)
        ]

        @functools.wraps(fn)
        def command(**kw: Any) -> Any:
            opts = options(**{f.name: kw.pop(f.name) for f in dataclasses.fields(options)})
            return fn(**kw, **{name: opts})

        del command.__wrapped__  # Typer reads the signature below, not the function's own
        params = [*own, *shared]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
