"""Runtime-configuration Pareto fronts (the ONE seed): spaces, noise-aware fronts, estimators
(``xc.pareto`` and ``xcel pareto`` call it through ``xcelerator.api``)."""
