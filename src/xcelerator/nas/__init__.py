"""Architecture search on Optuna: objectives, constraints, strategies, evaluators, studies
(``xc.search`` and ``xcel search`` call it through ``xcelerator.api``)."""
