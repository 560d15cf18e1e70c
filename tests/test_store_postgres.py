"""The store on a real PostgreSQL server, started by the test (initdb + pg_ctl on a private socket)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from xcelerator.measure.core import measure
from xcelerator.models.artifact import load_artifact
from xcelerator.rounds.plan import Plan
from xcelerator.store.db import Store
from xcelerator.targets.registry import parse_target


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="psycopg is not installed (the dev extra has it)")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs them)")
    base = Path(tempfile.mkdtemp(prefix="xcel-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-o",
            f"-k {sock} -p {port} -c listen_addresses=''",
            "-l",
            str(base / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_measurements_round_trip_on_postgresql(postgres_url: str, tiny_onnx: Path) -> None:
    a = load_artifact(tiny_onnx)
    t = parse_target("onnxruntime?threads=1")
    m = measure(a, t, Plan(min_rounds=1, max_rounds=1, min_seconds=0.05, max_seconds=0.2, layers=True))
    st = Store(postgres_url)
    assert st.engine.dialect.name == "postgresql"
    st.add(m, a, t)
    st.add(m, a, t)
    rows = st.measurements(target=t.uri)
    assert len(rows) >= 2
    got = rows[-1][1]
    assert got.samples_ms == m.samples_ms and got.layers == m.layers and got.stats == m.stats
    assert st.export_json()["measurements"]
