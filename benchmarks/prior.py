"""The prior spread between runs that ships with the package (``src/xcelerator/measure/prior.json``)
and its BENCHMARKS.md section ``prior``.

    python benchmarks/prior.py [--runs 5] [--over 600] [--target onnxruntime?threads=1]

``xc.calibrate`` with its default models (five zoo networks of about 0.4 to 60 ms on one thread,
none of the models ``benchmarks/coverage.py`` evaluates) measures each ``--runs`` times spread
over ``--over`` seconds into a fresh database; per model, the SD of the log of whole runs'
medians. Per latency class (below 1, 10, 100 ms, and above), the prior is the largest SD of the
models in that class over this run *and the calibrations recorded earlier on the machines this
project has measured on* (``RECORDED``: transcribed from the BENCHMARKS.md sections named, with
their dates and machines), a class without one taking the next faster class's: it errs wide, as
a default that must cover a repeat on a machine nobody calibrated, before anything was learned
of a target. The file keeps every set's machine, date and source. ``--reuse`` takes this
machine's set from the file instead of measuring it again.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from _record import STARTED, machine, write_section  # noqa: E402

import xcelerator as xc  # noqa: E402

CLASSES = (1.0, 10.0, 100.0, 1e9)  # upper bounds, ms
# calibrations measured earlier by this project on another machine (the figures as recorded)
RECORDED = [
    {
        "machine": "AMD EPYC, 2 cores, Linux 6.18.44-fc-v782",
        "date": "2026-11-29",
        "source": "BENCHMARKS.md section coverage-spaced (xcel calibrate --runs 5 --over 600)",
        "models": [
            {"name": "mobilenet_v1_0.25_96", "latency_ms": 0.418, "sd": 0.078},
            {"name": "mobilenet_v2_0.5_128", "latency_ms": 2.77, "sd": 0.121},
            {"name": "mobilenet_v1_0.5_224", "latency_ms": 5.4, "sd": 0.067},
            {"name": "squeezenet_224", "latency_ms": 11.4, "sd": 0.054},
            {"name": "resnet50_160", "latency_ms": 63.3, "sd": 0.013},
        ],
    },
    {
        "machine": "AMD EPYC, 2 cores, Linux 6.18.44-fc-v782",
        "date": "2026-11-29",
        "source": "BENCHMARKS.md section pareto (xc.calibrate, 5 runs of 3 models over 300 s)",
        "models": [
            {"name": "mobilenet_v1_0.25_96", "latency_ms": 0.429, "sd": 0.134},
            {"name": "squeezenet_224", "latency_ms": 11.3, "sd": 0.013},
            {"name": "resnet50_160", "latency_ms": 63.3, "sd": 0.035},
        ],
    },
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--over", type=float, default=600.0)
    ap.add_argument("--target", default="onnxruntime?threads=1")
    ap.add_argument("--table", default=str(ROOT / "src" / "xcelerator" / "measure" / "prior.json"))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--reuse", action="store_true", help="this machine's set from the table, not measured again")
    args = ap.parse_args()
    t0 = time.perf_counter()
    wall = None
    if args.reuse:
        measured = json.loads(Path(args.table).read_text())["measured"]
    else:
        with tempfile.TemporaryDirectory() as d:
            noise = xc.calibrate(
                args.target, runs=args.runs, over=args.over, db=f"sqlite:///{d}/prior.db",
                progress=lambda m: print(m, file=sys.stderr, flush=True),
            )  # fmt: skip
        wall = time.perf_counter() - t0
        if noise is None:
            raise SystemExit("calibration measured no model three times")
        pts = sorted(noise.points, key=lambda p: p.latency_ms)
        measured = {
            "date": dt.date.today().isoformat(),
            "machine": machine(),
            "commit": STARTED,
            "source": f"benchmarks/prior.py (xc.calibrate, {args.runs} runs over {args.over:g} s)",
            "target": args.target,
            "rounds": min(p.rounds for p in pts),
            "runs": args.runs,
            "over_s": args.over,
            "models": [{"name": p.name, "latency_ms": round(p.latency_ms, 4), "sd": round(p.sd, 4)} for p in pts],
        }
    sets = [measured, *RECORDED]
    classes: list[dict[str, Any]] = []
    for i, below in enumerate(CLASSES):
        above = CLASSES[i - 1] if i else 0.0
        inside = [(m, st) for st in sets for m in st["models"] if above <= m["latency_ms"] < below]
        if inside:
            m, st = max(inside, key=lambda x: x[0]["sd"])
            sd, src = m["sd"], f"{m['name']} ({m['latency_ms']:.3g} ms; {st['machine'].split(',')[0]}, {st['date']})"
        else:
            sd, src = classes[-1]["sd"], f"none measured; as below {above:g} ms"
        name = f"{above:g}-{below:g} ms" if below < 1e9 else f"{above:g} ms and slower"
        classes.append({"name": name, "below_ms": below, "sd": round(sd, 4), "from": src})
    doc = {"measured": measured, "recorded": RECORDED, "classes": classes}
    Path(args.table).write_text(json.dumps(doc, indent=1) + "\n")
    took = f"took {wall:.0f} s" if wall is not None else f"ran on {measured['date']} (taken from the table: --reuse)"
    call = f"xc.calibrate('{args.target}', runs={measured['runs']}, over={measured['over_s']:g})"
    earlier = "; ".join(
        f"{st['machine']} ({st['date']}, {st['source']}): "
        + ", ".join(f"{p['name']} {p['latency_ms']:.3g} ms {100 * p['sd']:.1f}%" for p in st["models"])
        for st in RECORDED
    )
    rows = [
        f"`{call}` on its default models into a fresh database {took}. Spread of the median between runs (SD of "
        "the log of whole runs' medians) on this machine:",
        "",
        "| model | median ms | SD between runs |",
        "|---|---|---|",
        *[f"| {p['name']} | {p['latency_ms']:.3g} | {100 * p['sd']:.1f}% |" for p in measured["models"]],
        "",
        f"Recorded earlier by this project: {earlier}.",
        "",
        "The prior shipped in `src/xcelerator/measure/prior.json` (per latency class, the largest SD over all these "
        "sets; a CI on it is `median × exp(±t₄ × SD)`, pooled with whatever a database learns of the target):",
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
