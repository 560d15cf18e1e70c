"""Errors that the command line turns into one line and an exit code.

``BadInputError`` (exit 2): the user asked for something that cannot be done as asked
(missing or corrupt file, unknown target or option, bad config).
``RunFailedError`` (exit 1): the input was fine but the work ran and failed.
"""

from __future__ import annotations


class XcelError(Exception):
    """Base of the errors xcelerator reports to users."""

    exit_code = 1


class BadInputError(XcelError):
    exit_code = 2


class RunFailedError(XcelError):
    exit_code = 1


class MissingDependencyError(BadInputError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, module: str, extra: str, what: str) -> None:
        super().__init__(
            f"{what} needs the Python package '{module}', which is not installed: pip install 'xcelerator[{extra}]'"
        )
