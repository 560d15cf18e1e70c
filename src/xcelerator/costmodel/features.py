"""Features of an ONNX graph for latency cost models.

Three views of one ``GraphStats``:

* **kernels** (``kernel_rows``): the graph cut into the units a runtime executes. A Conv, Gemm or
  MatMul absorbs the elementwise activations that follow it alone (ONNX Runtime, OpenVINO and
  TFLite all fuse those), every other known op is a kernel of its own, and shape-only ops
  (Reshape, Flatten, ...) are kept with near-zero cost. Each row: op family one-hot, fused
  activation, and log1p of MACs, FLOPs, params, bytes read and written, channels in and out,
  kernel, stride, groups, input and output spatial size. A kernel is named after its last
  output tensor, which is how ONNX Runtime's profiler names a fused node, so profiled times
  can be matched to it (``match_layers``). ``fuse=True`` (the layer predictor's split) also
  merges what ONNX Runtime runs as one node in a transformer: MatMul + bias, residual Add +
  LayerNormalization, the erf GELU.
* **model** (``model_vector``): totals and per-family sums of those columns (what a model-level
  regressor sees).
* **seed encoding**: ``graphstats.encode13`` (56 × 13), the cost-model seed's layer rows.

Ops outside ``KNOWN_OPS`` are left out and reported by name, so a prediction can say what it
ignored instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcelerator.models.graphstats import GraphStats, NodeStats

FAMILIES = ("conv", "dwconv", "gemm", "pool", "gpool", "eltwise", "act", "norm", "softmax", "shape", "reduce")
_FAMILY = {
    "Conv": "conv",
    "ConvTranspose": "conv",
    "Gemm": "gemm",
    "MatMul": "gemm",
    "MaxPool": "pool",
    "AveragePool": "pool",
    "GlobalAveragePool": "gpool",
    "GlobalMaxPool": "gpool",
    "Add": "eltwise",
    "Sub": "eltwise",
    "Mul": "eltwise",
    "Div": "eltwise",
    "Pow": "eltwise",
    "Sqrt": "eltwise",
    "Max": "eltwise",
    "Min": "eltwise",
    "Where": "eltwise",
    "Equal": "eltwise",
    "Neg": "eltwise",
    "Exp": "eltwise",
    "Erf": "eltwise",
    "Relu": "act",
    "Clip": "act",
    "Sigmoid": "act",
    "HardSigmoid": "act",
    "HardSwish": "act",
    "Tanh": "act",
    "Gelu": "act",
    "LeakyRelu": "act",
    "PRelu": "act",
    "BatchNormalization": "norm",
    "LayerNormalization": "norm",
    "Softmax": "softmax",
    "Reshape": "shape",
    "Flatten": "shape",
    "Transpose": "shape",
    "Squeeze": "shape",
    "Unsqueeze": "shape",
    "Concat": "shape",
    "Split": "shape",
    "Slice": "shape",
    "Gather": "shape",
    "Shape": "shape",
    "Cast": "shape",
    "Expand": "shape",
    "Identity": "shape",
    "Dropout": "shape",
    "Constant": "shape",
    "ConstantOfShape": "shape",
    "Range": "shape",
    "ReduceMean": "reduce",
    "ReduceSum": "reduce",
    "ReduceMax": "reduce",
    # memory-bound ops that detectors, segmenters and OCR models use: counted with the
    # elementwise ones (bytes moved is what they cost), so the feature columns stay the same
    "Resize": "eltwise",
    "Upsample": "eltwise",
    "Pad": "eltwise",
    "Sum": "eltwise",
    "Abs": "eltwise",
    "Log": "eltwise",
    "Reciprocal": "eltwise",
    "Floor": "eltwise",
    "Ceil": "eltwise",
    "Sin": "eltwise",
    "Cos": "eltwise",
    "Less": "eltwise",
    "Greater": "eltwise",
    "LessOrEqual": "eltwise",
    "GreaterOrEqual": "eltwise",
    "And": "eltwise",
    "Or": "eltwise",
    "Not": "eltwise",
    "Softplus": "act",
    "Mish": "act",
    "Elu": "act",
    "Selu": "act",
    "InstanceNormalization": "norm",
    "GroupNormalization": "norm",
    "ReduceMin": "reduce",
    "ReduceL2": "reduce",
    "ReduceProd": "reduce",
    "ArgMax": "reduce",
    "Tile": "shape",
    "DepthToSpace": "shape",
    "SpaceToDepth": "shape",
}
KNOWN_OPS = frozenset(_FAMILY)
_ANCHORS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
_FUSABLE = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "BatchNormalization"}

NUMERIC = (
    "macs",
    "flops",
    "params",
    "bytes_in",
    "bytes_out",
    "c_in",
    "c_out",
    "kernel",
    "stride",
    "groups",
    "hw_in",
    "hw_out",
)
KERNEL_COLUMNS = (*(f"is_{f}" for f in FAMILIES), "fused_act", *NUMERIC)
# appended by the layer predictor's split (``fuse`` 2 or 3): what makes one kernel of a family run
# slower than another of the same size on a vector unit. A residual sum accumulated into the
# convolution's output; the activation's kind (``_act_kind``); the output width (the vector
# loops run along it); channels modulo 16 (the blocked layouts pad to 8 or 16 channels);
# padding; a Resize's mode.
DETAIL_COLUMNS = ("fused_sum", "act_kind", "w_out", "c_in_mod16", "c_out_mod16", "pad", "resize_mode")
# a Resize's interpolation (0: not a Resize, or statistics stored before the mode was kept): a
# nearest-neighbour upsample copies, a bilinear one reads four inputs per output
_RESIZE_MODE = {"nearest": 1.0, "linear": 2.0, "cubic": 3.0}
_CHEAP_ACTS = {"Relu", "Clip", "LeakyRelu", "BatchNormalization"}
_ACT_KIND_3 = {"BatchNormalization": 0.0, "Relu": 1.0, "Clip": 2.0, "LeakyRelu": 2.0}


def _act_kind(acts: list[str], level: int) -> float:
    """The fused activations' cost class. Level 2: 0 none, 1 only cheap ones (ReLU, clip, leaky
    ReLU, a folded BatchNormalization), 2 any other (hard-swish, sigmoid). Level 3 tells a ReLU
    from a clip: MLAS applies a ReLU inside the convolution kernel's store, and every other
    activation in a pass of its own over the output (``MLAS_CONV_KERNEL_FLAG_OTHER_ACTIVATION``).
    On depthwise convolutions, memory-bound, that pass shows: with the two in one class, 2000
    mixed networks' depthwise-separable ones were over-predicted by 9.5 % (median) with ReLU
    and under-predicted by 5.7 % with ReLU6 (layer predictor, 5-fold). Level 3: 0 none or a
    folded BatchNormalization only, 1 ReLU, 2 clip or leaky ReLU, 3 any other."""
    if level < 3:
        return 0.0 if not acts else 1.0 if all(a in _CHEAP_ACTS for a in acts) else 2.0
    return max((_ACT_KIND_3.get(a, 3.0) for a in acts), default=0.0)


@dataclass
class Kernel:
    """One executed unit: an anchor node and the activations fused into it."""

    name: str  # the last output tensor (how ONNX Runtime names the fused node)
    op_type: str
    family: str
    nodes: list[NodeStats] = field(default_factory=list)

    def row(self, level: int = 0) -> list[float]:
        """The kernel's ``KERNEL_COLUMNS``, and its ``DETAIL_COLUMNS`` at split level 2 or more."""
        head = self.nodes[0]
        fam = "dwconv" if self.family == "conv" and head.groups > 1 and head.groups == head.in_channels else self.family
        ins, outs = head.input_shape, self.nodes[-1].output_shape
        hw_in = float(ins[2] * ins[3]) if len(ins) == 4 else 1.0
        hw_out = float(outs[2] * outs[3]) if len(outs) == 4 else 1.0
        c_in = head.in_channels or (ins[1] if len(ins) >= 2 else 0)
        c_out = head.out_channels or (outs[1] if len(outs) >= 2 else 0)
        vals = [
            sum(n.macs for n in self.nodes),
            sum(n.flops for n in self.nodes),
            sum(n.params for n in self.nodes),
            head.input_bytes,
            self.nodes[-1].output_bytes,
            c_in,
            c_out,
            head.kernel[0] if head.kernel else 0,
            head.strides[0] if head.strides else 0,
            head.groups,
            hw_in,
            hw_out,
        ]
        row = [
            *(1.0 if fam == f else 0.0 for f in FAMILIES),
            float(len(self.nodes) > 1),
            *(math.log1p(max(float(v), 0.0)) for v in vals),
        ]
        if level >= 2:
            kind = _act_kind([n.op_type for n in self.nodes[1:] if n.op_type in _FUSABLE], level)
            row += [
                float(any(n.op_type in ("Add", "Sum") and len(n.inputs) == 2 for n in self.nodes[1:])),
                kind,
                math.log1p(float(outs[3]) if len(outs) == 4 else 1.0),
                float(int(c_in) % 16),
                float(int(c_out) % 16),
                float(max(head.pads, default=0)),
                max((_RESIZE_MODE.get(n.mode, 4.0) if n.mode else 0.0 for n in self.nodes), default=0.0),
            ]
        return row


def _consumers(stats: GraphStats) -> dict[str, int]:
    """How many node inputs read each tensor."""
    out: dict[str, int] = {}
    for n in stats.nodes:
        for t in n.inputs:
            out[t] = out.get(t, 0) + 1
    return out


def kernels(stats: GraphStats, fuse: bool | int = False) -> tuple[list[Kernel], list[str]]:
    """The graph's kernels in execution order, and the op types left out (unknown to us).

    ``fuse`` also applies the graph fusions ONNX Runtime makes at its default optimization level
    (seen in its profiles, where the fused nodes vanish): see ``_fuse_patterns``; ``fuse=2``
    also the residual sum (and the ReLU after it) that a convolution accumulates into its
    output (``_fuse_conv_sum``), and leaves out what is computed from constants alone (folded
    when the session loads). ``True`` is level 1, as files saved before level 2 say."""
    consumers = _consumers(stats)
    out: list[Kernel] = []
    ignored: list[str] = []
    open_k: Kernel | None = None
    folded: set[str] = set()  # tensors computed from constants alone (level 2)
    # statistics stored before nodes listed their inputs cannot tell a constant from anything
    fold = int(fuse) >= 2 and any(n.inputs for n in stats.nodes)
    for n in stats.nodes:
        if fold and all(t in folded for t in n.inputs):
            # a Constant, or a node whose every input is an initializer or folded: the runtime
            # folds it when the session loads and never runs it (exporters that emit Constant
            # nodes, as Paddle's does, had hundreds of them predicted at a few µs each)
            folded.update(n.outputs)
            continue
        fam = _FAMILY.get(n.op_type)
        if fam is None:
            ignored.append(n.op_type)
            open_k = None
            continue
        if (
            open_k is not None
            and n.op_type in _FUSABLE
            and open_k.name in n.inputs
            and consumers.get(open_k.name, 0) == 1
        ):
            open_k.nodes.append(n)
            open_k.name = n.outputs[0] if n.outputs else n.name
            continue
        k = Kernel(name=n.outputs[0] if n.outputs else n.name, op_type=n.op_type, family=fam, nodes=[n])
        out.append(k)
        open_k = k if n.op_type in _ANCHORS else None
    if fuse:
        out = _fuse_patterns(out, consumers)
    if int(fuse) >= 2:
        out = _fuse_conv_sum(out, consumers)
    return out, sorted(set(ignored))


_MATMUL_FUSED = {("MatMul", "Add"): "Gemm", ("MatMul", "Mul"): "FusedMatMul"}  # ONNX Runtime's op after the fusion


def _fuse_patterns(ks: list[Kernel], consumers: dict[str, int]) -> list[Kernel]:
    """Merge the kernels ONNX Runtime executes as one node (its profiles name them so):

    * a MatMul, Gemm or Conv followed by an Add or Mul of a constant (a bias or a scale) that
      alone consumes its output: ``MatMulAddFusion`` (a Gemm), ``MatMulScaleFusion``
      (a FusedMatMul);
    * an Add followed by the LayerNormalization that reads its output:
      ``SkipLayerNormalization`` (the residual add of a transformer block);
    * the exact GELU exported as Div → Erf → Add → Mul → Mul: ``Gelu``.

    Each merged kernel keeps the first node's name and shapes and is named after its last
    output tensor; ``op_type`` becomes the runtime's fused op, so profile entries with generated
    names (``SkipLayerNormalization_token_23``) can be matched by op type (``match_layers``)."""
    by_out: dict[str, Kernel] = {}
    for k in ks:
        for n in k.nodes:
            for o in n.outputs:
                by_out[o] = k
    gone: set[int] = set()

    def producer(t: str) -> Kernel | None:
        k = by_out.get(t)
        return None if k is None or id(k) in gone else k

    def absorb(into: Kernel, k: Kernel, op_type: str | None = None) -> None:
        into.nodes.extend(k.nodes)
        into.name = k.name
        if op_type:
            into.op_type = op_type
        gone.add(id(k))
        for n in k.nodes:
            for o in n.outputs:
                by_out[o] = into

    for k in ks:
        if id(k) in gone:
            continue
        head = k.nodes[0]
        if len(k.nodes) == 1 and head.op_type in ("Add", "Mul") and len(head.inputs) == 1:
            p = producer(head.inputs[0])
            if (
                p is not None
                and p.op_type in _ANCHORS
                and p.name == head.inputs[0]
                and consumers.get(p.name, 0) == 1
                and all(n.op_type in _ANCHORS or n.op_type in ("Add", "Mul") for n in p.nodes)
            ):
                absorb(p, k, _MATMUL_FUSED.get((p.op_type, head.op_type)))
                continue
        if head.op_type == "LayerNormalization" and len(k.nodes) == 1 and head.inputs:
            p = producer(head.inputs[0])
            if p is not None and len(p.nodes) == 1 and p.nodes[0].op_type == "Add" and p.name == head.inputs[0]:
                p.family = "norm"
                absorb(p, k, "SkipLayerNormalization")
                continue
        if head.op_type == "Erf" and len(k.nodes) == 1 and head.inputs:
            _gelu(k, producer, consumers, ks, absorb)
    return [k for k in ks if id(k) not in gone]


def _gelu(erf: Kernel, producer: Any, consumers: dict[str, int], ks: list[Kernel], absorb: Any) -> None:
    """Div(x, √2) → Erf → Add(1) → Mul(x, ·) → Mul(0.5), in either order of the two Muls:
    merged into the Div's kernel as one ``Gelu``."""
    div = producer(erf.nodes[0].inputs[0])
    if div is None or len(div.nodes) != 1 or div.nodes[0].op_type != "Div" or len(div.nodes[0].inputs) != 1:
        return
    x = div.nodes[0].inputs[0]

    def sole_consumer(t: str) -> Kernel | None:
        if consumers.get(t, 0) != 1:
            return None
        return next((k for k in ks if any(t in n.inputs for n in k.nodes) and producer(k.name) is k), None)

    add = sole_consumer(erf.name)
    if add is None or len(add.nodes) != 1 or add.nodes[0].op_type != "Add" or len(add.nodes[0].inputs) != 1:
        return
    mul = sole_consumer(add.name)
    if mul is None or len(mul.nodes) != 1 or mul.nodes[0].op_type != "Mul":
        return
    other = [t for t in mul.nodes[0].inputs if t != add.name]
    half = None
    if other == [x]:  # x · (1 + erf) first, then · 0.5
        half = sole_consumer(mul.name)
        if half is None or len(half.nodes) != 1 or half.nodes[0].op_type != "Mul" or len(half.nodes[0].inputs) != 1:
            return
    elif len(other) == 1:  # (x · 0.5) · (1 + erf)
        pre = producer(other[0])
        if pre is None or len(pre.nodes) != 1 or pre.nodes[0].op_type != "Mul" or pre.nodes[0].inputs != (x,):
            return
        if consumers.get(pre.name, 0) != 1:
            return
        absorb(div, pre)
    else:
        return
    div.family = "act"
    for k in (erf, add, mul, *([half] if half is not None else [])):
        absorb(div, k, "Gelu")


def _fuse_conv_sum(ks: list[Kernel], consumers: dict[str, int]) -> list[Kernel]:
    """Merge a residual Add into the convolution that produces one of its inputs, and a ReLU-like
    activation that alone reads the sum into that too: ONNX Runtime's CPU provider runs
    Conv + Add (+ Relu) as one node (the NCHWc convolution's ``Sum`` input, or ``FusedConv``
    with its ``Z`` input), naming it after the convolution, so its profiled time holds the
    sum's. The convolution must have no activation of its own, its output read by the Add
    alone, and the Add must not broadcast; its first input is preferred, as the runtime does.
    Where the runtime does not fuse (channels off its block size, say), the Add's and ReLU's
    own profile entries are matched to the merged kernel by node name, so its time is still
    whole; the ``fused_sum`` column tells the kernel model what it holds."""
    by_out = {k.name: k for k in ks}
    gone: set[int] = set()
    summed: set[int] = set()

    def merge(into: Kernel, k: Kernel) -> None:
        into.nodes.append(k.nodes[0])
        into.name = k.name
        by_out[k.name] = into
        gone.add(id(k))

    for k in ks:
        head = k.nodes[0]
        if len(k.nodes) == 1 and head.op_type in ("Add", "Sum") and len(head.inputs) == 2:
            for t in head.inputs:
                p = by_out.get(t)
                if (
                    p is not None
                    and id(p) not in gone
                    and p.op_type == "Conv"
                    and all(n.op_type in ("Conv", "BatchNormalization") for n in p.nodes)
                    and consumers.get(t, 0) == 1
                    and p.nodes[-1].output_shape == head.output_shape
                ):
                    merge(p, k)
                    summed.add(id(p))
                    break
        elif len(k.nodes) == 1 and head.op_type in _FUSABLE - {"BatchNormalization"} and len(head.inputs) == 1:
            p = by_out.get(head.inputs[0])
            if p is not None and id(p) in summed and consumers.get(head.inputs[0], 0) == 1:
                merge(p, k)
                summed.discard(id(p))
    return [k for k in ks if id(k) not in gone]


# ONNX Runtime's NCHWc transformer: the ops that keep a blocked tensor blocked when it is their
# input (the activations it runs blocked, normalization); and the activations that stay blocked
# only inside the convolution they follow (fused there when they alone read its output)
_NCHWC_FOLLOW = {"Relu", "Sigmoid", "Tanh", "BatchNormalization"}
_NCHWC_FUSED_ONLY = {"Clip", "LeakyRelu", "HardSigmoid", "HardSwish"}
_NCHWC_BLOCKS = (4, 8, 16)  # the MLAS NCHWc block sizes tried against profiles (NEON, AVX2, AVX-512)
# A one-group Conv reading at least a block of channels, and a depthwise one, is blocked only
# when its channels are a multiple of 4 (ONNX Runtime 1.32 at block 16, read off its optimized
# graphs: 20, 24, 28, 36, 44 input channels blocked, 18, 22, 26 left plain; depthwise 4, 8, 12,
# 20, 24 blocked, 6, 10, 18, 22 left plain). PaddleOCR's classifier has squeeze-excitation
# convolutions of 22 and 50 channels.
_NCHWC_CHANNEL_STEP = 4


def nchwc_reorders(stats: GraphStats, block: int) -> list[Kernel]:
    """The layout reorders ONNX Runtime's CPU provider inserts into ``stats`` when its NCHWc
    transformer blocks channels by ``block`` (16 with AVX-512, 8 with AVX2), as kernels of
    family ``shape`` named ``ReorderInput``/``ReorderOutput`` like its profile entries.

    Written here, not asked of ONNX Runtime, because a cost model predicts from graph statistics
    (no model file, no session). It follows the transformer's rules: a Conv of one group is
    blocked when it reads fewer than ``block`` channels (as plain NCHW) or a multiple of 4 (its
    output padded up to the block), a depthwise Conv of a multiple of 4 channels and a
    block-aligned grouped Conv; MaxPool/AveragePool on block-aligned channels; Add/Sum of blocked
    tensors of equal channels, Mul only of equal shapes (a squeeze-excitation scale is not),
    Concat of block-aligned blocked inputs, activations, BatchNormalization and Resize stay
    blocked; every other op reads plain tensors. A plain tensor a blocked op reads is reordered
    once (ReorderInput); a blocked tensor that any plain op or the graph output reads is
    reordered back once (ReorderOutput). On the 500 ``mixed`` networks this places both exactly
    where ONNX Runtime 1.32's optimized graph has them, tensor by tensor, on every network (on 479
    while convolutions off a multiple of 4 channels were blocked), and on PP-OCR's classifier and
    detector. Their time had been left to the end-to-end calibration; as kernels they are learned
    from their profiled times."""
    prod = {o: n for n in stats.nodes for o in n.outputs}
    uses = _consumers(stats)
    blocked: dict[str, list[int]] = {}  # tensor -> [logical channels, reads still plain]
    reorder_in: list[str] = []

    def make(n: NodeStats, channels: int) -> None:
        if n.outputs:
            blocked[n.outputs[0]] = [channels, uses.get(n.outputs[0], 0) or 1]  # an output: read once

    def read(t: str) -> None:
        if t in blocked:
            blocked[t][1] -= 1
        elif t not in reorder_in:
            reorder_in.append(t)

    for n in stats.nodes:
        op, ins = n.op_type, list(n.inputs)
        if op == "Conv" and ins:
            g = max(n.groups, 1)
            per_group = n.in_channels // g
            depthwise = per_group == 1 and n.out_channels == g
            aligned = n.out_channels % block == 0 and per_group % block == 0 and (n.out_channels // g) % block == 0
            if g > 1 and not ((depthwise and g % _NCHWC_CHANNEL_STEP == 0) or aligned):
                continue
            if g == 1 and per_group >= block and per_group % _NCHWC_CHANNEL_STEP:
                continue
            if g > 1 or per_group >= block:  # one group with fewer channels reads the plain input
                read(ins[0])
            make(n, n.out_channels)
            continue
        if op in ("MaxPool", "AveragePool") and ins:
            p = prod.get(ins[0])
            c = p.output_shape[1] if p is not None and len(p.output_shape) == 4 else 0
            if c and c % block == 0:
                read(ins[0])
                make(n, c)
            continue
        if not ins or not all(t in blocked for t in ins):
            continue
        chans = [blocked[t][0] for t in ins]
        if op in ("Add", "Sum", "Mul"):
            # a constant operand (Paddle's ``x + 3``) is a plain tensor: the op reads plain
            same = op != "Mul" or len({prod[t].output_shape for t in ins}) == 1
            if len(ins) >= 2 and len(set(chans)) == 1 and same:
                for t in ins:
                    read(t)
                make(n, chans[0])
        elif op == "Concat":
            if all(c % block == 0 for c in chans):
                for t in ins:
                    read(t)
                make(n, sum(chans))
        elif (
            op in _NCHWC_FOLLOW
            or op in ("Resize", "Upsample")
            or (op in _NCHWC_FUSED_ONLY and prod[ins[0]].op_type == "Conv" and uses.get(ins[0], 0) == 1)
        ):
            read(ins[0])
            make(n, chans[0])
        elif op in ("GlobalAveragePool", "GlobalMaxPool") and chans[0] % block == 0:
            read(ins[0])
            make(n, chans[0])
    plain_out = [t for t, (_, plain) in blocked.items() if plain > 0]
    return [
        _reorder(stats, prod, kind, t)
        for kind, ts in (("ReorderInput", reorder_in), ("ReorderOutput", plain_out))
        for t in ts
    ]


def _reorder(stats: GraphStats, prod: dict[str, NodeStats], kind: str, t: str) -> Kernel:
    """The reorder kernel ``kind`` of tensor ``t`` (its shape from its producer, or for a graph
    input from its first reader)."""
    p = prod.get(t)
    if p is None:  # a graph input: its first reader's input
        r = next((m for m in stats.nodes if m.inputs and m.inputs[0] == t), None)
        shape, size = (r.input_shape, r.input_bytes) if r is not None else ((), 0)
    else:
        shape, size = p.output_shape, p.output_bytes
    c = int(shape[1]) if len(shape) == 4 else 0
    node = NodeStats(
        name=f"{kind}:{t}",
        op_type=kind,
        macs=0,
        flops=0,
        params=0,
        input_bytes=size,
        output_bytes=size,
        output_shape=tuple(shape),
        input_shape=tuple(shape),
        in_channels=c,
        out_channels=c,
        outputs=(f"{kind}:{t}",),
        inputs=(t,),
    )
    return Kernel(name=node.name, op_type=kind, family="shape", nodes=[node])


def nchwc_block(stats: Sequence[GraphStats], layers: Sequence[Sequence[tuple[str, str, float]] | None]) -> int:
    """The NCHWc block size ONNX Runtime ran these profiles with, read off the profiles: the one
    of ``_NCHWC_BLOCKS`` whose reorders (``nchwc_reorders``) match the profiled ReorderInput and
    ReorderOutput counts on most networks; 0 when no profile holds a reorder (another runtime,
    or a CPU without NCHWc kernels)."""
    counted = []
    for s, lay in zip(stats, layers, strict=True):
        if lay:
            n_in = sum(1 for _, op, _ in lay if op == "ReorderInput")
            n_out = sum(1 for _, op, _ in lay if op == "ReorderOutput")
            counted.append((s, n_in, n_out))
    if not any(a or b for _, a, b in counted):
        return 0

    def agree(block: int) -> int:
        hits = 0
        for s, n_in, n_out in counted:
            ops = [k.op_type for k in nchwc_reorders(s, block)]
            hits += ops.count("ReorderInput") == n_in and ops.count("ReorderOutput") == n_out
        return hits

    return max(_NCHWC_BLOCKS, key=agree)


def kernel_matrix(
    stats: GraphStats, fuse: bool | int = False, nchwc: int = 0
) -> tuple[np.ndarray, list[Kernel], list[str]]:
    """Kernel rows of ``stats`` (``KERNEL_COLUMNS``, and ``DETAIL_COLUMNS`` after them at
    ``fuse`` 2 or 3, whose activation kinds differ: ``_act_kind``), the kernels, and the op
    types left out. ``nchwc``: a block size adds the layout reorders ONNX Runtime inserts
    (``nchwc_reorders``) as kernels."""
    ks, ignored = kernels(stats, fuse)
    if nchwc:
        ks = ks + nchwc_reorders(stats, nchwc)
    width = len(KERNEL_COLUMNS) + (len(DETAIL_COLUMNS) if int(fuse) >= 2 else 0)
    mat = np.array([k.row(int(fuse)) for k in ks], dtype=np.float64).reshape(len(ks), width)
    return mat, ks, ignored


def model_columns() -> list[str]:
    cols = ["log_macs", "log_flops", "log_params", "log_bytes", "kernels", "log_hw_in"]
    for f in FAMILIES:
        cols += [f"n_{f}", f"log_macs_{f}", f"log_bytes_{f}"]
    return cols


def model_vector(stats: GraphStats) -> tuple[np.ndarray, list[str]]:
    """Model-level features (``model_columns`` order) and the op types left out."""
    mat, ks, ignored = kernel_matrix(stats)
    ci = {c: i for i, c in enumerate(KERNEL_COLUMNS)}

    def raw(col: str) -> np.ndarray:
        return np.expm1(mat[:, ci[col]]) if len(mat) else np.zeros(0)

    macs, flops, params = raw("macs"), raw("flops"), raw("params")
    byts = raw("bytes_in") + raw("bytes_out")
    first_hw = float(np.expm1(mat[0, ci["hw_in"]])) if len(mat) else 0.0
    v = [
        math.log1p(macs.sum()),
        math.log1p(flops.sum()),
        math.log1p(params.sum()),
        math.log1p(byts.sum()),
        float(len(ks)),
        math.log1p(first_hw),
    ]
    for f in FAMILIES:
        sel = mat[:, ci[f"is_{f}"]] > 0 if len(mat) else np.zeros(0, dtype=bool)
        v += [float(sel.sum()), math.log1p(macs[sel].sum()), math.log1p(byts[sel].sum())]
    return np.array(v, dtype=np.float64), ignored


def match_layers(ks: Sequence[Kernel], layers: Sequence[tuple[str, str, float]]) -> dict[int, float]:
    """Profiled times (name, op type, ms) attributed to kernels.

    1. By name: an entry named after a kernel's output tensor (ONNX Runtime appends ``_nchwc``
       to re-laid-out ones) or after one of its nodes, or after a node with the fusion that
       absorbed it appended (``/blocks.0/qkv/MatMul/MatMulAddFusion``).
    2. By op type and rank: entries a fusion named anew (``SkipLayerNormalization_token_23``,
       ``Gelu``) go to the kernels of that fused op that no entry named, when there are as many
       of each: the slowest entry to the kernel that moves the most (MACs, then bytes). In one
       network such kernels are mostly alike (every block's LayerNormalization), so a wrong
       pairing costs little; unequal counts are left out.

    Entries that match nothing (layout reorders the runtime inserted) are left out: the
    end-to-end calibration accounts for them."""
    by_name: dict[str, int] = {}
    for i, k in enumerate(ks):
        by_name[k.name] = i
        for n in k.nodes:
            by_name.setdefault(n.name, i)
            for o in n.outputs:
                by_name.setdefault(o, i)
    out: dict[int, float] = {}
    left: dict[str, list[float]] = {}
    for name, op, ms in layers:
        key = name[: -len("_nchwc")] if name.endswith("_nchwc") else name
        j = by_name.get(key)
        while j is None and "/" in key.rstrip("/"):
            key = key.rstrip("/").rsplit("/", 1)[0]
            j = by_name.get(key)
        if j is not None:
            out[j] = out.get(j, 0.0) + float(ms)
        else:
            left.setdefault(op, []).append(float(ms))
    for op, times in left.items():
        free = [i for i, k in enumerate(ks) if k.op_type == op and i not in out]
        if not free or len(free) != len(times):
            continue
        free.sort(key=lambda i: (-sum(n.macs for n in ks[i].nodes), -ks[i].nodes[0].input_bytes))
        for i, ms in zip(free, sorted(times, reverse=True), strict=True):
            out[i] = ms
    return out
