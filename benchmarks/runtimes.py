"""Every usable runtime on the same zoo models, each new runtime against its own bare loop, and
the overhead of the request/result path; writes the ``runtimes`` section of BENCHMARKS.md.

    python benchmarks/runtimes.py [--quick] [--out BENCHMARKS.md]

1. ``xcel compare`` of 4 zoo models on every runtime usable here, 1 thread, interleaved rounds
   (each runtime gets the model in its own format: converted from ONNX for ncnn and MNN, from the
   ``.pt2`` program for ExecuTorch).
2. Fidelity: for ncnn, MNN and ExecuTorch, our round's median against a bare timing loop written
   with the runtime's own API in a separate process (no xcelerator code), in interleaved pairs
   with alternating order; the median of the per-pair ratios (goal: within ±5%).
3. Overhead: on a tiny ONNX model, our round's median minus a bare ONNX Runtime loop's, in
   interleaved pairs (goal: under 20 µs).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from _record import write_section  # noqa: E402

from xcelerator.measure.core import run_round  # noqa: E402
from xcelerator.measure.session import artifact_for  # noqa: E402
from xcelerator.models.artifact import Artifact  # noqa: E402
from xcelerator.rounds.plan import Plan  # noqa: E402
from xcelerator.targets.registry import parse_target, runtimes  # noqa: E402

MODELS = ["mobilenet_v2_1.0_224", "resnet18_224", "squeezenet_224", "bert_tiny_s128"]
NEW = ("ncnn", "mnn", "executorch")

# bare loops: each runtime's own API, nothing of xcelerator; prints the median ms of n runs
BARE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    runtime, path, n, inputs = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(t["shape"]).astype(np.float32) for t in inputs]
    if runtime == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {t["name"]: x for t, x in zip(inputs, xs)}
        run = lambda: s.run(None, feeds)
    elif runtime == "ncnn":
        import ncnn
        net = ncnn.Net(); net.opt.num_threads = 1; net.opt.use_vulkan_compute = False
        net.load_param(path); net.load_model(path[: -len(".param")] + ".bin")
        mats = [(nm, ncnn.Mat(np.ascontiguousarray(x[0] if x.ndim >= 4 else x)))
                for nm, x in zip(net.input_names(), xs)]
        outs = list(net.output_names())
        def run():
            ex = net.create_extractor()
            for nm, m in mats:
                ex.input(nm, m)
            for o in outs:
                ex.extract(o)
    elif runtime == "mnn":
        import MNN
        it = MNN.Interpreter(path)
        sess = it.createSession({"numThread": 1, "backend": "CPU", "precision": "normal"})
        for t, x in zip(inputs, xs):
            it.getSessionInput(sess, t["name"]).copyFrom(
                MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
        run = lambda: it.runSession(sess)
    elif runtime == "executorch":
        import torch
        from executorch.extension.pybindings import portable_lib as pl
        pl._unsafe_reset_threadpool(1)
        mod = pl._load_for_executorch(path)
        args = [torch.from_numpy(x) for x in xs]
        run = lambda: mod.forward(args)
    for _ in range(10):
        run()
    ts = []
    for _ in range(n):
        t = time.perf_counter_ns(); run(); ts.append((time.perf_counter_ns() - t) / 1e6)
    ts.sort()
    print(json.dumps(ts[len(ts) // 2]))
    """
)


def bare_loop(runtime: str, a: Artifact, n: int) -> float:
    inputs = [t.to_dict() for t in a.inputs]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", BARE, runtime, a.path, str(n), json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "bare loop failed")
    return float(out.stdout.strip().splitlines()[-1])


def compare_all(models: list[str], targets: list[str], rounds: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "xcelerator.cli.main", "--db", str(Path(d) / "r.db"), "compare", *models]
        for t in targets:
            cmd += ["-t", t]
        cmd += ["--rounds", rounds, "--min-time", "0.5", "--max-time", "2", "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if not p.stdout.strip():
        raise RuntimeError(p.stderr[-2000:])
    doc = json.loads(p.stdout)
    doc["command_exit"] = p.returncode
    return dict(doc)


def fidelity(models: list[str], pairs: int, n: int) -> list[dict[str, Any]]:
    rows = []
    plan = Plan(min_runs=n, max_runs=n, min_seconds=0, max_seconds=600, min_rounds=1, max_rounds=1, warmup_runs=10)
    for rt in NEW:
        if not runtimes()[rt].probe()[0]:
            rows.append({"runtime": rt, "model": "-", "error": runtimes()[rt].probe()[1]})
            continue
        t = parse_target(f"{rt}?threads=1")
        for model in models:
            try:
                a = artifact_for(model, t)
                ratios, ours_l, bare_l = [], [], []
                for i in range(pairs):
                    got: dict[str, float] = {}
                    for who in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
                        if who == "ours":
                            rr = run_round(a, t, plan, 0, layers=False)
                            if rr.status != "ok":
                                raise RuntimeError(rr.error)
                            got["ours"] = statistics.median(rr.samples_ms)
                        else:
                            got["bare"] = bare_loop(rt, a, n)
                    ratios.append(got["ours"] / got["bare"])
                    ours_l.append(got["ours"])
                    bare_l.append(got["bare"])
                rows.append(
                    {
                        "runtime": rt,
                        "model": model,
                        "ours_ms": statistics.median(ours_l),
                        "bare_ms": statistics.median(bare_l),
                        "ratio": statistics.median(ratios),
                        "ratios": ratios,
                    }
                )
            except Exception as e:  # a model this runtime cannot convert or run: reported, not hidden
                rows.append({"runtime": rt, "model": model, "error": f"{type(e).__name__}: {str(e)[:160]}"})
    return rows


def overhead(pairs: int) -> dict[str, Any]:
    from tests.conftest import make_conv_model

    from xcelerator.models.artifact import load_artifact

    with tempfile.TemporaryDirectory() as d:
        a = load_artifact(make_conv_model(Path(d) / "tiny.onnx", cin=1, cout=2, hw=4, classes=2))
        t = parse_target("onnxruntime?threads=1")
        n = 5000
        plan = Plan(min_runs=n, max_runs=n, min_seconds=0, max_seconds=600, min_rounds=1, max_rounds=1)
        diffs, ours_l = [], []
        for i in range(pairs):
            got: dict[str, float] = {}
            for who in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
                if who == "ours":
                    got["ours"] = statistics.median(run_round(a, t, plan, 0, layers=False).samples_ms)
                else:
                    got["bare"] = bare_loop("onnxruntime", a, n)
            diffs.append((got["ours"] - got["bare"]) * 1000)
            ours_l.append(got["ours"] * 1000)
    return {"diff_us": statistics.median(diffs), "diffs_us": diffs, "ours_us": statistics.median(ours_l)}


def render(res: dict[str, Any]) -> str:
    L = []
    cmp = res["compare"]
    ms = cmp["measurements"]
    targets = list(dict.fromkeys(m["target"] for m in ms))
    models = list(dict.fromkeys(m["model"] for m in ms))
    L.append(
        f"Median ms (95% CI) of `xcel compare` over {len(models)} zoo models × {len(targets)} runtimes, 1 thread, "
    )
    L.append(f"interleaved rounds ({res['rounds']} per pair); exit status {cmp['command_exit']}.\n")
    L.append("| model | " + " | ".join(t.split("?")[0] for t in targets) + " |")
    L.append("|---" * (len(targets) + 1) + "|")
    for model in models:
        cells = []
        for t in targets:
            m = next((x for x in ms if x["model"] == model and x["target"] == t), None)
            if m is None or m["status"] != "ok":
                err = (m["error"] or "").replace("|", "/")[:70] if m else "missing"
                cells.append(f"{m['status'] if m else '-'}: {err}")
            else:
                s = m["stats"]
                cells.append(f"{s['median_ms']:.3g} ({s['ci_low_ms']:.3g}–{s['ci_high_ms']:.3g})")
        L.append(f"| {model} | " + " | ".join(cells) + " |")
    fails = [m for m in ms if m["status"] != "ok"]
    L.append(f"\n{len(ms) - len(fails)} of {len(ms)} model × runtime cells measured.\n")
    L.append(f"Fidelity of the new runtimes: our median / a bare loop of the runtime's own API ({res['pairs']} ")
    L.append(f"interleaved pairs of {res['n']} runs, 1 thread; goal 0.95–1.05).\n")
    L.append("| runtime | model | ours ms | bare ms | ratio (median of pairs) | within ±5% |")
    L.append("|---|---|---|---|---|---|")
    for r in res["fidelity"]:
        if "error" in r:
            L.append(f"| {r['runtime']} | {r['model']} | - | - | {r['error'][:90]} | - |")
        else:
            ok = "yes" if 0.95 <= r["ratio"] <= 1.05 else "no"
            L.append(
                f"| {r['runtime']} | {r['model']} | {r['ours_ms']:.4g} | {r['bare_ms']:.4g} | {r['ratio']:.3f} | {ok} |"
            )
    o = res["overhead"]
    verdict = "under" if o["diff_us"] < 20 else "over"
    L.append(
        f"\nRequest/result path overhead on a tiny ONNX model (median {o['ours_us']:.1f} µs per run): our "
        f"median minus a bare ONNX Runtime loop's = {o['diff_us']:.2f} µs (median of {len(o['diffs_us'])} "
        f"interleaved pairs; {verdict} the 20 µs goal)."
    )
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer pairs and rounds")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    pairs, n, rounds = (2, 100, "2") if args.quick else (4, 200, "3")
    usable = [name for name, spec in runtimes().items() if spec.probe()[0]]
    res: dict[str, Any] = {"pairs": pairs, "n": n, "rounds": rounds}
    res["compare"] = compare_all(MODELS, [f"{r}?threads=1" for r in usable], rounds)
    res["fidelity"] = fidelity(MODELS[:2], pairs, n)
    res["overhead"] = overhead(pairs * 2)
    (ROOT / ".xcel").mkdir(exist_ok=True)
    (ROOT / ".xcel" / "bench-runtimes.json").write_text(json.dumps(res, indent=1))
    body = render(res)
    write_section(Path(args.out), "runtimes", "Runtimes: every usable runtime, fidelity, overhead", body)
    print(body)


if __name__ == "__main__":
    main()
