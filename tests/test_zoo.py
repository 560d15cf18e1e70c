from __future__ import annotations

import numpy as np
import pytest
import torch

from xcelerator.errors import BadInputError
from xcelerator.models import zoo
from xcelerator.models.export import materialize


@pytest.mark.parametrize("family", zoo.list_models())
def test_every_zoo_model_builds_and_runs(family: str) -> None:
    e = zoo.entry(family)
    if family == "bert_base":
        zm = zoo.parse_name(family, seq_len=16)
    elif e.kind == "text":
        zm = zoo.parse_name(family, seq_len=32)
    else:
        zm = zoo.parse_name(family, resolution=96 if family != "alexnet" else 128)
    m = zm.build()
    with torch.inference_mode():
        y = m(*zm.example_inputs())
    assert y.shape[0] == 1 and torch.isfinite(y).all()


def test_fake_weights_are_reproducible() -> None:
    zm = zoo.parse_name("mobilenet_v2_0.35_96")
    a = zm.build().state_dict()
    b = zm.build().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mobilenet_v2", ("mobilenet_v2", 1.0, 224)),
        ("mobilenet_v2_0.5_128", ("mobilenet_v2", 0.5, 128)),
        ("mobilenet_v1_1.4_224", ("mobilenet_v1", 1.4, 224)),
        ("resnet18_160", ("resnet18", 1.0, 160)),
    ],
)
def test_names_parse_like_the_seed(text: str, expected: tuple[str, float, int]) -> None:
    zm = zoo.parse_name(text)
    assert (zm.family, zm.width, zm.resolution) == expected
    assert zoo.parse_name(zm.name) == zm


def test_text_model_names() -> None:
    zm = zoo.parse_name("bert_tiny_s64")
    assert zm.seq_len == 64 and zm.input_shape() == (1, 64) and zm.name == "bert_tiny_s64"


@pytest.mark.parametrize(
    ("text", "kw", "message"),
    [
        ("nosuchnet", {}, "neither a file nor a zoo model"),
        ("mobilenet_v2", {"width": 2.0}, "width 2 must be within"),
        ("mobilenet_v2", {"resolution": 100}, "multiple of 8"),
        ("resnet18", {"width": 0.5}, "no width multiplier"),
        ("bert_tiny", {"resolution": 224}, "text model"),
    ],
)
def test_bad_zoo_requests(text: str, kw: dict[str, float], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        zoo.parse_name(text, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["mobilenet_v2_0.35_96", "bert_tiny_s32"])
def test_onnx_export_computes_what_torch_computes(name: str) -> None:
    import onnxruntime as ort

    zm = zoo.parse_name(name)
    a = materialize(zm, "onnx")
    x = zm.example_inputs()
    with torch.inference_mode():
        ref = zm.build()(*x).numpy()
    sess = ort.InferenceSession(a.path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {a.inputs[0].name: x[0].numpy()})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4)


def test_tflite_export_runs_in_litert_and_matches_torch() -> None:
    pytest.importorskip("litert_torch", reason="the .tflite converter extra is not installed")
    from ai_edge_litert.interpreter import Interpreter

    zm = zoo.parse_name("mobilenet_v2_0.35_96")
    a = materialize(zm, "tflite")
    assert a.format == "tflite" and a.stats is not None  # stats from the sibling ONNX export
    it = Interpreter(model_path=a.path)
    it.allocate_tensors()
    x = zm.example_inputs()[0].numpy()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    with torch.inference_mode():
        ref = zm.build()(*zm.example_inputs()).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
