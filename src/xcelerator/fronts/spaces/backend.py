"""``backend``: op types × backends (or flags) of a command target (``fronts.space.BackendSpace``)."""

from __future__ import annotations

from typing import Any

from xcelerator.errors import BadInputError

NAME = "backend"
HELP = "each op type on one of a command target's backends, or its flags"


def make(art: Any, target: str, options: Any) -> Any:
    from xcelerator.fronts.space import BackendSpace
    from xcelerator.targets.transports.command import get_command

    if not target.startswith("cmd:"):
        raise BadInputError("space backend: needs a command target (-t cmd:NAME, declared in xcel-targets.yaml)")
    get_command(target[4:])  # unknown name: say so before anything runs
    fl = None
    if options.flags:
        fl = {}
        for f in options.flags:
            k, sep, v = f.partition("=")
            if not sep or not v:
                raise BadInputError(f"--flag {f!r}: expected NAME=VALUE1,VALUE2")
            fl[k] = v.split(",")
    return BackendSpace(art, target[4:], backends=list(options.backends), flags=fl)
