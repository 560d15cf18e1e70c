from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)


def profiled_reorders(artifact, plan):  # type: ignore[no-untyped-def]
    """Measure ``artifact`` on ONNX Runtime (1 thread) with its per-node profile, read the NCHWc
    block off that profile, and check that ``nchwc_reorders`` counts as many ReorderInput and
    ReorderOutput nodes as the profile holds. The emulated reorder kernels and those counts."""
    from xcelerator.costmodel.features import nchwc_block, nchwc_reorders
    from xcelerator.measure.core import measure
    from xcelerator.targets.registry import parse_target

    m = measure(artifact, parse_target("onnxruntime?threads=1"), plan.replace(layers=True))
    assert m.status == "ok" and m.layers and artifact.stats is not None
    prof = [(x.name, x.op_type, x.mean_ms) for x in m.layers]
    block = nchwc_block([artifact.stats], [prof])
    assert block in (8, 16)
    ks = nchwc_reorders(artifact.stats, block)
    counts = {kind: sum(k.op_type == kind for k in ks) for kind in ("ReorderInput", "ReorderOutput")}
    assert counts == {kind: sum(op == kind for _, op, _ in prof) for kind in counts}
    return ks, counts


def make_conv_model(path: Path, cin: int = 3, cout: int = 8, hw: int = 16, k: int = 3, classes: int = 10) -> Path:
    """A small real ONNX model: Conv(k, pad) -> Relu -> GlobalAveragePool -> Flatten -> Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((cout, cin, k, k)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(cout, np.float32), "b")
    fw = numpy_helper.from_array(rng.standard_normal((classes, cout)).astype(np.float32), "fw")
    fb = numpy_helper.from_array(np.zeros(classes, np.float32), "fb")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[k // 2] * 4, kernel_shape=[k, k]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        [w, b, fw, fb],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    return make_conv_model(tmp_path / "tiny.onnx")


@pytest.fixture
def fast_plan():  # type: ignore[no-untyped-def]
    from xcelerator.rounds.plan import Plan

    return Plan(
        min_rounds=1,
        max_rounds=2,
        min_runs=10,
        min_seconds=0.05,
        max_seconds=0.3,
        warmup_runs=2,
        rel_ci=0.05,
        timeout=120,
    )
