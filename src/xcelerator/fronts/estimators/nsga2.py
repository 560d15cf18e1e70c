"""``nsga2``: Optuna's NSGA-II over the digits (repeated ids answered from memory, not counted);
the budget it leaves is spent on configurations drawn at random."""

from __future__ import annotations

from typing import Any

NAME = "nsga2"
HELP = "Optuna's NSGA-II over the configuration digits"


def walk(w: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_dir = 3 if w.with_error else 2
    study = optuna.create_study(
        directions=["minimize"] * n_dir,
        sampler=optuna.samplers.NSGAIISampler(seed=w.seed, population_size=max(4, min(16, w.size // 4))),
    )
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        f"d{i}": optuna.distributions.IntDistribution(0, b - 1) for i, b in enumerate(w.space.bases)
    }
    stalls = 0
    while len(w.seen) < w.budget and stalls < 50 * w.size:
        t = study.ask(dists)
        cid = w.space.encode([t.params[f"d{i}"] for i in range(len(w.space.bases))])
        fresh = cid not in w.seen
        p = w.ev(cid)
        stalls = 0 if fresh else stalls + 1
        if p.status == "ok":
            study.tell(t, p.objectives(w.with_error)[:n_dir])
        else:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
    rest = [c for c in range(w.size) if c not in w.seen]
    while len(w.seen) < w.budget and rest:
        w.ev(rest.pop(w.rng.randrange(len(rest))))
