"""The end-to-end demo as a benchmark: wall time (goal: under 10 minutes on 2 cores), the
speed-up of the found model over the hand-tuned baseline on ONNX Runtime (measured in one run,
interleaved) and the accuracy change (goal: >= 2x at <= 0.5 points lower accuracy).

    python benchmarks/demo.py [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from profiler import write_section  # noqa: E402

from xcelerator.cli.demo import run_demo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        doc = run_demo(Path(d) / "out", db=f"sqlite:///{d}/demo.db")
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trials = doc["search"]["trials"]
    b, x = doc["baseline"], doc.get("best")
    rows = [
        "## Demo (`benchmarks/demo.py`, the same job as `make demo`)",
        "",
        f"- wall time {wall / 60:.1f} min (goal: under 10), peak RSS of the driver {peak:.0f} MiB; zoo part: "
        f"{len(doc['compare'])} measurements on {', '.join(doc['targets'])}",
        f"- search: {len(trials)} trials of `scaling` around `digits_net` (TPE, accuracy >= baseline - 0.5 points, "
        "candidates inherit the baseline's weights and fine-tune 2 epochs)",
        f"- baseline: {b['median_ms']:.4f} ms, accuracy {b['accuracy']:.4f}",
    ]
    if x:
        rows += [
            f"- best: {x['params']} → {x['median_ms']:.4f} ms, accuracy {x['accuracy']:.4f}",
            f"- **speed-up {doc['speedup']:.2f}×** (baseline and best measured interleaved in one run), "
            f"accuracy change {-100 * doc['accuracy_drop']:+.2f} points (goal: ≥ 2× at ≤ 0.5 points lower accuracy)",
        ]
    else:
        rows.append("- no faster feasible model was found")
    if x and b.get("params", {}).get("resolution") != x["params"].get("resolution"):
        res_b, res_x = b.get("params", {}).get("resolution"), x["params"].get("resolution")
        rows += ["", f"The best model reads its input at {res_x} px where the baseline reads {res_b} px.", ""]
    body = "\n".join(rows)
    write_section(Path(args.out), "demo", body)
    print(body)


if __name__ == "__main__":
    main()
