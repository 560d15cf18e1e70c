"""adb targets (no phone here: URI, command line, parsers, and the real adbutils error when no
server or device is there; tests that need a phone skip with the reason) and energy: RAPL on a
directory tree laid out like sysfs (this VM has no powercap), end to end through the runner,
NVML where a GPU is present, a Monsoon CSV aligned to the inference window."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_conv_model
from xcelerator.cli.main import main
from xcelerator.errors import BadInputError
from xcelerator.measure.energy import monsoon_mj_per_inference
from xcelerator.rounds.runner import Rapl
from xcelerator.targets.registry import parse_target
from xcelerator.targets.transports.adb import AdbTarget, parse_op_summary
from xcelerator.targets.transports.command import parse_benchmark_model

# TFLite's performance-measurement guide: the summary line of benchmark_model
SUMMARY = (
    "Inference timings in us: Init: 5685, First inference: 18535, Warmup (avg): 14462.3, Inference (avg): 14575.2\n"
    "Memory footprint delta from the start of the tool (MB): init=0.0078125 overall=4.54688\n"
)
# the "Summary by node type" table laid out as TFLite's profile summarizer prints it (columns:
# node type, count, avg ms, avg %, cdf %, mem KB, times called); not a recorded phone run
OP_TABLE = """============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t                 CONV_2D\t       34\t     9.511\t    68.514%\t    68.514%\t     0.000\t       34
\t       DEPTHWISE_CONV_2D\t       17\t     3.980\t    28.671%\t    97.185%\t     0.000\t       17
\t                     ADD\t       10\t     0.307\t     2.212%\t    99.397%\t     0.000\t       10

Timings (microseconds): count=50 first=13996 curr=13875 min=13720 max=14350 avg=13883.6 std=121
"""


def test_adb_uri_and_command_line() -> None:
    t = parse_target("adb://R58M123/tflite?threads=4&use_gpu=1&taskset=f0&binary=/tmp/bm")
    assert t.transport == "adb" and t.address == "R58M123" and t.runtime == "tflite"
    assert parse_target(t.uri).uri == t.uri
    argv = AdbTarget(t.address, t.options).argv("/data/local/tmp/x/model.tflite", "/data/local/tmp/x/benchmark_model")
    assert argv[:2] == ["taskset", "f0"] and "--use_gpu=true" in argv and "--num_threads=4" in argv
    with pytest.raises(BadInputError, match="unknown option"):
        parse_target("adb://R58M123/tflite?turbo=1")
    with pytest.raises(BadInputError, match="hexadecimal"):
        parse_target("adb://R58M123/tflite?taskset=f0;reboot")
    with pytest.raises(BadInputError, match="expected adb://SERIAL/tflite"):
        parse_target("adb://R58M123/onnx")


def test_benchmark_model_output_parsed() -> None:
    f = parse_benchmark_model(SUMMARY)
    assert f["mean_ms"] == pytest.approx(14.5752) and f["warmup_mean_ms"] == pytest.approx(14.4623)
    ops = parse_op_summary(OP_TABLE)
    assert [o["op_type"] for o in ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD"]
    assert ops[0]["avg_ms"] == pytest.approx(9.511) and ops[1]["share"] == pytest.approx(0.28671)
    g = parse_benchmark_model(OP_TABLE)
    assert g["min_ms"] == pytest.approx(13.72) and g["count"] == 50


def test_adb_without_phone_says_why(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.models.export import resolve_model

    try:
        model = Path(resolve_model("mobilenet_v2_0.35_96", "tflite").path)
    except Exception as e:  # the tflite converter extra may be missing
        pytest.skip(f"no .tflite export here: {e}")
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    uri = f"adb://NO-SUCH-PHONE/tflite?binary={binary}"
    # no phone is a failed round with the reason (exit 1), recorded like any other failure, never an
    # exception in the middle of a comparison: the local target beside it is still measured
    db = tmp_path / "a.db"
    onnx = resolve_model("mobilenet_v2_0.35_96", "onnx").path
    code = main(["--db", str(db), "compare", str(onnx), "-t", "onnxruntime", "--runs", "5", "--rounds", "1"])
    assert code == 0
    assert main(["--db", str(db), "profile", str(model), "-t", uri, "--runs", "5", "--rounds", "1"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "cannot reach the adb server" in err or "no device with serial 'NO-SUCH-PHONE'" in err
    from xcelerator.store.db import Store

    stored = [m for _, m in Store(f"sqlite:///{db}").measurements()]
    assert [m.status for m in stored] == ["ok", "failed"]
    assert "adb" in stored[1].error


def test_adb_on_a_real_phone(tmp_path: Path) -> None:
    adbutils = pytest.importorskip("adbutils")
    try:
        devices = adbutils.adb.device_list()
    except Exception as e:
        pytest.skip(f"no adb server here: {e}")
    if not devices:
        pytest.skip("no phone attached")
    binary = os.environ.get("XCEL_BENCHMARK_MODEL")
    if not binary:
        pytest.skip("a phone is attached but XCEL_BENCHMARK_MODEL does not name a benchmark_model binary for it")
    from xcelerator.measure.core import measure
    from xcelerator.models.export import resolve_model
    from xcelerator.rounds.plan import Plan

    art = resolve_model("mobilenet_v2_0.35_96", "tflite")
    t = parse_target(f"adb://{devices[0].serial}/tflite?threads=1&runs=20&op_profiling=1&binary={binary}")
    m = measure(art, t, Plan(min_rounds=2, max_rounds=2))
    assert m.status == "ok" and m.stats is not None and m.stats.median_ms > 0
    assert m.env["phone"]["model"] and m.layers


# --------------------------------------------------------------------------- RAPL
def _zone(root: Path, name: str, energy: int, max_range: int) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    (z / "name").write_text("package-0\n")
    return z


def test_rapl_arithmetic_with_wraparound(tmp_path: Path) -> None:
    z0 = _zone(tmp_path, "intel-rapl:0", 999_000, 1_000_000)
    z1 = _zone(tmp_path, "intel-rapl:1", 10, 1_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 5, 1_000_000)  # a sub-zone (core): not summed twice
    r = Rapl(str(tmp_path))
    assert r.zones == ["intel-rapl:0", "intel-rapl:1"] and r.available()[0]
    before = r.read()
    (z0 / "energy_uj").write_text("500\n")  # wrapped: 1000 to the top, then 500
    (z1 / "energy_uj").write_text("2010\n")
    assert Rapl.delta_uj(before, r.read()) == 1000 + 500 + 2000
    assert not Rapl(str(tmp_path / "none")).available()[0]


def test_energy_through_the_runner(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A counter that advances 1 J per second while the model runs: the runner reads it around
    its timed loop; the result is about 1 mJ per ms of inference."""
    root = tmp_path / "powercap"
    z = _zone(root, "intel-rapl:0", 0, 2**32)
    stop = threading.Event()

    def tick() -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            tmp = z / "energy_uj.tmp"  # written whole, then renamed: the runner never reads half a number
            tmp.write_text(f"{int((time.perf_counter() - t0) * 1e6) % 2**32}\n")
            tmp.replace(z / "energy_uj")
            time.sleep(0.001)

    th = threading.Thread(target=tick)
    th.start()
    monkeypatch.setenv("XCEL_POWERCAP_ROOT", str(root))
    model = make_conv_model(tmp_path / "m.onnx", hw=64, cout=32)
    try:
        args = ["profile", str(model), "--runs", "200", "--rounds", "1", "--energy", "--json"]
        rc = main(["--db", str(tmp_path / "e.db"), *args])
    finally:
        stop.set()
        th.join()
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    m = m["measurements"][0] if "measurements" in m else m
    assert m["energy_mj"] is not None and "RAPL" in m["energy_note"], m["energy_note"]
    # 1 W for the loop: mJ per inference ≈ ms per inference (the loop also spends time between runs)
    assert 0.5 * m["stats"]["mean_ms"] < m["energy_mj"] < 3 * m["stats"]["mean_ms"] + 0.5


def test_energy_unavailable_is_said(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XCEL_POWERCAP_ROOT", str(tmp_path / "nothing"))
    model = make_conv_model(tmp_path / "m.onnx")
    args = ["profile", str(model), "--runs", "10", "--rounds", "1", "--energy", "--json"]
    assert main(["--db", str(tmp_path / "e.db"), *args]) == 0
    m = json.loads(capsys.readouterr().out)
    m = m["measurements"][0] if "measurements" in m else m
    assert m["energy_mj"] is None and m["energy_note"].startswith("unavailable: no RAPL zones")


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA GPU here: NVML energy needs one")
def test_nvml_energy_reader() -> None:
    from xcelerator.rounds.runner import nvml_energy

    read, why = nvml_energy()
    if read is None:
        pytest.skip(why)
    a = read()
    time.sleep(0.2)
    assert read() >= a


# --------------------------------------------------------------------------- Monsoon
def test_monsoon_csv_aligned_to_the_window(tmp_path: Path) -> None:
    csv = tmp_path / "power.csv"
    rows = ["Time(ms),Main(mA),Main Voltage(V)"]
    for i in range(0, 10_001, 10):  # 10 s at 100 Hz: 500 mA at 4 V (2 W), 1000 mA from 4 s to 6 s
        ma = 1000 if 4000 <= i < 6000 else 500
        rows.append(f"{i},{ma},4.0")
    csv.write_text("\n".join(rows) + "\n")
    t0 = 1_700_000_000.0
    # the timed loop ran from 4.0 s to 6.0 s after the monitor started, 100 inferences
    mj = monsoon_mj_per_inference(csv, t0, t0 + 4.0, t0 + 6.0, 100)
    assert mj == pytest.approx(4000 * 2.0 / 100, rel=0.01)  # 4 W for 2 s = 8 J over 100
    with pytest.raises(BadInputError, match="outside the recording"):
        monsoon_mj_per_inference(csv, t0, t0 + 9.0, t0 + 12.0, 10)
    (tmp_path / "bad.csv").write_text("t,i,v\n1,2,3\n")
    with pytest.raises(BadInputError, match="expected the header"):
        monsoon_mj_per_inference(tmp_path / "bad.csv", t0, t0, t0 + 1, 1)


def test_energy_command_on_a_stored_measurement(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xcelerator.store.db import Store

    db = tmp_path / "m.db"
    model = make_conv_model(tmp_path / "m.onnx")
    assert main(["--db", str(db), "profile", str(model), "--runs", "50", "--rounds", "2"]) == 0
    capsys.readouterr()
    mid, m = Store(str(db)).measurements()[-1]
    windows = m.env["timed_windows"]
    assert len(windows) == 2 and all(b > a and n == 50 for a, b, n in windows)
    t0 = m.started - 1.0
    span_ms = int((m.finished - t0 + 1.0) * 1000)
    rows = ["Time(ms),Main(mA),Main Voltage(V)"] + [f"{i},500,4.0" for i in range(0, span_ms, 5)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    args = ["energy", str(tmp_path / "p.csv"), "--measurement", str(mid), "--t0", str(t0), "--json"]
    assert main(["--db", str(db), *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    expect = [2000.0 * (b - a) / n for a, b, n in windows]  # 2 W over each window
    assert doc["mj_per_inference"] == pytest.approx(expect, rel=0.02)
    assert main(["--db", str(db), "energy", str(tmp_path / "p.csv"), "-m", "999", "--t0", "0"]) == 2
