"""``cmd:NAME`` targets everywhere a target is accepted: OpenVINO's real ``benchmark_app`` as a
vendor binary in ``profile``, ``compare`` (beside a runtime target) and ``characterize``; a binary
that fails is a failed round with its reason, and the comparison goes on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_conv_model
from xcelerator.cli.main import main

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "benchmark_app").exists(), reason="OpenVINO's benchmark_app is missing")


@pytest.fixture
def targets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "xcel-targets.yaml"
    ov = [str(BIN / "benchmark_app"), "-m", "{model}", "-d", "CPU", "-hint", "none", "-nthreads", "1"]
    doc = {
        "commands": {
            "ov-bench": {"command": [*ov, "-niter", "{runs}"], "parser": "benchmark_app", "format": "onnx"},
            "broken": {"command": [*ov, "-no-such-flag"], "parser": "benchmark_app", "format": "onnx"},
        }
    }
    f.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("XCEL_TARGETS", str(f))
    return f


def test_cmd_target_in_profile_and_compare(targets_file: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    model = make_conv_model(tmp_path / "m.onnx", hw=32)
    db = str(tmp_path / "c.db")
    assert main(["--db", db, "profile", str(model), "-t", "cmd:ov-bench?runs=30", "--rounds", "2", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["measurements"][0]
    assert m["status"] == "ok" and m["stats"]["rounds"] == 2 and m["stats"]["median_ms"] > 0
    assert m["target"] == "cmd:ov-bench?runs=30" and m["env"]["command"] == "ov-bench"
    assert m["peak_rss_kib"] > 0  # from wait4 on the binary

    args = ["compare", str(model), "-t", "onnxruntime?threads=1", "-t", "cmd:broken", "-t", "cmd:ov-bench"]
    assert main(["--db", db, *args, "--rounds", "1", "--runs", "20", "--json"]) == 1
    ms = {x["target"]: x for x in json.loads(capsys.readouterr().out)["measurements"]}
    assert ms["onnxruntime?threads=1"]["status"] == "ok" and ms["cmd:ov-bench"]["status"] == "ok"
    assert ms["cmd:broken"]["status"] == "failed" and "exit status" in ms["cmd:broken"]["error"]


def test_cmd_target_in_characterize(targets_file: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = str(tmp_path / "ch.db")
    args = ["characterize", "--space", "mobilegen", "--count", "2", "-t", "cmd:ov-bench?runs=10", "--json"]
    assert main(["--db", db, *args]) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["measured"] == 2 and doc["failed"] == 0
