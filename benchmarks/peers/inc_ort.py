"""Peer: Intel Neural Compressor for ONNX Runtime, as its docs tell a user: accuracy-aware
post-training static quantization (``quantization.fit`` with ``PostTrainingQuantConfig``), the
``basic`` tuning strategy (op-type-wise then op-wise FP32 fallback until the accuracy goal holds),
objective ``performance``, at most 1 point lost (absolute) on the validation images, the same 256
calibration images; in its own environment.

    python inc_ort.py WORK OUT TIMEOUT_S

Version: neural-compressor 2.6, the last release with the ONNX Runtime backend; 3.x moved ONNX to
``onnx-neural-compressor`` 1.0, whose ``autotune`` has no op-wise fallback. Its environment also
needs ``six`` (imported by its tokenizer module, not declared).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


class Loader:
    """The calibration and evaluation loader INC takes: ``batch_size`` and (input, label) pairs."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y, self.batch_size = x, y, 1

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self.x)):
            yield self.x[i : i + 1], self.y[i : i + 1]


def accuracy(model: onnx.ModelProto | str, x: np.ndarray, y: np.ndarray) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    src = model if isinstance(model, str) else model.SerializeToString()
    s = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    right = sum(int(np.argmax(s.run(None, {name: x[i : i + 1]})[0]) == y[i]) for i in range(len(y)))
    return right / len(y)


def own_figure(said: list[str]) -> dict[str, float]:
    """What INC reports for the model it hands back: the validation run's duration against the
    FP32 baseline's (its 'performance'), from its last 'Best tune result' line."""
    base = [re.search(r"FP32 baseline is: \[Accuracy: ([\d.]+), Duration \(seconds\): ([\d.]+)", s) for s in said]
    best = [re.search(r"Best tune result is: \[Accuracy: ([\d.]+), Duration \(seconds\): ([\d.]+)", s) for s in said]
    b = [m for m in base if m]
    q = [m for m in best if m]
    if not b or not q:
        return {}
    return {"eval_speedup": float(b[0].group(2)) / float(q[-1].group(2))}


def main() -> None:
    work, out, timeout = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    import neural_compressor
    from neural_compressor import quantization
    from neural_compressor.config import AccuracyCriterion, PostTrainingQuantConfig, TuningCriterion

    x = np.load(work / "calib.npz")["x"]
    val = np.load(work / "val.npz")
    xv, yv = val["x"], val["y"]
    res: dict = {"runtime": "onnxruntime", "version": f"neural-compressor {neural_compressor.__version__}"}
    conf = PostTrainingQuantConfig(
        approach="static",
        calibration_sampling_size=[len(x)],
        tuning_criterion=TuningCriterion(strategy="basic", objective="performance", timeout=timeout, max_trials=100),
        accuracy_criterion=AccuracyCriterion(criterion="absolute", tolerable_loss=0.01),
    )
    # workaround: its quantizer re-runs ONNX shape inference after rewriting Gemm weights and fails
    # on the exporter's stale value_info ("Inferred shape and existing shape differ"); dropped here
    m = onnx.load(str(work / "baseline.onnx"))
    del m.graph.value_info[:]
    onnx.save(m, str(out / "input.onnx"))
    said: list[str] = []  # its own log lines: the figure it reports is read from them

    class Listen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logging.getLogger("neural_compressor").addHandler(Listen())
    t = time.perf_counter()
    q = quantization.fit(
        model=str(out / "input.onnx"),
        conf=conf,
        calib_dataloader=Loader(x, np.zeros(len(x), dtype=np.int64)),
        eval_func=lambda m: accuracy(m, xv, yv),
    )
    wall = time.perf_counter() - t
    if q is None:
        res["rows"] = [{"variant": "inc", "error": "no quantized model met the accuracy goal (fit returned None)"}]
    else:
        q.save(str(out / "model.onnx"))
        f = out / "model.onnx"
        ops = [n.op_type for n in onnx.load(str(f)).graph.node]
        heavy = ("Conv", "MatMul", "Gemm")
        kept = sum(o in heavy for o in ops)  # compute ops left in float
        quant = sum(o in ("QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger") for o in ops)
        res["rows"] = [
            {
                "variant": "inc",
                "file": str(f),
                "own": {"val_accuracy": accuracy(str(f), xv, yv), **own_figure(said)},
                "wall_s": wall,
                "chose": f"int8 (QOperator), {quant} compute ops int8, {kept} FP32",
            }
        ]
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
