"""The prior spread between runs that ships with the package (``src/xcelerator/measure/prior.json``)
and its BENCHMARKS.md section ``prior``.

    python benchmarks/prior.py [--runs 5] [--over 600] [--target onnxruntime?threads=1]

``xc.calibrate`` with its default models (five zoo networks of about 0.4 to 60 ms on one thread,
none of the models ``benchmarks/coverage.py`` evaluates) measures each ``--runs`` times spread
over ``--over`` seconds into a fresh database; per model, the SD of the log of whole runs'
medians. Per latency class (below 1, 10, 100 ms, and above), the prior is the largest SD of the
models in that class (a class without one takes the next faster class's): it errs wide, as a
default that must cover a repeat before anything was learned of a target. The file keeps the
machine, date, commit and command it was measured with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from _record import STARTED, machine, write_section  # noqa: E402

import xcelerator as xc  # noqa: E402

CLASSES = (1.0, 10.0, 100.0, 1e9)  # upper bounds, ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--over", type=float, default=600.0)
    ap.add_argument("--target", default="onnxruntime?threads=1")
    ap.add_argument("--table", default=str(ROOT / "src" / "xcelerator" / "measure" / "prior.json"))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        noise = xc.calibrate(
            args.target, runs=args.runs, over=args.over, db=f"sqlite:///{d}/prior.db",
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )  # fmt: skip
    wall = time.perf_counter() - t0
    if noise is None:
        raise SystemExit("calibration measured no model three times")
    pts = sorted(noise.points, key=lambda p: p.latency_ms)
    classes = []
    for i, below in enumerate(CLASSES):
        above = CLASSES[i - 1] if i else 0.0
        inside = [p for p in pts if above <= p.latency_ms < below]
        if inside:
            worst = max(inside, key=lambda p: p.sd)
            sd, src = worst.sd, f"{worst.name} ({worst.latency_ms:.3g} ms)"
        else:
            sd, src = classes[-1]["sd"], f"none measured; as below {above:g} ms"
        name = f"{above:g}-{below:g} ms" if below < 1e9 else f"{above:g} ms and slower"
        classes.append({"name": name, "below_ms": below, "sd": round(sd, 4), "from": src})
    doc = {
        "measured": {
            "date": dt.date.today().isoformat(),
            "machine": machine(),
            "commit": STARTED,
            "target": args.target,
            "rounds": min(p.rounds for p in pts),
            "runs": args.runs,
            "over_s": args.over,
            "models": [{"name": p.name, "latency_ms": round(p.latency_ms, 4), "sd": round(p.sd, 4)} for p in pts],
        },
        "classes": classes,
    }
    Path(args.table).write_text(json.dumps(doc, indent=1) + "\n")
    rows = [
        f'`xc.calibrate("{args.target}", runs={args.runs}, over={args.over:g})` on its default models into a fresh '
        f"database took {wall:.0f} s. Spread of the median between runs (SD of the log of whole runs' medians):",
        "",
        "| model | median ms | SD between runs |",
        "|---|---|---|",
        *[f"| {p.name} | {p.latency_ms:.3g} | {100 * p.sd:.1f}% |" for p in pts],
        "",
        "The prior shipped in `src/xcelerator/measure/prior.json` (per latency class, the largest SD measured in it; "
        "a CI on it is `median × exp(±t₄ × SD)`, pooled with whatever a database learns of the target):",
        "",
        "| latency class | prior SD | from |",
        "|---|---|---|",
        *[f"| {c['name']} | {100 * c['sd']:.1f}% | {c['from']} |" for c in classes],
    ]
    body = "\n".join(rows)
    write_section(Path(args.out), "prior", "The prior spread between runs (shipped with the package)", body)
    print(body)


if __name__ == "__main__":
    main()
