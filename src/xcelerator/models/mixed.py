"""The ``mixed`` space: a broad corpus for cost models, across the families users deploy.

A point is a seed ``index``; ``Random(index)`` picks a family and its knobs, so the same index
is always the same network (``draw_distinct`` makes a corpus deterministic per ``--seed``).
Families (equal odds unless ``families=`` narrows them):

- ``mbconv``: MobileNet-v2/EfficientNet-style inverted residuals (SE, kernels 3-7);
- ``fused``: fused MBConv (EfficientNet-v2 early stages) then MBConv;
- ``dwsep``: depthwise-separable (MobileNet v1);
- ``resnet``: basic blocks; ``bottleneck``: ResNet-50-style bottlenecks;
- ``vit``: a patchifying convolution and transformer encoder layers on the tokens;
- ``text``: a BERT-style encoder on token ids (sequence 32-256);
- ``inception``: branches of 1x1, 3x3, double 3x3 and pooled 1x1, concatenated;
- ``fire``: SqueezeNet fire modules (squeeze, then 1x1 and 3x3 expands concatenated);
- ``detect``: a backbone with a feature pyramid (upsampling, concatenation) and box and class
  outputs at two scales (several outputs);
- ``segment``: an encoder-decoder (U-Net-like skips) with a per-pixel output at input size.

The ``mixed_extra`` space draws three more families, which measuring real third-party models
showed the eleven miss (they are a space of their own so that ``mixed``'s corpus stays the
same network for the same index):

- ``flat``: flat feature maps: text-line recognizers (3x32-48 by 160-320 px, strides that
  halve the height only, a per-column head, as PP-OCR's recognizer) and 1-D audio
  convolutions over 4,000-16,000 samples (as silero-vad);
- ``hswish``: MobileNet-v3-like inverted residuals whose activations are written out as
  exporters emit them (hard-swish as ``x * clip(x + 3, 0, 6) / 6``, hard-sigmoid SE gates,
  ``x * sigmoid(x)``, GELU's tanh form): many small elementwise nodes between convolutions;
- ``eltwise``: ConvNeXt-like blocks with the layer norm written out (mean, subtract, square,
  mean, root, divide, scale, shift), GELU's tanh form, layer scale and residual adds.

Resolutions 64-320 px and widths 0.25-2x of each family's usual ones (ResNets and Inception: up to
1x and 224 px), so the MACs run from about
1 M to several G and cover the zoo (``mobilenet_v1_0.25_96`` to ``resnet50_224`` and
``bert_base``). The spec families build through ``ArchSpec`` (their spec is stored with the
corpus); the branch-and-concat families are torch modules written here (no spec: their
architecture id is the hash of the point).
"""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import (
    ArchSpec,
    BlockSpec,
    HeadSpec,
    InputSpec,
    StageSpec,
    StemSpec,
    make_divisible,
)
from xcelerator.models.space_base import Param, Space

FAMILIES = (
    "mbconv",
    "fused",
    "dwsep",
    "resnet",
    "bottleneck",
    "vit",
    "text",
    "inception",
    "fire",
    "detect",
    "segment",
)
EXTRA_FAMILIES = ("flat", "hswish", "eltwise")
SPEC_FAMILIES = ("mbconv", "fused", "dwsep", "resnet", "bottleneck", "vit", "text")
RESOLUTIONS = (64, 96, 128, 160, 192, 224, 256, 320)


def _cbr(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _Branches(nn.Module):
    """Inception-style: 1x1 | 1x1→3x3 | 1x1→3x3→3x3 | maxpool→1x1, concatenated."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> None:
        super().__init__()
        self.b1 = _cbr(cin, c1, 1)
        self.b2 = nn.Sequential(_cbr(cin, c3r, 1), _cbr(c3r, c3, 3))
        self.b3 = nn.Sequential(_cbr(cin, c5r, 1), _cbr(c5r, c5, 3), _cbr(c5, c5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), _cbr(cin, pp, 1))
        self.out = c1 + c3 + c5 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class _Fire(nn.Module):
    def __init__(self, cin: int, sq: int, e: int) -> None:
        super().__init__()
        self.sq = nn.Sequential(nn.Conv2d(cin, sq, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(sq, e, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(sq, e, 3, padding=1), nn.ReLU())
        self.out = 2 * e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sq(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class _Classifier(nn.Module):
    def __init__(self, body: nn.Module, c: int, classes: int) -> None:
        super().__init__()
        self.body, self.fc = body, nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1))


class _Detector(nn.Module):
    """Backbone of strided conv stages; the last two feature maps joined top-down (the deeper
    one upsampled and concatenated with the shallower), each with a class and a box head."""

    def __init__(self, widths: list[int], depth: int, classes: int, anchors: int) -> None:
        super().__init__()
        stages, c = [], 3
        for w in widths:
            layers = [_cbr(c, w, 3, 2)] + [_cbr(w, w, 3, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*layers))
            c = w
        self.stages = nn.ModuleList(stages)
        c4, c5 = widths[-2], widths[-1]
        self.lat = _cbr(c5, c4, 1)
        self.fuse = _cbr(2 * c4, c4, 3)
        self.cls5, self.box5 = nn.Conv2d(c5, anchors * classes, 1), nn.Conv2d(c5, anchors * 4, 1)
        self.cls4, self.box4 = nn.Conv2d(c4, anchors * classes, 1), nn.Conv2d(c4, anchors * 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        p4, p5 = feats[-2], feats[-1]
        up = nn.functional.interpolate(self.lat(p5), size=p4.shape[-2:], mode="nearest")
        p4 = self.fuse(torch.cat([p4, up], 1))
        return self.cls4(p4), self.box4(p4), self.cls5(p5), self.box5(p5)


class _Segmenter(nn.Module):
    """Encoder of strided conv stages, decoder that upsamples (bilinear) and concatenates the
    encoder's map of the same size, then a per-pixel class map resized to the input."""

    def __init__(self, widths: list[int], classes: int) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        c = 3
        for w in widths:
            self.down.append(nn.Sequential(_cbr(c, w, 3, 2), _cbr(w, w, 3, 1)))
            c = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_cbr(c + w, w, 3, 1))
            c = w
        self.out = nn.Conv2d(c, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
        for u, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = u(torch.cat([x, skip], 1))
        return nn.functional.interpolate(self.out(x), size=size, mode="bilinear", align_corners=False)


def _act(kind: str, x: torch.Tensor) -> torch.Tensor:
    """An activation written out as exporters emit it (elementwise nodes, no fused op)."""
    if kind == "hswish":
        return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0
    if kind == "silu":
        return x * torch.sigmoid(x)
    if kind == "gelu_tanh":
        return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
    return torch.relu(x)


class _Act(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _act(self.kind, x)


def _cba(
    cin: int, cout: int, k: Any = 3, s: Any = 1, groups: int = 1, act: str = "relu", dims: int = 2
) -> nn.Sequential:
    conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
    pad = tuple(v // 2 for v in k) if isinstance(k, tuple) else k // 2
    return nn.Sequential(conv(cin, cout, k, s, pad, groups=groups, bias=False), bn(cout), _Act(act))


class _LineRecognizer(nn.Module):
    """A text-line recognizer: conv stages that halve both sides, then only the height, down to
    one row; a per-column classifier over the remaining width (a CTC head)."""

    def __init__(self, widths: list[int], height: int, act: str, classes: int) -> None:
        super().__init__()
        layers, c, h = [], 3, height
        for i, w in enumerate(widths):
            stride = (2, 2) if i < 2 else ((2, 1) if h > 1 else (1, 1))
            layers += [_cba(c, w, 3, stride, act=act), _cba(w, w, 3, 1, groups=w, act=act), _cba(w, w, 1, act=act)]
            h = -(-h // stride[0])
            c = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x).mean(2)  # (N, C, W): the rows left, averaged
        return self.fc(y.permute(0, 2, 1))


class _Audio(nn.Module):
    """1-D convolutions over a waveform (strided, then dilated-free residual stages), pooled."""

    def __init__(self, widths: list[int], k: int, act: str, classes: int) -> None:
        super().__init__()
        layers, c = [_cba(1, widths[0], 9, 4, act=act, dims=1)], widths[0]
        for w in widths:
            layers += [_cba(c, w, k, 2, act=act, dims=1), _cba(w, w, k, 1, act=act, dims=1)]
            c = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean(2))


class _V3Block(nn.Module):
    """An inverted residual with written-out activations and a hard-sigmoid SE gate."""

    def __init__(self, cin: int, cout: int, k: int, s: int, e: float, se: bool, act: str) -> None:
        super().__init__()
        mid = make_divisible(cin * e, 8)
        self.expand = _cba(cin, mid, 1, act=act) if mid != cin else nn.Identity()
        self.dw = _cba(mid, mid, k, s, groups=mid, act=act)
        self.se = se
        if se:
            self.se_r = nn.Conv2d(mid, make_divisible(mid / 4, 8), 1)
            self.se_e = nn.Conv2d(make_divisible(mid / 4, 8), mid, 1)
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.res = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(self.expand(x))
        if self.se:
            g = self.se_e(torch.relu(self.se_r(y.mean((2, 3), keepdim=True))))
            y = y * (torch.clamp(g + 3.0, 0.0, 6.0) / 6.0)
        y = self.project(y)
        return x + y if self.res else y


class _LayerNorm2d(nn.Module):
    """Layer norm over channels, written out as exported by hand-rolled implementations."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.g, self.b = nn.Parameter(torch.ones(1, c, 1, 1)), nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        d = x - mu
        var = (d * d).mean(1, keepdim=True)
        return d / torch.sqrt(var + 1e-6) * self.g + self.b


class _NeXtBlock(nn.Module):
    def __init__(self, c: int, k: int, e: float, act: str) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, k, 1, k // 2, groups=c)
        self.norm = _LayerNorm2d(c)
        self.pw1, self.pw2 = nn.Conv2d(c, int(c * e), 1), nn.Conv2d(int(c * e), c, 1)
        self.act = _Act(act)
        self.scale = nn.Parameter(torch.full((1, c, 1, 1), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.pw2(self.act(self.pw1(self.norm(self.dw(x)))))


class MixedSpace(Space):
    """A broad corpus across model families (see the module docstring); a point is an index."""

    name = "mixed"

    def __init__(self, families: str | list[str] | None = None, classes: int = 1000, name: str = "mixed") -> None:
        fams = families.split(",") if isinstance(families, str) else list(families or FAMILIES)
        bad = [f for f in fams if f not in FAMILIES + EXTRA_FAMILIES]
        if bad or not fams:
            raise BadInputError(f"{name}: unknown families {bad}; known: {', '.join(FAMILIES + EXTRA_FAMILIES)}")
        self.name = name
        self.families, self.classes = tuple(fams), int(classes)
        self.description = f"a broad corpus: {', '.join(self.families)} at 64-320 px, widths 0.25-2x"
        if set(self.families) <= set(EXTRA_FAMILIES):
            self.description = (
                f"what real models showed missing: {', '.join(self.families)} (text lines 32-48 x 160-320 px and "
                "1-D audio, written-out activations, elementwise-heavy blocks), widths 0.25-2x"
            )

    def params(self) -> list[Param]:
        return [Param("index", "int", 0, 2**31 - 1, 1, default=0)]

    def size(self) -> int | None:
        return None  # indices are seeds: do not enumerate

    def family(self, point: dict[str, Any]) -> str:
        return self._draw(self.check(point)["index"])[0]

    def _draw(self, idx: int) -> tuple[str, dict[str, Any]]:
        rng = random.Random(idx * 7919 + 17)
        fam = rng.choice(self.families)
        heavy = fam in ("resnet", "bottleneck", "inception")  # wide and large they take seconds a run
        w = rng.choice((0.25, 0.35, 0.5, 0.75, 1.0) if heavy else (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0))
        res = rng.choice(RESOLUTIONS[:6] if heavy else RESOLUTIONS)
        return fam, {"rng": rng, "w": w, "res": res}

    def to_spec(self, point: dict[str, Any]) -> ArchSpec | None:
        idx = self.check(point)["index"]
        fam, k = self._draw(idx)
        if fam not in SPEC_FAMILIES:
            return None
        rng, w, res = k["rng"], k["w"], k["res"]
        act = rng.choice(("relu", "relu6", "hswish"))

        def ch(c: float) -> int:
            return make_divisible(c * w, 8)

        stages: list[StageSpec] = []
        if fam in ("mbconv", "fused", "dwsep"):
            widths = [16, 24, 40, 80, 112, 192, 320][: rng.randint(4, 7)]
            for s, c in enumerate(widths):
                blocks = []
                for i in range(rng.randint(1, 3)):
                    stride = 2 if i == 0 and s in (1, 2, 3, 5) else 1
                    if fam == "dwsep":
                        blocks.append(BlockSpec("dwsep", ch(c * 2), rng.choice((3, 5)), stride, act=act))
                    elif fam == "fused" and s < 3:
                        blocks.append(BlockSpec("fused_mbconv", ch(c), 3, stride, rng.choice((1.0, 4.0)), act=act))
                    else:
                        blocks.append(
                            BlockSpec(
                                "mbconv",
                                ch(c),
                                rng.choice((3, 5, 7)),
                                stride,
                                rng.choice((3.0, 4.0, 6.0)),
                                rng.choice((0.0, 0.25)),
                                act,
                            )
                        )
                stages.append(StageSpec(tuple(blocks)))
            stem = StemSpec(ch(32), 3, 2, act)
            head = HeadSpec(rng.choice((0, 1024, 1280)), act, self.classes)
        elif fam in ("resnet", "bottleneck"):
            widths = [64, 128, 256, 512]
            for s, c in enumerate(widths):
                n = rng.randint(1, 3 if fam == "resnet" else 4)
                out = ch(c) if fam == "resnet" else ch(c) * 4
                kind = "bottleneck" if fam == "bottleneck" else "basic"
                blocks = [BlockSpec(kind, out, 3, 2 if i == 0 and s else 1, 4.0, act="relu") for i in range(n)]
                stages.append(StageSpec(tuple(blocks)))
            stem = StemSpec(ch(64), rng.choice((3, 7)), 2, "relu")
            head = HeadSpec(0, "relu", self.classes)
        elif fam == "vit":
            d = rng.choice((64, 96, 128, 192, 256))
            heads = rng.choice([h for h in (1, 2, 4, 8) if d % h == 0 and d // h >= 16])
            res = rng.choice((64, 96, 128, 160))
            # patchify: a stride-2 stem and stride-2 convs down to 1/8 or 1/16 of the input
            pre = [BlockSpec("conv", d // 2, 3, 2, act="relu"), BlockSpec("conv", d, 3, 2, act="relu")]
            if res >= 128:
                pre.append(BlockSpec("conv", d, 3, 2, act="relu"))
            enc = [BlockSpec("transformer", d, 1, 1, rng.choice((2.0, 4.0)), act="gelu", heads=heads)]
            stages = [StageSpec(tuple(pre)), StageSpec(tuple(enc * rng.randint(1, 6)))]
            stem = StemSpec(d // 4, 3, 2, "relu")
            head = HeadSpec(0, "relu", self.classes)
        else:  # text
            d = rng.choice((64, 128, 256, 384, 512, 768))
            heads = rng.choice([h for h in (2, 4, 8, 12) if d % h == 0])
            layer = BlockSpec("transformer", d, 1, 1, 4.0, act="gelu", heads=heads)
            stages = [StageSpec((layer,) * rng.randint(1, 12 if d <= 256 else 6))]
            stem = StemSpec(d, 1, 1, "gelu")
            head = HeadSpec(0, "gelu", 2)
            seq = rng.choice((32, 64, 128, 256))
            return ArchSpec(f"mixed_text_{idx}", InputSpec("text", seq_len=seq, vocab=8000), stem, tuple(stages), head)
        return ArchSpec(f"mixed_{fam}_{idx}", InputSpec(resolution=res), stem, tuple(stages), head)

    def build(self, point: dict[str, Any], seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
        point = self.check(point)
        if self.to_spec(point) is not None:
            return super().build(point, seed)
        fam, k = self._draw(point["index"])
        rng, w, res = k["rng"], k["w"], k["res"]
        torch.manual_seed(seed)

        def ch(c: float) -> int:
            return make_divisible(c * w, 8)

        module: nn.Module
        if fam in EXTRA_FAMILIES:
            return self._build_extra(fam, rng, w, res, seed)
        if fam == "inception":
            layers: list[nn.Module] = [_cbr(3, ch(64), 7, 2), nn.MaxPool2d(3, 2, 1), _cbr(ch(64), ch(192), 3)]
            c = ch(192)
            for s in range(rng.randint(2, 3)):
                layers.append(nn.MaxPool2d(3, 2, 1))
                for _ in range(rng.randint(1, 3)):
                    b = _Branches(c, ch(64 * (s + 1)), ch(96), ch(128 * (s + 1)), ch(16), ch(32 * (s + 1)), ch(32))
                    layers.append(b)
                    c = b.out
            module = _Classifier(nn.Sequential(*layers), c, self.classes)
        elif fam == "fire":
            layers = [nn.Conv2d(3, ch(64), 3, 2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)]
            c = ch(64)
            side = -(-((res - 3) // 2 + 1 - 3) // 2) + 1  # after the stem's conv and pool
            for s in range(rng.randint(2, 4)):
                for _ in range(2):
                    f = _Fire(c, ch(16 * (s + 1)), ch(64 * (s + 1)))
                    layers.append(f)
                    c = f.out
                if side >= 2:  # a 3x3 pool of a 1x1 map has no output (64 px, 4 stages)
                    layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
                    side = -(-(side - 3) // 2) + 1
            module = _Classifier(nn.Sequential(*layers), c, self.classes)
        elif fam == "detect":
            n = rng.randint(4, 5)
            widths = [ch(v) for v in (16, 32, 64, 128, 256)[:n]]
            res = rng.choice((192, 256, 320))
            module = _Detector(widths, rng.randint(1, 3), rng.choice((20, 80)), rng.choice((1, 3)))
        else:  # segment
            n = rng.randint(3, 5)
            widths = [ch(v) for v in (16, 32, 64, 128, 256)[:n]]
            module = _Segmenter(widths, rng.choice((2, 21)))
        g = torch.Generator().manual_seed(seed)
        return module.eval(), (torch.randn((1, 3, res, res), generator=g),)

    def _build_extra(self, fam: str, rng: random.Random, w: float, res: int, seed: int) -> tuple[Any, tuple[Any, ...]]:
        def ch(c: float) -> int:
            return make_divisible(c * w, 8)

        g = torch.Generator().manual_seed(seed)
        act = rng.choice(("hswish", "silu", "gelu_tanh", "relu") if fam == "flat" else ("hswish", "silu", "gelu_tanh"))
        module: nn.Module
        if fam == "flat" and rng.random() < 0.6:
            height, width = rng.choice((32, 48)), rng.choice((160, 256, 320))
            widths = [ch(c) for c in (32, 64, 96, 128, 192, 256)[: rng.randint(4, 6)]]
            module = _LineRecognizer(widths, height, act, rng.choice((97, 6625)))
            return module.eval(), (torch.randn((1, 3, height, width), generator=g),)
        if fam == "flat":
            length = rng.choice((4000, 8000, 16000))
            widths = [ch(c) for c in (32, 64, 128, 128, 256)[: rng.randint(3, 5)]]
            module = _Audio(widths, rng.choice((3, 5, 9)), act, rng.choice((2, 35)))
            return module.eval(), (torch.randn((1, 1, length), generator=g),)
        if fam == "hswish":
            c = ch(16)
            layers: list[nn.Module] = [_cba(3, ch(16), 3, 2, act=act)]
            for s, base in enumerate((16, 24, 40, 80, 112, 160)[: rng.randint(4, 6)]):
                for i in range(rng.randint(1, 3)):
                    stride = 2 if i == 0 and s in (1, 2, 3, 5) else 1
                    blk = _V3Block(
                        c, ch(base), rng.choice((3, 5)), stride, rng.choice((3.0, 4.0, 6.0)), rng.random() < 0.5, act
                    )
                    layers.append(blk)
                    c = ch(base)
            layers.append(_cba(c, ch(576), 1, act=act))
            module = _Classifier(nn.Sequential(*layers), ch(576), self.classes)
        else:  # eltwise
            dims = [ch(c) for c in (48, 96, 192, 384)[: rng.randint(3, 4)]]
            k = rng.choice((3, 5, 7))
            layers = [nn.Conv2d(3, dims[0], 4, 4)]  # a patchifying stem
            for s, d in enumerate(dims):
                if s:
                    layers += [_LayerNorm2d(dims[s - 1]), nn.Conv2d(dims[s - 1], d, 2, 2)]
                layers += [_NeXtBlock(d, k, rng.choice((2.0, 4.0)), act) for _ in range(rng.randint(1, 3))]
            module = _Classifier(nn.Sequential(*layers), dims[-1], self.classes)
        return module.eval(), (torch.randn((1, 3, res, res), generator=g),)
