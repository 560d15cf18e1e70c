"""Fidelity at real shapes: real third-party models (tests/realmodels.py) measured by us against a
bare loop of the runtime's own API at the same shape and data; writes the ``realshapes`` section.

    python benchmarks/realshapes.py [--pairs 4] [--out BENCHMARKS.md]

For each model and runtime (ONNX Runtime and OpenVINO, 1 thread): the inputs are made once
(the shapes below, the data our resolver chooses) and saved to a ``.npz`` that both sides read;
then interleaved pairs (our round, then a bare-loop process, order alternating), each side timing
the same number of runs; the median of the per-pair ratios of medians (goal: within ±5%).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from _record import write_section  # noqa: E402
from tests import realmodels  # noqa: E402

from xcelerator.measure.core import inputs_for, run_round  # noqa: E402
from xcelerator.models.artifact import load_artifact  # noqa: E402
from xcelerator.rounds.plan import Plan  # noqa: E402
from xcelerator.rounds.runner import make_inputs  # noqa: E402
from xcelerator.targets.registry import parse_target  # noqa: E402

CASES: dict[str, dict[str, Any]] = {
    "ocr_det": {"shapes": (("x", (1, 3, 640, 640)),)},
    "ocr_rec": {"shapes": (("x", (1, 3, 48, 320)),)},
    "ocr_cls": {"shapes": (("x", (1, 3, 48, 192)),)},
    "silero_vad": {"shapes": (("input", (1, 512)), ("state", (2, 1, 128))), "fills": (("sr", 16000.0),)},
    "magika": {},
}

BARE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    runtime, path, npz, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = np.load(npz)
    feeds = {k: data[k] for k in data.files}
    if runtime == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        run = lambda: s.run(None, feeds)
    else:
        import openvino as ov
        core = ov.Core(); m = core.read_model(path)
        m.reshape({k: ov.PartialShape(list(v.shape)) for k, v in feeds.items()})
        c = core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1})
        r = c.create_infer_request()
        for k, v in feeds.items():
            r.set_tensor(k, ov.Tensor(v))
        run = r.infer
    for _ in range(5):
        run()
    ts = []
    for _ in range(n):
        t = time.perf_counter_ns(); run(); ts.append((time.perf_counter_ns() - t) / 1e6)
    ts.sort()
    print(json.dumps(ts[len(ts) // 2]))
    """
)


def bare(runtime: str, path: str, npz: Path, n: int) -> float:
    p = subprocess.run(
        [sys.executable, "-c", BARE, runtime, path, str(npz), str(n)], capture_output=True, text=True, timeout=1800
    )
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["bare loop failed"])[-1][:200])
    return float(p.stdout.strip().splitlines()[-1])


def run(pairs: int, work: Path) -> list[dict[str, Any]]:
    rows = []
    for name, case in CASES.items():
        art = load_artifact(realmodels.path(name))
        base = Plan(shapes=case.get("shapes", ()), fills=case.get("fills", ()))
        specs = inputs_for(art, base)
        npz = work / f"{name}.npz"
        np.savez(npz, **make_inputs([s.to_dict() for s in specs], 0, None))
        shape = ", ".join(f"{s.name} {'x'.join(map(str, s.shape)) or 'scalar'}" for s in specs)
        for runtime in ("onnxruntime", "openvino"):
            t = parse_target(f"{runtime}?threads=1")
            plan = base.replace(input="npz", npz=str(npz), fills=(), min_rounds=1, max_rounds=1, warmup_runs=5)
            try:
                probe = run_round(art, t, plan.replace(min_runs=5, max_runs=5, min_seconds=0, max_seconds=60), 0, False)
                if probe.status != "ok":
                    raise RuntimeError(probe.error)
                est = statistics.median(probe.samples_ms)
                n = int(max(20, min(2000, 3000 / max(est, 1e-3))))  # about 3 s of timed runs per side
                fixed = plan.replace(min_runs=n, max_runs=n, min_seconds=0, max_seconds=3600)
                ratios, ours, theirs = [], [], []
                for i in range(pairs):
                    got: dict[str, float] = {}
                    for who in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
                        if who == "ours":
                            rr = run_round(art, t, fixed, 0, False)
                            if rr.status != "ok":
                                raise RuntimeError(rr.error)
                            got["ours"] = statistics.median(rr.samples_ms)
                        else:
                            got["bare"] = bare(runtime, art.path, npz, n)
                    ratios.append(got["ours"] / got["bare"])
                    ours.append(got["ours"])
                    theirs.append(got["bare"])
                rows.append(
                    {
                        "model": name,
                        "shape": shape,
                        "runtime": runtime,
                        "runs": n,
                        "ours_ms": statistics.median(ours),
                        "bare_ms": statistics.median(theirs),
                        "ratio": statistics.median(ratios),
                        "ratios": ratios,
                    }
                )
            except Exception as e:  # a model a runtime cannot run at this shape: reported with its cause
                rows.append({"model": name, "shape": shape, "runtime": runtime, "error": str(e)[:200]})
    return rows


def render(rows: list[dict[str, Any]], pairs: int) -> str:
    L = [
        f"Our median against a bare loop of the runtime's own API, same shape and data, 1 thread, {pairs} "
        "interleaved pairs per cell (median of per-pair ratios; goal 0.95–1.05).\n",
        "| model | inputs | runtime | runs per side | ours ms | bare ms | ratio | within ±5% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            L.append(f"| {r['model']} | {r['shape']} | {r['runtime']} | - | - | - | failed: {r['error'][:90]} | - |")
            continue
        ok = "yes" if 0.95 <= r["ratio"] <= 1.05 else "no"
        L.append(
            f"| {r['model']} | {r['shape']} | {r['runtime']} | {r['runs']} | {r['ours_ms']:.4g} | "
            f"{r['bare_ms']:.4g} | {r['ratio']:.3f} | {ok} |"
        )
    done = [r for r in rows if "error" not in r]
    within = sum(0.95 <= r["ratio"] <= 1.05 for r in done)
    L.append(f"\n{within} of {len(done)} measured cells within ±5%; {len(rows) - len(done)} cell(s) failed to run.")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rows = run(args.pairs, Path(d))
    (ROOT / ".xcel").mkdir(exist_ok=True)
    (ROOT / ".xcel" / "bench-realshapes.json").write_text(json.dumps(rows, indent=1))
    body = render(rows, args.pairs)
    write_section(Path(args.out), "realshapes", "Real models at real shapes: fidelity", body)
    print(body)


if __name__ == "__main__":
    main()
