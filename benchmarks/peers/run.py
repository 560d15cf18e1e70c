"""Side by side with what users would pick instead; writes the ``peers`` section of BENCHMARKS.md.

    python benchmarks/peers/run.py [--models tfcnn,mbnet,vit] [--peers ort-static,olive,inc,aimet,nncf,torch-pruning]
                                   [--budget 20] [--max-drop 0.01]      (make bench-peers)

Each peer runs in its own virtual environment under ``.xcel/peers/`` (made here, pinned
versions; its packages never enter ours), driven the way its docs tell a user (the scripts
beside this one), on the same work: the benchmark networks of ``benchmarks/joint.py`` trained the
same way, the same 256 calibration images, the same fine-tuning budget, the same validation
bound (1 point). Ours is ``xc.optimize`` with precision fp32/int8 on the runtime of each column.
Every file that comes back, ours included, is re-judged the same way: measured side by side with
the baseline's FP32 file on that runtime, interleaved (the A/B protocol), and scored on the
10,000 test images (Wilson 95 % CI; the drop paired, bootstrap CI). A peer that fails to install
or crashes is a row with its error and version; its own log is kept beside its files
(``.xcel/peers/<network>/<peer>/log.txt``). Olive is given as many candidates as ours; Intel Neural
Compressor a tuning timeout (``--peer-timeout``); AIMET's AdaRound ``--adaround-iterations`` steps
per layer (its guide recommends 10,000; fewer keep its wall time near ours).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _record import ROOT, write_section  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# peer -> its script, what its environment installs, the runtime its file runs on, and its
# arguments after WORK OUT (from the run's options and the network's name)
PEERS: dict[str, dict[str, Any]] = {
    "ort-static": {
        "script": "ort_static.py",
        "pins": ["onnxruntime==1.32.0", "onnx==1.23.2"],
        "runtime": "onnxruntime",
        "args": lambda a, name: [],
    },
    "olive": {
        "script": "olive_ort.py",
        # requests and psutil: imported by its telemetry and its session tuning, not declared
        "pins": [
            "olive-ai==0.13.0",
            "onnxruntime==1.32.0",
            "onnx==1.23.2",
            "torch==2.13.0",
            "requests==2.34.2",
            "psutil==7.2.2",
            "tabulate==0.10.0",
        ],
        "runtime": "onnxruntime",
        "args": lambda a, name: [str(a.budget)],  # as many candidates as ours
    },
    "inc": {
        "script": "inc_ort.py",
        # 2.6: the last release with the ONNX Runtime backend; it calls onnx.mapping (gone after onnx 1.16)
        "pins": ["neural-compressor==2.6", "onnxruntime==1.32.0", "onnx==1.16.2", "six==1.17.0"],
        "runtime": "onnxruntime",
        "args": lambda a, name: [str(a.peer_timeout)],
    },
    "aimet": {
        "script": "aimet_onnx_ptq.py",
        "pins": ["aimet-onnx==2.42.0", "aimet-torch==2.42.0", "torch==2.13.0"],
        "runtime": "onnxruntime",
        "args": lambda a, name: [str(a.adaround_iterations)],
    },
    "nncf": {
        "script": "nncf_ov.py",
        "pins": ["nncf==3.4.0", "openvino==2026.4.1", "onnx==1.23.2"],
        "runtime": "openvino",
        "args": lambda a, name: [],
    },
    "torch-pruning": {
        "script": "tp_uniform.py",
        "pins": ["torch==2.13.0", "torch-pruning==1.6.1", "onnx==1.23.2", "onnxscript", "numpy"],
        "runtime": "onnxruntime",
        "args": lambda a, name: [name, str(a.epochs), f"{a.max_drop:g}"],
    },
}
TARGETS = {"onnxruntime": "onnxruntime?threads=1", "openvino": "openvino?threads=1"}


def venv(peer: str) -> tuple[Path | None, str]:
    """The peer's own environment (made once; remade when its pins change): its python, or the
    install's error."""
    d = ROOT / ".xcel" / "peers" / f"venv-{peer}"
    py = d / "bin" / "python"
    stamp = d / ".pins"
    pins = PEERS[peer]["pins"]
    if py.exists() and stamp.exists() and stamp.read_text() == " ".join(pins):
        return py, ""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(d)], check=True)
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", *pins], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip().splitlines()[-1][:300]
    stamp.write_text(" ".join(pins))
    return py, ""


def prepare(name: str, args: argparse.Namespace, data: Any) -> tuple[Path, Any]:
    """The shared work of one network: its baseline (trained as benchmarks/joint.py trains it)
    as ONNX and weights, the calibration, fine-tuning and validation images."""
    import joint

    from xcelerator.models.export import export_onnx

    work = ROOT / ".xcel" / "peers" / name
    work.mkdir(parents=True, exist_ok=True)
    net = joint.pretrained(name, data, args.pretrain_images, args.pretrain_epochs)
    export_onnx(net, (torch.zeros(1, 1, 28, 28),), work / "baseline.onnx", ["input"])
    torch.save(net.state_dict(), work / "baseline.pt")
    np.savez(work / "calib.npz", x=data.x_train[: args.calibration].numpy())
    fi = args.finetune_images
    np.savez(work / "finetune.npz", x=data.x_train[-fi:].numpy(), y=data.y_train[-fi:].numpy())
    np.savez(work / "val.npz", x=data.x_val[: args.val_images].numpy(), y=data.y_val[: args.val_images].numpy())
    return work, net


def run_peer(peer: str, name: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The peer's rows for one network: file, runtime, what it chose, its own figure, wall time;
    or its error."""
    py, err = venv(peer)
    spec = PEERS[peer]
    tried = " ".join(spec["pins"])  # the version of a row that has none of its own: what was installed
    if py is None:
        return [{"tool": peer, "runtime": spec["runtime"], "error": f"install failed: {err}", "version": tried}]
    out = work / peer
    shutil.rmtree(out, ignore_errors=True)  # nothing of an earlier run is handed back as this one's
    out.mkdir(parents=True)
    t = time.perf_counter()
    p = subprocess.run(
        [str(py), str(HERE / spec["script"]), str(work), str(out), *spec["args"](args, name)],
        capture_output=True, text=True, timeout=3600, cwd=out,  # a peer's workspace files land in out
    )  # fmt: skip
    (out / "log.txt").write_text(p.stdout + p.stderr)
    wall = time.perf_counter() - t
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    why = "killed (SIGKILL)" if p.returncode == -9 else f"exit {p.returncode}: {tail[0][:300]}"
    if not (out / "result.json").exists():
        return [{"tool": peer, "runtime": spec["runtime"], "error": why, "version": tried}]
    res = json.loads((out / "result.json").read_text())
    rows = res.get("rows") or [res]
    if p.returncode != 0:  # what it wrote before it ended, then a row for the rest
        rows = [*rows, {"variant": "the step after these", "error": why}]
    return [
        {
            "tool": peer if len(rows) == 1 else f"{peer} ({r['variant']})",
            "runtime": res["runtime"],
            "file": r.get("file"),
            "chose": r.get("chose") or r.get("variant", ""),
            "own": r.get("own"),
            "version": res.get("version") or tried,
            "wall_s": round(r["wall_s"] if r.get("wall_s") is not None else wall, 1),  # its own step's, if it timed it
            **({"error": r["error"]} if r.get("error") else {}),
        }
        for r in rows
    ]


def ours(name: str, net: Any, runtime: str, args: argparse.Namespace, data: Any, store: Any) -> dict[str, Any]:
    import joint

    import xcelerator as xc

    xf, yf = data.x_train[-args.finetune_images :], data.y_train[-args.finetune_images :]
    xv, yv = data.x_val[: args.val_images], data.y_val[: args.val_images]

    def train(module: torch.nn.Module, epochs: int) -> torch.nn.Module:
        from xcelerator.demo.data import fit

        torch.manual_seed(7)
        return fit(module, xf, yf, epochs, lr=2e-4, batch=128, seed=7)

    def evaluate(module: torch.nn.Module) -> float:
        return float(joint.right(module, xv, yv).mean())

    t = time.perf_counter()
    out = ROOT / ".xcel" / "peers" / name / f"ours-{runtime}"
    shutil.rmtree(out, ignore_errors=True)  # an earlier run's trained networks would be reused: a fresh start
    res = xc.optimize(
        net, torch.zeros(1, 1, 28, 28), train=train, evaluate=evaluate, target=TARGETS[runtime],
        precision=("fp32", "int8"), calibration=data.x_train[: args.calibration], budget=args.budget,
        epochs=args.epochs, finetune_baseline=True, confirm=False, db=store, seed=0,
        constraints=[f"accuracy>=baseline-{args.max_drop:g}"], out=out,
        study=f"peers-{name}-{runtime}-{int(t)}",
    )  # fmt: skip
    b = res.best
    row: dict[str, Any] = {"tool": "xcelerator", "runtime": runtime, "wall_s": round(time.perf_counter() - t, 1),
                           "version": f"xcelerator {xc.__version__}"}  # fmt: skip
    if b is None:
        return {**row, "file": res.baseline.onnx, "chose": "kept the FP32 baseline", "own": None}
    chose = f"{b.precision}, {', '.join(f'{k}={v}' for k, v in b.point.items() if k.startswith('ratio:') and v)}"
    if b.fp32_ops:
        chose += f", {len(b.fp32_ops)} ops FP32"
    return {**row, "file": b.artifact or b.onnx, "chose": chose, "own": {"val_accuracy": b.accuracy}}


def judge(rows: list[dict[str, Any]], work: Path, runtime: str, data: Any, store: Any) -> None:
    """Every file of one runtime column, the baseline first, measured side by side (A/B), and
    its test accuracy: in place."""
    import joint

    import xcelerator as xc
    from xcelerator.demo.data import paired_drop, wilson

    files = {"baseline": work / "baseline.onnx"}
    for i, r in enumerate(rows):
        if r.get("file") and not r.get("error"):
            files[f"{i}"] = Path(r["file"])
    timing = joint.side_by_side(files, TARGETS[runtime], store)
    rights = {k: joint.right(xc.deployed(f, TARGETS[runtime]), data.x_test, data.y_test) for k, f in files.items()}
    for k in files:
        r = rights[k]
        lo, hi = wilson(int(r.sum()), len(r))
        drop = list(paired_drop(rights["baseline"], r)) if k != "baseline" else None
        entry = {"test_accuracy": float(r.mean()), "test_ci": [lo, hi], "median_ms": timing[k]["median_ms"],
                 "ab": timing[k]["ab"], "drop": drop}  # fmt: skip
        if k == "baseline":
            rows.insert(0, {"tool": "baseline (FP32)", "runtime": runtime, "chose": "-", **entry})
        else:
            rows[int(k) + 1].update(entry)


def table(docs: list[dict[str, Any]]) -> str:
    """The section's table from the re-judged rows (recorded or fresh)."""
    lines = [
        "| model | runtime | tool | what it chose | speed-up vs FP32 [95% CI] | test accuracy [95% CI] | drop, points "
        "[95% CI] | wall s | its own figure | version |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in docs:
        for r in d["rows"]:
            if r.get("error"):
                lines.append(
                    f"| {d['model']} | {r['runtime']} | {r['tool']} | failed: {r['error']} | - | - | - | - | - | "
                    f"{r.get('version') or '-'} |"
                )
                continue
            ab = r.get("ab")
            sp = f"{ab['speedup']:.2f} [{ab['ci_low']:.2f}, {ab['ci_high']:.2f}]" if ab and ab.get("ci_low") else "1"
            acc = f"{r['test_accuracy']:.4f} [{r['test_ci'][0]:.4f}, {r['test_ci'][1]:.4f}]"
            dr = r.get("drop")
            drop = f"{100 * dr[0]:.2f} [{100 * dr[1]:.2f}, {100 * dr[2]:.2f}]" if dr else "-"
            own = ", ".join(f"{k} {v:.4f}" for k, v in (r.get("own") or {}).items()) or "-"
            wall = f"{r['wall_s']:.0f}" if r.get("wall_s") is not None else "-"
            head = f"| {d['model']} | {r['runtime']} | {r['tool']} | {r.get('chose', '')}"
            lines.append(f"{head} | {sp} | {acc} | {drop} | {wall} | {own} | {r.get('version') or '-'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tfcnn,mbnet,vit")
    ap.add_argument("--peers", default=",".join(PEERS))
    import joint

    joint.budget_args(ap)  # the same work as benchmarks/joint.py gives every arm
    ap.add_argument("--max-drop", type=float, default=0.01)
    ap.add_argument("--peer-timeout", type=int, default=300, help="Neural Compressor's tuning timeout, seconds")
    ap.add_argument("--adaround-iterations", type=int, default=1000, help="AIMET AdaRound steps per layer")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from xcelerator.demo.data import load
    from xcelerator.store.db import Store

    data = load("fashion-mnist")
    (ROOT / ".xcel" / "peers").mkdir(parents=True, exist_ok=True)
    store = Store(str(ROOT / ".xcel" / "peers" / "bench.db"))
    peers = [p for p in args.peers.split(",") if p]
    docs = []
    for name in args.models.split(","):
        work, net = prepare(name, args, data)
        rows = [r for p in peers for r in run_peer(p, name, work, args)]
        for runtime in dict.fromkeys(r["runtime"] for r in rows):
            col = [ours(name, net, runtime, args, data, store), *[r for r in rows if r["runtime"] == runtime]]
            judge(col, work, runtime, data, store)
            docs.append({"model": name, "runtime": runtime, "rows": col})
            print(table(docs[-1:]), flush=True)
        (ROOT / ".xcel" / "peers" / "peers.json").write_text(json.dumps(docs, indent=1, default=str))
    body = "\n".join(
        [
            f"Fashion-MNIST networks of `benchmarks/joint.py` ({', '.join(args.models.split(','))}), each peer in its "
            f"own virtual environment, all given the same {args.calibration} calibration images, the same fine-tuning "
            f"({args.epochs} epoch on {args.finetune_images} images) and the same bound ({100 * args.max_drop:g} point "
            f"of accuracy on {args.val_images} validation images); xcelerator: `xc.optimize` fp32/int8, "
            f"{args.budget} candidates; Olive: as many candidates (its TPE over the quantizer's settings and ORT's "
            f"session options); Neural Compressor: its tuning until the goal holds (timeout {args.peer_timeout} s); "
            f"AIMET: AdaRound {args.adaround_iterations} steps per layer. The quantizers stop by their own rules in "
            "seconds to minutes; `wall s` is each tool's own time. Every file re-measured side by side with the FP32 "
            "baseline on its runtime (one thread, A/B), accuracy on the 10,000 test images; `its own figure` is what "
            "the tool reported for the file it handed back.",
            "",
            table(docs),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "peers", "Side by side with the peers", body)


if __name__ == "__main__":
    main()
