"""Model zoo with fake (seeded random) weights: the set the MobileAccelerator seed studies.

Nothing is downloaded: every network is built here in torch and initialised from a fixed seed,
so a zoo model exports to the same bytes every time (stable content hash). Names follow the
seed's convention: ``mobilenet_v2_0.5_128`` is MobileNet v2 at width 0.5 and 128 px; a bare
family name uses its defaults. ``bert_tiny_s128`` is the tiny encoder at sequence length 128.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xcelerator.errors import BadInputError

WIDTHS = (0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
RESOLUTIONS = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class ZooEntry:
    family: str
    build: Callable[..., nn.Module]
    kind: str  # "image" or "text"
    defaults: dict[str, Any]
    description: str
    widths: tuple[float, ...] = ()
    resolutions: tuple[int, ...] = RESOLUTIONS
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ZooEntry] = {}


def register_model(
    family: str, kind: str, description: str, widths: tuple[float, ...] = (), **defaults: Any
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[family] = ZooEntry(family, fn, kind, defaults, description, widths)
        return fn

    return deco


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def entry(family: str) -> ZooEntry:
    if family not in _REGISTRY:
        raise BadInputError(f"unknown zoo model '{family}'; known: {', '.join(list_models())}")
    return _REGISTRY[family]


# ----------------------------------------------------------------------------- naming
def _wstr(w: float) -> str:
    """1.0 -> '1.0', 0.35 -> '0.35' (the seed's spelling)."""
    s = f"{w:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


@dataclass(frozen=True)
class ZooModel:
    family: str
    width: float = 1.0
    resolution: int = 224
    seq_len: int = 128

    @property
    def name(self) -> str:
        e = entry(self.family)
        if e.kind == "text":
            return f"{self.family}_s{self.seq_len}"
        if e.widths:
            return f"{self.family}_{_wstr(self.width)}_{self.resolution}"
        return f"{self.family}_{self.resolution}"

    def input_shape(self) -> tuple[int, ...]:
        if entry(self.family).kind == "text":
            return (1, self.seq_len)
        return (1, 3, self.resolution, self.resolution)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        if entry(self.family).kind == "text":
            return (torch.randint(0, 1000, self.input_shape(), generator=g),)
        return (torch.randn(self.input_shape(), generator=g),)

    def build(self) -> nn.Module:
        e = entry(self.family)
        torch.manual_seed(0)
        kw: dict[str, Any] = dict(e.defaults)
        if e.kind == "text":
            kw["seq_len"] = self.seq_len
        elif e.widths:
            kw["width"] = self.width
        m = e.build(**kw)
        return m.eval()


_NAME_RE = re.compile(r"^(?P<fam>[a-z0-9_]+?)(?:_(?P<w>\d+(?:\.\d+)?))?(?:_(?P<r>\d+))?$")
_TEXT_RE = re.compile(r"^(?P<fam>[a-z0-9_]+?)(?:_s(?P<s>\d+))?$")


def parse_name(
    name: str, width: float | None = None, resolution: int | None = None, seq_len: int | None = None
) -> ZooModel:
    """``mobilenet_v2_0.5_128`` → ZooModel; explicit arguments override the name's values."""
    fam = name
    w: float | None = None
    r: int | None = None
    s: int | None = None
    if name not in _REGISTRY:
        mt = _TEXT_RE.match(name)
        if mt and mt.group("fam") in _REGISTRY and entry(mt.group("fam")).kind == "text":
            fam, s = mt.group("fam"), int(mt.group("s")) if mt.group("s") else None
        else:
            m = _NAME_RE.match(name)
            if not m or m.group("fam") not in _REGISTRY:
                raise BadInputError(
                    f"'{name}' is neither a file nor a zoo model; zoo models: {', '.join(list_models())}"
                )
            fam = m.group("fam")
            if m.group("w") and m.group("r"):
                w, r = float(m.group("w")), int(m.group("r"))
            elif m.group("w"):
                # one number: a resolution for families without a width multiplier
                if entry(fam).widths:
                    w = float(m.group("w"))
                else:
                    r = int(float(m.group("w")))
    e = entry(fam)
    w = width if width is not None else w
    r = resolution if resolution is not None else r
    s = seq_len if seq_len is not None else s
    if e.kind == "text":
        if w is not None or r is not None:
            raise BadInputError(f"{fam} is a text model: it takes --seq-len, not width or resolution")
        s = s or int(e.defaults.get("default_seq", 128))
        if not 8 <= s <= 4096:
            raise BadInputError(f"{fam}: sequence length {s} must be within 8..4096")
        return ZooModel(fam, seq_len=s)
    if w is not None and not e.widths:
        raise BadInputError(f"{fam} has no width multiplier")
    w = w if w is not None else 1.0
    if e.widths and not (0.25 <= w <= 1.4):
        raise BadInputError(f"{fam}: width {w:g} must be within 0.25..1.4 (seed values: {WIDTHS})")
    r = r if r is not None else 224
    if not 32 <= r <= 512 or r % 8:
        raise BadInputError(f"{fam}: resolution {r} must be a multiple of 8 within 32..512")
    return ZooModel(fam, width=w, resolution=r)


# ----------------------------------------------------------------------------- builders
def _div(v: float, d: int = 8) -> int:
    n = max(d, int(v + d / 2) // d * d)
    if n < 0.9 * v:
        n += d
    return n


def _cbr(cin: int, cout: int, k: int, s: int, groups: int = 1, act: type[nn.Module] = nn.ReLU6) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act())


@register_model("mobilenet_v1", "image", "MobileNet v1 (depthwise-separable), width 0.25-1.4", widths=WIDTHS)
def mobilenet_v1(width: float = 1.0, num_classes: int = 1000) -> nn.Module:
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
    c = _div(32 * width)
    layers: list[nn.Module] = [_cbr(3, c, 3, 2, act=nn.ReLU)]
    for out, s in cfg:
        o = _div(out * width)
        layers += [_cbr(c, c, 3, s, groups=c, act=nn.ReLU), _cbr(c, o, 1, 1, act=nn.ReLU)]
        c = o
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


class _InvRes(nn.Module):
    def __init__(self, cin: int, cout: int, s: int, t: int) -> None:
        super().__init__()
        hid = cin * t
        layers: list[nn.Module] = [_cbr(cin, hid, 1, 1)] if t != 1 else []
        layers += [
            _cbr(hid, hid, 3, s, groups=hid),
            nn.Conv2d(hid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.res else self.body(x)


@register_model("mobilenet_v2", "image", "MobileNet v2 (inverted residuals), width 0.25-1.4", widths=WIDTHS)
def mobilenet_v2(width: float = 1.0, num_classes: int = 1000) -> nn.Module:
    cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    c = _div(32 * width)
    last = _div(1280 * max(1.0, width))
    layers: list[nn.Module] = [_cbr(3, c, 3, 2)]
    for t, out, n, s in cfg:
        o = _div(out * width)
        for i in range(n):
            layers.append(_InvRes(c, o, s if i == 0 else 1, t))
            c = o
    layers += [_cbr(c, last, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(last, num_classes)]
    return nn.Sequential(*layers)


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, c: int, s: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _cbr(cin, c, 3, s, act=nn.ReLU), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        )
        self.down = (
            nn.Sequential(nn.Conv2d(cin, c, 1, s, bias=False), nn.BatchNorm2d(c))
            if s != 1 or cin != c
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.down(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, c: int, s: int) -> None:
        super().__init__()
        o = c * 4
        self.body = nn.Sequential(
            _cbr(cin, c, 1, 1, act=nn.ReLU),
            _cbr(c, c, 3, s, act=nn.ReLU),
            nn.Conv2d(c, o, 1, bias=False),
            nn.BatchNorm2d(o),
        )
        self.down = (
            nn.Sequential(nn.Conv2d(cin, o, 1, s, bias=False), nn.BatchNorm2d(o))
            if s != 1 or cin != o
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.down(x))


def _resnet(block: type[_Basic] | type[_Bottleneck], depths: list[int], num_classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = [_cbr(3, 64, 7, 2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (c, n) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
        for j in range(n):
            layers.append(block(cin, c, 2 if (j == 0 and i > 0) else 1))
            cin = c * block.expansion
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))


@register_model("resnet18", "image", "ResNet-18 (basic blocks)")
def resnet18() -> nn.Module:
    return _resnet(_Basic, [2, 2, 2, 2])


@register_model("resnet50", "image", "ResNet-50 (bottleneck blocks)")
def resnet50() -> nn.Module:
    return _resnet(_Bottleneck, [3, 4, 6, 3])


class _Fire(nn.Module):
    def __init__(self, cin: int, sq: int, e1: int, e3: int) -> None:
        super().__init__()
        self.sq = nn.Sequential(nn.Conv2d(cin, sq, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(sq, e1, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(sq, e3, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sq(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


@register_model("squeezenet", "image", "SqueezeNet 1.1 (fire modules)")
def squeezenet(num_classes: int = 1000) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(64, 16, 64, 64),
        _Fire(128, 16, 64, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(128, 32, 128, 128),
        _Fire(256, 32, 128, 128),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(256, 48, 192, 192),
        _Fire(384, 48, 192, 192),
        _Fire(384, 64, 256, 256),
        _Fire(512, 64, 256, 256),
        nn.Dropout(0.5),
        nn.Conv2d(512, num_classes, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class _Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> None:
        super().__init__()
        self.b1 = _cbr(cin, c1, 1, 1, act=nn.ReLU)
        self.b2 = nn.Sequential(_cbr(cin, c3r, 1, 1, act=nn.ReLU), _cbr(c3r, c3, 3, 1, act=nn.ReLU))
        self.b3 = nn.Sequential(
            _cbr(cin, c5r, 1, 1, act=nn.ReLU),
            _cbr(c5r, c5, 3, 1, act=nn.ReLU),
            _cbr(c5, c5, 3, 1, act=nn.ReLU),
        )
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), _cbr(cin, pp, 1, 1, act=nn.ReLU))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


@register_model("inception", "image", "Inception-style net (GoogLeNet v1 layout, BN, 5x5 as two 3x3)")
def inception(num_classes: int = 1000) -> nn.Module:
    return nn.Sequential(
        _cbr(3, 64, 7, 2, act=nn.ReLU),
        nn.MaxPool2d(3, 2, 1),
        _cbr(64, 64, 1, 1, act=nn.ReLU),
        _cbr(64, 192, 3, 1, act=nn.ReLU),
        nn.MaxPool2d(3, 2, 1),
        _Inception(192, 64, 96, 128, 16, 32, 32),
        _Inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, 2, 1),
        _Inception(480, 192, 96, 208, 16, 48, 64),
        _Inception(512, 160, 112, 224, 24, 64, 64),
        _Inception(512, 128, 128, 256, 24, 64, 64),
        _Inception(512, 112, 144, 288, 32, 64, 64),
        _Inception(528, 256, 160, 320, 32, 128, 128),
        nn.MaxPool2d(3, 2, 1),
        _Inception(832, 256, 160, 320, 32, 128, 128),
        _Inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(1024, num_classes),
    )


@register_model("alexnet", "image", "AlexNet (one-tower variant)")
def alexnet(num_classes: int = 1000) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6),
        nn.Flatten(),
        nn.Linear(256 * 36, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, num_classes),
    )


class _EncoderLayer(nn.Module):
    """Post-LN BERT encoder layer written out (exports to plain MatMul/Softmax ONNX ops)."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // self.h) ** 0.5, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.proj(y))
        return self.ln2(x + self.ff(x))


class _Bert(nn.Module):
    def __init__(self, layers: int, d: int, heads: int, ff: int, seq_len: int, vocab: int = 30522) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq_len, d) * 0.02)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.Sequential(*[_EncoderLayer(d, heads, ff) for _ in range(layers)])
        self.pool = nn.Linear(d, d)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.ln(self.tok(ids) + self.pos)
        x = self.layers(x)
        return torch.tanh(self.pool(x[:, 0]))


@register_model("bert_tiny", "text", "BERT-style encoder, tiny (2 layers, 128 hidden, 2 heads)", default_seq=128)
def bert_tiny(seq_len: int = 128, default_seq: int = 128) -> nn.Module:
    return _Bert(2, 128, 2, 512, seq_len)


@register_model("bert_base", "text", "BERT-style encoder, base (12 layers, 768 hidden, 12 heads)", default_seq=128)
def bert_base(seq_len: int = 128, default_seq: int = 128) -> nn.Module:
    return _Bert(12, 768, 12, 3072, seq_len)
