"""Numbers you can bet on: CI coverage of repeated profiles, A/B verdicts, cost; writes the
``coverage-spaced`` section of BENCHMARKS.md (``--repeats 0 --section ab``: the ``ab`` section).

    python benchmarks/coverage.py [--repeats 20] [--ab-repeats 10] [--calibration-runs 5]
                                  [--skip-ab] [--section NAME] [--out BENCHMARKS.md]
    python benchmarks/coverage.py --fresh [--repeats 20]   # the section coverage-fresh

``--fresh``: a new user's first profiles, one fresh database for all runs, no calibration: the
shipped prior first, then what the database learns (``coverage_fresh``).

0. Calibration: ``xcel calibrate`` with its default models (none of the three below) learns the
   target's spread between runs into a database.
1. Coverage: ``--repeats`` default ``xcel profile`` runs (each a separate command, a fresh set
   of processes, a fresh copy of the calibrated database) of three zoo models (about 1, 10 and
   50 ms at 1 thread on ONNX Runtime), interleaved across the models. For each run: does its
   95% CI contain the median of the other runs' medians? (goal: at least 90% of runs), and its
   half-width relative to its median (goal: mean at most 2%).
2. A/B: pairs of the same network (a 3x3 convolution, 32 channels, at 200 px) at slightly larger
   inputs (203, 210, 219 px: 3, 10 and 20% more MACs; the 0% pair is the same network in two
   files), each ``xcel compare``d with default settings ``--ab-repeats`` times in each of two
   modes, alternating: side by side (the default) and ``--apart``. Per mode: the share of right
   verdicts (``slower`` for a real difference, ``no detectable difference`` for none), the
   median slowdown and how far the repeats' speed-ups spread, the median smallest detectable
   difference, the pairs, and the wall time per verdict. ``--repeats 0`` skips the coverage.
3. Cost: wall time of one default ``profile`` of the 10 ms model against a fixed 1000-run loop
   of the runtime in one process, and against OpenVINO's ``benchmark_app`` default run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
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

from xcelerator.models.export import materialize  # noqa: E402
from xcelerator.models.zoo import parse_name  # noqa: E402

MODELS = ["mobilenet_v2_0.35_96", "mobilenet_v2_1.0_224", "resnet18_224"]
TARGET = "onnxruntime?threads=1"
# a Conv(3x3, 32) -> ReLU -> GAP -> Gemm network at 200 px and slightly larger (MACs ~ hw^2)
AB = {"0%": 200, "3%": 203, "10%": 210, "20%": 219}


def xcel(*args: str, db: Path, timeout: float = 1800) -> tuple[int, dict[str, Any], float]:
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "xcelerator.cli.main", "--db", str(db), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else {"stderr": p.stderr[-500:]}), wall


def calibrate(work: Path, runs: int, over: float) -> tuple[Path, dict[str, Any], float]:
    """``xcel calibrate`` with its default models (other zoo networks than the three measured
    here) into a database that every coverage run then starts from a copy of."""
    db = work / "calibrated.db"
    code, doc, wall = xcel("calibrate", "-t", TARGET, "--runs", str(runs), "--over", f"{over:g}", db=db, timeout=7200)
    if code != 0:
        raise SystemExit(f"calibrate failed ({code}): {doc}")
    return db, doc["noise"], wall


def coverage(repeats: int, work: Path, calibrated: Path) -> dict[str, Any]:
    """Each run a default ``profile`` with a fresh copy of the calibrated database (so a run
    learns nothing from the earlier runs of this benchmark). Its rounds-only interval (the
    distribution-free one over its round medians, what an uncalibrated profile reports) is
    evaluated on the same runs."""
    from xcelerator.measure.stats import rounds_interval

    paths = {m: materialize(parse_name(m), "onnx").path for m in MODELS}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODELS}
    for i in range(repeats):
        order = MODELS if i % 2 == 0 else list(reversed(MODELS))
        for m in order:
            db = work / "run.db"
            shutil.copyfile(calibrated, db)
            code, doc, wall = xcel("profile", paths[m], "-t", TARGET, db=db)
            meas = doc.get("measurements", [{}])[0]
            s = meas.get("stats") or {}
            meds = s.get("round_medians_ms") or []
            rlo, rhi, _ = rounds_interval(meds) if len(meds) >= 2 else (None, None, None)
            runs[m].append(
                {
                    "code": code,
                    "median": s.get("median_ms"),
                    "lo": s.get("ci_low_ms"),
                    "hi": s.get("ci_high_ms"),
                    "rlo": rlo,
                    "rhi": rhi,
                    "basis": s.get("ci_basis"),
                    "between_sd": s.get("between_run_sd"),
                    "rounds": s.get("rounds"),
                    "wall": wall,
                    "t": time.time(),
                }
            )
    out = {}
    for m, rs in runs.items():
        ok = [r for r in rs if r["median"] is not None]
        hits, halves, rhits, rhalves = [], [], [], []
        for i, r in enumerate(ok):
            others = statistics.median([o["median"] for j, o in enumerate(ok) if j != i])
            hits.append(r["lo"] <= others <= r["hi"])
            halves.append((r["hi"] - r["lo"]) / 2 / r["median"])
            if r["rlo"] is not None:
                rhits.append(r["rlo"] <= others <= r["rhi"])
                rhalves.append((r["rhi"] - r["rlo"]) / 2 / r["median"])
        meds = [r["median"] for r in ok]
        out[m] = {
            "runs": len(rs),
            "ok": len(ok),
            "coverage": sum(hits) / len(hits) if hits else None,
            "mean_half_width": statistics.mean(halves) if halves else None,
            "rounds_only_coverage": sum(rhits) / len(rhits) if rhits else None,
            "rounds_only_half_width": statistics.mean(rhalves) if rhalves else None,
            "median_ms": statistics.median(meds) if meds else None,
            "spread": (max(meds) - min(meds)) / statistics.median(meds) if meds else None,
            "rel_sd_of_medians": statistics.stdev([float(__import__("math").log(x)) for x in meds])
            if len(meds) > 2
            else None,
            "between_sd": statistics.median([r["between_sd"] for r in ok if r["between_sd"] is not None] or [0.0]),
            "basis": ok[0]["basis"] if ok else None,
            "rounds": statistics.median([r["rounds"] for r in ok]) if ok else None,
            "wall_s": statistics.median([r["wall"] for r in rs]),
            "runs_detail": rs,
        }
    return out


def _calibrated_from_prior_run() -> Any:
    """The calibration ``benchmarks/prior.py`` measured (its models' spreads, kept in the shipped
    ``prior.json``), as a target calibration pooled with the prior: what a user who ran
    ``xcel calibrate`` once would get."""
    from xcelerator.measure.stats import NoisePoint, RunNoise, with_prior

    doc = json.loads((ROOT / "src" / "xcelerator" / "measure" / "prior.json").read_text())
    m = doc["measured"]
    pts = tuple(
        NoisePoint("", p["name"], p["latency_ms"], p["sd"], m["runs"] - 1, m["runs"], m["rounds"]) for p in m["models"]
    )
    return with_prior(RunNoise(TARGET, pts, source="calibrated"), TARGET), m


def coverage_fresh(repeats: int, work: Path, over: float = 600.0) -> dict[str, Any]:
    """A new user: one fresh database for every run, default ``profile`` runs of the three
    models interleaved, so the first runs of a model have the shipped prior and later ones what
    the database learned of the target (its ``model history``, pooled with the prior). For each
    run: does its CI contain the median of the other runs' medians, and what share of the other
    runs' medians does it contain (pairwise, a repeat at a random other time). The calibrated
    half-width is computed on the same runs (their round medians) with the calibration
    ``benchmarks/prior.py`` measured, and the rounds-only one from the round medians alone."""
    import math

    from xcelerator.measure.stats import compute

    cal, cal_meta = _calibrated_from_prior_run()
    paths = {m: materialize(parse_name(m), "onnx").path for m in MODELS}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODELS}
    db = work / "fresh.db"
    t_start = time.time()
    for i in range(repeats):
        wait = t_start + over * i / max(repeats - 1, 1) - time.time()  # spread over ``over`` seconds at least
        if wait > 0:
            time.sleep(wait)
        for m in MODELS if i % 2 == 0 else list(reversed(MODELS)):
            code, doc, wall = xcel("profile", paths[m], "-t", TARGET, db=db)
            s = ((doc.get("measurements") or [{}])[0]).get("stats") or {}
            meds = s.get("round_medians_ms") or []
            c = compute([[x] for x in meds], noise=cal) if len(meds) >= 2 else None
            r = compute([[x] for x in meds]) if len(meds) >= 2 else None
            runs[m].append(
                {
                    "code": code, "median": s.get("median_ms"), "lo": s.get("ci_low_ms"), "hi": s.get("ci_high_ms"),
                    "basis": s.get("ci_basis"), "detail": s.get("ci_detail"), "between_sd": s.get("between_run_sd"),
                    "cal_lo": c.ci_low_ms if c else None, "cal_hi": c.ci_high_ms if c else None,
                    "rlo": r.ci_low_ms if r else None, "rhi": r.ci_high_ms if r else None,
                    "round_medians": meds, "wall": wall, "t": time.time() - t_start,
                }
            )  # fmt: skip
            print(f"{m} run {i + 1}: {s.get('median_ms')} [{s.get('ci_low_ms')}, {s.get('ci_high_ms')}] "
                  f"{s.get('ci_basis')}", flush=True)  # fmt: skip
    out: dict[str, Any] = {"_calibration": cal_meta, "_minutes": (time.time() - t_start) / 60}
    for m, rs in runs.items():
        ok = [r for r in rs if r["median"] is not None]
        row: dict[str, Any] = {"runs": len(rs), "ok": len(ok), "runs_detail": rs}
        for key, lo, hi in (("live", "lo", "hi"), ("calibrated", "cal_lo", "cal_hi"), ("rounds", "rlo", "rhi")):
            hits, pair, halves = [], [], []
            for i, r in enumerate(ok):
                if r[lo] is None:
                    continue
                others = [o["median"] for j, o in enumerate(ok) if j != i]
                hits.append(r[lo] <= statistics.median(others) <= r[hi])
                pair.append(sum(r[lo] <= x <= r[hi] for x in others) / len(others))
                halves.append((r[hi] - r[lo]) / 2 / r["median"])
            row[key] = {
                "coverage": sum(hits) / len(hits) if hits else None,
                "pairwise": statistics.mean(pair) if pair else None,
                "half_width": statistics.mean(halves) if halves else None,
            }
        by_basis: dict[str, list[float]] = {}
        for i, r in enumerate(ok):
            others = statistics.median([o["median"] for j, o in enumerate(ok) if j != i])
            by_basis.setdefault(str(r["basis"]), []).append(float(r["lo"] <= others <= r["hi"]))
        meds = [r["median"] for r in ok]
        row.update(
            by_basis={b: {"runs": len(v), "coverage": statistics.mean(v)} for b, v in by_basis.items()},
            half_first=(ok[0]["hi"] - ok[0]["lo"]) / 2 / ok[0]["median"] if ok else None,
            half_last=(ok[-1]["hi"] - ok[-1]["lo"]) / 2 / ok[-1]["median"] if ok else None,
            median_ms=statistics.median(meds) if meds else None,
            rel_sd_of_medians=statistics.stdev([math.log(x) for x in meds]) if len(meds) > 2 else None,
            spread=(max(meds) - min(meds)) / statistics.median(meds) if meds else None,
            wall_s=statistics.median([r["wall"] for r in rs]),
        )
        out[m] = row
    return out


def render_fresh(res: dict[str, Any]) -> str:
    cov = res["fresh"]
    cal = cov["_calibration"]
    L = [
        f"A new user's first runs: {res['repeats']} default `xcel profile` runs per model (no `--ci`, no "
        f"calibration), the three models interleaved over {cov['_minutes']:.1f} min, all into one fresh database, "
        f"target `{TARGET}`. The first runs of a model have the shipped prior (`ci_basis` `prior`); once the "
        "database holds three runs of a model, its history pooled with the prior (`model history`). A run's 95% CI "
        "should contain the median of the other runs' medians (coverage; pairwise: the share of the other runs' "
        "medians it contains). Beside it, on the same runs: the CI a calibrated database gives (the calibration "
        f"`benchmarks/prior.py` measured on {cal['date']}: {cal['runs']} runs of its five models) and the CI of the "
        "rounds alone (`--ci rounds`); both recomputed from each run's round medians.\n",
        "| model | median ms | runs ok | coverage (goal ≥ 90%) | pairwise | mean half-width | half-width first → "
        "last run | by basis | calibrated: coverage / half-width | rounds only: coverage / half-width | SD of run "
        "medians (log) | wall s per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    covs = []
    for m in MODELS:
        r = cov[m]
        live, c, ro = r["live"], r["calibrated"], r["rounds"]
        if live["coverage"] is None:
            L.append(f"| {m} | - | {r['ok']}/{r['runs']} | - | - | - | - | - | - | - | - | - |")
            continue
        covs.append(live["coverage"])
        bb = ", ".join(f"{b} {100 * x['coverage']:.0f}% of {x['runs']}" for b, x in r["by_basis"].items())
        sd = r["rel_sd_of_medians"]
        L.append(
            f"| {m} | {r['median_ms']:.3g} | {r['ok']}/{r['runs']} | {100 * live['coverage']:.0f}% | "
            f"{100 * live['pairwise']:.0f}% | {100 * live['half_width']:.1f}% | {100 * r['half_first']:.1f}% → "
            f"{100 * r['half_last']:.1f}% | {bb} | {100 * c['coverage']:.0f}% / {100 * c['half_width']:.1f}% | "
            f"{100 * ro['coverage']:.0f}% / {100 * ro['half_width']:.1f}% | "
            f"{'-' if sd is None else f'{100 * sd:.1f}%'} | {r['wall_s']:.1f} |"
        )
    if covs:
        L.append(
            f"\nLowest coverage over the models: {100 * min(covs):.0f}% "
            f"({'meets' if min(covs) >= 0.9 else 'misses'} the 90% goal for "
            f"{'every model' if min(covs) >= 0.9 else 'at least one model'})."
        )
    return "\n".join(L) + "\n"


MODES = {"side by side": (), "apart": ("--apart",)}


def ab(repeats: int, work: Path) -> dict[str, Any]:
    """Each pair ``repeats`` times in each mode (the default, side by side in one process after a
    round alone, and ``--apart``), the modes alternating repeat by repeat so both see the same
    hours of the machine."""
    from tests.conftest import make_conv_model

    files = {label: make_conv_model(work / f"conv_{hw}.onnx", cout=32, hw=hw) for label, hw in AB.items()}
    (work / "ref").mkdir(exist_ok=True)
    ref = make_conv_model(work / "ref" / "conv.onnx", cout=32, hw=AB["0%"], classes=10)
    # the 0% candidate is the same network in another file: its bytes differ (doc string), its work not
    import onnx

    m = onnx.load(str(files["0%"]))
    m.doc_string = "the same network, another file"
    onnx.save(m, str(files["0%"]))
    out: dict[str, Any] = {}
    for label, f in files.items():
        rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for i in range(repeats):
            for mode in list(MODES) if i % 2 == 0 else list(reversed(MODES)):
                code, doc, wall = xcel("compare", str(ref), str(f), "-t", TARGET, *MODES[mode], db=work / "ab.db")
                sp = (doc.get("speedups") or [{}])[0]
                rows[mode].append(
                    {
                        "verdict": sp.get("verdict"),
                        "speedup": sp.get("speedup"),
                        "detectable_pct": sp.get("detectable_pct"),
                        "pairs": sp.get("pairs"),
                        "pairing": sp.get("pairing"),
                        "wall": wall,
                        "code": code,
                    }
                )
        right = "no detectable difference" if label == "0%" else "slower"
        out[label] = {"right_verdict": right, "modes": {}}
        for mode, rs in rows.items():
            sps = [r["speedup"] for r in rs if r["speedup"]]
            det = [r["detectable_pct"] for r in rs if r["detectable_pct"] is not None]
            out[label]["modes"][mode] = {
                "right": sum(r["verdict"] == right for r in rs) / len(rs),
                "verdicts": {str(v): sum(r["verdict"] == v for r in rs) for v in {r["verdict"] for r in rs}},
                "slowdown_pct": 100 * (1 / statistics.median(sps) - 1) if sps else None,
                "slowdown_spread_pct": 100 * (max(sps) / min(sps) - 1) if len(sps) > 1 else None,
                "detectable_pct": statistics.median(det) if det else None,
                "pairs": statistics.median(r["pairs"] for r in rs if r["pairs"] is not None),
                "pairing": sorted({str(r["pairing"]) for r in rs}),
                "wall_s": statistics.median(r["wall"] for r in rs),
                "rows": rs,
            }
    return out


def cost(work: Path) -> dict[str, Any]:
    path = materialize(parse_name(MODELS[1]), "onnx").path
    _, doc, wall = xcel("profile", path, "-t", TARGET, db=work / "cost.db")
    loop = textwrap_loop()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", loop, path], check=True, capture_output=True, timeout=900)
    loop_wall = time.perf_counter() - t
    bench = Path(sys.executable).parent / "benchmark_app"
    app_wall = None
    if bench.exists():
        t = time.perf_counter()
        p = subprocess.run(
            [str(bench), "-m", path, "-d", "CPU", "-hint", "none", "-nthreads", "1", "-nstreams", "1", "-api", "sync"],
            capture_output=True,
            timeout=900,
        )
        app_wall = time.perf_counter() - t if p.returncode == 0 else None
    s = doc["measurements"][0]["stats"]
    return {
        "profile_wall_s": wall,
        "rounds": s["rounds"],
        "n": s["n"],
        "loop1000_wall_s": loop_wall,
        "app_wall_s": app_wall,
    }


def textwrap_loop() -> str:
    return (
        "import sys, numpy as np, onnxruntime as ort\n"
        "so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1\n"
        "s = ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n"
        "i = s.get_inputs()[0]; x = np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)\n"
        "for _ in range(1000): s.run(None, {i.name: x})\n"
    )


def render(res: dict[str, Any]) -> str:
    L: list[str] = []
    if res.get("calibration"):
        c = res["calibration"]
        pts = ", ".join(f"{p['name']} {p['latency_ms']:.3g} ms: {100 * p['sd']:.1f}%" for p in c["noise"]["points"])
        L.append(
            f"Calibration: `xcel calibrate -t {TARGET} --runs {c['runs']} --over {c.get('over', 0):g}` (its default "
            "models, none of the three "
            f"below) took {c['wall_s']:.0f} s; spread of the median between runs (SD of the log of whole runs' "
            f"medians): {pts}.\n"
        )
    L += (
        []
        if not res["coverage"]
        else [
            f"Coverage of the default `xcel profile` ({res['repeats']} runs per model, interleaved across "
            f"models, target `{TARGET}`, each run with a fresh copy of the calibrated database): a run's 95% CI "
            "should contain the median of the other runs' medians. The rounds-only columns evaluate, on the same "
            "runs, the distribution-free interval over the run's round medians (what a profile without "
            "calibration reports).\n",
            "| model | median ms | runs ok | coverage (goal ≥ 90%) | mean CI half-width (goal ≤ 2%) | rounds-only "
            "coverage | rounds-only half-width | SD of run medians (log) | between-run SD used | spread of medians "
            "(max-min)/median | rounds per run | wall s per run |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    )
    for m, r in res["coverage"].items():
        if r["coverage"] is None:
            L.append(f"| {m} | - | {r['ok']}/{r['runs']} | - | - | - | - | - | - | - | - | - |")
            continue
        ro = r.get("rounds_only_coverage")
        rh = r.get("rounds_only_half_width")
        sdm = r.get("rel_sd_of_medians")
        L.append(
            f"| {m} | {r['median_ms']:.3g} | {r['ok']}/{r['runs']} | {100 * r['coverage']:.0f}% | "
            f"{100 * r['mean_half_width']:.1f}% | {'-' if ro is None else f'{100 * ro:.0f}%'} | "
            f"{'-' if rh is None else f'{100 * rh:.1f}%'} | {'-' if sdm is None else f'{100 * sdm:.1f}%'} | "
            f"{100 * r['between_sd']:.1f}% | {100 * r['spread']:.1f}% | {r['rounds']:g} | {r['wall_s']:.1f} |"
        )
    cov = [r["coverage"] for r in res["coverage"].values() if r["coverage"] is not None]
    hw = [r["mean_half_width"] for r in res["coverage"].values() if r["mean_half_width"] is not None]
    if cov:
        L.append(
            f"\nOver all models: coverage {100 * statistics.mean(cov):.0f}% "
            f"({'meets' if min(cov) >= 0.9 else 'misses'} the 90% goal for "
            f"{'every model' if min(cov) >= 0.9 else 'at least one model'}), mean half-width "
            f"{100 * statistics.mean(hw):.1f}% ({'meets' if max(hw) <= 0.02 else 'misses'} the 2% goal"
            f"{'' if max(hw) <= 0.02 else ' for at least one model'}).\n"
        )
    if res["ab"]:
        L += [
            f"A/B verdicts: `xcel compare` of a 3x3-convolution network at 200 px against the same network at a "
            f"larger input, default settings, {res['ab_repeats']} repeats each in each mode, the modes alternating: "
            "`side by side` (the default: a first round of each model alone, then each round one process timing "
            "both in alternating 20 ms blocks) and `--apart` (each round its own process).\n",
            "| MACs difference | mode | pairing | median slowdown | (max-min) of speed-ups | right verdict | right "
            "| verdicts | median detectable difference | pairs | wall s/verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for label, r in res["ab"].items():
        for mode, x in r["modes"].items():
            ts = f"{x['slowdown_pct']:.1f}%" if x["slowdown_pct"] is not None else "-"
            spread = f"{x['slowdown_spread_pct']:.1f}%" if x["slowdown_spread_pct"] is not None else "-"
            det = f"±{x['detectable_pct']:.1f}%" if x["detectable_pct"] is not None else "-"
            vs = ", ".join(f"{k}: {v}" for k, v in sorted(x["verdicts"].items(), key=lambda kv: str(kv[0])))
            L.append(
                f"| {label} | {mode} | {', '.join(x['pairing'])} | {ts} | {spread} | {r['right_verdict']} | "
                f"{100 * x['right']:.0f}% | {vs} | {det} | {x['pairs']:g} | {x['wall_s']:.1f} |"
            )
    if res["ab"]:
        right = {m: statistics.mean(r["modes"][m]["right"] for r in res["ab"].values()) for m in MODES}
        L.append(
            "\nRight verdicts over the four pairs: " + ", ".join(f"{m} {100 * v:.0f}%" for m, v in right.items()) + "."
        )
    c = res["cost"]
    app = f"{c['app_wall_s']:.1f} s" if c["app_wall_s"] is not None else "not run"
    L.append(
        f"\nCost ({MODELS[1]}): a default `profile` took {c['profile_wall_s']:.1f} s ({c['rounds']} rounds, "
        f"{c['n']} timed runs); a fixed 1000-run loop in one process {c['loop1000_wall_s']:.1f} s; "
        f"`benchmark_app` (OpenVINO, `-hint none -nthreads 1 -nstreams 1 -api sync`, its default duration) {app}."
    )
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--ab-repeats", type=int, default=10)
    ap.add_argument("--calibration-runs", type=int, default=5)
    ap.add_argument("--calibration-over", type=float, default=600.0)
    ap.add_argument("--section", default="coverage-spaced", help="the BENCHMARKS.md section to write")
    ap.add_argument("--skip-ab", action="store_true")
    ap.add_argument("--over", type=float, default=600.0, help="--fresh: seconds to spread the runs over at least")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="a new user's runs: one fresh database that learns as it goes, no calibration (section coverage-fresh)",
    )
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    res: dict[str, Any] = {"repeats": args.repeats, "ab_repeats": args.ab_repeats}
    if args.fresh:
        with tempfile.TemporaryDirectory() as d:
            res["fresh"] = coverage_fresh(args.repeats, Path(d), args.over)
        (ROOT / ".xcel").mkdir(exist_ok=True)
        (ROOT / ".xcel" / "bench-coverage-fresh.json").write_text(json.dumps(res, indent=1))
        body = render_fresh(res)
        section = "coverage-fresh" if args.section == "coverage-spaced" else args.section
        write_section(Path(args.out), section, "A first profile's CI: the prior, learning as it goes", body)
        print(body)
        return
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        partial = ROOT / ".xcel" / "bench-coverage.partial.json"
        partial.parent.mkdir(exist_ok=True)
        if args.repeats:
            db, noise, cal_wall = calibrate(work, args.calibration_runs, args.calibration_over)
            res["calibration"] = {
                "noise": noise,
                "wall_s": cal_wall,
                "runs": args.calibration_runs,
                "over": args.calibration_over,
            }
            res["coverage"] = coverage(args.repeats, work, db)
        else:
            res["coverage"] = {}
        partial.write_text(json.dumps(res, indent=1))  # a later phase that fails keeps this one
        res["ab"] = {} if args.skip_ab else ab(args.ab_repeats, work)
        partial.write_text(json.dumps(res, indent=1))
        res["cost"] = cost(work)
    (ROOT / ".xcel").mkdir(exist_ok=True)
    (ROOT / ".xcel" / "bench-coverage.json").write_text(json.dumps(res, indent=1))
    body = render(res)
    parts = (["CI coverage"] if res["coverage"] else []) + ([] if args.skip_ab else ["A/B verdicts"]) + ["cost"]
    title = "Numbers you can bet on: " + ", ".join(parts)
    write_section(Path(args.out), args.section, title, body)
    print(body)


if __name__ == "__main__":
    main()
