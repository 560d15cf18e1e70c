"""The end-to-end demo as a benchmark: the same job as ``make demo`` (the zoo on every usable
runtime, then ``xc.optimize`` on the published Fashion-MNIST baseline), timed from a cold
baseline cache unless ``--warm``.

Goals (issue "The demo that proves it"): wall time <= 10 min on 2 cores; >= 2x speed-up
(measured interleaved, with its CI) at <= 0.5 points lower test accuracy; and how much slower
the MACs proxy's choice runs than the measured choice.

    python benchmarks/demo.py [--warm] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, write_section

sys.path.insert(0, str(ROOT / "src"))

from xcelerator.demo.tour import run_demo


def _ci(lo_hi: list[float] | None, scale: float = 1.0, fmt: str = ".2f") -> str:
    if not lo_hi:
        return "-"
    return f"{scale * lo_hi[0]:{fmt}}–{scale * lo_hi[1]:{fmt}}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--warm", action="store_true", help="keep the baseline cache (default: train it from scratch)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if not args.warm:
            os.environ["XCEL_CACHE"] = str(Path(d) / "cache")  # the baseline is trained in this run
        t0 = time.perf_counter()
        doc = run_demo(Path(d) / "out", db=f"sqlite:///{d}/demo.db")
        wall = time.perf_counter() - t0
        (ROOT / ".xcel").mkdir(exist_ok=True)
        (ROOT / ".xcel" / "bench-demo.json").write_text(json.dumps(doc, indent=1, default=str))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    o = doc["optimize"]
    b, x, p = doc["baseline"], doc.get("best"), doc.get("flops_proxy")
    bud = doc["budget"]
    how = "loaded from the cache" if bud["pretrain_cached"] else "trained in this run"
    rows = [
        f"- dataset: {doc['dataset']}" + (f" ({doc['dataset_note']})" if doc.get("dataset_note") else ""),
        f"- wall time {wall / 60:.1f} min (goal: ≤ 10), of which the baseline's pre-training "
        f"{bud['pretrain_seconds'] / 60:.1f} min ({how}); peak RSS of the driver {peak:.0f} MiB",
        f"- zoo part: {len(doc['compare'])} measurements on {', '.join(doc['targets'])}",
        f"- optimize: {len(o['trials'])} candidates (tpe, the baseline first; precision "
        f"{'/'.join(dict.fromkeys(t['precision'] for t in o['trials']))} searched), each and the baseline fine-tuned "
        f"{bud['finetune_passes']} × {bud['finetune_images']} images after {bud['pretrain_epochs']} epochs of "
        f"pre-training; constraint {', '.join(o['constraints'])} on {doc['val_images']} validation images; "
        f"{o['saved']['stopped_early']:.0f} stopped early",
        "",
        "| model | trial | precision | MACs | median ms (95% CI) | test accuracy of the deployed file (95% CI) |",
        "|---|---|---|---|---|---|",
    ]
    for k, m in (("baseline", b), ("measured choice", x), ("MACs proxy's choice", p)):
        if m:
            rows.append(
                f"| {k} | {m['trial']} | {m['precision']} | {m['macs']:.3g} | {m['median_ms']:.4g} "
                f"({_ci(m['ci_ms'], fmt='.4g')}) | "
                f"{m['accuracy']:.4f} ({_ci(m['accuracy_ci'], fmt='.4f')}) |"
            )
    rows.append("")
    if x:
        met = doc["speedup"] >= 2 and doc["accuracy_drop"] <= 0.005 and doc["speedup_verdict"] == "faster"
        rows += [
            f"- **speed-up {doc['speedup']:.2f}×** (95% CI {_ci(doc['speedup_ci'])}, {doc['speedup_verdict']}; "
            f"baseline and best interleaved in one run); test accuracy {100 * doc['accuracy_drop']:.2f} points "
            f"lower (paired 95% CI {_ci(doc['accuracy_drop_ci'], 100)}); goal ≥ 2× at ≤ 0.5 points: "
            f"{'met' if met else 'not met'}",
        ]
    else:
        rows.append("- no candidate faster than the baseline met the accuracy constraint")
    ps = doc.get("proxy_slower")
    if ps:
        rows.append(
            f"- the MACs proxy's choice against the measured choice: the measured choice runs {ps['speedup']:.2f}× "
            f"as fast (95% CI {ps['ci_low']:.2f}–{ps['ci_high']:.2f}, {ps['verdict']})"
        )
    elif doc.get("proxy_same_choice"):
        rows.append("- the MACs proxy would have chosen the same candidate")
    for t, r in (doc.get("per_runtime") or {}).items():
        if r.get("baseline_trial") is not None:  # another runtime searched, measured against its own FP32
            rows.append(
                f"- on {t}: trial {r['trial']} ({r['precision']}) {r['median_ms']:.4g} ms against the unpruned "
                f"FP32 network's {r['baseline_median_ms']:.4g} ms there, **{r['speedup']:.2f}×** (95% CI "
                f"{_ci(r['speedup_ci'])}); test accuracy {r['accuracy']:.4f} ({_ci(r['accuracy_ci'], fmt='.4f')}) "
                f"against {r['baseline_accuracy']:.4f}, paired drop 95% CI {_ci(r['accuracy_drop_ci'], 100)} points"
            )
        elif r.get("error"):
            rows.append(f"- on {t}: {r['error']}")
        mine = [c for c in o["trials"] if c.get("target") == t and c["trial"] != o["baseline"]["trial"]]
        if mine and r.get("baseline_trial") is not None:
            rows.append(
                "  - its candidates (validation accuracy of the deployed file, study latency): "
                + "; ".join(
                    f"trial {c['trial']} {c.get('precision')} "
                    + (f"{c['accuracy']:.4f}, {c['latency_ms']:.4g} ms" if c["latency_ms"] is not None else c["state"])
                    + ("" if c["feasible"] else " (infeasible)")
                    for c in mine
                )
            )
    body = "\n".join(rows)
    write_section(Path(args.out), "demo", "Demo: xc.optimize on Fashion-MNIST (`make demo`)", body)
    print(body)


if __name__ == "__main__":
    main()
