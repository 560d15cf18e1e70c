"""A user's own PyTorch program, as a ``.pt2`` from ``torch.export``: a ``transformers``
DistilBERT built from a tiny config (nobody here wrote it). Its token ids are found to index an
embedding in the program's own graph (no ONNX twin), and a program that returns transformers'
output type is refused with what to do instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xcelerator.models.artifact import load_artifact
from xcelerator.rounds.inputs import embedding_sizes, resolve

transformers = pytest.importorskip("transformers")  # as test_deploy and test_optimize take it


def _export(tmp_path: Path, return_dict: bool, vocab: int = 997) -> Path:
    import torch

    cfg = transformers.DistilBertConfig(
        vocab_size=vocab, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=48
    )
    m = transformers.DistilBertForSequenceClassification(cfg).eval()
    m.config.return_dict = return_dict
    ids = torch.randint(0, vocab, (1, 16))
    path = tmp_path / f"distilbert_{return_dict}.pt2"
    torch.export.save(torch.export.export(m, (ids, torch.ones(1, 16, dtype=torch.long))), str(path))
    return path


def test_token_ids_of_a_torch_program_index_its_embedding(tmp_path: Path) -> None:
    art = load_artifact(_export(tmp_path, return_dict=False))
    assert art.format == "torch" and art.onnx_twin() is None
    assert embedding_sizes(art) == {"input_ids": 997}  # the word table, not the 48 positions
    got = {s.name: s for s in resolve(art)}
    assert got["input_ids"].fill == "ids:997"
    assert got["attention_mask"].fill == "ones"


def test_a_program_returning_a_transformers_output_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Loaded where transformers is not imported (the command line; this test process has it,
    and with it the output type's registration), the program cannot be read back: one line, exit 2."""
    path = _export(tmp_path, return_dict=True)
    r = subprocess.run(
        [sys.executable, "-m", "xcelerator.cli.main", "--db", str(tmp_path / "x.db"), "profile", str(path),
         "-t", "torch?threads=1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    err = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(err) == 1 and "SequenceClassifierOutput" in err[0] and "return_dict=False" in err[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr
