"""Architecture search on Optuna: objectives, constraints, strategies, evaluators, studies."""
