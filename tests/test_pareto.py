"""Runtime-configuration fronts: the seed's encoding and JSON, noise-aware dominance, the
estimators, real quantized configurations measured on ONNX Runtime, command targets with the
real benchmark_app and litert-benchmark, and parsers on verbatim outputs of tools that cannot
run here."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_conv_model
from xcelerator.cli.main import main
from xcelerator.errors import BadInputError
from xcelerator.fronts.core import ESTIMATORS, FrontDoc, Point, dominates, front, load_front, near_front, run_estimator
from xcelerator.fronts.space import BackendSpace, ConfigSpace, QuantizeSpace, gen_oplist, placement_space
from xcelerator.models.artifact import load_artifact
from xcelerator.store.db import Store
from xcelerator.targets.transports import command as C

BIN = Path(sys.executable).parent
OV_CMD = [str(BIN / "benchmark_app"), "-m", "{model}", "-d", "CPU", "-niter", "{runs}"]

# --------------------------------------------------------------------------- verbatim outputs
# onnxruntime_perf_test, as quoted in microsoft/onnxruntime issue #17313 and PR #2798
ORT_PERF = """Session creation time cost:1.84149 s
Total inference time cost:0.734606 s
Total inference requests:1
Average inference time cost:734.606 ms
Total inference run time:0.734761 s
"""
ORT_PERF_2 = """Total time cost: 58.8053
Total iterations: 1000
Average time cost: 58.8053 ms
Total run time: 58.8102 s
Min Latency is 0.0559777 sec
Max Latency is 0.0623472 sec
P50 Latency is 0.0587108 sec
P90 Latency is 0.0599845 sec
P95 Latency is 0.0605676 sec
P99 Latency is 0.0619517 sec
P999 Latency is 0.0623472 sec
"""
# trtexec performance summary, as quoted in microsoft/onnxruntime issue #17313
TRTEXEC = """[08/21/2023-14:59:38] [I] === Performance summary ===
[08/21/2023-14:59:38] [I] Throughput: 3716.81 qps
[08/21/2023-14:59:38] [I] Latency: min = 0.17041 ms, max = 0.243042 ms, mean = 0.184305 ms, median = 0.179932 ms, percentile(90%) = 0.194153 ms, percentile(95%) = 0.195312 ms, percentile(99%) = 0.197144 ms
"""  # noqa: E501
# ONE onert_run / nnpackage_run README
ONERT = """nnfw_prepare takes 425.235 ms
nnfw_run     takes 2.525 ms
"""
# TFLite benchmark_model, the summary line of the performance-measurement guide
TFLITE = """Inference timings in us: Init: 5685, First inference: 18535, Warmup (avg): 14462.3, Inference (avg): 14575.2
Memory footprint delta from the start of the tool (MB): init=0.0078125 overall=4.54688
"""


def test_parsers_on_verbatim_outputs() -> None:
    a = C.parse_output("onnxruntime_perf_test", ORT_PERF)
    assert a["mean_ms"] == pytest.approx(734.606) and a["init_ms"] == pytest.approx(1841.49)
    b = C.parse_output("onnxruntime_perf_test", ORT_PERF_2)
    assert b["median_ms"] == pytest.approx(58.7108) and b["min_ms"] == pytest.approx(55.9777)
    assert b["count"] == 1000
    t = C.parse_output("trtexec", TRTEXEC)
    assert t["median_ms"] == pytest.approx(0.179932) and t["p90_ms"] == pytest.approx(0.194153)
    o = C.parse_output("nnpackage_run", ONERT)
    assert o["mean_ms"] == pytest.approx(2.525) and o["init_ms"] == pytest.approx(425.235)
    f = C.parse_output("benchmark_model", TFLITE)
    assert f["mean_ms"] == pytest.approx(14.5752) and f["init_ms"] == pytest.approx(5.685)
    assert f["first_run_ms"] == pytest.approx(18.535) and f["peak_memory_mb"] == pytest.approx(4.54688)
    r = C.parse_output("regex", "took 3.5 ms median", {"median_ms": r"took (\S+) ms"})
    assert r == {"median_ms": 3.5}
    with pytest.raises(C.ParseError, match="no latency found by the trtexec parser"):
        C.parse_output("trtexec", ORT_PERF)
    with pytest.raises(BadInputError, match="unknown parser"):
        C.parse_output("nope", "")


@pytest.mark.skipif(not (BIN / "benchmark_app").exists(), reason="OpenVINO's benchmark_app is not installed")
def test_command_target_with_real_benchmark_app(tmp_path: Path) -> None:
    model = make_conv_model(tmp_path / "m.onnx", hw=32, cout=16)
    spec = C.CommandSpec.from_dict(
        "ov",
        {
            "command": [
                str(BIN / "benchmark_app"),
                "-m",
                "{model}",
                "-d",
                "CPU",
                "-niter",
                "{runs}",
                "-hint",
                "{hint}",
            ],
            "parser": "benchmark_app",
        },
    )
    r = C.run_command(spec, model, runs=20, variables={"hint": "latency"})
    assert r.figures["median_ms"] > 0 and r.figures["count"] >= 20
    assert r.peak_rss_kib and r.peak_rss_kib > 10_000
    with pytest.raises(BadInputError, match="unknown placeholder"):
        C.run_command(spec, model, runs=5)


@pytest.mark.skipif(not (BIN / "litert-benchmark").exists(), reason="litert-benchmark is not installed")
def test_command_target_with_real_litert_benchmark() -> None:
    from xcelerator.models.export import resolve_model

    try:
        art = resolve_model("mobilenet_v2_0.35_96", "tflite")
    except Exception as e:  # the tflite converter extra may be missing
        pytest.skip(f"no .tflite export here: {e}")
    spec = C.CommandSpec.from_dict(
        "lite",
        {
            "command": [
                str(BIN / "litert-benchmark"),
                "--model",
                "{model}",
                "--num_runs",
                "{runs}",
                "--num_threads",
                "1",
            ],
            "parser": "litert_benchmark",
            "format": "tflite",
        },
    )
    r = C.run_command(spec, art.path, runs=10)
    assert r.figures["median_ms"] > 0 and r.figures["init_ms"] > 0 and r.figures["count"] == 10


def test_command_target_bad_templates(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="list of arguments"):
        C.CommandSpec.from_dict("x", {"command": "benchmark_app -m model", "parser": "benchmark_app"})
    missing = C.CommandSpec.from_dict("x", {"command": ["/no/such/tool", "{model}"], "parser": "benchmark_app"})
    with pytest.raises(BadInputError, match="not found"):
        C.run_command(missing, "m.onnx")
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o644)
    with pytest.raises(BadInputError, match="not executable"):
        C.run_command(C.CommandSpec.from_dict("x", {"command": [str(script)], "parser": "trtexec"}), "m")
    script.chmod(0o755)
    with pytest.raises(C.ParseError, match="no latency found"):
        C.run_command(C.CommandSpec.from_dict("x", {"command": [str(script)], "parser": "trtexec"}), "m")
    # a model path with spaces and quotes stays one argument: nothing goes through a shell
    echo = C.CommandSpec.from_dict(
        "e", {"command": ["/bin/echo", "median {model}"], "parser": "regex", "regex": {"median_ms": r"(\d+) ms"}}
    )
    weird = "a b'; rm -rf x; echo '5 ms"
    assert C.run_command(echo, weird).figures["median_ms"] == 5


# --------------------------------------------------------------------------- encoding and JSON
SEED_EXAMPLE = {
    "configs": {
        "4": 'BACKENDS="acl_cl;cpu" OP_BACKEND_Pool2D=cpu OP_BACKEND_DepthwiseConv2D=cpu OP_BACKEND_Reshape=acl_cl '
        "OP_BACKEND_Conv2D=cpu OP_BACKEND_BinaryArithmetic=cpu ",
        "10": 'BACKENDS="acl_cl;cpu" OP_BACKEND_Pool2D=cpu OP_BACKEND_DepthwiseConv2D=acl_cl OP_BACKEND_Reshape=cpu '
        "OP_BACKEND_Conv2D=acl_cl OP_BACKEND_BinaryArithmetic=cpu ",
    },
    "oplist": ["Pool2D", "DepthwiseConv2D", "Reshape", "Conv2D", "BinaryArithmetic"],
    "solutions": [{"exec_time": 76.138, "max_rss": 62712, "id": 4}, {"exec_time": 28.138, "max_rss": 403064, "id": 10}],
    "mode": "name",
}


def test_seed_encoding_and_setting_strings(tmp_path: Path) -> None:
    art = load_artifact(make_conv_model(tmp_path / "m.onnx"))
    sp = BackendSpace(art, "one", backends=["cpu", "acl_cl"], oplist=SEED_EXAMPLE["oplist"])
    assert sp.size == 32
    assert sp.setting(4) == SEED_EXAMPLE["configs"]["4"] and sp.setting(10) == SEED_EXAMPLE["configs"]["10"]
    assert sp.config(10).env["OP_BACKEND_Conv2D"] == "acl_cl" and sp.config(10).env["BACKENDS"] == "acl_cl;cpu"
    mixed = ConfigSpace(["a", "b", "c"], [["x", "y"], ["p", "q", "r"], ["u", "v"]])
    assert mixed.size == 12
    assert all(mixed.encode(mixed.decode(i)) == i for i in range(12))
    assert sorted(mixed.neighbours(0)) == [1, 2, 4, 6]
    assert len(mixed.neighbours(0, 2)) == 5
    with pytest.raises(BadInputError, match="outside"):
        mixed.decode(12)


def test_seed_json_read_back_and_ours_round_trip(tmp_path: Path) -> None:
    (tmp_path / "seed.json").write_text(json.dumps(SEED_EXAMPLE))
    d = load_front(tmp_path / "seed.json")
    assert [p.id for p in d.points] == [4, 10] and d.points[0].setting.startswith("BACKENDS")
    pts = [Point(0, 10, 9.8, 10.2, 1000, setting="a"), Point(1, 5, 4.9, 5.1, 2000, setting="b")]
    ours = FrontDoc("name", ["Conv"], pts, space="quantize", estimator="corners", size=2).save(tmp_path / "o.json")
    raw = json.loads(ours.read_text())
    assert {"mode", "oplist", "solutions", "configs"} <= set(raw)
    assert raw["configs"] == {"0": "a", "1": "b"}
    back = load_front(ours)
    assert [p.__dict__ for p in back.points] == [p.__dict__ for p in pts]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(BadInputError, match="not a pareto file"):
        load_front(tmp_path / "bad.json")


def test_noise_aware_dominance() -> None:
    a = Point(0, 10.0, 9.0, 11.0, 1000)
    b = Point(1, 10.5, 9.5, 11.5, 1000)  # slower only within the CI
    c = Point(2, 20.0, 19.0, 21.0, 1000)  # slower beyond it
    assert not dominates(a, b) and dominates(a, b, noise=False)
    assert dominates(a, c)
    assert {p.id for p in front([a, b, c])} == {0, 1}
    assert {p.id for p in front([a, b, c], noise=False)} == {0}
    # near the front: what a repeat 15 % off could put on it, measured again before the front is declared
    n = Point(3, 12.5, 12.4, 12.6, 1000)  # dominated here, by a little: a repeat 15 % off may not be
    assert dominates(a, n) and [p.id for p in near_front([c, n, b, a])] == [0, 1, 3]
    assert [p.id for p in near_front([c, n, b, a], limit=2)] == [0, 1]


def _table(space: ConfigSpace) -> dict[int, Point]:
    """A synthetic landscape for the estimator logic: each digit at 1 saves time and costs memory
    by its own amount, plus an interaction, so the front has several points."""
    rng = np.random.default_rng(5)
    w = rng.uniform(1, 3, len(space.bases))
    out = {}
    for cid in range(space.size):
        d = np.array(space.decode(cid))
        t = 30 - float(w @ d) + 0.8 * float(d[0] * d[1])
        m = 1000 + int(100 * float((4 - w) @ d))
        out[cid] = Point(cid, t, t - 0.05, t + 0.05, m)
    return out


@pytest.mark.parametrize("est", ESTIMATORS)
def test_estimators_find_the_front_and_never_repeat(est: str) -> None:
    sp = ConfigSpace([f"op{i}" for i in range(6)], [["fp32", "int8"]] * 6)
    table = _table(sp)
    true_ids = {p.id for p in front(list(table.values()))}
    calls: list[int] = []

    def ev(c: int) -> Point:
        calls.append(c)
        return table[c]

    order = run_estimator(est, sp, ev, sp.size, seed=1)
    assert len(calls) == len(set(calls)) == sp.size  # each id once, the whole space within budget
    ids = [p.id for p in order]
    need = max(ids.index(i) for i in true_ids) + 1
    if est == "corners":
        assert ids[:2] == [0, sp.size - 1]  # both ends first
        assert need <= sp.size // 2
    short = run_estimator(est, sp, lambda c: table[c], 10, seed=2)
    assert len(short) == 10


def test_quantize_space_real_configurations(tmp_path: Path, fast_plan, capsys) -> None:  # type: ignore[no-untyped-def]
    model = make_conv_model(tmp_path / "m.onnx", hw=48, cout=32)
    art = load_artifact(model)
    ops, groups = gen_oplist(art, "name")
    assert ops == ["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"] and groups["Conv"] == ["conv"]
    sp = QuantizeSpace(art, mode="name", cache=tmp_path / "q")
    assert sp.oplist == ["Conv", "Gemm"] and sp.size == 4
    q = sp.config(3)
    assert q.artifact.path != art.path and "ConvInteger" in q.artifact.stats.op_histogram  # type: ignore[union-attr]
    db = tmp_path / "p.db"
    out = tmp_path / "front.json"
    args = ["--db", str(db), "pareto", str(model), "--space", "quantize", "--strategy", "brute", "--budget", "4"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == 4 and len(doc["evaluated"]) == 4
    by = {e["id"]: e for e in doc["evaluated"]}
    assert by[0]["error"] == 0.0 and by[3]["error"] > 0  # int8 changes the outputs
    assert all(e["max_rss"] > 0 and e["ci_low"] <= e["exec_time"] <= e["ci_high"] for e in by.values())
    assert {s["id"] for s in doc["solutions"]} <= set(by) and doc["configs"]
    # the seed's semantics: solutions are every measured point; the front is under its own key
    assert {s["id"] for s in doc["solutions"]} == {p["id"] for p in doc["evaluated"] if p["status"] == "ok"}
    assert set(doc["front"]) <= {s["id"] for s in doc["solutions"]} and doc["front"]
    # the front was declared after its neighbourhood was measured again side by side
    assert set(doc["front"]) <= set(doc["confirmed"]) and {e["id"] for e in doc["evaluated"] if e["confirmed"]} == set(
        doc["confirmed"]
    )
    assert Store(str(db)).count() == 4 + len(doc["confirmed"])  # the confirming run is stored too
    # a calibrated target's spread between runs widens each configuration's CI (issue 14, item 5)
    import math

    from xcelerator.fronts.evaluate import ConfigEvaluator
    from xcelerator.measure.stats import NoisePoint, RunNoise, t_quantile

    noise = RunNoise("onnxruntime?threads=1", (NoisePoint("r", "ref", 1.0, 0.2, 4, 5, fast_plan.max_rounds),))
    p = ConfigEvaluator(sp, plan=fast_plan, noise=noise)(3)
    half = t_quantile(0.975, 4) * 0.2
    assert p.ci_low <= p.exec_time * math.exp(-half) * 1.0001 and p.ci_high >= p.exec_time * math.exp(half) * 0.9999


def test_pareto_bad_input(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "relu.onnx"))
    db = ["--db", str(tmp_path / "x.db")]
    assert main([*db, "pareto", str(tmp_path / "relu.onnx"), "--space", "quantize"]) == 2
    assert "no op that ONNX Runtime quantizes" in capsys.readouterr().err
    conv = make_conv_model(tmp_path / "m.onnx")
    if shutil.which("nvidia-smi") is None:
        assert main([*db, "pareto", str(conv), "--space", "placement"]) == 2
        assert "needs a GPU" in capsys.readouterr().err
        with pytest.raises(BadInputError):
            placement_space(load_artifact(conv))
    assert main([*db, "pareto", str(conv), "--space", "backend", "-t", "cmd:nothing"]) == 2
    assert "unknown command target 'cmd:nothing'" in capsys.readouterr().err
    assert main([*db, "pareto", str(conv), "--strategy", "psychic"]) == 2
    # a dynamic input without --shape: one line before any configuration is measured
    dyn = onnx.load(str(conv))
    for d, name in zip(dyn.graph.input[0].type.tensor_type.shape.dim[2:], ("h", "w"), strict=True):
        d.dim_param = name
    onnx.save(dyn, str(tmp_path / "dyn.onnx"))
    assert (
        main([*db, "pareto", str(tmp_path / "dyn.onnx"), "--space", "quantize", "--out", str(tmp_path / "d.json")]) == 2
    )
    assert "dynamic dimensions" in capsys.readouterr().err and not (tmp_path / "d.json").exists()


def test_backend_space_over_flags_with_benchmark_app(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    if not (BIN / "benchmark_app").exists():
        pytest.skip("benchmark_app is not installed")
    targets = tmp_path / "t.yaml"
    targets.write_text(
        json.dumps(
            {
                "commands": {
                    "ov": {
                        "command": [*OV_CMD, "-hint", "{hint}"],
                        "parser": "benchmark_app",
                    },
                    "broken": {"command": [str(BIN / "benchmark_app"), "-m", "{model}", "-bogus"], "parser": "trtexec"},
                }
            }
        )
    )
    monkeypatch.setenv("XCEL_TARGETS", str(targets))
    conv = make_conv_model(tmp_path / "m.onnx", hw=32)
    out = tmp_path / "f.json"
    args = ["--db", str(tmp_path / "b.db"), "pareto", str(conv), "--space", "backend", "-t", "cmd:ov"]
    assert main([*args, "--flag", "-hint=latency,throughput", "--strategy", "brute", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["oplist"] == ["-hint"] and len(doc["evaluated"]) == 2
    assert {e["setting"] for e in doc["evaluated"]} == {"-hint=latency", "-hint=throughput"}
    # a template that fails: exit 2 naming the cause; nothing measured is lost (there is nothing yet)
    bad = ["--db", str(tmp_path / "b.db"), "pareto", str(conv), "--space", "backend", "-t", "cmd:broken"]
    assert main([*bad, "--flag", "-x=1,2", "--out", str(tmp_path / "g.json")]) == 2
    assert "exit status" in capsys.readouterr().err


def test_every_registered_estimator_passes_the_conformance_check() -> None:
    """``xcelerator.testing.check_estimator`` on every estimator the registry finds."""
    from xcelerator.fronts.estimators import estimators
    from xcelerator.testing import check_estimator

    assert set(estimators()) >= set(ESTIMATORS)
    for name in estimators():
        check_estimator(name)


def test_every_registered_pareto_space_passes_the_conformance_check(tmp_path: Path) -> None:
    """``xcelerator.testing.check_pareto_space`` on every space the registry finds (here: quantize
    and runtime-options build; backend refuses a non-command target, placement a machine
    without a GPU, each in one line)."""
    from xcelerator.fronts.spaces import spaces
    from xcelerator.testing import check_pareto_space

    model = str(make_conv_model(tmp_path / "m.onnx", hw=32, cout=16))
    assert set(spaces()) >= {"quantize", "runtime-options", "backend", "placement"}
    for name in spaces():
        check_pareto_space(name, model)
