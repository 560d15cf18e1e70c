"""Peer: Olive, as its docs tell a user: one workflow config with ONNX static quantization (its
default search over precision, per-channel, calibration...) and ``OrtSessionParamsTuning``, a
latency-first objective with an accuracy goal of at most 1 point lost (``max-degradation`` 0.01 on
the validation images), a joint TPE search over both passes, on one ONNX Runtime thread; in its
own environment.

    python olive_ort.py WORK OUT SAMPLES

Workarounds it needs, named: ``requests`` is pinned in its environment (its telemetry imports it);
each evaluator is given ``type: OnnxEvaluator`` (one without ``type`` crashes); the cache is
cleaned before the run (a cached pass output crashes a later search step). Olive's own figures
(its latency and accuracy of the file it ships, and of the input model) are kept for the table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# the user script Olive imports by path: datasets and post-processing registered with Olive
USER_SCRIPT = """
import numpy as np
import torch
from olive.data.registry import Registry

WORK = {work!r}


class _Set(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {{"input": self.x[i]}}, int(self.y[i])


@Registry.register_dataset()
def peers_calibration(**kwargs):
    x = np.load(WORK + "/calib.npz")["x"]
    return _Set(x, np.zeros(len(x), dtype=np.int64))


@Registry.register_dataset()
def peers_validation(**kwargs):
    d = np.load(WORK + "/val.npz")
    return _Set(d["x"], d["y"])


@Registry.register_post_process()
def peers_argmax(output, **kwargs):
    out = output["logits"] if isinstance(output, dict) and "logits" in output else output
    if isinstance(out, (list, tuple)):
        out = out[0]
    return torch.as_tensor(np.asarray(out)).argmax(dim=-1)
"""


def config(work: Path, out: Path, script: Path, samples: int) -> dict:
    data = lambda name, dataset, post=None: {  # noqa: E731
        "name": name,
        "type": "DataContainer",
        "user_script": str(script),
        "load_dataset_config": {"type": dataset},
        **({"post_process_data_config": {"type": post}} if post else {}),
        "dataloader_config": {"batch_size": 1},
    }
    return {
        "input_model": {"type": "ONNXModel", "model_path": str(work / "baseline.onnx")},
        "systems": {
            "local_system": {
                "type": "LocalSystem",
                "accelerators": [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}],
            }
        },
        "data_configs": [
            data("calibration", "peers_calibration"),
            data("validation", "peers_validation", "peers_argmax"),
        ],
        "evaluators": {
            "common_evaluator": {
                "type": "OnnxEvaluator",  # workaround: an evaluator without type crashes
                "metrics": [
                    {
                        "name": "latency",
                        "type": "latency",
                        "data_config": "calibration",
                        "sub_types": [{"name": "avg", "priority": 1}],
                        "user_config": {
                            "inference_settings": {
                                "onnx": {"session_options": {"intra_op_num_threads": 1, "inter_op_num_threads": 1}}
                            }
                        },
                    },
                    {
                        "name": "accuracy",
                        "type": "accuracy",
                        "data_config": "validation",
                        "sub_types": [
                            {
                                "name": "accuracy_score",
                                "priority": 2,
                                "metric_config": {"task": "multiclass", "num_classes": 10},
                                "goal": {"type": "max-degradation", "value": 0.01},
                            }
                        ],
                    },
                ],
            }
        },
        "passes": {
            "quantization": {"type": "OnnxStaticQuantization", "data_config": "calibration"},
            "session_params_tuning": {
                "type": "OrtSessionParamsTuning",
                "data_config": "calibration",
                "intra_thread_num_list": [1],  # the column's one thread
                "inter_thread_num_list": [1],
            },
        },
        "search_strategy": {
            "execution_order": "joint",
            "sampler": "tpe",
            "sampler_config": {"max_samples": samples, "seed": 0},
            "max_iter": samples,  # workaround: the sampler's max_samples alone does not stop the walk
        },
        "evaluator": "common_evaluator",
        "evaluate_input_model": True,
        "host": "local_system",
        "target": "local_system",
        "cache_dir": str(out / "cache"),
        "clean_cache": True,  # workaround: a cached pass output crashes a later search step
        "output_dir": str(out / "output"),
        "log_severity_level": 1,
    }


def main() -> None:
    work, out, samples = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    script = out / "user_script.py"
    script.write_text(USER_SCRIPT.format(work=str(work)))
    cfg = config(work, out, script, samples)
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    import olive
    from olive.workflows import run as olive_run

    t = time.perf_counter()
    res: dict = {"runtime": "onnxruntime", "version": f"olive-ai {olive.__version__}"}
    workflow = olive_run(cfg)
    wall = time.perf_counter() - t
    best = workflow.get_best_candidate()
    inputs = workflow.get_input_model_metrics() or {}
    if best is None or not best.model_path:
        res["rows"] = [{"variant": "olive", "error": "Olive handed back no model (no candidate met its goals)"}]
    else:
        m = best.metrics_value or {}
        own = {
            "latency_ms": m.get("latency-avg", {}).get("value"),
            "val_accuracy": m.get("accuracy-accuracy_score", {}).get("value"),
            "input_latency_ms": inputs.get("latency-avg", {}).get("value"),
        }
        own = {k: float(v) for k, v in own.items() if v is not None}
        if own.get("latency_ms") and own.get("input_latency_ms"):
            own["speedup"] = own["input_latency_ms"] / own["latency_ms"]  # what its report implies
        history = workflow.trace_back_run_history(best.model_id)
        chose = []
        for cfg_ in history.values():  # model id -> the config of the pass that made it
            cfg_ = cfg_ or {}
            if "precision" in cfg_:
                chose.append(
                    ", ".join(f"{k}={cfg_[k]}" for k in ("precision", "quant_format", "per_channel", "calibrate_method",
                                                           "quant_preprocess", "activation_type") if k in cfg_)
                )  # fmt: skip
        res["rows"] = [
            {
                "variant": "olive",
                "file": str(best.model_path),
                "own": own,
                "wall_s": wall,
                "chose": "; ".join(chose) or "the input model (no quantized candidate won)",
            }
        ]
    (out / "result.json").write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
