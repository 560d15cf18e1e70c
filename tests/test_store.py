from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from xcelerator.errors import BadInputError
from xcelerator.measure.core import LayerTime, Measurement, measure
from xcelerator.models.artifact import load_artifact
from xcelerator.rounds.plan import Plan
from xcelerator.store.db import Store
from xcelerator.targets.registry import parse_target


@pytest.fixture
def measured(tiny_onnx: Path, fast_plan: Plan):  # type: ignore[no-untyped-def]
    a = load_artifact(tiny_onnx)
    t = parse_target("onnxruntime?threads=1")
    return a, t, measure(a, t, fast_plan.replace(layers=True))


def test_measurement_round_trips_with_every_sample(tmp_path: Path, measured) -> None:  # type: ignore[no-untyped-def]
    a, t, m = measured
    st = Store(str(tmp_path / "x.db"))
    mid = st.add(m, a, t)
    [(got_id, got)] = st.measurements()
    assert got_id == mid
    assert got.samples_ms == m.samples_ms and got.stats == m.stats and got.layers == m.layers
    assert got.plan == m.plan and got.env == m.env and got.status == "ok"
    assert st.artifacts()[0].sha256 == a.sha256
    st.add(m, a, t)  # nothing is overwritten: a second row
    assert st.count() == 2


def test_a_failed_write_leaves_nothing_half_written(tmp_path: Path, measured) -> None:  # type: ignore[no-untyped-def]
    a, t, m = measured
    db = tmp_path / "x.db"
    st = Store(str(db))
    st.add(m, a, t)
    # a layer row that violates NOT NULL fails after the measurement and rounds rows were queued
    bad = Measurement.from_dict(
        {**m.to_dict(), "layers": [{"name": None, "op_type": "X", "mean_ms": 1.0, "share": 0.1}]}
    )
    object.__setattr__(bad, "layers", (LayerTime(None, "X", 1.0, 0.1),))  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="cannot write"):
        st.add(bad, a, t)
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from measurements").fetchone()[0] == 1
    assert con.execute("select count(*) from rounds").fetchone()[0] == len(m.rounds)
    assert con.execute("select count(*) from layers").fetchone()[0] == len(m.layers)


def test_a_file_that_is_not_a_database_is_refused_and_untouched(tmp_path: Path) -> None:
    p = tmp_path / "notes.db"
    p.write_text("my precious notes")
    with pytest.raises(BadInputError, match="not a SQLite database"):
        Store(str(p))
    assert p.read_text() == "my precious notes"
    with pytest.raises(BadInputError, match="does not exist"):
        Store(str(tmp_path / "nodir" / "x.db"))
    with pytest.raises(BadInputError, match="not usable"):
        Store("nosuchdialect://x")


def test_export_csv_json_and_import(tmp_path: Path, measured) -> None:  # type: ignore[no-untyped-def]
    a, t, m = measured
    st = Store(str(tmp_path / "x.db"))
    st.add(m, a, t)
    tables = st.export_csv()
    lines = tables["measurements.csv"].strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("id,model,artifact_sha256,target,status")
    assert len(tables["samples.csv"].strip().splitlines()) == 1 + len(m.samples_ms)
    assert len(tables["layers.csv"].strip().splitlines()) == 1 + len(m.layers)
    doc = json.loads(json.dumps(st.export_json()))
    other = Store(str(tmp_path / "y.db"))
    assert other.import_json(doc) == 1
    [(_, got)] = other.measurements()
    assert got.samples_ms == m.samples_ms
    with pytest.raises(BadInputError, match="not an xcelerator store export"):
        other.import_json({"measurements": []})
    assert other.count() == 1


def test_two_processes_creating_one_new_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Stores opened at once on a new SQLite file (a command and a reader, say) both come up."""
    import subprocess
    import sys

    db = tmp_path / "race.db"
    code = f"from xcelerator.store.db import Store; Store({str(db)!r}).count()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
