from __future__ import annotations

from pathlib import Path

import pytest

from xcelerator.errors import BadInputError
from xcelerator.models.artifact import Artifact, load_artifact


def test_onnx_artifact_has_hash_inputs_and_stats(tiny_onnx: Path) -> None:
    a = load_artifact(tiny_onnx)
    b = load_artifact(tiny_onnx)
    assert a.format == "onnx" and len(a.sha256) == 64 and a.sha256 == b.sha256
    assert [(t.name, t.shape, t.dtype) for t in a.inputs] == [("x", (1, 3, 16, 16), "float32")]
    assert a.stats is not None and a.stats.node_count == 5
    again = Artifact.from_dict(a.to_dict(with_nodes=True))
    assert again == a


def test_hash_changes_with_content(tmp_path: Path) -> None:
    from tests.conftest import make_conv_model

    a = load_artifact(make_conv_model(tmp_path / "a.onnx", cout=8))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=16))
    assert a.sha256 != b.sha256


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.onnx", None, "no such file"),
        ("model.bin", b"abc", "unsupported model format"),
        ("empty.onnx", b"", "empty file"),
        ("text.onnx", b"this is not a model at all\n" * 10, "ONNX"),
        ("fake.tflite", b"\x00" * 64, "not a TFLite model"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        load_artifact(p)


def test_truncated_onnx_is_reported_as_invalid(tiny_onnx: Path, tmp_path: Path) -> None:
    data = tiny_onnx.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="ONNX"):
        load_artifact(bad)


def test_semantically_corrupt_onnx_fails_the_checker(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    n = helper.make_node("NoSuchOp", ["x"], ["y"])
    g = helper.make_graph(
        [n],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    p = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    with pytest.raises(BadInputError, match="corrupt ONNX"):
        load_artifact(p)


def test_openvino_ir_needs_its_bin(tmp_path: Path) -> None:
    p = tmp_path / "m.xml"
    p.write_text("<net/>")
    with pytest.raises(BadInputError, match=r"m\.bin"):
        load_artifact(p)


def test_openvino_ir_round_trip(tiny_onnx: Path, tmp_path: Path) -> None:
    from xcelerator.models.export import export_openvino

    xml = export_openvino(tiny_onnx, tmp_path / "tiny.xml")
    a = load_artifact(xml)
    assert a.format == "openvino" and a.inputs[0].shape == (1, 3, 16, 16)
