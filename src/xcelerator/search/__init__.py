"""Architecture search on Optuna: objectives, constraints, strategies, evaluators, studies.

Once any ``xcelerator.search.*`` module is imported, Python sets ``xcelerator.search`` to this
package, over the lazily exported ``xc.search`` function; so the package itself is callable and
calls it, and ``xc.search(...)`` works whatever was imported before.
"""

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from xcelerator.api import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
