"""Peer: Torch-Pruning alone, as its README tells a user: ``MetaPruner`` with magnitude
importance at uniform ratios (``round_to=8``, the channel block users are told to keep), each
pruned network fine-tuned with the same budget as every candidate of ours (epochs, images,
learning rate), the classifier left whole; the user keeps the largest ratio whose validation
accuracy stays within the bound (more pruning is what they take to mean faster), exported to
ONNX as FP32. In its own environment (torch, torch-pruning, onnx, onnxscript).

    python tp_uniform.py WORK OUT MODEL EPOCHS BOUND
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _nets import build

RATIOS = (0.125, 0.25, 0.375, 0.5)


def fit(m: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(m.parameters(), lr=2e-4)
    m.train()
    for _ in range(epochs):
        for b in torch.randperm(len(y), generator=g).split(128):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(m(x[b]), y[b]).backward()
            opt.step()
    m.eval()


def accuracy(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.cat([m(b).argmax(1) for b in x.split(1000)]).eq(y).float().mean())


def main() -> None:
    work, out, name, epochs, bound = (
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        sys.argv[3],
        int(sys.argv[4]),
        float(sys.argv[5]),
    )
    out.mkdir(parents=True, exist_ok=True)
    ft, val = np.load(work / "finetune.npz"), np.load(work / "val.npz")
    xf, yf = torch.from_numpy(ft["x"]), torch.from_numpy(ft["y"]).long()
    xv, yv = torch.from_numpy(val["x"]), torch.from_numpy(val["y"]).long()
    example = torch.zeros(1, 1, 28, 28)
    base = build(name)
    base.load_state_dict(torch.load(work / "baseline.pt", weights_only=True))
    base.eval()
    base_acc = accuracy(base, xv, yv)
    tried, keep = [], None
    t0 = time.perf_counter()
    for ratio in RATIOS:
        m = build(name)
        m.load_state_dict(base.state_dict())
        m.eval()
        heads = [mod for mod in m.modules() if isinstance(mod, nn.Linear) and mod.out_features == 10]
        try:
            pruner = tp.pruner.MetaPruner(
                m, example, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=ratio,
                round_to=8, ignored_layers=heads,
            )  # fmt: skip
            pruner.step()
        except Exception as e:  # a network it cannot prune is a row with the error
            tried.append({"ratio": ratio, "error": f"{type(e).__name__}: {e}"[:300]})
            continue
        fit(m, xf, yf, epochs)
        acc = accuracy(m, xv, yv)
        macs, _ = tp.utils.count_ops_and_params(m, example)
        tried.append({"ratio": ratio, "val_accuracy": acc, "macs": float(macs)})
        if acc >= base_acc - bound:
            keep = (ratio, m, acc)
    res: dict = {"runtime": "onnxruntime", "version": f"torch-pruning {tp.__version__}, torch {torch.__version__}",
                 "tried": tried, "baseline_val_accuracy": base_acc, "wall_s": time.perf_counter() - t0}  # fmt: skip
    if keep is None:
        res["error"] = f"no uniform ratio of {RATIOS} kept validation accuracy within {bound:g} of the baseline"
    else:
        ratio, m, acc = keep
        buf = io.BytesIO()
        torch.onnx.export(m, (example,), buf, dynamo=False, input_names=["input"], output_names=["output"],
                          opset_version=18)  # fmt: skip
        (out / "model.onnx").write_bytes(buf.getvalue())
        res.update(file=str(out / "model.onnx"), chose=f"uniform ratio {ratio}, round_to 8, FP32",
                   own={"val_accuracy": acc})  # fmt: skip
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
