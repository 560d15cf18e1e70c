"""The demo's data, its baselines and their training, all in torch tensors.

Fashion-MNIST's baseline is the convolutional network of TensorFlow's layers tutorial, listed
in Fashion-MNIST's own benchmark table as "2 Conv+pooling" with a published test accuracy of
0.916 (``benchmark/convnet.py`` in the Fashion-MNIST repository, which Debian ships in
``/usr/share/doc/dataset-fashion-mnist/benchmark/``): conv 5×5 32, max-pool, conv 5×5 64,
max-pool, dense 1024 with dropout 0.4, dense 10, at the native 28×28. The digits baseline (the
quick path) is a small CNN at the native 8×8.

Every exported model takes the raw image in [0, 1]: normalization is inside the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class DemoData:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, *self.x_train.shape[1:])


def load(name: str, folder: str | None = None, seed: int = 0) -> DemoData:
    from xcelerator.train.datasets import digits, fashion_mnist

    if name == "fashion-mnist":
        d = fashion_mnist(folder, seed)
        assert d.x_test is not None and d.y_test is not None
        xs, ys = d.x_test, d.y_test
        xt, yt, xv, yv = d.x_train, d.y_train, d.x_val, d.y_val
    else:  # digits: 1,797 images split 60/20/20, test apart
        d = digits(seed)
        x = np.concatenate([d.x_train, d.x_val])
        y = np.concatenate([d.y_train, d.y_val])
        idx = np.random.default_rng(seed + 1).permutation(len(x))
        n_val = n_test = len(x) // 5
        v, s, t = idx[:n_val], idx[n_val : n_val + n_test], idx[n_val + n_test :]
        xt, yt, xv, yv, xs, ys = x[t], y[t], x[v], y[v], x[s], y[s]
    tt = torch.from_numpy
    return DemoData(
        name,
        tt(np.ascontiguousarray(xt)),
        tt(np.ascontiguousarray(yt)),
        tt(np.ascontiguousarray(xv)),
        tt(np.ascontiguousarray(yv)),
        tt(np.ascontiguousarray(xs)),
        tt(np.ascontiguousarray(ys)),
    )


class Normalize(nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TFConvNet(nn.Module):
    """TensorFlow's layers-tutorial CNN, Fashion-MNIST benchmark "2 Conv+pooling", published test
    accuracy 0.916 (see the module docstring)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.norm = Normalize(0.2860, 0.3530)  # Fashion-MNIST training-set mean and std
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 1024)
        self.drop = nn.Dropout(0.4)
        self.fc2 = nn.Linear(1024, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(self.norm(x))), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(self.drop(torch.relu(self.fc1(x.flatten(1)))))


class DigitsCNN(nn.Module):
    """The quick path's baseline: three 3×3 convolutions at the native 8×8, global pooling."""

    def __init__(self, classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.norm = Normalize(0.3, 0.4)
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(self.norm(x)).mean((2, 3)))


def baseline_for(name: str) -> nn.Module:
    return TFConvNet() if name == "fashion-mnist" else DigitsCNN()


def fit(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    *,
    lr: float = 1e-3,
    batch: int = 128,
    seed: int = 0,
    one_cycle: bool = False,
) -> nn.Module:
    """Adam (with a one-cycle schedule for training from scratch), cross-entropy, shuffled batches."""
    if epochs <= 0:
        return module
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    steps = epochs * math.ceil(len(y) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3 * lr, total_steps=steps) if one_cycle else None
    module.train()
    for _ in range(epochs):
        for b in torch.randperm(len(y), generator=g).split(batch):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(module(x[b]), y[b]).backward()
            opt.step()
            if sched is not None:
                sched.step()
    module.eval()
    return module


def predictions(module: nn.Module, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    module.eval()
    with torch.no_grad():
        return torch.cat([module(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predictions(module, x) == y).float().mean())


def wilson(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (scipy's ``binomtest`` gives the same)."""
    from scipy.stats import binomtest

    ci = binomtest(correct, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def paired_drop(
    right_a: np.ndarray, right_b: np.ndarray, level: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float, float]:
    """Accuracy of A minus accuracy of B on the same test images, with a percentile bootstrap
    CI over images (the pairing keeps the CI as narrow as the disagreements allow)."""
    d = right_a.astype(np.float64) - right_b.astype(np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    boots = d[idx].mean(1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(d.mean()), float(lo), float(hi)
