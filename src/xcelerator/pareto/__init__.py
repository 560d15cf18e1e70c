"""Runtime-configuration Pareto fronts (the ONE seed): spaces, noise-aware fronts, estimators.
The package is callable: ``xc.pareto(...)`` works whatever was imported before (``_callable``)."""

from xcelerator._callable import make_callable

make_callable(__name__, "pareto")
