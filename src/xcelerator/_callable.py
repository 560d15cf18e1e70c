"""Keep ``xc.search`` and ``xc.pareto`` callable once their packages are imported.

Importing ``xcelerator.search.problem`` makes Python set ``xcelerator.search`` to the package,
over the lazily exported function of the same name; so such a package is made callable, and a
call goes to the function in ``xcelerator.api``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(package: str, function: str) -> None:
    """Calling the module ``package`` calls ``xcelerator.api.<function>``."""

    class _CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module("xcelerator.api"), function)(*args, **kwargs)

    sys.modules[package].__class__ = _CallablePackage
