"""Third-party runtimes and transports through entry points: a plug-in distribution (a
``.dist-info`` with ``entry_points.txt``, as pip installs it) is put on the path of a fresh
``xcel`` process, which lists it, profiles through it, and names the plug-in that fails to load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_conv_model

PLUGIN = Path(__file__).parent / "fixtures" / "plugin"


def _xcel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "xcelerator.cli.main", "--db", str(cwd / "p.db"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plugin_runtime_and_transport_profile_and_a_broken_one_is_named(tmp_path: Path) -> None:
    r = _xcel("targets", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    probes = {p["target"]: p for p in json.loads(r.stdout)["targets"]}
    assert probes["echoort"]["usable"] and "plug-in xcel_demo_plugin.echo_runtime" in probes["echoort"]["detail"]
    broken = probes["plug-in broken (xcelerator.runtimes)"]
    assert not broken["usable"] and "xcel_no_such_dependency" in broken["detail"]
    assert "loop://NAME/RUNTIME" in probes and probes["onnxruntime"]["usable"]  # the others still work

    model = make_conv_model(tmp_path / "m.onnx")
    for target in ("echoort?threads=1", "loop://here/onnxruntime?threads=1"):
        r = _xcel("profile", str(model), "-t", target, "--runs", "20", "--rounds", "1", "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        m = json.loads(r.stdout)["measurements"][0]
        assert m["status"] == "ok" and m["stats"]["median_ms"] > 0 and m["target"] == target
    assert m["env"]["runtime"] == "onnxruntime"

    r = _xcel("profile", str(model), "-t", "echoort?turbo=1", cwd=tmp_path)
    assert r.returncode == 2 and "valid options: resource, threads" in r.stderr


def test_a_strategy_a_predictor_and_an_executor_are_each_one_file_of_a_plug_in(tmp_path: Path) -> None:
    """The plug-in distribution adds a search strategy (``qmc_strategy.py``), a latency predictor
    (``macs_predictor.py``) and an executor (``thread_executor.py``): one file each plus its line
    in ``entry_points.txt``. Each is registered in a fresh process and passes the conformance
    check a plug-in author runs (``xcelerator.testing``); ``--strategy`` offers the new one."""
    code = (
        "from xcelerator.testing import check_executor, check_predictor, check_strategy\n"
        "from xcelerator.nas import strategies\n"
        "from xcelerator.costmodel import predictors\n"
        "from xcelerator.executors import executors\n"
        "assert strategies.strategies()['qmc'].source.startswith('plug-in')\n"
        "assert 'macs' in predictors.kinds() and 'threads' in executors()\n"
        "check_strategy('qmc'); check_predictor('macs'); check_executor('threads', max_in_flight=2)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    files = sorted(p.name for p in (PLUGIN / "xcel_demo_plugin").glob("*_*.py"))
    assert {"qmc_strategy.py", "macs_predictor.py", "thread_executor.py"} <= set(files)
    r = _xcel("search", "--help", cwd=tmp_path)
    assert "qmc" in r.stdout
