"""Peer: ONNX Runtime's ``quantize_static``, the one-liner users try first (its defaults: QDQ,
int8 weights and activations, per-tensor, MinMax calibration), in its own environment.

    python ort_static.py WORK OUT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader, quantize_static


def main() -> None:
    work, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    x = np.load(work / "calib.npz")["x"]
    name = onnxruntime.InferenceSession(str(work / "baseline.onnx")).get_inputs()[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter([{name: x[i : i + 1]} for i in range(len(x))])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.it, None)

    t = time.perf_counter()
    quantize_static(str(work / "baseline.onnx"), str(out / "model.onnx"), Reader())
    res = {
        "file": str(out / "model.onnx"),
        "runtime": "onnxruntime",
        "chose": "int8 (quantize_static defaults: QDQ, per-tensor)",
        "own": None,  # it reports no figure of its own
        "version": f"onnxruntime {onnxruntime.__version__}",
        "wall_s": time.perf_counter() - t,
    }
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
