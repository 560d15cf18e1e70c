"""The user's own functions, named as ``path/to/file.py:function`` (or ``package.module:function``).

A file is imported under a private module name, so two files called ``model.py`` do not clash,
and registered with cloudpickle by value, so Ray workers that cannot import it still get it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError


def _by_value(mod: Any) -> None:
    """Ray workers get the user's file by value (they cannot import it by its private name).
    Ray vendors its own cloudpickle, so both registries are told. Objects that pickle by
    reference regardless (e.g. ``functools.cache`` wrappers) still need the file importable."""
    for name in ("cloudpickle", "ray.cloudpickle"):
        try:
            cp = importlib.import_module(name)
            cp.register_pickle_by_value(mod)
        except (ImportError, ValueError):  # Ray not installed: nothing to tell
            pass


def load_ref(ref: str, what: str) -> Callable[..., Any]:
    """The function ``ref`` names; ``BadInputError`` naming ``what`` (e.g. ``--train``) when it
    cannot be imported or is not callable."""
    mod_part, sep, fn_name = ref.rpartition(":")
    if not sep or not mod_part or not fn_name:
        raise BadInputError(f"{what} {ref!r}: expected FILE.py:FUNCTION or package.module:FUNCTION")
    if mod_part.endswith(".py") or "/" in mod_part:
        path = Path(mod_part)
        if not path.is_file():
            raise BadInputError(f"{what} {ref!r}: no such file {path}")
        name = "xcel_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10] + "_" + path.stem
        mod = sys.modules.get(name)
        if mod is None:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise BadInputError(f"{what} {ref!r}: {path} is not a Python file")
            mod = importlib.util.module_from_spec(spec)
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # the file's own imports of its neighbours
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except Exception as e:
                sys.modules.pop(name, None)
                raise BadInputError(f"{what} {ref!r}: importing {path} raised {type(e).__name__}: {e}") from None
            _by_value(mod)
    else:
        try:
            mod = importlib.import_module(mod_part)
        except Exception as e:
            raise BadInputError(f"{what} {ref!r}: cannot import {mod_part} ({type(e).__name__}: {e})") from None
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise BadInputError(f"{what} {ref!r}: {mod_part} has no {fn_name}")
    if not callable(fn):
        raise BadInputError(f"{what} {ref!r}: {fn_name} is a {type(fn).__name__}, not a function")
    return fn  # type: ignore[no-any-return]
