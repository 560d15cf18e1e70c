from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from xcelerator.errors import BadInputError
from xcelerator.measure.core import measure, measure_many
from xcelerator.models.artifact import load_artifact
from xcelerator.models.export import materialize
from xcelerator.models.zoo import parse_name
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target


def test_onnxruntime_measurement_is_complete(tiny_onnx: Path, fast_plan: Plan) -> None:
    a = load_artifact(tiny_onnx)
    m = measure(a, parse_target("onnxruntime?threads=1"), fast_plan.replace(layers=True))
    assert m.status == "ok", m.error
    s = m.stats
    assert s is not None and s.n == len(m.samples_ms) >= fast_plan.min_runs
    assert s.min_ms <= s.ci_low_ms <= s.median_ms <= s.ci_high_ms <= s.max_ms
    assert 1 <= len(m.rounds) <= fast_plan.max_rounds
    assert all(len(r.warmup_ms) >= fast_plan.warmup_runs for r in m.rounds)
    assert m.init_ms and m.init_ms > 0 and m.first_run_ms and m.first_run_ms > 0
    assert m.rss_after_load_kib and m.peak_rss_kib and m.peak_rss_kib >= m.rss_after_load_kib
    env = m.env
    assert env["runtime"] == "onnxruntime" and env["runtime_version"] and env["cores"] >= 1
    assert env["options"]["threads"] == "1" and env["cpu_model"] is not None and "loadavg_before" in env
    # layers from ORT's own profiler: our node names, shares that add up with the remainder
    assert any(x.op_type == "Conv" for x in m.layers), m.layers
    assert m.unattributed_share is not None
    assert sum(x.share for x in m.layers) + m.unattributed_share == pytest.approx(1.0, abs=1e-6) or (
        m.unattributed_share == 0.0
    )


def test_round_pids_differ_each_round_is_its_own_process(tiny_onnx: Path) -> None:
    plan = Plan(min_rounds=3, max_rounds=3, min_seconds=0.02, max_seconds=0.1, warmup_runs=1)
    m = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), plan)
    assert m.status == "ok"
    assert len({r.pid for r in m.rounds}) == 3 and m.stats is not None and m.stats.rounds == 3
    assert m.stats.rounds_ci_level == pytest.approx(0.75)


def test_adaptive_stopping_stops_early_when_ci_is_reached(tiny_onnx: Path) -> None:
    plan = Plan(min_rounds=1, max_rounds=1, min_runs=20, min_seconds=0.0, max_seconds=20, rel_ci=0.5)
    m = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), plan)
    assert m.rounds[0].stop_reason == "ci_reached"
    assert len(m.samples_ms) < 200
    fixed = Plan(min_rounds=1, max_rounds=1, min_runs=37, max_runs=37, min_seconds=0, max_seconds=30)
    m2 = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), fixed)
    assert len(m2.samples_ms) == 37 and m2.rounds[0].stop_reason == "max_runs"


@pytest.mark.parametrize("uri", ["openvino?threads=1", "onnxruntime?threads=1&graph_opt=disable"])
def test_other_local_targets_measure_with_layers(tiny_onnx: Path, fast_plan: Plan, uri: str) -> None:
    m = measure(load_artifact(tiny_onnx), parse_target(uri), fast_plan.replace(layers=True))
    assert m.status == "ok", m.error
    assert m.layers and all(x.mean_ms >= 0 for x in m.layers)
    assert m.env["runtime"] == uri.split("?")[0]


def test_a_precision_the_runtime_chose_is_told_apart_from_fp32(tiny_onnx: Path, fast_plan: Plan) -> None:
    """OpenVINO picks bf16 by itself on CPUs with bf16 instructions (this machine's did): its
    reported precision is read back from the compiled model; asked for f32, the time is FP32."""
    from dataclasses import replace

    m = measure(load_artifact(tiny_onnx), parse_target("openvino?threads=1&precision=f32"), fast_plan)
    assert m.status == "ok", m.error
    assert "float32" in m.env["precision"] or "f32" in m.env["precision"]
    assert m.reduced_precision is None
    # the compiled model's own words, as OpenVINO 2026 writes them
    assert replace(m, env={"precision": "<Type: 'bfloat16'>"}).reduced_precision == "bfloat16"
    assert replace(m, env={"precision": "<Type: 'float16'>"}).reduced_precision == "float16"
    assert replace(m, env={}).reduced_precision is None
    import xcelerator as xc

    said = [c.text for c in xc.caveats([replace(m, target="openvino?threads=1", env={"precision": "bf16"})], fast_plan)]
    assert any("ran at bfloat16" in t and "precision=f32" in t for t in said)
    assert not any("ran at" in c.text for c in xc.caveats([m], fast_plan))


def test_onnxruntime_node_times_leave_the_sessions_first_run_out(tiny_onnx: Path) -> None:
    """A real ONNX Runtime profile: the session's first run is told apart by its ``model_run``
    event and left out of each node's mean; a profile without those events keeps the old
    reading (every run, the first included)."""
    import json
    import tempfile

    import numpy as np
    import onnxruntime as ort

    from xcelerator.targets.runtimes.onnxruntime import _node_times

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.enable_profiling = True
    with tempfile.TemporaryDirectory() as d:
        so.profile_file_prefix = str(Path(d) / "p")
        sess = ort.InferenceSession(str(tiny_onnx), so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).random([int(v) for v in inp.shape]).astype(np.float32)
        for _ in range(6):
            sess.run(None, {inp.name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    assert len(runs) == 6
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    name = nodes[0]["name"][: -len("_kernel_time")]
    mine = [e for e in nodes if e["name"] == name + "_kernel_time"]
    first = sum(e["dur"] for e in mine if e["ts"] <= runs[0][1]) / 1000
    later = sum(e["dur"] for e in mine if e["ts"] > runs[0][1]) / 1000
    got = {x["name"]: x["mean_ms"] for x in _node_times(events, 5)}
    assert got[name] == pytest.approx(later / 5)
    # make the first run 100x slower: the reading does not move
    slow = [dict(e, dur=e["dur"] * 100) if e in mine and e["ts"] <= runs[0][1] else e for e in events]
    assert {x["name"]: x["mean_ms"] for x in _node_times(slow, 5)}[name] == pytest.approx(later / 5)
    old = [e for e in events if e.get("name") != "model_run"]
    assert {x["name"]: x["mean_ms"] for x in _node_times(old, 5)}[name] == pytest.approx((first + later) / 6)


def test_torch_and_litert_targets_measure_zoo_exports(fast_plan: Plan) -> None:
    zm = parse_name("mobilenet_v2_0.35_96")
    m = measure(materialize(zm, "torch"), parse_target("torch?threads=1"), fast_plan.replace(layers=True))
    assert m.status == "ok", m.error
    assert any("conv" in x.op_type for x in m.layers)
    pytest.importorskip("litert_torch")
    m2 = measure(materialize(zm, "tflite"), parse_target("litert?threads=1"), fast_plan.replace(layers=True))
    assert m2.status == "ok", m2.error
    assert not m2.layers and "no op profiler" in m2.layers_note


def test_wrong_format_for_target_is_bad_input(tiny_onnx: Path, fast_plan: Plan) -> None:
    with pytest.raises(BadInputError, match="runs tflite models, not onnx"):
        measure(load_artifact(tiny_onnx), parse_target("litert"), fast_plan)


def test_a_child_that_aborts_is_recorded_as_crashed(tiny_onnx: Path) -> None:
    plan = Plan(min_rounds=2, max_rounds=3, min_seconds=60, max_seconds=60, max_runs=10**9, timeout=120)

    def kill_soon(pid: int) -> None:
        threading.Timer(1.5, lambda: os.kill(pid, signal.SIGABRT)).start()

    t0 = time.time()
    m = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), plan, on_start=kill_soon)
    assert time.time() - t0 < 30
    assert m.status == "crashed" and "SIGABRT" in m.error
    assert len(m.rounds) == 1  # no further rounds after a crash


def test_a_hanging_child_is_killed_at_the_timeout(tiny_onnx: Path) -> None:
    plan = Plan(min_rounds=1, max_rounds=1, min_seconds=60, max_seconds=60, max_runs=10**9, timeout=2.0)
    t0 = time.time()
    m = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), plan)
    assert m.status == "timeout" and "timeout of 2 s" in m.error
    assert time.time() - t0 < 20


def test_a_runtime_error_is_a_failed_measurement(tmp_path: Path) -> None:
    """A model that loads but fails when it runs (a Reshape to a size its input does not have)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([7], np.int64), "shape")
    g = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7])],
        [shape],
    )
    path = tmp_path / "broken.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    plan = Plan(min_rounds=1, max_rounds=1, min_seconds=0.1, max_seconds=0.2)
    m = measure(load_artifact(path), parse_target("onnxruntime"), plan)
    assert m.status == "failed" and m.stats is None
    assert "reshape" in m.error.lower() and "\n" not in m.error  # one line that names the cause
    assert "Traceback" in m.error_detail  # the whole text is kept (shown with --debug)


def test_a_wrong_npz_is_refused_before_anything_runs(tiny_onnx: Path, tmp_path: Path) -> None:
    npz = tmp_path / "wrong.npz"
    np.savez(npz, x=np.zeros((1, 5, 16, 16), np.float32))  # 5 channels; the model wants 3
    plan = Plan(min_rounds=1, max_rounds=1, min_seconds=0.1, max_seconds=0.2, input="npz", npz=str(npz))
    with pytest.raises(BadInputError, match="'x' has 5 at dimension 1, the model fixes it at 3"):
        measure(load_artifact(tiny_onnx), parse_target("onnxruntime"), plan)


def test_user_inputs_from_npz_are_used(tiny_onnx: Path, tmp_path: Path) -> None:
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.ones((1, 3, 16, 16), np.float32))
    plan = Plan(min_rounds=1, max_rounds=1, min_seconds=0.1, max_seconds=0.2, input="npz", npz=str(npz))
    assert measure(load_artifact(tiny_onnx), parse_target("onnxruntime"), plan).status == "ok"


def test_interleaving_alternates_order_between_rounds(tmp_path: Path) -> None:
    from tests.conftest import make_conv_model

    # b does about 250x the work of a, so their medians cannot swap on a noisy machine
    a = load_artifact(make_conv_model(tmp_path / "a.onnx", cout=4))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=64, hw=64))
    plan = Plan(min_rounds=3, max_rounds=3, min_seconds=0.02, max_seconds=0.05, warmup_runs=1)
    t = parse_target("onnxruntime?threads=1")
    ma, mb = measure_many([(a, t), (b, t)], plan)
    order = sorted([(r.started, "a") for r in ma.rounds] + [(r.started, "b") for r in mb.rounds])
    assert "".join(x for _, x in order) == "abbaab"
    assert mb.stats is not None and ma.stats is not None and mb.stats.median_ms > ma.stats.median_ms


def test_paired_models_on_one_target_are_timed_side_by_side_after_a_round_alone(tmp_path: Path) -> None:
    """A/B rounds: round 0 of each model alone (its memory, load time), then one process per
    round timing both in alternating blocks; the verdict pairs only those."""
    from tests.conftest import make_conv_model
    from xcelerator.measure.ab import paired

    a = load_artifact(make_conv_model(tmp_path / "a.onnx", cout=8, hw=32))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=64, hw=48))  # far more work
    plan = Plan(min_rounds=4, max_rounds=4, min_seconds=0.05, max_seconds=0.1, warmup_runs=1)
    t = parse_target("onnxruntime?threads=1")
    ma, mb = measure_many([(a, t), (b, t)], plan, paired=True)
    assert ma.status == mb.status == "ok"
    ra, rb = ma.rounds, mb.rounds
    assert [r.index for r in ra] == [r.index for r in rb] == [0, 1, 2, 3]
    assert ra[0].pid != rb[0].pid and not ra[0].env.get("side_by_side")  # alone
    for x, y in zip(ra[1:], rb[1:], strict=True):  # side by side: one process, the other named
        assert x.pid == y.pid and x.env["side_by_side"] == ["b.onnx"] and y.env["side_by_side"] == ["a.onnx"]
        assert len(x.samples_ms) >= plan.min_runs and len(y.samples_ms) >= plan.min_runs
    assert len({r.pid for r in ra}) == 4
    # the model loaded (and timed) first alternates between rounds
    assert [r.env["side_by_side_position"] for r in ra[1:]] == [0, 1, 0]
    assert [r.env["side_by_side_position"] for r in rb[1:]] == [1, 0, 1]
    # load time and memory are those of the round alone
    assert ma.init_ms == ra[0].init_ms and ma.peak_rss_kib == ra[0].peak_rss_kib
    s = paired(ma, mb)
    assert s.pairing == "one process" and s.pairs == 3 and s.verdict == "slower"
    assert s.ci_low is not None and s.ci_high is not None and s.ci_low <= s.speedup <= s.ci_high < 1


def test_multi_threaded_onnxruntime_sessions_do_not_share_a_process(tmp_path: Path) -> None:
    """ONNX Runtime's idle workers spin: two sessions at 2 threads in one process slow each other
    (``onnxruntime.side_by_side``), so their rounds stay one model per process; with spinning
    off, or with OpenVINO at 2 threads, they are timed side by side."""
    from tests.conftest import make_conv_model
    from xcelerator.measure.ab import paired

    a = load_artifact(make_conv_model(tmp_path / "a.onnx", cout=8, hw=16))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=16, hw=16))
    plan = Plan(min_rounds=3, max_rounds=3, min_seconds=0.03, max_seconds=0.06, warmup_runs=1)
    got = {}
    for uri in ("onnxruntime?threads=2", "onnxruntime?threads=2&spin=0", "openvino?threads=2"):
        t = parse_target(uri)
        ma, mb = measure_many([(a, t), (b, t)], plan, paired=True)
        assert ma.status == mb.status == "ok", (ma.error, mb.error)
        got[uri] = paired(ma, mb).pairing
        shared = [r.pid == s.pid for r, s in zip(ma.rounds, mb.rounds, strict=True)]
        assert shared == ([False, True, True] if got[uri] == "one process" else [False] * 3), (uri, shared)
    assert got == {
        "onnxruntime?threads=2": "separate processes",
        "onnxruntime?threads=2&spin=0": "one process",
        "openvino?threads=2": "one process",
    }


def test_a_fixed_run_count_holds_side_by_side(tmp_path: Path) -> None:
    """``--runs 37``: 37 timed runs per model in every round, alone or side by side."""
    from tests.conftest import make_conv_model

    a = load_artifact(make_conv_model(tmp_path / "a.onnx"))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=16))
    plan = Plan(min_rounds=2, max_rounds=2, min_runs=37, max_runs=37, min_seconds=0, max_seconds=60, warmup_runs=1)
    t = parse_target("onnxruntime?threads=1")
    ma, mb = measure_many([(a, t), (b, t)], plan, paired=True)
    assert [len(r.samples_ms) for r in ma.rounds + mb.rounds] == [37] * 4
    assert ma.rounds[1].env["side_by_side"] and ma.rounds[1].stop_reason == "max_runs"


def test_a_side_by_side_process_that_dies_falls_back_to_one_model_per_round(tmp_path: Path) -> None:
    """Which model killed a shared process is unknown: that round is re-run one model per process
    (so a crash lands on the model that causes it), and so are the rounds after it."""
    from tests.conftest import make_conv_model
    from xcelerator.measure.ab import paired

    a = load_artifact(make_conv_model(tmp_path / "a.onnx", cout=8, hw=32))
    b = load_artifact(make_conv_model(tmp_path / "b.onnx", cout=8, hw=40))
    plan = Plan(min_rounds=3, max_rounds=3, min_seconds=0.05, max_seconds=0.1, warmup_runs=1)
    starts: list[int] = []

    def kill_the_first_shared_process(pid: int) -> None:
        starts.append(pid)
        if len(starts) == 3:  # two rounds alone, then the first side-by-side process
            os.kill(pid, signal.SIGKILL)

    t = parse_target("onnxruntime?threads=1")
    ma, mb = measure_many([(a, t), (b, t)], plan, on_start=kill_the_first_shared_process, paired=True)
    assert ma.status == mb.status == "ok", (ma.error, mb.error)
    assert len(starts) == 7 and len({r.pid for r in ma.rounds + mb.rounds}) == 6  # the killed one is not kept
    assert not any(r.env.get("side_by_side") for r in ma.rounds + mb.rounds)
    s = paired(ma, mb)
    assert s.pairing == "separate processes" and s.pairs == 3


def test_the_side_by_side_runner_keeps_a_broken_model_to_itself(tmp_path: Path) -> None:
    """A model that fails to load side by side is its own failure; the other is timed."""
    import json
    import subprocess
    import sys

    from tests.conftest import make_conv_model
    from xcelerator.measure.core import inputs_for, request_for
    from xcelerator.targets.transports.local import RUNNER

    good = load_artifact(make_conv_model(tmp_path / "good.onnx"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    t = parse_target("onnxruntime?threads=1")
    plan = Plan(min_seconds=0.05, max_seconds=0.1, warmup_runs=1, layers=True)
    doc = request_for(good, t, plan, 1, True).document(adapter=t.spec.file)
    bad = {**doc, "model": str(broken)}
    req, out = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps({"side_by_side": [bad, doc]}))
    subprocess.run([sys.executable, str(RUNNER), str(req), str(out)], check=True, timeout=120)
    r_bad, r_good = json.loads(out.read_text())["side_by_side"]
    assert r_bad["status"] == "failed" and "broken.onnx" in r_bad["traceback"] + r_bad["error"]
    assert r_good["status"] == "ok" and len(r_good["samples_ms"]) >= plan.min_runs
    assert r_good["env"]["side_by_side"] == [] and r_good["layers"]  # timed alone, layers kept
    assert r_good["peak_rss_kib"] >= r_good["rss_after_load_kib"] >= r_good["rss_before_load_kib"] > 0
    assert inputs_for(good, plan)  # the request fed the inputs it resolved


@pytest.mark.slow
def test_torch_compile_is_reported_in_the_first_run(fast_plan: Plan) -> None:
    """torch.compile happens on the first call: it shows in first_run_ms, not in the samples."""
    a = materialize(parse_name("mobilenet_v2_0.35_96"), "torch")
    m = measure(a, parse_target("torch?threads=1&compile=1"), fast_plan.replace(max_rounds=1, timeout=600))
    assert m.status == "ok", m.error
    assert m.first_run_ms is not None and m.stats is not None and m.first_run_ms > 20 * m.stats.median_ms


def test_a_busy_machine_is_flagged_and_a_quiet_verdict_recorded(tiny_onnx: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    plan = Plan(min_rounds=1, max_rounds=1, min_seconds=0.05, max_seconds=0.1, warmup_runs=1)
    # a CPU hog that is not our child (the shell that started it exits), like another user's job
    out = subprocess.run(
        ["sh", "-c", f"{sys.executable} -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    hog = int(out.stdout.strip())
    try:
        time.sleep(0.5)
        m = measure(load_artifact(tiny_onnx), parse_target("onnxruntime?threads=1"), plan)
    finally:
        os.kill(hog, signal.SIGKILL)
    assert m.status == "ok" and m.quiet is not None and m.quiet["quiet"] is False
    assert any(b["pid"] == hog for b in m.quiet["busy"]) and "other processes were busy" in m.quiet["reasons"][0]
    assert m.to_json()["quiet"]["quiet"] is False
