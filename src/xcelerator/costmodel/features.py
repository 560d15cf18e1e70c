"""Features of an ONNX graph for latency cost models.

Three views of one ``GraphStats``:

* **kernels** (``kernel_rows``): the graph cut into the units a runtime executes. A Conv, Gemm or
  MatMul absorbs the elementwise activations that follow it alone (ONNX Runtime, OpenVINO and
  TFLite all fuse those), every other known op is a kernel of its own, and shape-only ops
  (Reshape, Flatten, ...) are kept with near-zero cost. Each row: op family one-hot, fused
  activation, and log1p of MACs, FLOPs, params, bytes read and written, channels in and out,
  kernel, stride, groups, input and output spatial size. A kernel is named after its last
  output tensor, which is how ONNX Runtime's profiler names a fused node, so profiled times
  can be matched to it (``match_layers``).
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


@dataclass
class Kernel:
    """One executed unit: an anchor node and the activations fused into it."""

    name: str  # the last output tensor (how ONNX Runtime names the fused node)
    op_type: str
    family: str
    nodes: list[NodeStats] = field(default_factory=list)

    def row(self) -> list[float]:
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
        return [
            *(1.0 if fam == f else 0.0 for f in FAMILIES),
            float(len(self.nodes) > 1),
            *(math.log1p(max(float(v), 0.0)) for v in vals),
        ]


def kernels(stats: GraphStats) -> tuple[list[Kernel], list[str]]:
    """The graph's kernels in execution order, and the op types left out (unknown to us)."""
    consumers: dict[str, int] = {}
    for n in stats.nodes:
        for t in n.inputs:
            consumers[t] = consumers.get(t, 0) + 1
    out: list[Kernel] = []
    ignored: list[str] = []
    open_k: Kernel | None = None
    for n in stats.nodes:
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
    return out, sorted(set(ignored))


def kernel_matrix(stats: GraphStats) -> tuple[np.ndarray, list[Kernel], list[str]]:
    ks, ignored = kernels(stats)
    mat = np.array([k.row() for k in ks], dtype=np.float64).reshape(len(ks), len(KERNEL_COLUMNS))
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
    """Profiled times (name, op type, ms) attributed to kernels: a profile entry named after a
    kernel's output tensor (ONNX Runtime appends ``_nchwc`` to re-laid-out ones) or after one of
    its nodes. Entries that match nothing (layout reorders the runtime inserted) are left out:
    the end-to-end calibration accounts for them."""
    by_name: dict[str, int] = {}
    for i, k in enumerate(ks):
        by_name[k.name] = i
        for n in k.nodes:
            by_name.setdefault(n.name, i)
            for o in n.outputs:
                by_name.setdefault(o, i)
    out: dict[int, float] = {}
    for name, _op, ms in layers:
        key = name[: -len("_nchwc")] if name.endswith("_nchwc") else name
        j = by_name.get(key)
        if j is not None:
            out[j] = out.get(j, 0.0) + float(ms)
    return out
