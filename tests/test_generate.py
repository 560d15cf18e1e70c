from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from tests.test_cli import one_line_error, xcel
from xcelerator.models.generate import generate
from xcelerator.models.spaces import get_space

USER_YAML = Path(__file__).parent / "fixtures" / "user_space" / "space.yaml"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    space = get_space("mobilegen", macs_min=2e6, macs_max=3e7, resolution=64)
    a = generate(space, 4, 11, tmp_path / "a")
    b = generate(space, 4, 11, tmp_path / "b")
    c = generate(space, 4, 12, tmp_path / "c")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")  # same ONNX bytes, specs and index
    assert [r["arch"] for r in a] == [r["arch"] for r in b] != [r["arch"] for r in c]
    rows = list(csv.DictReader(open(tmp_path / "a" / "index.csv")))
    assert [r["id"] for r in rows] == ["00000", "00001", "00002", "00003"]
    assert len({r["arch"] for r in rows}) == 4
    for r in rows:
        assert 2e6 <= int(r["macs"]) <= 3e7 and (tmp_path / "a" / r["onnx"]).exists()
        doc = json.loads((tmp_path / "a" / r["spec"]).read_text())
        assert doc["artifact"]["stats"]["macs"] == int(r["macs"])
    enc = list(csv.reader(open(tmp_path / "a" / "encode13.csv")))
    assert len(enc) == 5 and len(enc[0]) == 1 + 728


def test_nasbench201_index_carries_arch_strings(tmp_path: Path) -> None:
    rows = generate(get_space("nasbench201", cells=1), 3, 0, tmp_path)
    for r in rows:
        assert r["arch"].startswith("|") and r["arch"].count("~") == 6


def test_cannot_ask_for_more_than_the_space_has(tmp_path: Path) -> None:
    from xcelerator.errors import BadInputError

    with pytest.raises(BadInputError, match="has only"):
        generate(get_space("user", file=str(USER_YAML)), 1000, 0, tmp_path)


def test_generate_cli_and_space_cli(tmp_path: Path) -> None:
    r = xcel(
        "generate", "--space", f"user:{USER_YAML}", "--count", "3", "--seed", "1", "--out", "g", "--json", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["networks"]) == 3 and (tmp_path / "g" / "index.csv").exists()
    r = xcel(
        "space", "show", "scaling", "--point", '{"width": 0.5, "depth": 0.5, "resolution": 32}', "--json", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["totals"]["macs"] == sum(x["macs"] for x in doc["layers"]) > 0
    r = xcel("space", "list", "--json", cwd=tmp_path)
    assert {s["name"] for s in json.loads(r.stdout)["spaces"]} >= {
        "scaling",
        "blocks",
        "mobilegen",
        "nasbench201",
        "user",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--space", "nope", "--count", "2", "--out", "o"], "unknown space 'nope'"),
        (["generate", "--space", "user:missing.yaml", "--count", "2", "--out", "o"], "no such space file"),
        (["generate", "--space", "user:bad.yaml", "--count", "1", "--out", "o"], "not valid YAML"),
        (["generate", "--space", "user:broken.yaml", "--count", "1", "--out", "o"], "raised ValueError"),
        (["generate", "--space", "user:nomod.yaml", "--count", "1", "--out", "o"], "cannot import builder module"),
        (["space", "show", "scaling", "--point", '{"width": 9}'], "width=9 is outside"),
        (["space", "show", "nasbench201", "--arch", "|x~0|"], "arch string"),
        (["space", "show", "mobilegen", "-o", "macs_min=5e8"], "macs_min < macs_max"),
    ],
)
def test_bad_space_input_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    text = USER_YAML.read_text()
    (tmp_path / "tiny_user_models.py").write_text((USER_YAML.parent / "tiny_user_models.py").read_text())
    (tmp_path / "bad.yaml").write_text("builder: [")
    (tmp_path / "broken.yaml").write_text(text.replace(":build", ":broken"))
    (tmp_path / "nomod.yaml").write_text(text.replace("tiny_user_models:build", "nomod:build"))
    r = xcel(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in one_line_error(r)
