"""GPU targets: run where a GPU is present (marked ``gpu``; ``pytest -m gpu``), skip elsewhere."""

from __future__ import annotations

import pytest

from xcelerator.measure.core import measure
from xcelerator.models.export import materialize
from xcelerator.models.zoo import parse_name
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target, usable

pytestmark = pytest.mark.gpu

PLAN = Plan(min_rounds=2, max_rounds=2, min_seconds=0.2, max_seconds=1.0, warmup_runs=10, layers=True)


def _need(uri: str) -> None:
    ok, why = usable(parse_target(uri))
    if not ok:
        pytest.skip(why)


def test_torch_cuda_is_faster_than_torch_cpu_on_resnet50() -> None:
    _need("torch?device=cuda")
    a = materialize(parse_name("resnet50_224"), "torch")
    gpu = measure(a, parse_target("torch?device=cuda"), PLAN)
    cpu = measure(a, parse_target("torch?threads=4"), PLAN.replace(layers=False))
    assert gpu.status == "ok", gpu.error
    assert gpu.env["device"] == "cuda" and gpu.env.get("device_name")
    assert gpu.stats and cpu.stats and gpu.stats.median_ms < cpu.stats.median_ms
    assert gpu.layers, gpu.layers_note  # CUDA kernel times from torch.profiler


def test_torch_cuda_fp16_runs() -> None:
    _need("torch?device=cuda")
    a = materialize(parse_name("mobilenet_v2_1.0_224"), "torch")
    m = measure(a, parse_target("torch?device=cuda&precision=fp16"), PLAN.replace(layers=False))
    assert m.status == "ok", m.error


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_onnxruntime_gpu_providers(provider: str) -> None:
    _need(f"onnxruntime?provider={provider}")
    a = materialize(parse_name("resnet18_224"), "onnx")
    m = measure(a, parse_target(f"onnxruntime?provider={provider}"), PLAN)
    assert m.status == "ok", m.error
    assert m.env["providers"][0].lower().startswith(provider)
