"""``xcel``: the command line. It parses, calls the Python API and prints; nothing more.

Exit codes: 0 success, 1 the work ran and failed, 2 bad input. Errors are one line on stderr;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from xcelerator.cli import common, costmodel, db, measure, optimize, pareto, report, search, space, zoo
from xcelerator.errors import XcelError

app = typer.Typer(
    name="xcel",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="xcelerator: measure a network on real targets, predict its latency, make it fast.",
)
app.add_typer(zoo.app, name="zoo")
app.add_typer(db.app, name="db")
app.add_typer(space.app, name="space")
app.add_typer(costmodel.app, name="costmodel")
measure.register(app)
measure.register_energy(app)
space.register(app)
search.register(app)
costmodel.register(app)
report.register(app)
pareto.register(app)
optimize.register(app)


@app.callback()
def _root(
    db_url: Annotated[
        str | None, typer.Option("--db", help="database URL or SQLite path (default: XCEL_DB or ./xcel.db)")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="log progress details")] = False,
) -> None:
    common.state.db = db_url
    common.state.debug = debug or bool(os.environ.get("XCEL_DEBUG"))
    common.setup_logging(verbose)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning our errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("XCEL_DEBUG"))
    try:
        rc = app(args=args, standalone_mode=False)
        if isinstance(rc, int):
            return rc
    except XcelError as e:
        if debug:
            traceback.print_exc()
        common.err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return e.exit_code
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except typer.Abort:
        common.err.print("aborted")
        return 130
    except KeyboardInterrupt:
        common.err.print("interrupted: results stored so far are kept")
        return 130
    except Exception as e:  # click usage errors and anything unexpected
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show(file=sys.stderr)
            return int(e.exit_code)
        if debug:
            traceback.print_exc()
        common.err.print(
            f"[red]error:[/red] {type(e).__name__}: {escape(str(e))} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
