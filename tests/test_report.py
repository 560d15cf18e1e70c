"""Reports: records from real measurements and a real Optuna study, the HTML opened from disk in
headless Chromium with the network off (no console errors, every figure drawn, a screenshot
kept in test-artifacts/), notes in place of figures, the commands, the live dashboard."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from tests.conftest import ARTIFACTS
from xcelerator.cli.main import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's chromium)"
)


def open_in_chromium(page: Path, screenshot: Path | None = None) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console messages; all network access refused."""
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=15000",
    ]
    r = subprocess.run(
        [*base, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=180, check=False
    )
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*base, f"--screenshot={screenshot}", "--window-size=1280,3000", page.resolve().as_uri()],
            capture_output=True,
            timeout=180,
            check=False,
        )
    return r.stdout, console


@pytest.fixture(scope="module")
def db_with_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real measurements (one with layers) of two tiny models on two targets, and two real
    Optuna studies in the same SQLite file: one with trials, one with only failed trials."""
    from tests.conftest import make_conv_model

    d = tmp_path_factory.mktemp("rep")
    db = d / "x.db"
    a = make_conv_model(d / "a.onnx", hw=32, cout=16)
    b = make_conv_model(d / "b.onnx", hw=48, cout=32)
    args = ["--runs", "20", "--rounds", "2", "--layers"]
    assert (
        main(["--db", str(db), "compare", str(a), str(b), "-t", "onnxruntime?threads=1", "-t", "openvino", *args]) == 0
    )
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    s = optuna.create_study(study_name="toy", storage=storage, directions=["maximize", "minimize"])
    s.set_user_attr("config", {"objectives": ["accuracy", "latency"], "constraints": ["latency<=3"]})
    for i in range(30):
        t = s.ask(
            {"w": optuna.distributions.FloatDistribution(0.1, 1.0), "r": optuna.distributions.IntDistribution(8, 32)}
        )
        acc = 0.5 + 0.4 * t.params["w"] ** 0.5
        lat = 0.5 + 4 * t.params["w"] * t.params["r"] / 32
        t.set_user_attr("constraints", [lat - 3])
        if i == 0:
            t.set_user_attr("role", "baseline")
        s.tell(t, [acc, lat])
    f = optuna.create_study(study_name="broken", storage=storage, directions=["maximize", "minimize"])
    t = f.ask()
    t.set_user_attr("error", "RuntimeError: the runtime crashed")
    f.tell(t, state=optuna.trial.TrialState.FAIL)
    optuna.create_study(study_name="empty", storage=storage, directions=["maximize", "minimize"])
    return db


def test_study_record_front_and_hypervolume(db_with_data: Path) -> None:
    from xcelerator.report.records import study_record

    s = optuna.load_study(study_name="toy", storage=f"sqlite:///{db_with_data}")
    r = study_record(s)
    assert len(r["trials"]) == 30 and r["front"]
    feas = {t["number"]: t for t in r["trials"] if t["feasible"]}
    assert set(r["front"]) <= set(feas) and r["chosen"] in r["front"]
    # no feasible trial dominates a front point
    for n in r["front"]:
        a = feas[n]["values"]
        assert not any(v["values"][0] >= a[0] and v["values"][1] <= a[1] and v["values"] != a for v in feas.values())
    hv = r["hypervolume"]
    assert len(hv) == 30 and all(x <= y + 1e-12 for x, y in itertools.pairwise(hv))  # never decreases
    assert set(r["importance"]) == {"w", "r"}


@needs_chromium
def test_report_opens_offline_in_chromium(db_with_data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "rep"
    from xcelerator.fronts.core import FrontDoc, Point

    pts = [Point(i, 5 - i, 4.9 - i, 5.1 - i, 1000 + 300 * i, None, f"Conv=int{i}") for i in range(4)]
    front_file = FrontDoc("name", ["Conv"], pts, space="quantize", size=4).save(tmp_path / "front.json")
    studies = ["--study", "toy", "--study", "broken", "--study", "empty", "--pareto", str(front_file)]
    rc = main(["--db", str(db_with_data), "report", "--measurements", *studies, "--out", str(out), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    html = (out / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched: plotly is inlined
    dom, console = open_in_chromium(out / "report.html", ARTIFACTS / "report.png")
    assert console == [], console
    for key in res["figures"]:
        block = re.search(rf'<div id="{key}"[^>]*class="[^"]*js-plotly-plot', dom)
        assert block, f"figure {key} was not drawn"
    # drawn with data: every scatter/bar/pie figure got its trace groups
    assert dom.count('class="main-svg"') >= len(res["figures"])
    assert dom.count('class="trace') + dom.count('class="slice') >= len(res["figures"]) - 2
    assert any(k.endswith("pareto") for k in res["figures"])
    # notes in place of figures: the failed-only and the empty study
    assert "study broken: no completed trial (1 failed; e.g. #0: RuntimeError: the runtime crashed)" in dom
    assert "study empty has no trials yet" in dom
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    assert res["pngs"] and all(Path(p).stat().st_size > 5_000 for p in res["pngs"])


def test_measurement_without_layers_gets_a_note(tmp_path: Path, tiny_onnx: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "n.db"
    assert main(["--db", str(db), "profile", str(tiny_onnx), "--runs", "10", "--rounds", "1", "--json"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "report", "--out", str(tmp_path / "r"), "--no-png", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert any(k.endswith("layers") for k in res["notes"])
    assert "layers not requested (--layers)" in (tmp_path / "r" / "report.html").read_text()


def test_report_bad_input(db_with_data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--db", str(db_with_data), "report", "--study", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no study named 'nope'" in err and "toy" in err
    assert main(["--db", str(db_with_data), "report", "--predictor", "p.json", "--out", str(tmp_path / "x")]) == 2
    assert main(["--db", str(db_with_data), "report", "--data", "tablets", "--out", str(tmp_path / "x")]) == 2


def test_costmodel_report_from_phone_data(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cm"
    args = ["--db", str(tmp_path / "c.db"), "report", "--data", "phones", "--method", "random"]
    assert main([*args, "--mode", "neighbours", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {k.split("_", 1)[1] for k in res["figures"]} == {"costmodel_scatter", "costmodel_cdf", "costmodel_groups"}
    rec = json.loads((out / "records.json").read_text())["sections"][0][1][0]
    assert len(rec["measured"]) == 105 * 108 and len(rec["groups"]) == 77


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dashboard_serves_the_study(db_with_data: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xcelerator.cli.main", "--db", str(db_with_data), "dashboard", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = ""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        doc = json.loads(body)
        names = {s["study_name"] for s in doc["study_summaries"]}
        assert {"toy", "broken", "empty"} <= names
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_peers_table_from_recorded_rows() -> None:
    """``benchmarks/peers/run.py``'s table, built from the rows one run recorded (tfcnn, ORT and
    OpenVINO columns, every peer): one line per row, the re-judged speed-up and accuracy with
    their CIs, a peer's own figure beside ours, a failed peer
    or step as a row with its error (not a missing row), the baseline first in each column."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("peers_run", root / "benchmarks" / "peers" / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    docs = json.loads((root / "tests" / "fixtures" / "peers_tfcnn.json").read_text())
    tools = {r["tool"].split(" (")[0] for d in docs for r in d["rows"]}
    assert {"xcelerator", "ort-static", "olive", "inc", "aimet", "nncf", "torch-pruning"} <= tools
    lines = mod.table(docs).splitlines()
    rows = [r for d in docs for r in d["rows"]]
    assert len(lines) == 2 + len(rows)
    for d in docs:
        assert d["rows"][0]["tool"] == "baseline (FP32)" and d["rows"][0]["drop"] is None
    for line, r in zip(lines[2:], rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == r["tool"]
        if r.get("error"):
            assert cells[3] == f"failed: {r['error']}" and cells[4:9] == ["-"] * 5
            assert cells[9] == (r.get("version") or "-")  # the version a failure was met with
            continue
        assert cells[5].startswith(f"{r['test_accuracy']:.4f} [")
        for k, v in (r.get("own") or {}).items():
            assert f"{k} {v:.4f}" in cells[8]
        if r.get("ab"):
            assert cells[4] == f"{r['ab']['speedup']:.2f} [{r['ab']['ci_low']:.2f}, {r['ab']['ci_high']:.2f}]"
            drop, lo, hi = r["drop"]
            assert lo <= drop <= hi and cells[6] == f"{100 * drop:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"
