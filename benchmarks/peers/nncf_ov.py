"""Peer: NNCF on OpenVINO, as its docs tell a user: ``nncf.quantize`` on the OpenVINO model with
the calibration images, and ``nncf.quantize_with_accuracy_control`` with a validation function
(at most 1 point of accuracy lost on the validation images), in its own environment.

    python nncf_ov.py WORK OUT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nncf
import numpy as np
import openvino as ov


def main() -> None:
    work, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    x = np.load(work / "calib.npz")["x"]
    val = np.load(work / "val.npz")
    model = ov.convert_model(str(work / "baseline.onnx"))
    calib = nncf.Dataset([x[i : i + 1] for i in range(len(x))])
    core = ov.Core()
    rows = []

    def validate(m: ov.CompiledModel, items) -> float:  # type: ignore[no-untyped-def]
        right = 0
        n = 0
        for xi, yi in items:
            right += int(np.argmax(m(xi)[0]) == yi)
            n += 1
        return right / max(n, 1)

    t = time.perf_counter()
    q = nncf.quantize(model, calib)
    ov.save_model(q, str(out / "quantize.xml"))
    rows.append({"variant": "nncf.quantize", "file": str(out / "quantize.xml"), "wall_s": time.perf_counter() - t})
    res = {"runtime": "openvino", "rows": rows, "version": f"nncf {nncf.__version__}, openvino {ov.__version__}"}
    (out / "result.json").write_text(json.dumps(res, indent=1))  # kept if what follows is killed
    vset = nncf.Dataset([(val["x"][i : i + 1], int(val["y"][i])) for i in range(len(val["y"]))])
    t = time.perf_counter()
    own = None
    try:
        qa = nncf.quantize_with_accuracy_control(model, calib, vset, validation_fn=validate, max_drop=0.01)
        ov.save_model(qa, str(out / "accuracy_control.xml"))
        own = {
            "val_accuracy": validate(
                core.compile_model(qa, "CPU"), [(val["x"][i : i + 1], int(val["y"][i])) for i in range(len(val["y"]))]
            )
        }
        rows.append(
            {
                "variant": "nncf.quantize_with_accuracy_control",
                "file": str(out / "accuracy_control.xml"),
                "wall_s": time.perf_counter() - t,
                "own": own,
            }
        )
    except Exception as e:  # a peer's failure is a row with its error
        rows.append({"variant": "nncf.quantize_with_accuracy_control", "error": f"{type(e).__name__}: {e}"[:300]})
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
