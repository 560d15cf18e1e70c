"""Runtime-configuration Pareto fronts (the ONE seed): spaces, noise-aware fronts, estimators."""
