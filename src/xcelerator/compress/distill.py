"""Distillation from the baseline, with the user's training loop unchanged but for one call.

With ``xc.optimize(..., distill=True)`` the user's ``train(module, epochs, teacher)`` receives a
``Teacher``: the baseline network, frozen. ``teacher.loss(logits, inputs, labels)`` is the
usual knowledge-distillation loss (Hinton et al. 2015): the KL divergence between the softened
outputs of the candidate and of the baseline on the same inputs, times T², mixed with the
cross-entropy on the labels. The user replaces their loss by it; everything else in their loop
(optimizer, data, schedule) stays theirs. ``teacher(inputs)`` gives the baseline's outputs for
a loss of the user's own.

Written here: torch has the pieces (``kl_div``, ``cross_entropy``) but no distillation helper,
and torch-pruning's examples write the same few lines.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class Teacher:
    """The baseline network, frozen, and the distillation loss against it."""

    def __init__(self, module: nn.Module, temperature: float = 4.0, alpha: float = 0.5) -> None:
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, *inputs: torch.Tensor) -> Any:
        with torch.no_grad():
            return self.module(*inputs)

    def loss(self, logits: torch.Tensor, inputs: Any, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``alpha`` x KL(student ‖ teacher) at ``temperature`` (times T²) + (1 - ``alpha``) x
        cross-entropy on ``labels`` (the distillation term alone without labels)."""
        t = self.temperature
        target = self(*(inputs if isinstance(inputs, (tuple, list)) else (inputs,)))
        kd = nn.functional.kl_div(
            nn.functional.log_softmax(logits / t, dim=-1),
            nn.functional.log_softmax(target / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        ) * (t * t)
        if labels is None:
            return kd
        return self.alpha * kd + (1 - self.alpha) * nn.functional.cross_entropy(logits, labels)


def takes_teacher(train: Callable[..., Any]) -> bool:
    """Whether ``train`` accepts a third argument (the teacher)."""
    try:
        params = list(inspect.signature(train).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 3
