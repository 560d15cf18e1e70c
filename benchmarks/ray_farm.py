"""Ray executor benchmarks; writes the ``ray`` section of BENCHMARKS.md.

    python benchmarks/ray_farm.py [--networks 16] [--trials 24] [--delay 0.5]

A local Ray instance on this machine with simulated devices (custom resources ``device:a`` and
``device:b``, each an ONNX Runtime target pinned to one thread):

1. characterization throughput (measurements per minute) of a small mobilegen corpus with one
   device, then with two devices (the same corpus on each);
2. scheduling overhead per task: a no-op task submitted and collected, Ray against the local
   executor, over 300 tasks;
3. search: wall time of the NAS-Bench-201 tabular benchmark with a simulated evaluation time,
   ``--trials`` trials with 1 and 2 in flight, against the ideal (trials × delay / in flight).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from benchmarks.profiler import write_section  # noqa: E402

OPTS = {"resolution": 96, "macs_min": 5e6, "macs_max": 6e7}


def noop(x: int) -> int:
    return x


def overhead(exe, n: int = 300) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    hs = [exe.submit(i, noop, i) for i in range(n)]
    pending = list(hs)
    while pending:
        done = exe.wait(pending)
        for h in done:
            exe.result(h)
        pending = [h for h in pending if h not in done]
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=16)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    import ray

    from xcelerator.costmodel.characterize import CORPUS_PLAN, characterize, corpus
    from xcelerator.executors import LocalExecutor, RayExecutor
    from xcelerator.nas.evaluators import NasBench201Table
    from xcelerator.nas.study import SearchConfig, run_search
    from xcelerator.store.db import Store

    plan = CORPUS_PLAN.replace(min_rounds=1, max_rounds=1, layers=False)
    corpus("mobilegen", args.networks, options=OPTS)  # export once, outside the timings
    ray.init(num_cpus=2, resources={"device:a": 1, "device:b": 1}, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tput = {}
        for ndev in (1, 2):
            st = Store(str(Path(tmp) / f"c{ndev}.db"))
            targets = [f"onnxruntime?threads=1&resource={d}" for d in "ab"[:ndev]]
            t0 = time.perf_counter()
            r = characterize(
                "mobilegen", args.networks, targets, st, plan=plan, options=OPTS, executor=RayExecutor(max_in_flight=4)
            )
            wall = time.perf_counter() - t0
            tput[ndev] = r.measured / wall * 60
            rows.append(
                f"| characterize, {ndev} device(s) | {r.measured} measurements | {wall:.1f} s | {tput[ndev]:.1f}/min |"
            )
        ov_ray = statistics.median(overhead(RayExecutor(max_in_flight=64)) for _ in range(3))
        ov_loc = statistics.median(overhead(LocalExecutor(1)) for _ in range(3))
        search = {}
        for k in (1, 2):
            cfg = SearchConfig(
                benchmark="nasbench201", objectives=["accuracy", "latency"], strategy="tpe", trials=args.trials, seed=0
            )
            cfg.study = f"nb-{k}"
            t0 = time.perf_counter()
            run_search(
                cfg,
                f"sqlite:///{Path(tmp) / 'search.db'}",
                evaluator=NasBench201Table("cifar10", 0, delay=args.delay),
                executor=RayExecutor(max_in_flight=k),
            )
            search[k] = time.perf_counter() - t0
    ray.shutdown()
    # the baseline alone, then the rest k at a time
    ideal = {k: args.delay + (args.trials - 1) * args.delay / k for k in (1, 2)}
    body = "\n".join(
        [
            "## Ray executor",
            "",
            "A local Ray instance (2 CPUs) with two simulated devices, each ONNX Runtime pinned to one thread.",
            "",
            "| run | work | wall | throughput |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Two devices measure {tput[2] / tput[1]:.2f}× as fast as one (ideal 2×; the two share this "
            "machine's 2 cores with the driver).",
            "",
            f"Scheduling overhead per task (no-op submit and collect, median of 3 × 300): Ray {ov_ray:.2f} ms, "
            f"local executor {ov_loc:.3f} ms.",
            "",
            f"Search, NAS-Bench-201 table with {args.delay} s simulated evaluation, {args.trials} trials "
            "(the baseline runs alone first):",
            "",
            "| trials in flight | wall s | ideal s | efficiency |",
            "|---:|---:|---:|---:|",
            *[f"| {k} | {search[k]:.1f} | {ideal[k]:.1f} | {100 * ideal[k] / search[k]:.0f} % |" for k in (1, 2)],
            "",
        ]
    )
    write_section(Path(args.out), "ray", body)
    print(body)


if __name__ == "__main__":
    main()
