"""ArchSpec → ``torch.nn.Module``. The layer structure mirrors ``archspec.describe`` exactly
(same convolutions, same padding, BN after every conv but the squeeze-excite ones)."""

from __future__ import annotations

import torch
from torch import nn

from xcelerator.models.archspec import (
    NB201_EDGES,
    ArchSpec,
    BlockSpec,
    make_divisible,
    nb201_active,
    se_channels,
    validate,
)


def act(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "hswish": nn.Hardswish,
        "swish": nn.SiLU,
        "gelu": nn.GELU,
        "none": nn.Identity,
    }[name]()


def cba(cin: int, cout: int, k: int, s: int, a: str, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act(a))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, r, 1)
        self.fc2 = nn.Conv2d(r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))


class MBConv(nn.Module):
    def __init__(self, cin: int, b: BlockSpec) -> None:
        super().__init__()
        hid = make_divisible(cin * b.expansion) if b.expansion != 1 else cin
        layers: list[nn.Module] = [cba(cin, hid, 1, 1, b.act)] if b.expansion != 1 else []
        layers.append(cba(hid, hid, b.kernel, b.stride, b.act, groups=hid))
        if b.se:
            layers.append(SqueezeExcite(hid, se_channels(cin, b.se)))
        layers += [nn.Conv2d(hid, b.out, 1, bias=False), nn.BatchNorm2d(b.out)]
        self.body = nn.Sequential(*layers)
        self.skip = b.stride == 1 and cin == b.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


class FusedMBConv(nn.Module):
    def __init__(self, cin: int, b: BlockSpec) -> None:
        super().__init__()
        hid = make_divisible(cin * b.expansion) if b.expansion != 1 else b.out
        layers: list[nn.Module] = [cba(cin, hid, b.kernel, b.stride, b.act)]
        if b.se:
            layers.append(SqueezeExcite(hid, se_channels(cin, b.se)))
        if b.expansion != 1:
            layers += [nn.Conv2d(hid, b.out, 1, bias=False), nn.BatchNorm2d(b.out)]
        self.body = nn.Sequential(*layers)
        self.skip = b.stride == 1 and cin == b.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


class ResBlock(nn.Module):
    def __init__(self, cin: int, b: BlockSpec) -> None:
        super().__init__()
        if b.type == "basic":
            self.body = nn.Sequential(
                cba(cin, b.out, b.kernel, b.stride, b.act),
                nn.Conv2d(b.out, b.out, b.kernel, 1, b.kernel // 2, bias=False),
                nn.BatchNorm2d(b.out),
            )
        else:
            mid = b.out // max(1, int(b.expansion))
            self.body = nn.Sequential(
                cba(cin, mid, 1, 1, b.act),
                cba(mid, mid, b.kernel, b.stride, b.act),
                nn.Conv2d(mid, b.out, 1, bias=False),
                nn.BatchNorm2d(b.out),
            )
        self.down: nn.Module = (
            nn.Sequential(nn.Conv2d(cin, b.out, 1, b.stride, bias=False), nn.BatchNorm2d(b.out))
            if b.stride != 1 or cin != b.out
            else nn.Identity()
        )
        self.act = act(b.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.down(x))


class Encoder(nn.Module):
    """Post-LN encoder layer; on (B, C, H, W) it runs on the H·W tokens."""

    def __init__(self, d: int, b: BlockSpec) -> None:
        super().__init__()
        self.h = b.heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, int(d * b.expansion)), act(b.act), nn.Linear(int(d * b.expansion), d))
        self.ln2 = nn.LayerNorm(d)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.h) ** -0.5, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.proj(y))
        return self.ln2(x + self.ff(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            b, c, h, w = x.shape
            y = self._tokens(x.flatten(2).transpose(1, 2))
            return y.transpose(1, 2).reshape(b, c, h, w)
        return self._tokens(x)


class NB201Cell(nn.Module):
    """NAS-Bench-201 cell: node j sums its incoming edges; edges in arch-string order
    (1←0), (2←0), (2←1), (3←0), (3←1), (3←2). Only active edges exist (``nb201_active``)."""

    def __init__(self, c: int, ops: tuple[str, ...]) -> None:
        super().__init__()
        self.active, self.live = nb201_active(ops)
        mods: list[nn.Module] = []
        for op, on in zip(ops, self.active, strict=True):
            if on and op == "nor_conv_1x1":
                mods.append(nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)))
            elif on and op == "nor_conv_3x3":
                mods.append(nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)))
            elif on and op == "avg_pool_3x3":
                mods.append(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
            else:
                mods.append(nn.Identity())
        self.edges = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.live:
            return x * 0.0
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for e, (dst, src) in enumerate(NB201_EDGES):
            if self.active[e]:
                y = self.edges[e](nodes[src])
                prev = nodes[dst]
                nodes[dst] = y if prev is None else prev + y
        out = nodes[3]
        assert out is not None
        return out


class TextNet(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        d = spec.stem.out
        self.tok = nn.Embedding(spec.input.vocab, d)
        self.pos = nn.Parameter(torch.randn(1, spec.input.seq_len, d) * 0.02)
        self.ln = nn.LayerNorm(d)
        self.blocks = nn.Sequential(*[Encoder(d, b) for _, _, b in spec.blocks])
        hid = spec.head.hidden
        self.hidden = nn.Sequential(nn.Linear(d, hid), act(spec.head.act)) if hid else nn.Identity()
        self.fc = nn.Linear(hid or d, spec.head.classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.ln(self.tok(ids) + self.pos))
        return self.fc(self.hidden(x[:, 0]))


def build(spec: ArchSpec, seed: int = 0) -> nn.Module:
    """The network of a spec, in eval mode, weights from ``seed``."""
    validate(spec)
    torch.manual_seed(seed)
    if spec.input.kind == "text":
        return TextNet(spec).eval()
    layers: list[nn.Module] = [
        cba(spec.input.channels, spec.stem.out, spec.stem.kernel, spec.stem.stride, spec.stem.act)
    ]
    c = spec.stem.out
    for _, _, b in spec.blocks:
        if b.type == "conv":
            layers.append(cba(c, b.out, b.kernel, b.stride, b.act))
        elif b.type == "dwsep":
            layers.append(nn.Sequential(cba(c, c, b.kernel, b.stride, b.act, groups=c), cba(c, b.out, 1, 1, b.act)))
        elif b.type == "mbconv":
            layers.append(MBConv(c, b))
        elif b.type == "fused_mbconv":
            layers.append(FusedMBConv(c, b))
        elif b.type in ("basic", "bottleneck"):
            layers.append(ResBlock(c, b))
        elif b.type == "transformer":
            layers.append(Encoder(c, b))
        elif b.type == "nb201_cell":
            layers.append(NB201Cell(c, b.ops))
        c = b.out
    if spec.head.hidden:
        layers.append(cba(c, spec.head.hidden, 1, 1, spec.head.act))
        c = spec.head.hidden
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if spec.head.dropout:
        layers.append(nn.Dropout(spec.head.dropout))
    layers.append(nn.Linear(c, spec.head.classes))
    return nn.Sequential(*layers).eval()


def example_inputs(spec: ArchSpec, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    if spec.input.kind == "text":
        return (torch.randint(0, spec.input.vocab, spec.input_shape(), generator=g),)
    return (torch.randn(spec.input_shape(), generator=g),)
