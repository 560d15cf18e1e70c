"""Architecture search on Optuna: objectives, constraints, strategies, evaluators, studies.
The package is callable: ``xc.search(...)`` works whatever was imported before (``_callable``)."""

from xcelerator._callable import make_callable

make_callable(__name__, "search")
