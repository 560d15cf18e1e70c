"""A user's own model, training loop and evaluation: a small residual CNN on scikit-learn's 8x8
digits. ``xcel optimize --model examples/digits_resnet.py:build --train
examples/digits_resnet.py:train --evaluate examples/digits_resnet.py:evaluate`` or, from Python,
``python examples/digits_resnet.py``.

Nothing here knows about xcelerator except the ``__main__`` block: ``build`` returns a trained
network, ``train(module, epochs)`` fine-tunes in place, ``evaluate(module)`` returns the
validation accuracy. The test split is kept apart for the final report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResNet(nn.Module):
    def __init__(self, width: int = 24, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stage1 = nn.Sequential(Block(width), Block(width))
        self.down = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU()
        )
        self.stage2 = nn.Sequential(Block(2 * width), Block(2 * width))
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.fc(x.mean((2, 3)))


_SPLITS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train / validation / test splits of the 1,797 digits (fixed seed), loaded once."""
    if _SPLITS:
        return _SPLITS
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target, dtype=torch.long)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    parts = {"train": idx[:1100], "val": idx[1100:1450], "test": idx[1450:]}
    _SPLITS.update({k: (x[v], y[v]) for k, v in parts.items()})
    return _SPLITS


def train(module: nn.Module, epochs: int) -> nn.Module:
    x, y = splits()["train"]
    opt = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(epochs)
    module.train()
    for _ in range(epochs):
        for b in torch.randperm(len(y), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(module(x[b]), y[b]).backward()
            opt.step()
    return module


def accuracy(module: nn.Module, split: str) -> float:
    x, y = splits()[split]
    module.eval()
    with torch.no_grad():
        return float((module(x).argmax(1) == y).float().mean())


def evaluate(module: nn.Module) -> float:
    return accuracy(module, "val")


def build(epochs: int = 6) -> nn.Module:
    """The trained baseline: trained once, then loaded from its checkpoint, as a user's would be."""
    ckpt = Path(tempfile.gettempdir()) / "xcel-examples" / f"digits_resnet-e{epochs}.pt"
    net = ResNet()
    if ckpt.exists():
        net.load_state_dict(torch.load(ckpt, weights_only=True))
        return net.eval()
    torch.manual_seed(0)
    train(net, epochs)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_suffix(f".{os.getpid()}.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, ckpt)
    return net.eval()


def example_inputs() -> torch.Tensor:
    return torch.zeros(1, 1, 8, 8)


if __name__ == "__main__":
    import xcelerator as xc

    net = build()
    res = xc.optimize(net, example_inputs(), train=train, evaluate=evaluate, budget=12, epochs=2, out="optimize-out")
    best = res.best
    b = res.baseline
    print(f"baseline: val {b.accuracy:.3f}, test {accuracy(b.module, 'test'):.3f}, {b.latency_ms:.3f} ms")
    if best is not None:
        print(f"best:     val {best.accuracy:.3f}, test {accuracy(best.module, 'test'):.3f}, {best.latency_ms:.3f} ms")
        print(f"speed-up: {res.speedup}")
    print(np.round([c.latency_ms or np.nan for c in res.pareto], 3))
