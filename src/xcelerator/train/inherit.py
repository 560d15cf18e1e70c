"""Weight inheritance: a candidate starts from its trained parent instead of from scratch
(the xcelerator seed's "accuracy recovered" loop), then fine-tunes briefly.

Both networks come from ``models.builder`` (same block types in the same order), so their
layers pair up block by block. Blocks the child lacks (a smaller depth) are dropped. Widths
shrink by slicing: inside an MBConv / fused-MBConv block, the parent's expanded channels are
first permuted by importance (L1 norm of the projection's input columns; the permutation is
applied to every layer that touches those channels, so the parent computes the same function)
and the child keeps the most important ones; block outputs, which residual connections tie
together across a stage, keep their leading channels, the same for every block, so the sums
still line up. Larger kernels shrink to their centre, smaller ones grow with zero padding.
This is the "sort channels, then slice" scheme of once-for-all networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xcelerator.models.archspec import ArchSpec
from xcelerator.models.builder import FusedMBConv, MBConv


@dataclass(frozen=True)
class InheritReport:
    tensors: int  # parameter/buffer tensors copied (fully or sliced)
    skipped: int  # child layers left at their initialisation (no matching parent layer)


def _blocks(module: nn.Module, spec: ArchSpec) -> tuple[list[nn.Module], list[nn.Module]]:
    """(stem + blocks per stage flattened, head layers) of a builder-made image network."""
    layers = list(module.children())
    n_blocks = sum(len(s.blocks) for s in spec.stages)
    return layers[: 1 + n_blocks], layers[1 + n_blocks :]


def _sort_hidden(block: Any) -> None:
    """Permute an MBConv/fused-MBConv block's expanded channels by importance, in place."""
    convs = [m for m in block.body.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in block.body.modules() if isinstance(m, nn.BatchNorm2d)]
    project = convs[-1]
    if project.kernel_size != (1, 1) or len(convs) < 2 or convs[0].groups != 1:
        return  # no expansion: the hidden channels are the block input, tied to the previous block
    hidden = project.in_channels
    order = project.weight.detach().abs().sum(dim=(0, 2, 3)).argsort(descending=True)
    with torch.no_grad():
        project.weight.copy_(project.weight[:, order])
        for m in convs[:-1]:
            if m.out_channels == hidden and m.groups == 1 and m not in _se_convs(block):
                m.weight.copy_(m.weight[order])
            elif m.groups == hidden and m.out_channels == hidden:  # depthwise
                m.weight.copy_(m.weight[order])
        for bn in bns[:-1]:
            if bn.num_features == hidden:
                for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                    assert t is not None
                    t.copy_(t[order])
        for se in [m for m in block.modules() if m.__class__.__name__ == "SqueezeExcite"]:  # type: Any
            se.fc1.weight.copy_(se.fc1.weight[:, order])
            se.fc2.weight.copy_(se.fc2.weight[order])
            se.fc2.bias.copy_(se.fc2.bias[order])


def _se_convs(block: Any) -> set[Any]:
    out: set[Any] = set()
    for m in block.modules():
        if m.__class__.__name__ == "SqueezeExcite":
            out |= {m.fc1, m.fc2}
    return out


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    """Copy the overlapping leading slice; conv kernels are matched at their centre."""
    if dst.dim() == 4 and src.dim() == 4 and dst.shape[2:] != src.shape[2:]:
        kd, ks = dst.shape[2], src.shape[2]
        if kd < ks:
            o = (ks - kd) // 2
            src = src[:, :, o : o + kd, o : o + kd]
        else:
            o = (kd - ks) // 2
            dst = dst[:, :, o : o + ks, o : o + ks]
    idx = tuple(slice(0, min(a, b)) for a, b in zip(dst.shape, src.shape, strict=True))
    dst[idx] = src[idx]


def _pair(dst: nn.Module, src: nn.Module) -> int:
    n = 0
    d_mods = [m for m in dst.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.LayerNorm))]
    s_mods = [m for m in src.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.LayerNorm))]
    if [type(m) for m in d_mods] != [type(m) for m in s_mods]:
        return 0
    with torch.no_grad():
        for d, s in zip(d_mods, s_mods, strict=True):
            for name in ("weight", "bias", "running_mean", "running_var"):
                td, ts = getattr(d, name, None), getattr(s, name, None)
                if isinstance(td, torch.Tensor) and isinstance(ts, torch.Tensor) and td.dim() == ts.dim():
                    _copy(td, ts)
                    n += 1
    return n


def inherit(parent: nn.Module, parent_spec: ArchSpec, child: nn.Module, child_spec: ArchSpec) -> InheritReport:
    """Copy the parent's trained weights into the child (see the module docstring)."""
    import copy

    if parent_spec.input.kind != "image" or child_spec.input.kind != "image":
        return InheritReport(0, len(list(child.children())))
    parent = copy.deepcopy(parent)
    p_body, p_head = _blocks(parent, parent_spec)
    c_body, c_head = _blocks(child, child_spec)
    for m in p_body:
        if isinstance(m, (MBConv, FusedMBConv)):
            _sort_hidden(m)
    # stem, then stage by stage: child block j of stage i <- parent block j of stage i
    pairs = [(c_body[0], p_body[0])]
    pi = ci = 1
    for ps, cs in zip(parent_spec.stages, child_spec.stages, strict=False):
        for j in range(len(cs.blocks)):
            if j < len(ps.blocks) and cs.blocks[j].type == ps.blocks[j].type:
                pairs.append((c_body[ci + j], p_body[pi + j]))
        pi += len(ps.blocks)
        ci += len(cs.blocks)
    c_lin = [m for m in c_head if isinstance(m, (nn.Sequential, nn.Linear))]
    p_lin = [m for m in p_head if isinstance(m, (nn.Sequential, nn.Linear))]
    pairs += list(zip(c_lin, p_lin, strict=False))
    copied = sum(_pair(c, p) for c, p in pairs)
    total = len([m for m in child.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))])
    return InheritReport(copied, max(0, total - len(pairs)))
