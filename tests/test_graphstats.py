from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from tests.conftest import make_conv_model
from xcelerator.models.export import materialize
from xcelerator.models.graphstats import graph_stats
from xcelerator.models.zoo import parse_name


def test_conv_and_gemm_counts_follow_the_formulas(tmp_path: Path) -> None:
    p = make_conv_model(tmp_path / "m.onnx", cin=3, cout=8, hw=16, k=3, classes=10)
    s = graph_stats(onnx.load(str(p)))
    conv = next(n for n in s.nodes if n.op_type == "Conv")
    assert conv.macs == 8 * 16 * 16 * 3 * 3 * 3
    assert conv.kernel == (3, 3) and conv.strides == (1, 1) and conv.in_channels == 3 and conv.out_channels == 8
    fc = next(n for n in s.nodes if n.op_type == "Gemm")
    assert fc.macs == 8 * 10
    assert s.params == 8 * 3 * 9 + 8 + 10 * 8 + 10
    assert s.macs == conv.macs + fc.macs
    assert s.op_histogram == {"Conv": 1, "Relu": 1, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
    assert conv.output_bytes == 8 * 16 * 16 * 4
    relu = next(n for n in s.nodes if n.op_type == "Relu")
    assert relu.flops == 8 * 16 * 16 and relu.macs == 0


def test_depthwise_conv_counts_groups(tmp_path: Path) -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((16, 1, 3, 3), np.float32), "w")
    n = helper.make_node("Conv", ["x", "w"], ["y"], group=16, pads=[1, 1, 1, 1], strides=[2, 2])
    g = helper.make_graph(
        [n],
        "dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    s = graph_stats(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert s.nodes[0].macs == 16 * 16 * 16 * 9  # out 16x16 per channel, one input channel per group
    assert s.nodes[0].groups == 16


# Published multiply-accumulate counts and parameter counts (ImageNet, 224 px, 1000 classes).
@pytest.mark.parametrize(
    ("name", "macs_m", "params_m", "tol"),
    [
        ("mobilenet_v2_1.0_224", 300, 3.5, 0.05),
        ("mobilenet_v1_1.0_224", 569, 4.2, 0.05),
        ("resnet18_224", 1814, 11.7, 0.05),
        ("resnet50_224", 4100, 25.6, 0.05),
        # TF-slim's table; our channel rounding differs slightly at the smallest width
        ("mobilenet_v2_0.35_96", 11, 1.66, 0.1),
    ],
)
def test_zoo_counts_match_published_figures(name: str, macs_m: float, params_m: float, tol: float) -> None:
    a = materialize(parse_name(name), "onnx")
    assert a.stats is not None
    assert a.stats.macs / 1e6 == pytest.approx(macs_m, rel=tol)
    assert a.stats.params / 1e6 == pytest.approx(params_m, rel=tol)
