"""ArchSpec: a JSON description of a network, its validation, its torch builder and its
analytic per-layer description (MACs, params, activation bytes) computed without torch.

A spec is: an input (image: channels and resolution; text: sequence length and vocabulary), a
stem (a strided conv, or a token embedding), stages of blocks, and a head. Block types:

``conv``          conv k×k → BN → act
``dwsep``         depthwise k×k → BN → act → pointwise 1×1 → BN → act (MobileNet v1)
``mbconv``        [1×1 expand ×e → BN → act] → depthwise k×k → BN → act → [SE] → 1×1 → BN (+ skip)
``fused_mbconv``  k×k expand ×e → BN → act → [SE] → [1×1 → BN] (+ skip) (EfficientNetV2)
``basic``         ResNet basic block (two k×k convs, projection shortcut when shape changes)
``bottleneck``    ResNet bottleneck (1×1 → k×k → 1×1 with ``out/expansion`` mid channels)
``transformer``   post-LN encoder layer (``heads``, MLP ratio ``expansion``); on images it runs on
                  the H·W tokens
``nb201_cell``    a NAS-Bench-201 cell: 4 nodes, 6 edges, each edge one of ``NB201_OPS``

The skip connection of ``mbconv``/``fused_mbconv`` exists when stride is 1 and channels match.
MACs count convolutions, linear layers and the two attention matrix products (the same rule
as ``graphstats``), so a spec's MACs equal its exported ONNX graph's.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from xcelerator.errors import BadInputError

BLOCK_TYPES = ("conv", "dwsep", "mbconv", "fused_mbconv", "basic", "bottleneck", "transformer", "nb201_cell")
ACTIVATIONS = ("relu", "relu6", "hswish", "swish", "gelu", "none")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@dataclass(frozen=True)
class InputSpec:
    kind: str = "image"  # image | text
    channels: int = 3
    resolution: int = 224
    seq_len: int = 128
    vocab: int = 30522


@dataclass(frozen=True)
class StemSpec:
    out: int = 32
    kernel: int = 3
    stride: int = 2
    act: str = "relu6"


@dataclass(frozen=True)
class BlockSpec:
    type: str
    out: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 1.0
    se: float = 0.0
    act: str = "relu6"
    heads: int = 0
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSpec:
    blocks: tuple[BlockSpec, ...]


@dataclass(frozen=True)
class HeadSpec:
    hidden: int = 0  # a 1×1 conv (images) or linear (text) before pooling, 0 = none
    act: str = "relu6"
    classes: int = 1000
    dropout: float = 0.0


@dataclass(frozen=True)
class ArchSpec:
    name: str
    input: InputSpec
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: HeadSpec = field(default_factory=HeadSpec)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for st in d["stages"]:
            for b in st["blocks"]:
                b["ops"] = list(b["ops"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def hash(self) -> str:
        """Content hash of the spec (name excluded): equal architectures, equal hash."""
        d = self.to_dict()
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchSpec:
        def make(kind: type, data: Any, where: str) -> Any:
            if not isinstance(data, dict):
                raise BadInputError(f"{where}: expected a mapping, got {type(data).__name__}")
            known = {f.name for f in fields(kind)}
            unknown = set(data) - known
            if unknown:
                raise BadInputError(f"{where}: unknown field(s) {sorted(unknown)}; valid: {sorted(known)}")
            try:
                return kind(**data)
            except TypeError as e:
                raise BadInputError(f"{where}: {e}") from None

        if not isinstance(d, dict):
            raise BadInputError("spec: expected a JSON object")
        for key in ("input", "stem", "stages"):
            if key not in d:
                raise BadInputError(f"spec: missing field '{key}'")
        stages = []
        for i, st in enumerate(d["stages"], 1):
            if not isinstance(st, dict) or "blocks" not in st:
                raise BadInputError(f"stage {i}: expected a mapping with 'blocks'")
            blocks = []
            for j, b in enumerate(st["blocks"], 1):
                b = dict(b) if isinstance(b, dict) else b
                if isinstance(b, dict) and "ops" in b:
                    b["ops"] = tuple(b["ops"])
                blocks.append(make(BlockSpec, b, f"stage {i} block {j}"))
            stages.append(StageSpec(tuple(blocks)))
        spec = cls(
            name=str(d.get("name", "spec")),
            input=make(InputSpec, d["input"], "input"),
            stem=make(StemSpec, d["stem"], "stem"),
            stages=tuple(stages),
            head=make(HeadSpec, d.get("head", {}), "head"),
        )
        validate(spec)
        return spec

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise BadInputError(f"spec: not valid JSON ({e})") from None

    # ------------------------------------------------------------------ helpers
    @property
    def blocks(self) -> list[tuple[int, int, BlockSpec]]:
        """(stage index, block index, block), 0-based."""
        return [(i, j, b) for i, st in enumerate(self.stages) for j, b in enumerate(st.blocks)]

    def input_shape(self) -> tuple[int, ...]:
        if self.input.kind == "text":
            return (1, self.input.seq_len)
        return (1, self.input.channels, self.input.resolution, self.input.resolution)

    def output_shape(self) -> tuple[int, ...]:
        return (1, self.head.classes)

    def with_resolution(self, r: int) -> ArchSpec:
        return replace(self, input=replace(self.input, resolution=r))


# ----------------------------------------------------------------------------- validation
def validate(spec: ArchSpec) -> ArchSpec:
    """Raise ``BadInputError`` naming the bad field, e.g. 'stage 3 block 2: kernel 4 must be odd'."""

    def bad(where: str, msg: str) -> None:
        raise BadInputError(f"{where}: {msg}")

    inp = spec.input
    if inp.kind not in ("image", "text"):
        bad("input", f"kind {inp.kind!r} must be image or text")
    if inp.kind == "image":
        if inp.channels < 1:
            bad("input", f"channels {inp.channels} must be >= 1")
        if inp.resolution < 1:
            bad("input", f"resolution {inp.resolution} must be >= 1")
    else:
        if inp.seq_len < 1:
            bad("input", f"seq_len {inp.seq_len} must be >= 1")
        if inp.vocab < 2:
            bad("input", f"vocab {inp.vocab} must be >= 2")
    st = spec.stem
    if st.out < 1:
        bad("stem", f"out {st.out} must be >= 1")
    if inp.kind == "image":
        if st.kernel < 1 or st.kernel % 2 == 0:
            bad("stem", f"kernel {st.kernel} must be odd")
        if st.stride not in (1, 2):
            bad("stem", f"stride {st.stride} must be 1 or 2")
    if st.act not in ACTIVATIONS:
        bad("stem", f"act {st.act!r} must be one of {', '.join(ACTIVATIONS)}")
    if not spec.stages or not any(s.blocks for s in spec.stages):
        bad("spec", "needs at least one stage with at least one block")
    ch = st.out
    for i, stage in enumerate(spec.stages, 1):
        for j, b in enumerate(stage.blocks, 1):
            where = f"stage {i} block {j}"
            if b.type not in BLOCK_TYPES:
                bad(where, f"type {b.type!r} must be one of {', '.join(BLOCK_TYPES)}")
            if inp.kind == "text" and b.type != "transformer":
                bad(where, f"a text model takes transformer blocks only, not {b.type}")
            if b.out < 1:
                bad(where, f"out {b.out} must be >= 1")
            if b.kernel < 1 or b.kernel % 2 == 0:
                bad(where, f"kernel {b.kernel} must be odd")
            if b.kernel > 11:
                bad(where, f"kernel {b.kernel} must be at most 11")
            if b.stride not in (1, 2):
                bad(where, f"stride {b.stride} must be 1 or 2")
            if b.expansion < 1:
                bad(where, f"expansion {b.expansion:g} must be >= 1")
            if not 0 <= b.se < 1:
                bad(where, f"se {b.se:g} must be in [0, 1)")
            if b.act not in ACTIVATIONS:
                bad(where, f"act {b.act!r} must be one of {', '.join(ACTIVATIONS)}")
            if b.type == "transformer":
                if b.out != ch:
                    bad(where, f"a transformer block keeps its width: out {b.out} must equal its input {ch}")
                if b.stride != 1:
                    bad(where, "a transformer block has stride 1")
                if b.heads < 1 or b.out % b.heads:
                    bad(where, f"heads {b.heads} must be >= 1 and divide out {b.out}")
            if b.type == "bottleneck" and b.out % max(1, int(b.expansion)):
                bad(where, f"out {b.out} must be a multiple of expansion {b.expansion:g}")
            if b.type == "nb201_cell":
                if b.out != ch or b.stride != 1:
                    bad(where, f"a NAS-Bench-201 cell keeps shape: out must be {ch} and stride 1")
                if len(b.ops) != 6 or any(o not in NB201_OPS for o in b.ops):
                    bad(where, f"ops must be 6 of {', '.join(NB201_OPS)}, got {list(b.ops)}")
            ch = b.out
    h = spec.head
    if h.classes < 1:
        bad("head", f"classes {h.classes} must be >= 1")
    if h.hidden < 0:
        bad("head", f"hidden {h.hidden} must be >= 0")
    if not 0 <= h.dropout < 1:
        bad("head", f"dropout {h.dropout:g} must be in [0, 1)")
    if h.act not in ACTIVATIONS:
        bad("head", f"act {h.act!r} must be one of {', '.join(ACTIVATIONS)}")
    return spec


NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def nb201_active(ops: tuple[str, ...]) -> tuple[tuple[bool, ...], bool]:
    """Which edges of a NAS-Bench-201 cell compute anything, and whether the cell's output
    depends on its input. An edge is active when its op is not ``none``, its source node is
    reachable from the input through active edges, and its destination reaches the output.
    Dead edges are left out of the network (an exporter would drop them anyway), and a cell
    whose output does not depend on its input outputs ``input × 0``."""
    live = [True, False, False, False]
    for e, (dst, src) in enumerate(NB201_EDGES):
        if ops[e] != "none" and live[src]:
            live[dst] = True
    useful = [False, False, False, True]
    for e in reversed(range(6)):
        dst, src = NB201_EDGES[e]
        if ops[e] != "none" and useful[dst] and live[src]:
            useful[src] = True
    active = tuple(
        ops[e] != "none" and live[src] and useful[dst] and live[dst] for e, (dst, src) in enumerate(NB201_EDGES)
    )
    return active, live[3]


def make_divisible(v: float, d: int = 8, minimum: int | None = None) -> int:
    """Round channels to a multiple of ``d`` without going more than 10% below ``v``."""
    m = minimum or d
    n = max(m, int(v + d / 2) // d * d)
    if n < 0.9 * v:
        n += d
    return n


def se_channels(c: int, ratio: float) -> int:
    return max(1, int(c * ratio))


# ----------------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class LayerRow:
    """One compute layer of a network, computed from its spec."""

    name: str
    op: str  # conv | dwconv | linear | matmul | pool | add
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    padding: int
    macs: int
    params: int
    act_bytes: int  # output activation bytes (fp32)


@dataclass(frozen=True)
class Description:
    rows: tuple[LayerRow, ...]
    macs: int
    params: int
    peak_act_bytes: int
    output_shape: tuple[int, ...]

    def totals(self) -> dict[str, Any]:
        return {
            "macs": self.macs,
            "params": self.params,
            "layers": len(self.rows),
            "peak_act_bytes": self.peak_act_bytes,
            "output_shape": list(self.output_shape),
        }


class _Acc:
    def __init__(self) -> None:
        self.rows: list[LayerRow] = []

    def conv(
        self,
        name: str,
        shape: tuple[int, int, int],
        cout: int,
        k: int,
        s: int,
        groups: int = 1,
        bias: bool = False,
        bn: bool = True,
    ) -> tuple[int, int, int]:
        c, h, w = shape
        p = k // 2
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        macs = cout * ho * wo * (c // groups) * k * k
        params = cout * (c // groups) * k * k + (cout if bias else 0) + (2 * cout if bn else 0)
        op = "dwconv" if groups == c and groups > 1 else "conv"
        self.rows.append(
            LayerRow(name, op, (c, h, w), (cout, ho, wo), c, cout, k, s, groups, p, macs, params, 4 * cout * ho * wo)
        )
        return (cout, ho, wo)

    def linear(self, name: str, tokens: int, cin: int, cout: int, bias: bool = True) -> None:
        self.rows.append(
            LayerRow(
                name,
                "linear",
                (tokens, cin),
                (tokens, cout),
                cin,
                cout,
                1,
                1,
                1,
                0,
                tokens * cin * cout,
                cin * cout + (cout if bias else 0),
                4 * tokens * cout,
            )
        )

    def matmul(self, name: str, batch: int, m: int, k: int, n: int) -> None:
        self.rows.append(
            LayerRow(
                name, "matmul", (batch, m, k), (batch, m, n), k, n, 1, 1, 1, 0, batch * m * k * n, 0, 4 * batch * m * n
            )
        )

    def pool(self, name: str, shape: tuple[int, int, int], k: int, s: int) -> tuple[int, int, int]:
        c, h, w = shape
        p = k // 2 if k > 1 else 0
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        self.rows.append(LayerRow(name, "pool", shape, (c, ho, wo), c, c, k, s, 1, p, 0, 0, 4 * c * ho * wo))
        return (c, ho, wo)


def describe(spec: ArchSpec) -> Description:
    """Per-layer table and totals of a spec, by arithmetic alone (no torch, microseconds)."""
    validate(spec)
    a = _Acc()
    if spec.input.kind == "text":
        s, d = spec.input.seq_len, spec.stem.out
        params = spec.input.vocab * d + s * d + 2 * d
        a.rows.append(LayerRow("embedding", "embedding", (s,), (s, d), 0, d, 1, 1, 1, 0, 0, params, 4 * s * d))
        for i, j, b in spec.blocks:
            _describe_transformer(a, f"s{i}b{j}", s, d, b)
        if spec.head.hidden:
            a.linear("head.hidden", 1, d, spec.head.hidden)
            d = spec.head.hidden
        a.linear("head.fc", 1, d, spec.head.classes)
    else:
        shape = (spec.input.channels, spec.input.resolution, spec.input.resolution)
        shape = a.conv("stem", shape, spec.stem.out, spec.stem.kernel, spec.stem.stride)
        for i, j, b in spec.blocks:
            shape = _describe_block(a, f"s{i}b{j}", shape, b)
        if spec.head.hidden:
            shape = a.conv("head.hidden", shape, spec.head.hidden, 1, 1)
        a.linear("head.fc", 1, shape[0], spec.head.classes)
    rows = tuple(a.rows)
    return Description(
        rows,
        sum(r.macs for r in rows),
        sum(r.params for r in rows),
        max(r.act_bytes for r in rows),
        spec.output_shape(),
    )


def _describe_transformer(a: _Acc, n: str, s: int, d: int, b: BlockSpec) -> None:
    ff = int(d * b.expansion)
    a.linear(f"{n}.qkv", s, d, 3 * d)
    a.matmul(f"{n}.scores", b.heads, s, d // b.heads, s)
    a.matmul(f"{n}.context", b.heads, s, s, d // b.heads)
    a.linear(f"{n}.proj", s, d, d)
    a.linear(f"{n}.ff1", s, d, ff)
    a.linear(f"{n}.ff2", s, ff, d)
    a.rows[-1] = replace(a.rows[-1], params=a.rows[-1].params + 4 * d)  # the two LayerNorms


def _describe_block(a: _Acc, n: str, shape: tuple[int, int, int], b: BlockSpec) -> tuple[int, int, int]:
    c = shape[0]
    k, s = b.kernel, b.stride
    if b.type == "conv":
        return a.conv(f"{n}.conv", shape, b.out, k, s)
    if b.type == "dwsep":
        x = a.conv(f"{n}.dw", shape, c, k, s, groups=c)
        return a.conv(f"{n}.pw", x, b.out, 1, 1)
    if b.type == "mbconv":
        hid = make_divisible(c * b.expansion) if b.expansion != 1 else c
        x = a.conv(f"{n}.expand", shape, hid, 1, 1) if b.expansion != 1 else shape
        x = a.conv(f"{n}.dw", x, hid, k, s, groups=hid)
        if b.se:
            r = se_channels(c, b.se)
            a.conv(f"{n}.se1", (hid, 1, 1), r, 1, 1, bias=True, bn=False)
            a.conv(f"{n}.se2", (r, 1, 1), hid, 1, 1, bias=True, bn=False)
        return a.conv(f"{n}.project", x, b.out, 1, 1)
    if b.type == "fused_mbconv":
        hid = make_divisible(c * b.expansion) if b.expansion != 1 else b.out
        x = a.conv(f"{n}.fused", shape, hid, k, s)
        if b.se:
            r = se_channels(c, b.se)
            a.conv(f"{n}.se1", (hid, 1, 1), r, 1, 1, bias=True, bn=False)
            a.conv(f"{n}.se2", (r, 1, 1), hid, 1, 1, bias=True, bn=False)
        return a.conv(f"{n}.project", x, b.out, 1, 1) if b.expansion != 1 else x
    if b.type == "basic":
        x = a.conv(f"{n}.conv1", shape, b.out, k, s)
        x = a.conv(f"{n}.conv2", x, b.out, k, 1)
        if s != 1 or c != b.out:
            a.conv(f"{n}.down", shape, b.out, 1, s)
        return x
    if b.type == "bottleneck":
        mid = b.out // max(1, int(b.expansion))
        x = a.conv(f"{n}.conv1", shape, mid, 1, 1)
        x = a.conv(f"{n}.conv2", x, mid, k, s)
        x = a.conv(f"{n}.conv3", x, b.out, 1, 1)
        if s != 1 or c != b.out:
            a.conv(f"{n}.down", shape, b.out, 1, s)
        return x
    if b.type == "transformer":
        _describe_transformer(a, n, shape[1] * shape[2], c, b)
        return shape
    if b.type == "nb201_cell":
        active, _ = nb201_active(b.ops)
        for e, op in enumerate(b.ops):
            if not active[e]:
                continue
            if op == "nor_conv_1x1":
                a.conv(f"{n}.e{e}.conv1x1", shape, c, 1, 1)
            elif op == "nor_conv_3x3":
                a.conv(f"{n}.e{e}.conv3x3", shape, c, 3, 1)
            elif op == "avg_pool_3x3":
                a.pool(f"{n}.e{e}.pool", shape, 3, 1)
        return shape
    raise AssertionError(b.type)


def spec_hash_name(spec: ArchSpec) -> str:
    return f"{spec.name}-{spec.hash[:10]}"


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_depth(n: int, d: float) -> int:
    return max(1, math.ceil(n * d - 1e-9))
