"""Benchmarks of the profiler itself; writes its section of BENCHMARKS.md.

    python benchmarks/profiler.py [--quick] [--out BENCHMARKS.md]

1. Fidelity: our median against a bare timing loop of the same runtime on the same model, in
   interleaved pairs (our round, then a bare-loop process, order alternating), 1 thread; the
   median of per-pair ratios. ONNX Runtime and OpenVINO on mobilenet_v2 and resnet18 at 224 px;
   OpenVINO also against its own ``benchmark_app`` median.
2. Stability: the spread ((max-min)/median) of one model's median over 5 repeated ``profile``
   runs, and of the A/B ratio of two models over 5 repeated ``compare`` runs.
3. Cost: wall time of a profile to a 1% CI against a fixed 1000-run loop; the harness overhead
   per timed run (our loop timing a no-op, and our median minus the bare loop's on a tiny model).
4. Layer coverage: the share of the end-to-end time explained by the layer times, per runtime.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
import _record  # noqa: E402  (first: it notes the commit the run starts from)

os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from xcelerator.measure.core import measure, measure_many, run_round  # noqa: E402
from xcelerator.models.artifact import Artifact  # noqa: E402
from xcelerator.models.export import materialize  # noqa: E402
from xcelerator.models.zoo import parse_name  # noqa: E402
from xcelerator.rounds.plan import Plan  # noqa: E402
from xcelerator.rounds.runner import time_loop  # noqa: E402
from xcelerator.targets.registry import parse_target  # noqa: E402

BARE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    runtime, path, n, shape, dtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    if runtime == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        run = lambda: s.run(None, {name: x})
    else:
        import openvino as ov
        c = ov.Core().compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1})
        r = c.create_infer_request(); r.set_tensor(c.inputs[0], ov.Tensor(x))
        run = r.infer
    for _ in range(6):
        run()
    t = []
    for _ in range(n):
        a = time.perf_counter(); run(); t.append((time.perf_counter() - a) * 1000)
    t.sort()
    print(json.dumps({"median_ms": t[len(t) // 2]}))
    """
)


def bare_loop(runtime: str, a: Artifact, n: int) -> float:
    shape = [int(d) for d in a.inputs[0].shape]
    out = subprocess.run(
        [sys.executable, "-c", BARE, runtime, a.path, str(n), json.dumps(shape), a.inputs[0].dtype],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["median_ms"])


def benchmark_app(a: Artifact, seconds: int) -> float | None:
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    if not Path(exe).exists():
        return None
    out = subprocess.run(
        [
            exe,
            "-m",
            a.path,
            "-d",
            "CPU",
            "-hint",
            "none",
            "-nstreams",
            "1",
            "-nthreads",
            "1",
            "-api",
            "sync",
            "-t",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    m = re.search(r"Median:\s+([\d.]+) ms", out.stdout)
    return float(m.group(1)) if m else None


def spread(xs: list[float]) -> float:
    return (max(xs) - min(xs)) / statistics.median(xs)


def fidelity(models: list[str], pairs: int, n: int) -> list[dict[str, Any]]:
    rows = []
    for name in models:
        a = materialize(parse_name(name), "onnx")
        for uri in ("onnxruntime?threads=1", "openvino?threads=1"):
            t = parse_target(uri)
            plan = Plan(min_runs=n, max_runs=n, min_seconds=0, max_seconds=600, min_rounds=1, max_rounds=1)
            ratios, ours_l, bare_l = [], [], []
            for i in range(pairs):
                order = ("ours", "bare") if i % 2 == 0 else ("bare", "ours")
                got: dict[str, float] = {}
                for who in order:
                    if who == "ours":
                        rr = run_round(a, t, plan, 0, layers=False)
                        got["ours"] = statistics.median(rr.samples_ms)
                    else:
                        got["bare"] = bare_loop(t.runtime, a, n)
                ratios.append(got["ours"] / got["bare"])
                ours_l.append(got["ours"])
                bare_l.append(got["bare"])
            row = {
                "model": name,
                "target": uri,
                "pairs": pairs,
                "runs": n,
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "ours_ms": statistics.median(ours_l),
                "bare_ms": statistics.median(bare_l),
            }
            if t.runtime == "openvino":
                ba = [benchmark_app(a, 3) for _ in range(3)]
                ba_ok = [x for x in ba if x]
                if ba_ok:
                    row["benchmark_app_ms"] = statistics.median(ba_ok)
                    row["ratio_vs_benchmark_app"] = row["ours_ms"] / row["benchmark_app_ms"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def stability(repeats: int, plan: Plan) -> dict[str, Any]:
    t = parse_target("onnxruntime?threads=1")
    a = materialize(parse_name("mobilenet_v2_0.5_128"), "onnx")
    b = materialize(parse_name("squeezenet_96"), "onnx")
    meds, cis, ratios, walls = [], [], [], []
    for _ in range(repeats):
        t0 = time.time()
        m = measure(a, t, plan)
        walls.append(time.time() - t0)
        assert m.stats is not None
        meds.append(m.stats.median_ms)
        cis.append(m.stats.rel_ci)
    for _ in range(repeats):
        ma, mb = measure_many([(a, t), (b, t)], plan)
        assert ma.stats and mb.stats
        ratios.append(mb.stats.median_ms / ma.stats.median_ms)
    out = {
        "model": a.name,
        "model_b": b.name,
        "target": t.uri,
        "repeats": repeats,
        "medians_ms": meds,
        "median_spread": spread(meds),
        "reported_rel_ci": cis,
        "ratios": ratios,
        "ratio_spread": spread(ratios),
        "profile_wall_s": statistics.median(walls),
    }
    print(json.dumps(out), file=sys.stderr)
    return out


def cost(plan: Plan) -> dict[str, Any]:
    t = parse_target("onnxruntime?threads=1")
    a = materialize(parse_name("mobilenet_v2_0.5_128"), "onnx")
    t0 = time.time()
    m = measure(a, t, plan)
    ours_wall = time.time() - t0
    t0 = time.time()
    bare_loop("onnxruntime", a, 1000)
    bare_wall = time.time() - t0
    noop, _ = time_loop(lambda: None, {"min_runs": 20000, "max_runs": 20000, "min_seconds": 0, "max_seconds": 60})
    noop_us = statistics.median(noop) * 1000
    # per-run harness overhead on a real (tiny) model: our median minus the bare loop's
    from tests.conftest import make_conv_model

    tiny = ROOT / ".xcel" / "bench-tiny.onnx"
    tiny.parent.mkdir(parents=True, exist_ok=True)
    make_conv_model(tiny)
    from xcelerator.models.artifact import load_artifact

    ta = load_artifact(tiny)
    diffs = []
    p1 = Plan(min_runs=5000, max_runs=5000, min_seconds=0, max_seconds=600, min_rounds=1, max_rounds=1)
    for _ in range(5):
        rr = run_round(ta, t, p1, 0, layers=False)
        diffs.append((statistics.median(rr.samples_ms) - bare_loop("onnxruntime", ta, 5000)) * 1000)
    out = {
        "profile_wall_s": ours_wall,
        "profile_runs": m.stats.n if m.stats else 0,
        "profile_rounds": len(m.rounds),
        "profile_rel_ci": m.stats.rel_ci if m.stats else None,
        "loop1000_wall_s": bare_wall,
        "noop_timing_us": noop_us,
        "tiny_model_overhead_us": statistics.median(diffs),
        "tiny_model_overhead_us_all": diffs,
    }
    print(json.dumps(out), file=sys.stderr)
    return out


def coverage(models: list[str]) -> list[dict[str, Any]]:
    rows = []
    plan = Plan(layers=True, min_rounds=1, max_rounds=1, max_seconds=2, rel_ci=0.02, profile_runs=20)
    for name in models:
        zm = parse_name(name)
        for uri, fmt in (
            ("onnxruntime?threads=1", "onnx"),
            ("openvino?threads=1", "onnx"),
            ("torch?threads=1", "torch"),
        ):
            m = measure(materialize(zm, fmt), parse_target(uri), plan)
            layer_sum = sum(x.mean_ms for x in m.layers)
            e2e = m.stats.median_ms if m.stats else float("nan")
            rows.append(
                {
                    "model": name,
                    "target": uri,
                    "layers": len(m.layers),
                    "layer_sum_ms": layer_sum,
                    "median_ms": e2e,
                    "coverage_of_median": layer_sum / e2e,
                    "coverage_of_profiled_runs": 1 - (m.unattributed_share or 0.0),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def render(res: dict[str, Any]) -> str:
    L = [
        f"## Profiler (`benchmarks/profiler.py`{' --quick' if res['quick'] else ''})",
        "",
        f"Runtimes: {res['versions']}.",
        "",
    ]
    L += [
        "### Fidelity: our median / a bare timing loop (interleaved pairs, 1 thread; goal within ±5%)",
        "",
        "| model | target | pairs × runs | ours ms | bare ms | ratio (median) | ratio range | vs benchmark_app |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["fidelity"]:
        ba = (
            f"{r['ratio_vs_benchmark_app']:.3f} ({r['benchmark_app_ms']:.3g} ms)"
            if "ratio_vs_benchmark_app" in r
            else "-"
        )
        L.append(
            f"| {r['model']} | {r['target']} | {r['pairs']} × {r['runs']} | {r['ours_ms']:.3f} | {r['bare_ms']:.3f} "
            f"| {r['ratio_median']:.3f} | {r['ratio_min']:.3f}–{r['ratio_max']:.3f} | {ba} |"
        )
    s = res["stability"]
    L += [
        "",
        f"### Stability ({s['repeats']} repeats, {s['target']}; goal: A/B ratio spread ≤ 3%)",
        "",
        f"- median of {s['model']} over repeated `profile` runs: "
        + ", ".join(f"{x:.4f}" for x in s["medians_ms"])
        + f" ms → spread {100 * s['median_spread']:.1f}% "
        f"(reported CI half-widths {', '.join(f'{100 * c:.1f}%' for c in s['reported_rel_ci'])})",
        f"- ratio {s['model_b']} / {s['model']} over repeated `compare` runs: "
        + ", ".join(f"{x:.4f}" for x in s["ratios"])
        + f" → spread {100 * s['ratio_spread']:.1f}%",
    ]
    c = res["cost"]
    L += [
        "",
        "### Cost",
        "",
        f"- `profile` of mobilenet_v2_0.5_128 with the default plan (rel CI {100 * Plan().rel_ci:g}%, "
        f"{Plan().min_rounds}..{Plan().max_rounds} rounds): "
        f"{c['profile_wall_s']:.1f} s wall, {c['profile_runs']} timed runs in {c['profile_rounds']} rounds, "
        f"final CI ±{100 * (c['profile_rel_ci'] or 0):.1f}%; a fixed 1000-run bare loop (one process): "
        f"{c['loop1000_wall_s']:.1f} s",
        f"- harness overhead per timed run: timing a no-op in our loop {c['noop_timing_us']:.2f} µs; "
        f"our median minus the bare loop's on a tiny ONNX model: {c['tiny_model_overhead_us']:.2f} µs "
        f"(5 pairs: {', '.join(f'{d:.2f}' for d in c['tiny_model_overhead_us_all'])}) (goal < 20 µs)",
    ]
    L += [
        "",
        "### Layer coverage (sum of per-node times from the runtime's profiler)",
        "",
        "| model | target | nodes | layer sum ms | timed median ms | sum / median | explained in profiled runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["coverage"]:
        L.append(
            f"| {r['model']} | {r['target']} | {r['layers']} | {r['layer_sum_ms']:.3f} | {r['median_ms']:.3f} "
            f"| {100 * r['coverage_of_median']:.0f}% | {100 * r['coverage_of_profiled_runs']:.0f}% |"
        )
    return "\n".join(L) + "\n"


def write_section(path: Path, name: str, body: str) -> None:
    """The body's first line is its ``## Title``; ``_record`` adds the date, machine, commit and
    the exact command under it (every script writes its section through here)."""
    write = _record.write_section
    first, _, rest = body.lstrip().partition("\n")
    title = first[3:] if first.startswith("## ") else name
    write(path, name, title, rest.lstrip("\n") if first.startswith("## ") else body)


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()} (shared, noisy)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer pairs and repeats")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    import onnxruntime
    import openvino
    import torch

    pairs, n, repeats = (2, 200, 3) if args.quick else (6, 300, 5)
    res: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "date": dt.date.today().isoformat(),
        "versions": f"onnxruntime {onnxruntime.__version__}, openvino {openvino.get_version().split('-')[0]}, "
        f"torch {torch.__version__}",
    }
    res["fidelity"] = fidelity(["mobilenet_v2_1.0_224", "resnet18_224"], pairs, n)
    res["stability"] = stability(repeats, Plan(max_seconds=2.0))
    res["cost"] = cost(Plan())
    res["coverage"] = coverage(["mobilenet_v2_1.0_224", "resnet18_224"])
    (ROOT / ".xcel").mkdir(exist_ok=True)
    (ROOT / ".xcel" / "bench-profiler.json").write_text(json.dumps(res, indent=1))
    write_section(Path(args.out), "profiler", render(res))
    print(render(res))


if __name__ == "__main__":
    main()
