"""Report benchmarks; writes the ``report`` section of BENCHMARKS.md.

    python benchmarks/report.py [--db .xcel/corpus.db]

Wall time of ``xcel report`` (a fresh process, database read included) and the HTML size:

1. a study of 500 trials (two objectives, a constraint, five parameters), made with Optuna's
   TPE sampler on an analytic problem (the figures need trials, not trainings);
2. 10,000 measurements: the real measurements of the cost-model corpus (``.xcel/corpus.db``,
   written by ``benchmarks/costmodel.py``), imported again and again into a fresh store until
   there are 10,000 (each with every sample and its layer times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from benchmarks.profiler import write_section  # noqa: E402

XCEL = [sys.executable, "-m", "xcelerator.cli.main"]


def make_study(db: Path, n: int = 500) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(
        study_name="s500",
        storage=f"sqlite:///{db}",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    s.set_user_attr("config", {"objectives": ["accuracy", "latency"], "constraints": ["latency<=4"]})

    def obj(t: optuna.Trial) -> tuple[float, float]:
        w = t.suggest_float("w", 0.1, 1.0)
        d = t.suggest_float("d", 0.1, 1.0)
        r = t.suggest_int("r", 8, 32, step=4)
        k = t.suggest_categorical("k", [3, 5, 7])
        e = t.suggest_int("e", 1, 6)
        lat = 0.3 + 5 * w * d * (r / 32) ** 2 * (k / 5) * (0.6 + e / 10)
        t.set_user_attr("constraints", [lat - 4])
        return 0.6 + 0.3 * (w * d) ** 0.3 * (r / 32) ** 0.2 + 0.01 * e, lat

    s.optimize(obj, n_trials=n)


def fill_store(src: Path, db: Path, n: int = 10_000) -> int:
    from xcelerator.store.db import Store

    doc = Store(str(src)).export_json()
    per = len(doc["measurements"])
    if per == 0:
        raise SystemExit(f"{src} has no measurements: run benchmarks/costmodel.py first")
    dst = Store(str(db))
    have = 0
    while have < n:
        take = min(per, n - have)
        dst.import_json({**doc, "measurements": doc["measurements"][:take]})
        have += take
    return have


def timed_report(db: Path, out: Path, *args: str) -> tuple[float, int, dict]:
    t0 = time.perf_counter()
    r = subprocess.run(
        [*XCEL, "--db", str(db), "report", *args, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    res = json.loads(r.stdout)
    return wall, int(res["bytes"]), res


def row(what: str, wall: float, wall_nopng: float, size: int, res: dict) -> str:
    return (
        f"| {what} | {wall:.1f} | {wall_nopng:.1f} | {size / 1e6:.2f} | {len(res['figures'])} | {len(res['notes'])} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=str(ROOT / ".xcel" / "corpus.db"))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        make_study(t / "study.db")
        w1, b1, r1 = timed_report(t / "study.db", t / "r1", "--study", "s500")
        w1n, _, _ = timed_report(t / "study.db", t / "r1n", "--study", "s500", "--no-png")
        n = fill_store(Path(args.db), t / "m.db")
        w2, b2, r2 = timed_report(t / "m.db", t / "r2", "--measurements")
        w2n, _, _ = timed_report(t / "m.db", t / "r2n", "--measurements", "--no-png")
    body = "\n".join(
        [
            "## Reports",
            "",
            "`xcel report` in a fresh process (imports, database read, figures, HTML with plotly.js inlined, PNGs).",
            "",
            "| input | wall s (with PNGs) | wall s (--no-png) | HTML MB | figures | notes |",
            "|---|---:|---:|---:|---:|---:|",
            row("study, 500 trials", w1, w1n, b1, r1),
            row(f"{n} measurements", w2, w2n, b2, r2),
            "",
            "Goal: under 10 s and under 10 MB. plotly.js itself is 4.7 MB of each file (inlined so the report "
            "opens offline). The measurement report draws all of them in one overview (median and CI in "
            "the order measured, per target), models × targets for the latest 25 models, and distributions "
            "and layers for the latest 6 (`--detail N`).",
            "",
        ]
    )
    write_section(Path(args.out), "report", body)
    print(body)


if __name__ == "__main__":
    main()
