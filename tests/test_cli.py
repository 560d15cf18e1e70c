"""The command line as users run it: real processes, real exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

FAST = ["--rounds", "1..2", "--max-time", "0.2", "--min-time", "0.05", "--warmup", "1", "--rel-ci", "5%"]


def xcel(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("XCEL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "xcelerator.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_profile_json_is_the_only_thing_on_stdout(tiny_onnx: Path, tmp_path: Path) -> None:
    r = xcel("profile", str(tiny_onnx), "-t", "onnxruntime?threads=1", "--layers", "--json", *FAST, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    [m] = doc["measurements"]
    assert m["status"] == "ok" and m["target"] == "onnxruntime?threads=1" and m["model"] == "tiny"
    assert set(m["stats"]) >= {
        "n",
        "mean_ms",
        "median_ms",
        "std_ms",
        "min_ms",
        "max_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "cv",
        "ci_low_ms",
        "ci_high_ms",
    }
    assert {
        "init_ms",
        "first_run_ms",
        "peak_rss_kib",
        "energy_mj",
        "layers",
        "unattributed_share",
        "env",
    } <= set(m)
    assert m["layers"] and {"name", "op_type", "mean_ms", "share"} == set(m["layers"][0])
    # at most 2 rounds: the caveat that the CI does not reach 95 % of the spread between processes,
    # in the document and, in the same words, on stderr
    rounds = [c for c in doc["caveats"] if "the spread between processes" in c["text"]]
    assert [(c["level"], c["model"]) for c in rounds] == [("warning", "tiny")]
    assert rounds[0]["text"].split(":")[-1].split(";")[0] in " ".join(r.stderr.split())
    con = sqlite3.connect(tmp_path / "xcel.db")
    assert con.execute("select status from measurements").fetchall() == [("ok",)]


def test_compare_table_and_speedup(tmp_path: Path) -> None:
    from tests.conftest import make_conv_model

    a = make_conv_model(tmp_path / "small.onnx", cout=4)
    b = make_conv_model(tmp_path / "big.onnx", cout=64, hw=32)
    r = xcel(
        "compare",
        str(a),
        str(b),
        "-t",
        "onnxruntime?threads=1",
        "-t",
        "openvino?threads=1",
        "--json",
        *FAST,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["measurements"]) == 4 and doc["reference_target"] == "onnxruntime?threads=1"
    rows = {(x["model"], x["target"]): x for x in doc["table"]}
    assert rows[("small", "onnxruntime?threads=1")]["speedup"] == pytest.approx(1.0)
    ov = rows[("big", "openvino?threads=1")]
    ref = rows[("big", "onnxruntime?threads=1")]
    assert ov["speedup"] == pytest.approx(ref["median_ms"] / ov["median_ms"])
    human = xcel("compare", str(a), "-t", "onnxruntime?threads=1", "-t", "openvino?threads=1", *FAST, cwd=tmp_path)
    assert human.returncode == 0 and "speed-up against onnxruntime?threads=1" in human.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "missing.onnx"], "no such file"),
        (["profile", "notes.onnx"], "not a valid ONNX model"),
        (["profile", "MODEL", "-t", "tensorflow"], "unknown runtime 'tensorflow'"),
        (["profile", "MODEL", "-t", "onnxruntime?thread=1"], "unknown option 'thread'"),
        (["profile", "MODEL", "-t", "litert"], "runs tflite models, not onnx"),
        (["profile", "MODEL", "--rel-ci", "lots"], "--rel-ci"),
        (["profile", "nosuchnet"], "neither a file nor a zoo model"),
        (["--db", "notes.onnx", "profile", "MODEL"], "not a SQLite database"),
        (["zoo", "export", "mobilenet_v2", "--width", "3", "--out", "m.onnx"], "width 3 must be within"),
        (["db", "import", "missing.json"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_onnx: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "notes.onnx").write_text("not a model")
    args = [str(tiny_onnx) if a == "MODEL" else a for a in args]
    r = xcel(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in one_line_error(r)
    assert r.stdout == ""
    assert (tmp_path / "notes.onnx").read_text() == "not a model"


def test_a_hang_is_a_failed_run_exit_1_and_is_stored(tiny_onnx: Path, tmp_path: Path) -> None:
    # a first good measurement must survive the failing one
    ok = xcel("profile", str(tiny_onnx), *FAST, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    from tests.conftest import make_conv_model

    slow = make_conv_model(tmp_path / "slow.onnx", cout=64, hw=128)  # ~1 ms a run: 100k runs outlast the timeout
    r = xcel(
        "profile",
        str(slow),
        "--timeout",
        "2",
        "--min-time",
        "60",
        "--max-time",
        "60",
        "--rounds",
        "1",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 1
    [m] = json.loads(r.stdout)["measurements"]
    assert m["status"] == "timeout" and "timeout" in m["error"]
    con = sqlite3.connect(tmp_path / "xcel.db")
    assert con.execute("select status from measurements order by id").fetchall() == [("ok",), ("timeout",)]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = xcel("--debug", "profile", "missing.onnx", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_zoo_targets_and_db_export(tmp_path: Path, tiny_onnx: Path) -> None:
    r = xcel("zoo", "list", "--json", cwd=tmp_path)
    fams = {m["family"] for m in json.loads(r.stdout)["models"]}
    assert {
        "mobilenet_v1",
        "mobilenet_v2",
        "resnet18",
        "resnet50",
        "squeezenet",
        "inception",
        "alexnet",
        "bert_tiny",
        "bert_base",
    } <= fams
    r = xcel(
        "zoo",
        "export",
        "mobilenet_v2",
        "--width",
        "0.35",
        "--resolution",
        "96",
        "--out",
        "m.onnx",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    art = json.loads(r.stdout)["artifact"]
    assert art["name"] == "mobilenet_v2_0.35_96" and (tmp_path / "m.onnx").exists()
    r = xcel("targets", "--json", cwd=tmp_path)
    probes = {p["target"]: p for p in json.loads(r.stdout)["targets"]}
    assert probes["onnxruntime"]["usable"] is True
    assert xcel("profile", str(tiny_onnx), *FAST, cwd=tmp_path).returncode == 0
    r = xcel("db", "export", "--format", "csv", "--out", "csv", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "csv" / "samples.csv").exists()
    r = xcel("db", "export", "--format", "json", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert len(doc["measurements"]) == 1 and doc["measurements"][0]["rounds"]


@pytest.mark.slow  # ~3 min; every runtime is profiled by test_conformance.py in the fast suite
@pytest.mark.timeout(1200)
def test_quick_demo_profiles_and_compares_on_every_usable_runtime(tmp_path: Path) -> None:
    r = xcel("--db", "demo.db", "demo", "--quick", "--out", "out", "--json", cwd=tmp_path, timeout=1100)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert {"onnxruntime?threads=1", "openvino?threads=1", "torch?threads=1"} <= set(doc["targets"])
    assert len(doc["compare"]) == len(doc["models"]) * len(doc["targets"])
    assert all(row["status"] == "ok" and row["median_ms"] > 0 for row in doc["compare"])
    assert any(layer["by_op_type"] for layer in doc["layers"])
    assert (tmp_path / "out" / "demo.json").exists()
    # the optimize half: the DESIGN's demo keys, the models exported, a report written
    assert {
        "dataset",
        "baseline",
        "best",
        "speedup",
        "accuracy_drop",
        "accuracy_drop_ci",
        "flops_proxy",
        "report",
    } <= set(doc)
    assert doc["dataset"] == "digits"  # --quick runs on digits
    assert Path(doc["baseline"]["onnx"]).exists() and Path(doc["report"]).exists()
    b = doc["baseline"]
    assert 0 <= b["accuracy_ci"][0] <= b["accuracy"] <= b["accuracy_ci"][1] <= 1 and b["median_ms"] > 0
    trials = doc["optimize"]["trials"]
    assert trials[0]["trial"] == 0 and len(trials) == 4
    # the precision and the runtime are searched: the quantize-only point follows the baseline, then
    # the unpruned network on the mobile runtime in each precision; every trial says its precision
    assert [t["precision"] for t in trials] == ["fp32", "int8", "fp32", "int8"]
    assert [t["runtime"] for t in trials] == ["onnxruntime", "onnxruntime", "executorch", "executorch"]
    et = doc["per_runtime"]["executorch?threads=1"]
    assert Path(et["artifact"]).suffix == ".pte" and Path(et["artifact"]).exists()
    assert et["baseline_trial"] == 2 and et["precision"] in ("fp32", "int8")
    assert et["speedup_ci"] is None or et["speedup_ci"][0] <= et["speedup"] <= et["speedup_ci"][1]
    assert 0 <= et["accuracy_ci"][0] <= et["accuracy"] <= et["accuracy_ci"][1] <= 1
    if doc["best"] is not None:
        assert Path(doc["best"]["onnx"]).exists() and doc["best"]["artifact"] == doc["best"]["onnx"]
        # its onnx is the deployed file: INT8 QDQ when the best is int8
        ops = {n.op_type for n in onnx.load(doc["best"]["onnx"]).graph.node}
        assert ("QuantizeLinear" in ops) == (doc["best"]["precision"] == "int8")
        lo, hi = doc["speedup_ci"]
        assert lo <= doc["speedup"] <= hi
        assert doc["best"]["val_accuracy"] >= trials[0]["accuracy"] - 0.005 - 1e-9  # the constraint held (validation)
        dlo, dhi = doc["accuracy_drop_ci"]
        assert dlo <= doc["accuracy_drop"] <= dhi
    if doc["flops_proxy"] is not None:
        feasible = [t for t in trials if t["feasible"]]
        assert doc["flops_proxy"]["macs"] == min(t["macs"] for t in feasible)
    con = sqlite3.connect(tmp_path / "demo.db")
    n = con.execute("select count(*) from measurements").fetchone()[0]
    measured = [t for t in trials if t["state"] == "COMPLETE"]
    # the zoo measurements, one per measured candidate, and the final side-by-side run
    assert n >= len(doc["measurements"]) + len(measured) + 1


def test_ab_verdicts_and_the_regression_gate(tmp_path: Path) -> None:
    """A truly slower candidate fails the gate (exit 1); the same network in another file passes."""
    import onnx

    from tests.conftest import make_conv_model

    ref = make_conv_model(tmp_path / "ref.onnx", cout=8, hw=16)
    twin = tmp_path / "twin.onnx"  # the same network, other bytes: another artifact, the same work
    m = onnx.load(str(ref))
    m.doc_string = "a copy"
    onnx.save(m, str(twin))
    slow = make_conv_model(tmp_path / "slow.onnx", cout=64, hw=48)
    common = ["-t", "onnxruntime?threads=1", "--rounds", "4", "--min-time", "0.05", "--max-time", "0.2", "--json"]
    r = xcel("compare", str(ref), str(slow), "--fail-if-slower", "5%", *common, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    (s,) = doc["speedups"]
    assert s["model"] == "slow" and s["reference"] == "ref" and s["verdict"] == "slower"
    assert s["pairs"] == 3 and s["pairing"] == "one process"  # round 0 alone, then side by side
    assert s["ci_low"] <= s["speedup"] <= s["ci_high"] < 1 / 1.05
    assert [f["model"] for f in doc["gate"]["failed"]] == ["slow"] and "regression" in r.stderr
    r = xcel("compare", str(ref), str(twin), "--fail-if-slower", "5%", "--apart", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (s,) = doc["speedups"]
    assert s["model"] == "twin" and doc["gate"]["failed"] == [] and s["ci_high"] >= 1 / 1.05
    assert s["pairs"] == 4 and s["pairing"] == "separate processes"  # --apart: every round its own process
    assert len({m["artifact_sha256"] for m in doc["measurements"]}) == 2
    bad = xcel("compare", str(ref), "--fail-if-slower", "5%", "-t", "onnxruntime", cwd=tmp_path)
    assert bad.returncode == 2 and "give the reference model first" in bad.stderr


def test_profile_and_compare_take_the_measuring_options_declared_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MeasureOptions`` is declared once and both commands show and check every one of its
    options: the same bad ``--rounds`` is refused by both with the same one line, exit 2."""
    import re
    import typing
    from dataclasses import fields

    from xcelerator.cli.measure import MeasureOptions

    hints = typing.get_type_hints(MeasureOptions, include_extras=True)
    infos = [hints[f.name].__metadata__[0] for f in fields(MeasureOptions)]
    flags = {(o.param_decls or (o.default,))[0] for o in infos}  # Typer keeps the flag in one or the other
    assert {"--shape", "--rounds", "--ci", "--json", "--seq-len"} <= flags
    monkeypatch.setenv("COLUMNS", "300")
    errors = []
    for cmd in ("profile", "compare"):
        r = xcel(cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert flags <= set(re.findall(r"--[a-z][a-z-]+", r.stdout)), cmd
        r = xcel(cmd, "no_such_model.onnx", "--rounds", "x", cwd=tmp_path)
        assert r.returncode == 2
        errors.append(one_line_error(r))
    assert errors[0] == errors[1] and "--rounds 'x'" in errors[0]
