from __future__ import annotations

from pathlib import Path

import pytest

from xcelerator.errors import BadInputError
from xcelerator.targets.registry import parse_target, probe_all, usable


def test_uri_with_options_round_trips() -> None:
    t = parse_target("onnxruntime?threads=1&graph_opt=basic")
    assert t.runtime == "onnxruntime" and t.opts == {"threads": "1", "graph_opt": "basic"}
    assert parse_target(t.uri) == t
    assert parse_target("ort").runtime == "onnxruntime"
    assert parse_target("openvino?device=cpu").opts["device"] == "CPU"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "tensorflow",
            "unknown runtime 'tensorflow' .*valid runtimes: onnxruntime, openvino, torch, litert, .*ncnn",
        ),
        ("ftp://host/onnxruntime", "unknown transport 'ftp://'.*valid transports: .*ssh://"),
        ("ncnn?threads=1&turbo=1", "unknown option 'turbo'; valid options: fp16, packing, resource, sgemm, threads"),
        ("mnn?precision=best", "must be one of normal, high, low, low_bf16"),
        ("onnxruntime?thread=2", "unknown option 'thread'; valid options:"),
        ("onnxruntime?threads=two", "must be a non-negative integer"),
        ("onnxruntime?provider=rocm", "must be one of cpu, cuda, tensorrt"),
        ("cmd:ov-bench", "unknown command target 'cmd:ov-bench'; declared: none"),
        ("adb://SERIAL/tflite?use_gpu=2", "must be one of 0, 1"),
        ("ssh://pi@board", r"expected ssh://\[user@\]host\[:port\]/RUNTIME"),
        ("ssh://pi@board/onnxruntime?turbo=1", "unknown option 'turbo'"),
        ("onnxruntime?resource=a;b", "resource 'a;b' must be a name"),
    ],
)
def test_bad_targets_say_what_is_valid(uri: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message.replace("?", r"\?")):
        parse_target(uri)


def test_remote_and_resource_targets_round_trip() -> None:
    t = parse_target("ssh://pi@board:2222/onnxruntime?threads=4&python=/opt/py/bin/python3&resource=rpi")
    assert t.transport == "ssh" and t.address == "pi@board:2222" and t.runtime == "onnxruntime"
    assert t.runtime_opts == {"threads": "4"} and t.resource == "device:rpi"
    assert t.transport_opts == {"python": "/opt/py/bin/python3"}
    assert parse_target(t.uri) == t
    a = parse_target("adb://R58M1/tflite?threads=4&use_gpu=1")
    assert a.transport == "adb" and a.address == "R58M1" and a.formats == ("tflite",) and a.runtime_opts == {}
    assert parse_target(a.uri) == a


def test_aliases_from_a_targets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "targets.yaml"
    f.write_text("targets:\n  ort1: onnxruntime?threads=1\n")
    monkeypatch.setenv("XCEL_TARGETS", str(f))
    t = parse_target("ort1")
    assert t.label == "ort1" and t.opts == {"threads": "1"}
    f.write_text("targets: [1, 2")
    with pytest.raises(BadInputError, match="not valid YAML"):
        parse_target("ort1")


def test_probes_never_raise_and_cpu_runtimes_are_usable_here() -> None:
    probes = {p.target: p for p in probe_all()}
    assert probes["onnxruntime"].usable
    assert probes["openvino"].usable
    assert probes["torch"].usable
    assert all(p.detail for p in probes.values())
    ok, _ = usable(parse_target("onnxruntime?threads=1"))
    assert ok
    import torch

    cuda_ok, why = usable(parse_target("torch?device=cuda"))
    assert cuda_ok == torch.cuda.is_available()
    if not cuda_ok:
        assert "CUDA" in why


def test_mnn_conversion_installs_nothing_and_sends_nothing(
    tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MNN's converter module imports a usage logger that shells out to ``pip install`` when its
    dependency is missing (and then reports to a remote endpoint). A ``pip`` first on PATH that
    only records being called must stay uncalled, and the conversion must still produce a model."""
    import importlib.util
    import os

    if importlib.util.find_spec("MNN") is None:
        pytest.skip("MNN is not installed (extra 'mnn')")
    from xcelerator.targets.runtimes import mnn

    bin_dir, marker = tmp_path / "bin", tmp_path / "pip-was-called"
    bin_dir.mkdir()
    for name in ("pip", "pip3"):
        exe = bin_dir / name
        exe.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 1\n')
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = mnn.convert(str(tiny_onnx), "onnx", str(tmp_path), [])
    assert Path(out).stat().st_size > 0
    assert not marker.exists(), f"MNN's converter ran pip: {marker.read_text()}"
