"""A small seeded trainer: epochs and a wall-time budget, accuracy on the validation split."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from xcelerator.train.datasets import Dataset


@dataclass(frozen=True)
class TrainResult:
    accuracy: float
    epochs: int
    seconds: float
    losses: tuple[float, ...] = field(default=())
    stopped_by: str = "epochs"


def evaluate(module: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    module.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out = module(torch.from_numpy(x[i : i + batch]))
            correct += int((out.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct / max(1, len(x))


def train(
    module: nn.Module,
    data: Dataset,
    epochs: int = 5,
    max_seconds: float | None = None,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    weight_decay: float = 1e-4,
) -> TrainResult:
    """AdamW with a cosine schedule; stops after ``epochs`` or ``max_seconds`` (checked per batch)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * int(np.ceil(len(data.x_train) / batch_size)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    losses: list[float] = []
    done = 0
    why = "epochs"
    for _ in range(epochs):
        module.train()
        idx = rng.permutation(len(data.x_train))
        total, n = 0.0, 0
        for i in range(0, len(idx), batch_size):
            b = idx[i : i + batch_size]
            if len(b) < 2:
                continue
            xb, yb = torch.from_numpy(data.x_train[b]), torch.from_numpy(data.y_train[b])
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
            n += len(b)
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                why = "time"
                break
        losses.append(total / max(1, n))
        done += 1
        if why == "time":
            break
    acc = evaluate(module, data.x_val, data.y_val)
    module.eval()
    return TrainResult(acc, done, time.perf_counter() - t0, tuple(losses), why)
