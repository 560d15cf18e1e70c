"""Graph statistics of an ONNX model: MACs/FLOPs per node and in total, parameters, bytes.

Shapes come from ONNX shape inference (with data propagation, so Reshape targets resolve).
A symbolic dimension (a dynamic batch, say) counts as 1. The counting rules:

* Conv: ``N*Cout*prod(out_spatial) * (Cin/groups) * prod(kernel)`` MACs; ConvTranspose the
  same counted from the input side; Gemm/MatMul: ``prod(batch) * M * N * K``.
* FLOPs are ``2 * MACs`` for those, plus one FLOP per output element for bias, elementwise
  ops and activations, ``prod(kernel)`` per output element for pooling, and a small constant
  per element for normalizations and softmax (documented in ``_PER_ELEMENT``).
* params: elements of the initializers a node reads (each initializer counted once overall).
* bytes read/written: sizes of a node's input and output tensors (what a memory-bound kernel
  moves), used by the cost models as features.

We write this ourselves (rather than use a FLOP-counter package) because the counters we
know either work on torch modules only or skip data-propagated shapes; the rules above are
the ones the cost-model literature (nn-Meter, the seed's 13-feature encoding) uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

_DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}

# FLOPs per output element for ops that are not matrix products.
_PER_ELEMENT = {
    "Relu": 1,
    "Clip": 1,
    "Add": 1,
    "Sub": 1,
    "Mul": 1,
    "Div": 1,
    "Sigmoid": 4,
    "Tanh": 4,
    "HardSigmoid": 3,
    "HardSwish": 4,
    "Gelu": 8,
    "Erf": 4,
    "Sqrt": 1,
    "Pow": 1,
    "Exp": 1,
    "BatchNormalization": 2,
    "LayerNormalization": 5,
    "Softmax": 5,
    "LeakyRelu": 2,
    "PRelu": 2,
    "Neg": 1,
    "Max": 1,
    "Min": 1,
    "ReduceMean": 1,
    "Where": 1,
    "Equal": 1,
}


@dataclass(frozen=True)
class NodeStats:
    name: str
    op_type: str
    macs: int
    flops: int
    params: int
    input_bytes: int
    output_bytes: int
    output_shape: tuple[int, ...]
    kernel: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    groups: int = 1
    in_channels: int = 0
    out_channels: int = 0
    input_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ()  # output tensor names: runtimes name fused kernels after them
    inputs: tuple[str, ...] = ()  # input tensor names (to see which nodes a runtime fuses)
    mode: str = ""  # Resize/Upsample: nearest, linear or cubic (a bilinear upsample costs several times a nearest one)


@dataclass(frozen=True)
class GraphStats:
    macs: int
    flops: int
    params: int
    node_count: int
    op_histogram: dict[str, int]
    nodes: tuple[NodeStats, ...] = field(default=(), repr=False)

    def to_dict(self, with_nodes: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not with_nodes:
            d.pop("nodes")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphStats:
        nodes = tuple(
            NodeStats(
                **{
                    **n,
                    **{
                        k: tuple(n.get(k, ()))
                        for k in ("output_shape", "kernel", "strides", "input_shape", "pads", "outputs", "inputs")
                    },
                }
            )
            for n in d.get("nodes", ())
        )
        return cls(
            macs=int(d["macs"]),
            flops=int(d["flops"]),
            params=int(d["params"]),
            node_count=int(d["node_count"]),
            op_histogram=dict(d["op_histogram"]),
            nodes=nodes,
        )


def _dims(type_proto: Any) -> tuple[list[int], int] | None:
    tt = type_proto.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
    return dims, _DTYPE_BYTES.get(tt.elem_type, 4)


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _op_cost(
    node: Any, op: str, ins: list[Any], out_elems: int
) -> tuple[int, int, tuple[int, ...], tuple[int, ...], int, int, int]:
    """A node's MACs and FLOPs, and its kernel, strides, groups and channels where it has them."""
    macs = 0
    flops = 0
    kernel: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    groups = 1
    cin = cout = 0
    if op in ("Conv", "ConvTranspose") and len(ins) >= 2 and ins[0] and ins[1]:
        w = ins[1][0]
        groups = int(_attr(node, "group", 1))
        kernel = tuple(int(k) for k in w[2:])
        strides = tuple(int(s) for s in _attr(node, "strides", [1] * len(kernel)))
        kprod = int(np.prod(kernel)) if kernel else 1
        if op == "Conv":
            cout, cin = int(w[0]), int(w[1]) * groups
            macs = out_elems * (cin // groups) * kprod
        else:
            cin, cout = int(w[0]), int(w[1]) * groups
            in_elems = int(np.prod(ins[0][0]))
            macs = in_elems * (cout // groups) * kprod
        flops = 2 * macs + (out_elems if len(node.input) > 2 else 0)
    elif op == "Gemm" and len(ins) >= 2 and ins[0] and ins[1]:
        a = ins[0][0]
        k = a[0] if int(_attr(node, "transA", 0)) else a[-1]
        macs = out_elems * int(k)
        flops = 2 * macs + (out_elems if len(node.input) > 2 else 0)
    elif op == "MatMul" and len(ins) >= 2 and ins[0]:
        k = ins[0][0][-1] if ins[0][0] else 1
        macs = out_elems * int(k)
        flops = 2 * macs
    elif op in ("MaxPool", "AveragePool"):
        kernel = tuple(int(k) for k in _attr(node, "kernel_shape", []))
        strides = tuple(int(s) for s in _attr(node, "strides", [1] * len(kernel)))
        flops = out_elems * (int(np.prod(kernel)) if kernel else 1)
    elif op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum") and ins and ins[0]:
        flops = int(np.prod(ins[0][0])) if ins[0][0] else 0
    else:
        flops = out_elems * _PER_ELEMENT.get(op, 0)
    return int(macs), int(flops), kernel, strides, groups, int(cin), int(cout)


def graph_stats(model: Any) -> GraphStats:
    """Statistics of an ``onnx.ModelProto`` (external data need not be loaded)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # shape inference is best effort; fall back to declared shapes
        inferred = model
    g = inferred.graph
    shapes: dict[str, tuple[list[int], int]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        d = _dims(vi.type)
        if d is not None:
            shapes[vi.name] = d
    init_sizes: dict[str, int] = {}
    for init in g.initializer:
        dims = list(init.dims)
        shapes[init.name] = (dims, _DTYPE_BYTES.get(init.data_type, 4))
        init_sizes[init.name] = int(np.prod(dims)) if dims else 1
    # a Constant node's output is a constant like an initializer (runtimes fold it when the model
    # loads): listed among a node's inputs it made Paddle's ``x + 3`` look like a sum of two
    # tensors, to the fusion rules and to the NCHWc reorders (features.nchwc_reorders)
    constants = {o for node in g.node if node.op_type == "Constant" for o in node.output}
    counted: set[str] = set()
    nodes: list[NodeStats] = []
    hist: dict[str, int] = {}
    for i, node in enumerate(g.node):
        op = node.op_type
        hist[op] = hist.get(op, 0) + 1
        ins = [shapes.get(n) for n in node.input if n]
        outs = [shapes.get(n) for n in node.output if n]
        out_dims = outs[0][0] if outs and outs[0] else []
        out_elems = int(np.prod(out_dims)) if out_dims else 0
        in_bytes = sum(int(np.prod(s[0])) * s[1] if s[0] else s[1] for s in ins if s)
        out_bytes = sum(int(np.prod(s[0])) * s[1] if s[0] else s[1] for s in outs if s)
        params = 0
        for n in node.input:
            if n in init_sizes and n not in counted:
                params += init_sizes[n]
                counted.add(n)
        macs, flops, kernel, strides, groups, cin, cout = _op_cost(node, op, ins, out_elems)
        pads: tuple[int, ...] = tuple(int(p) for p in _attr(node, "pads", []))
        nodes.append(
            NodeStats(
                name=node.name or f"{op}_{i}",
                op_type=op,
                macs=int(macs),
                flops=int(flops),
                params=int(params),
                input_bytes=int(in_bytes),
                output_bytes=int(out_bytes),
                output_shape=tuple(int(x) for x in out_dims),
                kernel=kernel,
                strides=strides,
                groups=groups,
                in_channels=int(cin),
                out_channels=int(cout),
                input_shape=tuple(int(x) for x in ins[0][0]) if ins and ins[0] else (),
                pads=pads,
                outputs=tuple(str(o) for o in node.output if o),
                inputs=tuple(str(x) for x in node.input if x and x not in init_sizes and x not in constants),
                mode=_text(_attr(node, "mode", b"nearest")) if op in ("Resize", "Upsample") else "",
            )
        )
    total_params = sum(init_sizes.values())
    return GraphStats(
        macs=sum(n.macs for n in nodes),
        flops=sum(n.flops for n in nodes),
        params=int(total_params),
        node_count=len(nodes),
        op_histogram=dict(sorted(hist.items(), key=lambda kv: -kv[1])),
        nodes=tuple(nodes),
    )


ENCODE13_KINDS = ("conv", "dwconv", "add", "relu", "pool")
_ACT_OPS = {"Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "LeakyRelu", "PRelu", "Tanh", "Gelu"}
_POOL_OPS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}


def encode13(stats: GraphStats, max_layers: int = 56) -> list[float]:
    """The cost-model seed's layer encoding of an ONNX graph: per layer 13 numbers, one-hot
    [conv, depthwise conv, add, relu, pool], input size, output size, input channels, output
    channels, kernel, stride, padding, MACs (the element count for add, relu and pool rows);
    ``max_layers`` rows, padded with -1 (56 × 13 = 728 columns, as in the public dataset).
    Gemm/MatMul rows count as 1×1 convolutions on a 1×1 input; other ops are left out."""
    out: list[float] = []
    for n in stats.nodes:
        if len(out) >= 13 * max_layers:
            break
        ins = n.input_shape
        size_in = float(ins[2]) if len(ins) == 4 else 1.0
        size_out = float(n.output_shape[2]) if len(n.output_shape) == 4 else 1.0
        c_in = float(ins[1]) if len(ins) >= 2 else 0.0
        c_out = float(n.output_shape[1]) if len(n.output_shape) >= 2 else 0.0
        elems = float(np.prod(n.output_shape)) if n.output_shape else 0.0
        k = float(n.kernel[0]) if n.kernel else 0.0
        st = float(n.strides[0]) if n.strides else 0.0
        pad = float(n.pads[0]) if n.pads else 0.0
        if n.op_type == "Conv":
            kind = "dwconv" if n.groups > 1 and n.groups == n.in_channels else "conv"
            row = [size_in, size_out, float(n.in_channels), float(n.out_channels), k, st, pad, float(n.macs)]
        elif n.op_type in ("Gemm", "MatMul"):
            kind = "conv"
            row = [
                1.0,
                1.0,
                c_in if len(ins) == 2 else float(ins[-1]) if ins else 0.0,
                float(n.output_shape[-1]) if n.output_shape else 0.0,
                1.0,
                1.0,
                0.0,
                float(n.macs),
            ]
        elif n.op_type == "Add":
            kind = "add"
            row = [size_in, size_out, c_in, c_out, 0.0, 0.0, 0.0, elems]
        elif n.op_type in _ACT_OPS:
            kind = "relu"
            row = [size_in, size_out, c_in, c_out, 0.0, 0.0, 0.0, elems]
        elif n.op_type in _POOL_OPS:
            kind = "pool"
            row = [size_in, size_out, c_in, c_out, k, st, pad, float(np.prod(ins)) if ins else 0.0]
        else:
            continue
        out += [1.0 if kind == x else 0.0 for x in ENCODE13_KINDS] + row
    return out + [-1.0] * (13 * max_layers - len(out))


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'."""
    if n == 0 or not math.isfinite(n):
        return f"{n:g}{unit}"
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suf}{unit}"
    return f"{n:.3g}{unit}"
