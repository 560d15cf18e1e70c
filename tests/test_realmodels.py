"""Issue "Real models in, right numbers out", tested on models nobody here wrote (see
tests/realmodels.py): OCR detector/recognizer/classifier, a voice-activity model with state, a
scalar sample rate and an ``If`` node, a file-type classifier with int32 inputs, a ``.tflite``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests import realmodels
from xcelerator.cli.main import main

FAST = ["--runs", "10", "--rounds", "1"]


def real(name: str) -> Path:
    try:
        return realmodels.path(name)
    except realmodels.Unreachable as e:  # the registry itself is out of reach: nothing to test on
        pytest.skip(str(e))


def run_json(capsys, *args: str) -> tuple[int, dict, str]:  # type: ignore[no-untyped-def]
    code = main([*args, "--json"])
    cap = capsys.readouterr()
    return code, (json.loads(cap.out) if cap.out.strip() else {}), cap.err


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        tables = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
        return int(c.execute("select count(*) from measurements").fetchone()[0]) if "measurements" in tables else 0


@pytest.mark.parametrize("target", ["onnxruntime?threads=1", "openvino?threads=1"])
def test_dynamic_height_width_refused_then_measured_at_the_given_shape(tmp_path: Path, capsys, target: str) -> None:  # type: ignore[no-untyped-def]
    det = real("ocr_det")
    db = tmp_path / "x.db"
    code, _, err = run_json(capsys, "--db", str(db), "profile", str(det), "-t", target, *FAST)
    assert code == 2 and stored(db) == 0
    line = err.strip().splitlines()[-1]
    assert "input 'x' has dynamic dimensions p2o.DynamicDimension.1, p2o.DynamicDimension.2" in line
    assert "--shape x=1x3x640x640" in line
    code, doc, err = run_json(
        capsys, "--db", str(db), "profile", str(det), "-t", target, "--shape", "x=1x3x320x320", *FAST
    )
    assert code == 0, err
    m = doc["measurements"][0]
    assert m["status"] == "ok" and m["inputs"] == [
        {"name": "x", "shape": [1, 3, 320, 320], "dtype": "float32", "source": "random normal"}
    ]
    assert len(m["inputs_sha256"]) == 64
    # the same by named dimensions; a larger input is measurably slower (the shape really ran)
    dims = ["--dim", "p2o.DynamicDimension.1=160", "--dim", "p2o.DynamicDimension.2=160"]
    code, doc2, _ = run_json(capsys, "--db", str(db), "profile", str(det), "-t", target, *dims, *FAST)
    assert code == 0 and doc2["measurements"][0]["inputs"][0]["shape"] == [1, 3, 160, 160]
    assert doc2["measurements"][0]["stats"]["median_ms"] < m["stats"]["median_ms"]


def test_unnamed_dims_and_a_minus_one_batch(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cls, rec = real("ocr_cls"), real("ocr_rec")
    db = str(tmp_path / "x.db")
    code, _, err = run_json(capsys, "--db", db, "profile", str(cls), *FAST)
    assert code == 2 and "dim 2 (unnamed), dim 3 (unnamed)" in err and "--shape x=1x3x" in err
    code, doc, _ = run_json(capsys, "--db", db, "profile", str(cls), "--shape", "1x3x48x192", *FAST)
    assert code == 0 and doc["measurements"][0]["inputs"][0]["shape"] == [1, 3, 48, 192]
    code, _, err = run_json(capsys, "--db", db, "profile", str(rec), "--shape", "x=1x1x48x320", *FAST)
    assert code == 2 and "dimension 1 is fixed at 3 in the model, not 1" in err


def test_state_scalar_sample_rate_and_control_flow(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    vad = real("silero_vad")
    db = tmp_path / "v.db"
    shapes = ["--shape", "input=1x512", "--shape", "state=2x1x128"]
    code, _, err = run_json(capsys, "--db", str(db), "profile", str(vad), *shapes, *FAST)
    assert code == 2 and stored(db) == 0
    assert "input 'sr' is int64 scalar" in err and "--fill sr=VALUE" in err
    code, doc, err = run_json(
        capsys,
        "--db",
        str(db),
        "profile",
        str(vad),
        *shapes,
        "--fill",
        "sr=16000",
        "--layers",
        "--runs",
        "50",
        "--rounds",
        "1",
    )
    assert code == 0, err
    m = doc["measurements"][0]
    sources = {i["name"]: (i["shape"], i["source"]) for i in m["inputs"]}
    assert sources["sr"] == ([], "--fill 16000") and sources["state"][0] == [2, 1, 128]
    # the If node's subgraph kernels are counted once: shares add up to at most the whole run
    total = sum(x["share"] for x in m["layers"])
    assert 0.2 < total <= 1.0 and abs(total + m["unattributed_share"] - 1) < 1e-6
    assert not any(x["op_type"] == "If" for x in m["layers"])


def test_integer_inputs_below_the_graphs_table_size(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    mag = real("magika")
    code, doc, err = run_json(capsys, "--db", str(tmp_path / "m.db"), "profile", str(mag), "-t", "openvino", *FAST)
    assert code == 0, err
    i = doc["measurements"][0]["inputs"][0]
    assert i["dtype"] == "int32" and i["shape"] == [1, 2048] and i["source"].startswith("ids < 257")


def test_npz_is_checked_before_anything_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    vad = real("silero_vad")
    db = tmp_path / "n.db"
    good = {"input": np.zeros((1, 512), np.float32), "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000)}
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "sr"}, "lacks 'sr'"),
        "extra": ({**good, "speaker": np.zeros(3, np.float32)}, "has 'speaker', which the model does not take"),
        "dtype": ({**good, "sr": np.array(16000, np.int32)}, "'sr' is int32, the model takes int64"),
        "shape": (
            {**good, "state": np.zeros((3, 1, 128), np.float32)},
            "'state' has 3 at dimension 0, the model fixes it at 2",
        ),
    }
    for name, (arrays, message) in cases.items():
        f = tmp_path / f"{name}.npz"
        np.savez(f, **arrays)
        code, _, err = run_json(capsys, "--db", str(db), "profile", str(vad), "--input", str(f), *FAST)
        assert code == 2 and message in err, (name, err)
    assert stored(db) == 0
    f = tmp_path / "good.npz"
    np.savez(f, **good)
    code, doc, err = run_json(capsys, "--db", str(db), "profile", str(vad), "--input", str(f), *FAST)
    assert code == 0, err
    assert {i["source"] for i in doc["measurements"][0]["inputs"]} == {"npz good.npz"}


def test_tflite_runs_on_litert_and_an_onnx_target_points_there(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    face = real("face_det")
    db = str(tmp_path / "f.db")
    code, _, err = run_json(capsys, "--db", db, "profile", str(face), "-t", "onnxruntime", *FAST)
    assert code == 2 and "targets that run tflite: litert" in err
    code, doc, err = run_json(capsys, "--db", db, "profile", str(face), "-t", "litert?threads=1", *FAST)
    assert code == 0, err
    assert doc["measurements"][0]["inputs"][0]["shape"] == [1, 128, 128, 3]


def test_models_are_identified_by_content(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    shutil.copy(real("ocr_cls"), tmp_path / "a" / "model.onnx")
    shutil.copy(real("ocr_det"), tmp_path / "b" / "model.onnx")  # another model, same file name, same input
    shutil.copy(real("ocr_cls"), tmp_path / "same.onnx")  # the first file again, under another name
    args = [str(tmp_path / "a" / "model.onnx"), str(tmp_path / "b" / "model.onnx"), str(tmp_path / "same.onnx")]
    db = str(tmp_path / "c.db")
    code, doc, err = run_json(capsys, "--db", db, "compare", *args, "--shape", "x=1x3x64x192", *FAST)
    assert code == 0, err
    names = [m["model"] for m in doc["measurements"]]
    assert names == ["a/model", "b/model"]
    assert len({m["artifact_sha256"] for m in doc["measurements"]}) == 2
    code, _, err = run_json(capsys, "--db", db, "compare", *args, "--shape", "y=1x3x64x192", *FAST)
    assert code == 2 and "no model here has an input 'y'; inputs: x" in err


def test_python_api_profile_at_a_shape_and_refusal(tmp_path: Path) -> None:
    import xcelerator as xc

    det = str(real("ocr_det"))
    with pytest.raises(xc.BadInputError, match="dynamic dimensions"):
        xc.profile(det)
    db = tmp_path / "api.db"
    m = xc.profile(det, "openvino?threads=1", shape={"x": (1, 3, 96, 96)}, db=str(db), min_rounds=1, max_rounds=1)
    assert m.status == "ok" and m.stats is not None and m.stats.ci_low_ms <= m.stats.median_ms
    assert m.inputs[0]["shape"] == [1, 3, 96, 96] and stored(db) == 1
    assert m.to_dict()["plan"]["shapes"] == [["x", [1, 3, 96, 96]]]


def test_cost_model_features_at_the_given_shape() -> None:
    from xcelerator.models.artifact import at_shapes, load_artifact

    det = load_artifact(real("ocr_det"))
    small, large = at_shapes(det, {"x": (1, 3, 320, 320)}), at_shapes(det, {"x": (1, 3, 640, 640)})
    assert small.stats is not None and large.stats is not None and small.stats.macs > 0
    assert large.stats.macs == pytest.approx(4 * small.stats.macs, rel=0.05)
    assert large.inputs[0].shape == (1, 3, 640, 640)


def test_kernels_are_what_the_runtime_runs_on_a_paddle_export(fast_plan) -> None:  # type: ignore[no-untyped-def]
    """PP-OCR's direction classifier, exported from Paddle, holds 308 Constant nodes, convolutions
    whose residual Add and activation ONNX Runtime runs inside them, and ReLUs after its sums.
    Split at level 2, nearly every kernel gets profiled time from a real profile at its real
    shape: the constants are folded away, the sums sit in their convolutions. At level 1 most
    kernels were ones the runtime never runs, and the layer model predicted each of them."""
    from xcelerator.costmodel.features import kernels, match_layers
    from xcelerator.measure.core import measure
    from xcelerator.models.artifact import at_shapes, load_artifact
    from xcelerator.targets.registry import parse_target

    cls = at_shapes(load_artifact(real("ocr_cls")), {"x": (1, 3, 48, 192)})
    m = measure(cls, parse_target("onnxruntime?threads=1"), fast_plan.replace(layers=True))
    assert m.status == "ok" and m.layers and cls.stats is not None
    prof = [(x.name, x.op_type, x.mean_ms) for x in m.layers]
    n_const = sum(n.op_type == "Constant" for n in cls.stats.nodes)
    assert n_const > 100
    level1, _ = kernels(cls.stats, fuse=True)
    level2, _ = kernels(cls.stats, fuse=2)
    idle1 = [k for i, k in enumerate(level1) if i not in match_layers(level1, prof)]
    idle2 = [k for i, k in enumerate(level2) if i not in match_layers(level2, prof)]
    assert len(idle1) > n_const
    assert not any(n.op_type == "Constant" for k in level2 for n in k.nodes)
    assert len(idle2) <= 0.1 * len(level2), [k.op_type for k in idle2]


def test_layout_reorders_on_a_paddle_export(fast_plan) -> None:  # type: ignore[no-untyped-def]
    """ONNX Runtime's NCHWc reorders in PP-OCR's direction classifier: its hard-swish adds 3 from
    a Constant node (a plain operand, so the Add reads a plain tensor) and its squeeze-excitation
    convolutions read 22 and 50 channels (left in plain NCHW). ``nchwc_reorders`` gives the
    profile's count of each kind, 24 and 35 at this machine's block; it counted 42 and 53 while
    the Constant's output passed for a tensor and every convolution for a blocked one."""
    from tests.conftest import profiled_reorders
    from xcelerator.models.artifact import at_shapes, load_artifact

    _, counts = profiled_reorders(at_shapes(load_artifact(real("ocr_cls")), {"x": (1, 3, 48, 192)}), fast_plan)
    assert min(counts.values()) >= 10


def test_report_never_sets_one_shape_beside_another(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.report.records import comparison_record
    from xcelerator.store.db import Store

    cls = str(real("ocr_cls"))
    db = tmp_path / "r.db"
    for shape, target in (("1x3x48x192", "onnxruntime?threads=1"), ("1x3x48x640", "openvino?threads=1")):
        code, _, err = run_json(capsys, "--db", str(db), "profile", cls, "--shape", shape, "-t", target, *FAST)
        assert code == 0, err
    rec = comparison_record([m for _, m in Store(f"sqlite:///{db}").measurements()])
    assert len(rec["models"]) == 2 and all("[x 1x3x48x" in m for m in rec["models"])
    # each row has one target measured: no speed-up across different inputs
    assert all(sum(v is not None for v in col) <= 1 for col in zip(*rec["speedup"], strict=True))
    flat = [v for row in rec["speedup"] for v in row if v is not None]
    assert flat == [1.0]
