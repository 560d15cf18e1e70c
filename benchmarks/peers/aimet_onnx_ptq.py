"""Peer: AIMET, as its post-training quantization guide tells a user, in its own environment:

- aimet-onnx: batch-norm folding and cross-layer equalization (``equalize_model``), a
  ``QuantizationSimModel`` (int8 weights and activations, its default config), encodings computed
  on the same 256 calibration images, exported as a QDQ ONNX file that ONNX Runtime runs
  (``to_onnx_qdq``); then the same with AdaRound (``apply_adaround`` on the calibration images,
  ``ITERATIONS`` steps per layer) as a second row;
- aimet-torch channel pruning: its ``aimet_torch`` package imports ``torchvision`` at load time,
  and the registry's torchvision does not run beside the CPU torch 2.13 wheel; the row carries
  the exact import error.

    python aimet_onnx_ptq.py WORK OUT ITERATIONS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return sum(int(np.argmax(s.run(None, {name: x[i : i + 1]})[0]) == y[i]) for i in range(len(y))) / len(y)


def main() -> None:
    work, out, iterations = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    import aimet_onnx
    from aimet_onnx.batch_norm_fold import fold_all_batch_norms_to_weight
    from aimet_onnx.cross_layer_equalization import equalize_model

    x = np.load(work / "calib.npz")["x"]
    val = np.load(work / "val.npz")
    from importlib.metadata import version

    res: dict = {"runtime": "onnxruntime", "rows": [],
                 "version": f"aimet-onnx {aimet_onnx.__version__}, aimet-torch {version('aimet-torch')}"}  # fmt: skip
    model = onnx.load(str(work / "baseline.onnx"))
    name = model.graph.input[0].name
    inputs = [{name: x[i : i + 1]} for i in range(len(x))]

    def ship(sim: aimet_onnx.QuantizationSimModel, variant: str, t: float, chose: str) -> None:
        f = out / f"{variant}.onnx"
        onnx.save(sim.to_onnx_qdq(), str(f))
        res["rows"].append({"variant": variant, "file": str(f), "wall_s": time.perf_counter() - t, "chose": chose,
                            "own": {"val_accuracy": accuracy(f, val["x"], val["y"])}})  # fmt: skip
        (out / "result.json").write_text(json.dumps(res, indent=1))  # kept if what follows fails

    for variant in ("ptq", "adaround"):
        t = time.perf_counter()
        try:
            m = onnx.load(str(work / "baseline.onnx"))
            fold_all_batch_norms_to_weight(m)
            equalize_model(m)
            sim = aimet_onnx.QuantizationSimModel(m, param_type="int8", activation_type="int8")
            if variant == "adaround":
                aimet_onnx.apply_adaround(sim, inputs, num_iterations=iterations)
            sim.compute_encodings(inputs)
            how = "BN fold + CLE, int8 W/A (default config)" + (
                f", AdaRound {iterations} steps/layer" if variant == "adaround" else ""
            )
            ship(sim, variant, t, how + ", QDQ")
        except Exception as e:  # a peer's failure is a row with its error
            res["rows"].append({"variant": variant, "error": f"{type(e).__name__}: {e}"[:300]})
    try:  # the torch half: channel pruning
        import aimet_torch  # noqa: F401
    except Exception as e:
        res["rows"].append({"variant": "aimet-torch channel pruning", "error": f"{type(e).__name__}: {e}"[:300]})
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
