"""Runtime-configuration Pareto fronts (the ONE seed): spaces, noise-aware fronts, estimators.

Once any ``xcelerator.pareto.*`` module is imported, Python sets ``xcelerator.pareto`` to this
package, over the lazily exported ``xc.pareto`` function; so the package itself is callable and
calls it, and ``xc.pareto(...)`` works whatever was imported before.
"""

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from xcelerator.api import pareto

        return pareto(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
