"""xc.optimize against the obvious alternatives, on the user's own networks.

Networks: the residual CNN of ``examples/digits_resnet.py`` (its own training loop, 8×8 digits)
and, with ``--fashion``, the demo's published Fashion-MNIST baseline (TensorFlow's tutorial CNN).

For each network, at equal fine-tuning budget, every model measured on ONNX Runtime (1 thread)
side by side, interleaved, with the A/B protocol:
- ``optimize`` (tpe): the fastest candidate meeting accuracy >= baseline - 0.5 points (validation);
- uniform width scaling at the same MACs: every group the same ratio, weights re-initialized,
  trained from scratch for the baseline's whole budget (pre-training + fine-tuning);
- plain magnitude pruning at the same MACs: every group the same ratio, least-L2 channels
  removed, fine-tuned like the candidates.
Accuracy on held-out test images with Wilson 95% CIs; the drop against the baseline paired.

Strategies (digits CNN): tpe, random and dqn at the same budget and seed: the best feasible
speed-up each found (from the study's own measurements) and wall time. Early stopping: tpe with
and without the pruner, same seed: training seconds spent, candidates stopped.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, write_section

sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "examples"))

import torch

TARGET = "onnxruntime?threads=1"


def macs_of(module: torch.nn.Module, example: torch.Tensor) -> float:
    import torch_pruning as tp

    m, _ = tp.utils.count_ops_and_params(copy.deepcopy(module).eval(), example)
    return float(m)


def ratio_for_macs(space: Any, example: torch.Tensor, target_macs: float) -> float:
    """The uniform ratio whose MACs come closest to ``target_macs`` (bisection)."""
    lo, hi = 0.0, 0.95
    for _ in range(14):
        mid = (lo + hi) / 2
        if macs_of(space.uniform(mid), example) > target_macs:
            lo = mid
        else:
            hi = mid
    # MACs fall in steps (whole channels): the side of the step closest to the target
    return min((lo, hi), key=lambda r: abs(macs_of(space.uniform(r), example) - target_macs))


def side_by_side(onnx: dict[str, str], store: Any) -> dict[str, Any]:
    import xcelerator as xc
    from xcelerator.measure.ab import paired

    names = list(onnx)
    ms = xc.compare([onnx[n] for n in names], [TARGET], db=store)
    ref = ms[0]
    out = {}
    for n, m in zip(names, ms, strict=True):
        out[n] = {
            "median_ms": m.stats.median_ms if m.stats else None,
            "speedup": paired(ref, m).to_dict() if n != names[0] else None,
        }
    return out


def test_acc(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, Any]:
    from xcelerator.demo.data import predictions

    right = (predictions(module, x) == y).numpy()
    return float(right.mean()), right


def compare_methods(
    name: str,
    base: torch.nn.Module,
    example: torch.Tensor,
    train: Any,
    evaluate: Any,
    test: tuple[torch.Tensor, torch.Tensor],
    scratch: Any,
    budget: int,
    epochs: int,
    out: Path,
    store: Any,
    seed: int,
) -> tuple[str, dict[str, Any]]:
    import xcelerator as xc
    from xcelerator.demo.data import paired_drop, wilson
    from xcelerator.models.export import export_onnx

    t0 = time.time()
    res = xc.optimize(
        base, example, train=train, evaluate=evaluate, target=TARGET, budget=budget, epochs=epochs,
        finetune_baseline=True, db=store, out=out / f"{name}-tpe", seed=seed, confirm=False,
        study=f"bench-{name}-{int(t0)}",
    )  # fmt: skip
    t_opt = time.time() - t0
    rows: dict[str, dict[str, Any]] = {}
    models: dict[str, torch.nn.Module] = {"baseline": res.baseline.module}
    onnx = {"baseline": res.baseline.onnx}
    if res.best is None or res.best.trial == res.baseline.trial:
        return f"{name}: optimize found no candidate faster than the baseline within {budget} trials\n", {}
    models["optimize (tpe)"] = res.best.module
    onnx["optimize (tpe)"] = res.best.onnx
    target_macs = macs_of(res.best.module, example)
    space = xc.PruneSpace(base, example)
    r = ratio_for_macs(space, example, target_macs)
    mag = space.uniform(r)
    train(mag, epochs)
    models[f"magnitude pruning (ratio {r:.3f})"] = mag.eval()
    from xcelerator.compress.evaluator import _reinit

    uni = space.uniform(r)
    _reinit(uni)
    torch.manual_seed(seed + 1)
    scratch(uni)  # the baseline's own pre-training recipe, from scratch, at the narrower width
    train(uni, epochs)  # then the same fine-tuning: the baseline's whole budget
    models[f"uniform width (ratio {r:.3f}, from scratch)"] = uni.eval()
    for k, m in models.items():
        if k not in onnx:
            p = out / f"{name}-{len(onnx)}.onnx"
            export_onnx(m.eval(), (example,), p)
            onnx[k] = str(p)
    meas = side_by_side(onnx, store)
    base_acc, base_right = test_acc(models["baseline"], *test)
    lines = [
        f"### {name}",
        "",
        f"optimize: {budget} candidates (tpe), {epochs} fine-tuning epochs each, {t_opt:.0f} s; "
        f"{len(test[1])} test images.",
        "",
        "| model | MACs | median ms | speed-up (95% CI, verdict) | test accuracy (95% CI) "
        "| drop, points (paired 95% CI) |",
        "|---|---|---|---|---|---|",
    ]
    figures: dict[str, Any] = {}
    for k, m in models.items():
        acc, right = test_acc(m, *test)
        lo, hi = wilson(int(right.sum()), len(right))
        d, dlo, dhi = paired_drop(base_right, right)
        sp = meas[k]["speedup"]
        sps = f"{sp['speedup']:.2f} ({sp['ci_low']:.2f}–{sp['ci_high']:.2f}, {sp['verdict']})" if sp else "1"
        lines.append(
            f"| {k} | {macs_of(m, example):.3g} | {meas[k]['median_ms']:.4g} | {sps} | {acc:.4f} ({lo:.4f}–{hi:.4f}) | "
            f"{100 * d:.2f} ({100 * dlo:.2f} to {100 * dhi:.2f}) |"
        )
        figures[k] = {"speedup": sp["speedup"] if sp else 1.0, "drop": d}
        rows[k] = figures[k]
    del base_acc
    return "\n".join(lines) + "\n", rows


def strategies(d: Any, budget: int, seeds: list[int], out: Path, store: Any) -> str:
    import xcelerator as xc

    net = d.build()
    lines = [
        "### Strategies and early stopping (digits residual CNN)",
        "",
        f"Each run: {budget} candidates, 2 fine-tuning epochs each; the best is the fastest candidate meeting the "
        "accuracy constraint on validation, its speed-up the ratio of the study's own latency medians.",
        "",
        "| strategy | seed | early stop | best speed-up | candidates stopped early | training s spent | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        for strat, early in (("tpe", True), ("tpe", False), ("random", True), ("dqn", True)):
            t0 = time.time()
            res = xc.optimize(
                net, d.example_inputs(), train=d.train, evaluate=d.evaluate, target=TARGET, budget=budget, epochs=2,
                strategy=strat, early_stop=early, db=store, out=out / f"s-{strat}-{early}-{seed}", seed=seed,
                confirm=False, study=f"bench-strat-{strat}-{early}-{seed}-{int(t0)}",
                warm_start=() if strat != "tpe" else (0.25, 0.5),
            )  # fmt: skip
            wall = time.time() - t0
            sp = (
                res.baseline.latency_ms / res.best.latency_ms
                if res.best and res.best.latency_ms and res.baseline.latency_ms
                else None
            )
            lines.append(
                f"| {strat} | {seed} | {'yes' if early else 'no'} | {f'{sp:.2f}' if sp else 'none'} | "
                f"{res.saved['stopped_early']:.0f} | {res.saved['train_seconds_spent']:.0f} | {wall:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--fashion", action="store_true", help="also the demo's Fashion-MNIST baseline (minutes)")
    ap.add_argument("--no-strategies", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    import tempfile

    import digits_resnet as d

    from xcelerator.store.db import Store

    work = Path(tempfile.mkdtemp(prefix="xcel-bench-opt-"))
    store = Store(str(work / "bench.db"))
    body = []

    def scratch_digits(m: torch.nn.Module) -> torch.nn.Module:
        return d.train(m, 6)  # the baseline's own pre-training budget (digits_resnet.build)

    text, _ = compare_methods(
        "digits residual CNN (examples/digits_resnet.py)", d.build(), d.example_inputs(), d.train, d.evaluate,
        d.splits()["test"], scratch_digits, args.budget, 2, work, store, 0,
    )  # fmt: skip
    body.append(text)
    if args.fashion:
        from xcelerator.demo.data import accuracy, fit, load
        from xcelerator.demo.run import BUDGETS, pretrained

        data = load("fashion-mnist")
        b = BUDGETS["fashion-mnist"]
        base, _ = pretrained(data, b.pretrain)
        xf, yf = data.x_train[: b.finetune_images], data.y_train[: b.finetune_images]

        def train_f(m: torch.nn.Module, e: int) -> torch.nn.Module:
            return fit(m, xf, yf, e, lr=2e-4, batch=128)

        def scratch_f(m: torch.nn.Module) -> torch.nn.Module:
            return fit(m, data.x_train, data.y_train, b.pretrain, batch=256, one_cycle=True)

        text, _ = compare_methods(
            "Fashion-MNIST, TensorFlow tutorial CNN (the demo's baseline)", base, torch.zeros(1, 1, 28, 28), train_f,
            lambda m: accuracy(m, data.x_val, data.y_val), (data.x_test, data.y_test), scratch_f, b.trials,
            b.finetune, work, store, 0,
        )  # fmt: skip
        body.append(text)
    if not args.no_strategies:
        body.append(strategies(d, args.budget, list(range(args.seeds)), work, store))
    write_section(
        Path(args.out), "optimize", "Make your own model faster: xc.optimize against the alternatives", "\n".join(body)
    )
    print("\n".join(body))


if __name__ == "__main__":
    main()
