"""The benchmark's networks for a peer's own environment: the classes are read from the repo's
files by path (``benchmarks/joint.py``, ``src/xcelerator/demo/data.py``), so a peer's venv needs
torch and numpy only, never the xcelerator package or its dependencies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def build(name: str) -> Any:
    """A fresh (untrained) instance of the benchmark network ``name``."""
    if name == "tfcnn":
        return _load(ROOT / "src" / "xcelerator" / "demo" / "data.py", "_peer_demo_data").TFConvNet()
    sys.path.insert(0, str(ROOT / "benchmarks"))  # joint.py imports _record (standard library only)
    joint = _load(ROOT / "benchmarks" / "joint.py", "_peer_joint")
    return {"resconcat": joint.ResConcat, "mbnet": joint.MBNet, "vit": joint.ViT}[name]()
