"""The joint search (pruning × precision, on the runtime that ships) against the one-step
alternatives, on Fashion-MNIST networks written for this benchmark.

Networks (each with its own training loop, never used by a test): ``resconcat`` (a residual CNN
with a concatenation branch, 96 channels), ``mbnet`` (depthwise-separable blocks with
squeeze-excitation, MobileNet style), ``vit`` (a small transformer classifier on 4×4 patches),
and ``tfcnn`` (TensorFlow's tutorial CNN, the demo's baseline).

Each network is trained from scratch (cached). Then, per runtime, at equal budgets (the same
number of candidates, each fine-tuned the same epochs on the same images; the baseline too):

- ``joint``: ``xc.optimize(precision=("fp32", "int8"))`` on that runtime;
- ``prune-only``: ``xc.optimize`` in FP32 (channel rounding and sensitivity as in joint);
- ``quantize-only``: the baseline quantized by the runtime's own tool (the same call the
  search makes: ONNX Runtime ``quantize_static`` QDQ per channel, NNCF for OpenVINO);
- ``prune-then-quantize``: prune-only's best, then quantized the same way.

Selection is on validation images (accuracy of the deployed file); every file is then measured
side by side with the baseline's FP32 file, interleaved (the A/B protocol, ``Plan()``), and
scored on the 10,000 held-out test images: Wilson 95 % CIs, the drop against the baseline
paired with a bootstrap CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, write_section

sys.path.insert(0, str(ROOT / "src"))

import numpy as np
import torch
from torch import nn

RUNTIMES = {"onnxruntime": "onnxruntime?threads=1", "openvino": "openvino?threads=1"}


# ----------------------------------------------------------------------------- the networks
class ResConcat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 48, 3, padding=1, bias=False), nn.BatchNorm2d(48), nn.ReLU())
        self.a = nn.Sequential(nn.Conv2d(48, 48, 3, padding=1, bias=False), nn.BatchNorm2d(48), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(48, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(96, 96, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(96), nn.ReLU())
        self.res1 = nn.Sequential(nn.Conv2d(96, 96, 3, padding=1, bias=False), nn.BatchNorm2d(96), nn.ReLU(),
                                  nn.Conv2d(96, 96, 3, padding=1, bias=False), nn.BatchNorm2d(96))  # fmt: skip
        self.fc = nn.Linear(96, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(self.stem(x), 2)
        x = self.down(torch.cat([self.a(x), self.b(x)], 1))
        x = torch.relu(x + self.res1(x))
        return self.fc(x.mean((2, 3)))


class SEBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                                nn.ReLU6())  # fmt: skip
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, max(8, cin // 4), 1), nn.ReLU(),
                                nn.Conv2d(max(8, cin // 4), cin, 1), nn.Hardsigmoid())  # fmt: skip
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dw(x)
        return self.pw(h * self.se(h))


class MBNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())
        self.blocks = nn.Sequential(SEBlock(32, 64, 1), SEBlock(64, 128, 2), SEBlock(128, 128, 1))
        self.fc = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    def __init__(self, d: int = 64) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, d, 4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 49, d))
        self.blocks = nn.Sequential(EncoderLayer(d, 4, 4 * d), EncoderLayer(d, 4, 4 * d))
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.blocks(x).mean(1))


def build(name: str) -> nn.Module:
    from xcelerator.demo.data import TFConvNet

    return {"resconcat": ResConcat, "mbnet": MBNet, "vit": ViT, "tfcnn": TFConvNet}[name]()


# ----------------------------------------------------------------------------- training
def pretrained(name: str, data: Any, images: int, epochs: int) -> nn.Module:
    from xcelerator.demo.data import fit

    cache = ROOT / ".xcel" / "cache" / "bench-joint"
    path = cache / f"{name}-{images}-{epochs}.pt"
    net = build(name)
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    torch.manual_seed(0)
    lr = 1e-3 if name != "vit" else 2e-3
    fit(net, data.x_train[:images], data.y_train[:images], epochs, lr=lr, batch=128, seed=0, one_cycle=True)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


def right(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    from xcelerator.demo.data import predictions

    return (predictions(module, x) == y).numpy()


def side_by_side(files: dict[str, Path], target: str, store: Any) -> dict[str, Any]:
    """Every file on ``target`` in one interleaved run; A/B against the first (the baseline)."""
    from xcelerator.measure.ab import paired
    from xcelerator.measure.session import execute, prepare
    from xcelerator.rounds.plan import Plan

    plan = Plan()
    names = list(files)
    pairs = [prepare([str(files[n])], [target], plan=plan)[0] for n in names]
    from dataclasses import replace

    pairs = [(replace(a, name=n), t) for (a, t), n in zip(pairs, names, strict=True)]
    ms = execute(pairs, plan, store=store).measurements
    out = {}
    for n, m in zip(names, ms, strict=True):
        out[n] = {
            "median_ms": m.stats.median_ms if m.stats else None,
            "ab": paired(ms[0], m).to_dict() if n != names[0] and m.stats and ms[0].stats else None,
        }
    return out


def run_model(name: str, runtimes: list[str], args: argparse.Namespace, data: Any, store: Any) -> dict[str, Any]:
    import xcelerator as xc
    from xcelerator.compress.deploy import Calibration, deploy_file
    from xcelerator.demo.data import fit, paired_drop, wilson
    from xcelerator.targets.registry import parse_target

    t0 = time.time()
    net = pretrained(name, data, args.pretrain_images, args.pretrain_epochs)
    xf, yf = data.x_train[-args.finetune_images :], data.y_train[-args.finetune_images :]
    xv, yv = data.x_val[: args.val_images], data.y_val[: args.val_images]

    def train(module: nn.Module, epochs: int) -> nn.Module:
        torch.manual_seed(7)  # dropout draws from the global generator: the same run gives the same weights
        return fit(module, xf, yf, epochs, lr=2e-4, batch=128, seed=7)

    def evaluate(module: nn.Module) -> float:
        return float(right(module, xv, yv).mean())

    calib = data.x_train[: args.calibration]
    example = torch.zeros(1, 1, 28, 28)
    cal = Calibration.make(calib, (example,))
    doc: dict[str, Any] = {"model": name, "pretrain_seconds": round(time.time() - t0, 1), "runtimes": {}}
    for rt in runtimes:
        target = RUNTIMES[rt]
        runs: dict[str, Any] = {}
        for arm, precision in (("prune-only", ("fp32",)), ("joint", ("fp32", "int8"))):
            t1 = time.time()
            res = xc.optimize(
                net, example, train=train, evaluate=evaluate, target=target, precision=precision, calibration=calib,
                budget=args.budget, epochs=args.epochs, finetune_baseline=True, confirm=False,
                constraints=[f"accuracy>=baseline-{args.max_drop:g}"], db=store, seed=0,
                out=args.out / name / rt / arm, study=f"joint-{name}-{rt}-{arm}-{int(t1)}",
            )  # fmt: skip
            runs[arm] = {"res": res, "seconds": time.time() - t1}
            print(f"{name} {rt} {arm}: {len(res.trials)} candidates in {time.time() - t1:.0f} s", file=sys.stderr)
        base = runs["prune-only"]["res"].baseline
        tgt = parse_target(target)
        files: dict[str, Path] = {"baseline": Path(base.onnx)}
        modules: dict[str, Any] = {}
        chosen: dict[str, Any] = {}
        for arm in ("joint", "prune-only"):
            best = runs[arm]["res"].best
            if best is not None:
                files[arm] = Path(best.artifact or best.onnx)
                chosen[arm] = best
        qdir = args.out / name / rt / "one-step"
        files["quantize-only"] = deploy_file(Path(base.onnx), tgt, "int8", cal, qdir)
        if "prune-only" in chosen:
            files["prune-then-quantize"] = deploy_file(Path(chosen["prune-only"].onnx), tgt, "int8", cal, qdir)
        for arm, f in files.items():
            modules[arm] = xc.deployed(f, tgt)
        timing = side_by_side(files, target, store)
        rights = {arm: right(m, data.x_test, data.y_test) for arm, m in modules.items()}
        rows = {}
        for arm in files:
            r = rights[arm]
            lo, hi = wilson(int(r.sum()), len(r))
            drop = paired_drop(rights["baseline"], r) if arm != "baseline" else None
            c = chosen.get(arm)
            rows[arm] = {
                "file": str(files[arm]),
                "precision": c.precision if c else ("int8" if "quantize" in arm else "fp32"),
                "median_ms": timing[arm]["median_ms"],
                "ab": timing[arm]["ab"],
                "test_accuracy": float(r.mean()),
                "test_ci": [lo, hi],
                "drop": list(drop) if drop else None,
                "macs": c.macs if c else None,
                "point": c.point if c else None,
                "search_seconds": round(runs[arm]["seconds"], 1) if arm in runs else None,
            }
        doc["runtimes"][rt] = {
            "rows": rows,
            "baseline_macs": base.macs,
            "trials": {arm: [t.to_dict() for t in runs[arm]["res"].trials] for arm in runs},
        }
    return doc


# ----------------------------------------------------------------------------- the section
def _fmt_ab(ab: dict[str, Any] | None) -> str:
    if not ab:
        return "1 (reference)"
    return f"{ab['speedup']:.2f}x [{ab['ci_low']:.2f}, {ab['ci_high']:.2f}]"


def section(docs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "Fashion-MNIST, networks written for this benchmark (see `benchmarks/joint.py`). Per runtime, one "
        f"thread: `joint` and `prune-only` are `xc.optimize` runs of {args.budget} candidates each, every "
        f"candidate (and the baseline) fine-tuned {args.epochs} epoch(s) on the same {args.finetune_images} "
        f"images, selected on {args.val_images} validation images at accuracy >= baseline - {args.max_drop:g} "
        "(the deployed file's accuracy). `quantize-only` and `prune-then-quantize` use the runtime's own "
        f"quantizer with the same {args.calibration} calibration images. Speed-up: each file against the "
        "baseline's FP32 file, side by side and interleaved on that runtime (A/B, 95 % CI). Accuracy: the "
        "deployed file on the 10,000 test images (Wilson 95 % CI); drop: baseline minus it, paired "
        "(bootstrap 95 % CI), in points.",
        "",
        "| model | runtime | arm | precision | speed-up [95 % CI] | test accuracy [95 % CI] | drop, points [95 % CI] "
        "| MACs / baseline | search s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts, slower = [], []
    pts = f"{100 * args.goal_drop:g}"
    for d in docs:
        for rt, r in d["runtimes"].items():
            for arm, row in r["rows"].items():
                drop = row["drop"]
                dtxt = f"{100 * drop[0]:.2f} [{100 * drop[1]:.2f}, {100 * drop[2]:.2f}]" if drop else "-"
                macs = f"{row['macs'] / r['baseline_macs']:.2f}" if row["macs"] and r["baseline_macs"] else "-"
                lines.append(
                    f"| {d['model']} | {rt} | {arm} | {row['precision']} | {_fmt_ab(row['ab'])} | "
                    f"{row['test_accuracy']:.4f} [{row['test_ci'][0]:.4f}, {row['test_ci'][1]:.4f}] | {dtxt} | "
                    f"{macs} | {row['search_seconds'] if row['search_seconds'] is not None else '-'} |"
                )
            ok = {
                a: x
                for a, x in r["rows"].items()
                if a != "baseline" and x["drop"] and x["drop"][0] <= args.goal_drop and x["ab"]
            }
            if ok:
                fastest = max(ok, key=lambda a: ok[a]["ab"]["speedup"])
                verdicts.append(
                    f"- {d['model']} on {rt}: fastest within a {pts}-point test drop: **{fastest}** "
                    f"({ok[fastest]['ab']['speedup']:.2f}x); joint "
                    + (
                        f"{ok['joint']['ab']['speedup']:.2f}x"
                        if "joint" in ok
                        else f"over the {pts}-point drop or none found"
                    )
                )
            else:
                verdicts.append(f"- {d['model']} on {rt}: no arm within a {pts}-point test drop")
            for prec in ("fp32", "int8"):
                same = {a: x for a, x in ok.items() if x["precision"] == prec}
                if same:
                    a = max(same, key=lambda k: same[k]["ab"]["speedup"])
                    verdicts.append(f"  - fastest {prec.upper()} file within it: {a}, {same[a]['ab']['speedup']:.2f}x")
            q = r["rows"].get("quantize-only")
            if q and q["ab"] and q["ab"]["verdict"] == "slower":
                slower.append(f"{d['model']} on {rt} ({q['ab']['speedup']:.2f}x)")
    n_q = sum(1 for d in docs for r in d["runtimes"].values() if "quantize-only" in r["rows"])
    lines += ["", *verdicts, ""]
    lines.append(
        f"INT8 alone (quantize-only) was slower than FP32 in {len(slower)} of {n_q} model-runtime pairs"
        + (f": {', '.join(slower)}." if slower else ".")
    )
    return "\n".join(lines)


def budget_args(ap: argparse.ArgumentParser) -> None:
    """The work every arm gets (also ``benchmarks/peers/run.py``'s): candidates, fine-tuning
    epochs and images, the baseline's pre-training, validation and calibration images."""
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--pretrain-images", type=int, default=20000)
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--finetune-images", type=int, default=4000)
    ap.add_argument("--val-images", type=int, default=3000)
    ap.add_argument("--calibration", type=int, default=256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resconcat,mbnet,vit,tfcnn")
    ap.add_argument("--runtimes", default="onnxruntime,openvino")
    ap.add_argument("--openvino-models", default="mbnet,tfcnn", help="models also searched on OpenVINO")
    budget_args(ap)
    ap.add_argument("--max-drop", type=float, default=0.003)
    ap.add_argument("--out", type=Path, default=ROOT / ".xcel" / "bench-joint")
    ap.add_argument("--goal-drop", type=float, default=0.005, help="test-accuracy drop the verdicts allow")
    ap.add_argument("--section", default="optimize-joint")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from xcelerator.demo.data import load
    from xcelerator.store.db import Store

    data = load("fashion-mnist")
    args.out.mkdir(parents=True, exist_ok=True)
    store = Store(str(args.out / "bench.db"))
    docs = []
    ov_models = set(args.openvino_models.split(","))
    for name in args.models.split(","):
        rts = [r for r in args.runtimes.split(",") if r == "onnxruntime" or name in ov_models]
        docs.append(run_model(name, rts, args, data, store))
        (args.out / "joint.json").write_text(json.dumps(docs, indent=1, default=str))
    body = section(docs, args)
    print(body)
    if not args.no_write:
        title = "xc.optimize: joint pruning x precision search"
        if args.section != "optimize-joint":
            title += f" ({100 * args.max_drop:g}-point validation bound)"
        write_section(ROOT / "BENCHMARKS.md", args.section, title, body)


if __name__ == "__main__":
    main()
