"""Docs from the code: every dotted reference in a docstring resolves and pdoc reads every
module (``make docs`` builds the reference; this is its check), and every example runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_has_no_broken_reference() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "apidocs.py"), "--check-only"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "modules" in r.stdout


def test_the_checker_catches_a_broken_reference() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import apidocs
    finally:
        sys.path.pop(0)
    tops = {"costmodel", "measure", "rounds"}
    assert apidocs.resolve("costmodel.adapt.adapt", tops) is True
    assert apidocs.resolve("xcelerator.rounds.plan.Plan", tops) is True
    assert apidocs.resolve("costmodel.adapt.no_such_function", tops) is False
    assert apidocs.resolve("measure.nosuchmodule", tops) is False
    assert apidocs.resolve("numpy.linalg", tops) is None  # not ours
