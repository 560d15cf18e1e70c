"""Predict, then measure when unsure: hybrid search against measuring every candidate; writes
the ``hybrid`` section of BENCHMARKS.md.

    python benchmarks/hybrid.py [--budget 24] [--seeds 3] [--corpus 40] [--epochs 1]

1. A cost model of the target for the search space: ``xcel characterize`` of ``--corpus``
   networks of the space (seed 100, not the search's draws), a GBM fitted on them.
2. For each seed, the same search (``scaling`` around ``tiny_convnet`` on digits, accuracy and
   latency, TPE, ``--budget`` trials) with ``--latency measured`` and ``--latency hybrid``.
3. Every front point of every run is measured again in one interleaved session (the same plan
   for all), and each run's hypervolume of (error, latency) is computed from those latencies
   against one reference point (1.1 × the largest error and latency over all fronts), so both
   modes are scored on the same measurements. Reported: device measurements each mode used,
   and the hypervolume of hybrid over measured, per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from _record import write_section  # noqa: E402

import xcelerator as xc  # noqa: E402
from xcelerator.costmodel.characterize import CORPUS_PLAN, characterize  # noqa: E402
from xcelerator.measure.core import measure_many  # noqa: E402
from xcelerator.models.artifact import load_artifact  # noqa: E402
from xcelerator.nas.problem import hypervolume_2d  # noqa: E402
from xcelerator.rounds.plan import Plan  # noqa: E402
from xcelerator.store.db import Store  # noqa: E402
from xcelerator.targets.registry import parse_target  # noqa: E402

TARGET = "onnxruntime?threads=1"
OPTS = {"base": "tiny_convnet", "w_max": 1.0, "d_max": 1.0, "r_min": 8, "r_max": 32, "r_step": 8}
REMEASURE = Plan(min_rounds=3, max_rounds=3, min_seconds=0.3, max_seconds=0.6, warmup_runs=5)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=24)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--corpus", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xcel-hybrid-"))
    store = Store(str(work / "cm.db"))
    t0 = time.time()
    characterize("scaling", args.corpus, [TARGET], store, plan=CORPUS_PLAN, seed=100, options=OPTS)
    cm = xc.CostModel.fit(store, TARGET, kind="gbm")
    cm_path = cm.save(work / "cm.json")
    log(f"cost model: {args.corpus} networks in {time.time() - t0:.0f} s")
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for seed in range(args.seeds):
        for mode in ("measured", "hybrid"):
            t = time.time()
            res = xc.search(
                "scaling",
                target=TARGET,
                objectives=("accuracy", "latency"),
                budget=args.budget,
                dataset="digits",
                epochs=args.epochs,
                db=str(work / f"{mode}-{seed}.db"),
                out=str(work / f"{mode}-{seed}"),
                seed=seed,
                space_options=OPTS,
                latency=mode,
                cost_model=str(cm_path) if mode == "hybrid" else None,
            )
            done = [x for x in res.trials if x["state"] == "COMPLETE"]
            # a trial that drew an architecture already evaluated reuses its result: no measurement
            firsts = [x for x in done if x["user_attrs"].get("repeat_of") is None]
            measured = sum(x["user_attrs"].get("latency_source", "measured") == "measured" for x in firsts)
            confirmed = (res.latency or {}).get("confirmed", 0)
            front = [x for x in done if x["number"] in res.pareto]
            runs[(mode, seed)] = {
                "measured": measured,
                "confirmed": confirmed,
                "distinct": len(firsts),
                "trials": len(done),
                "front": [(x["number"], x["user_attrs"]["onnx"], 1 - x["values"][0]) for x in front],
                "errors": [1 - x["values"][0] for x in firsts],
                "front_sources": [x["user_attrs"].get("latency_source", "measured") for x in front],
                "wall_s": time.time() - t,
            }
            log(
                f"{mode} seed {seed}: {measured}/{len(firsts)} distinct architectures measured "
                f"({confirmed} at the end), front {len(front)}, {time.time() - t:.0f} s"
            )
    # every front point measured again, interleaved, the same plan for all
    files = sorted({f for r in runs.values() for _, f, _ in r["front"]})
    tgt = parse_target(TARGET)
    ms = measure_many([(load_artifact(f), tgt) for f in files], REMEASURE)
    lat = {f: (m.stats.median_ms if m.stats else float("inf")) for f, m in zip(files, ms, strict=True)}
    pts = {k: [[err, lat[f]] for _, f, err in r["front"]] for k, r in runs.items()}
    ref = [1.1 * max(p[0] for v in pts.values() for p in v), 1.1 * max(p[1] for v in pts.values() for p in v)]
    for k, v in pts.items():
        runs[k]["hv"] = hypervolume_2d([[p[0] / ref[0], p[1] / ref[1]] for p in v], [1.0, 1.0])
    accs = [1 - err for (mode, _), r in runs.items() if mode == "measured" for err in r["errors"]]
    acc_lo, acc_hi = min(accs), max(accs)
    rows = []
    ratios, saved = [], []
    for seed in range(args.seeds):
        a, b = runs[("measured", seed)], runs[("hybrid", seed)]
        ratio = b["hv"] / a["hv"] if a["hv"] > 0 else float("nan")
        ratios.append(ratio)
        saved.append(a["measured"] / max(b["measured"], 1))
        rows.append(
            f"| {seed} | {a['measured']}/{a['distinct']}/{a['trials']} | "
            f"{b['measured']}/{b['distinct']}/{b['trials']} | "
            f"{b['confirmed']} | {a['measured'] / max(b['measured'], 1):.2f}× | {a['hv']:.4f} | {b['hv']:.4f} | "
            f"{ratio:.3f} | {sum(s == 'measured' for s in b['front_sources'])}/{len(b['front_sources'])} |"
        )
    body = "\n".join(
        [
            f"Search `scaling` around `tiny_convnet` on digits (accuracy and latency, TPE, {args.budget} trials, "
            f"{args.epochs} epoch(s) each; accuracies of the measured runs' candidates {acc_lo:.3f}–{acc_hi:.3f}) "
            f"on `{TARGET}`, {args.seeds} seeds, with every candidate measured and with `--latency "
            f"hybrid` given a GBM cost model fitted on {args.corpus} other networks of the space. Hypervolume of "
            "(error, latency) from one interleaved re-measurement of every front point of every run. A trial that "
            "draws an architecture already evaluated reuses its result and costs no measurement in either mode.",
            "",
            "| seed | measured: device measurements / distinct architectures / trials | hybrid: device measurements "
            "/ distinct / trials | hybrid: of them measured at the end | fewer measurements | hypervolume measured "
            "| hypervolume hybrid | hybrid / measured | hybrid front points measured |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Mean: {statistics.mean(saved):.2f}× fewer device measurements (goal ≥ 3×) at "
            f"{statistics.mean(ratios):.3f} of the hypervolume (goal ≥ 0.98).",
            "",
        ]
    )
    (ROOT / ".xcel").mkdir(exist_ok=True)
    (ROOT / ".xcel" / "bench-hybrid.json").write_text(
        json.dumps({f"{k[0]}-{k[1]}": v for k, v in runs.items()}, indent=1, default=str)
    )
    write_section(Path(args.out), "hybrid", "Predict, then measure when unsure: hybrid search", body)
    print(body)


if __name__ == "__main__":
    main()
