"""``xcel optimize`` settings (flags or a YAML file) and what a run leaves in its folder.

    model: my.py:build            # returns the trained nn.Module (or (module, example_inputs))
    train: my.py:train            # train(module, epochs)
    evaluate: my.py:evaluate      # evaluate(module) -> float, higher is better
    holdout: my.py:test           # optional: the same on data the search never sees (checked at the end)
    example: my.py:example_inputs # optional: else shape, else the model file's example_inputs()
    shape: [1, 1, 28, 28]
    target: onnxruntime?threads=1
    constraints: ["accuracy>=baseline-0.005"]
    objectives: [latency]
    budget: 20
    strategy: tpe
    epochs: 3

    targets: [onnxruntime?threads=1, openvino?threads=1]   # optional: the runtime is searched
    precision: [fp32, int8]       # optional: INT8 by each runtime's own quantizer
    calibration: calib.npz        # int8: a few hundred of your inputs, one array per model input
    round_channels: auto          # pruned widths snapped to the runtimes' channel block (or 8, 16, [8, 16])

The folder gets the file to deploy (``best.onnx``: FP32, or INT8 QDQ for ONNX Runtime;
``best.xml``/``best.bin`` for OpenVINO; ``best-<runtime>.*``, the best on each runtime searched),
``best.pt`` (the best candidate's state dict), ``optimize.json`` (the whole result) and
``report.html`` (accuracy of the deployed files against measured latency and against MACs, one
colour per precision, one marker per runtime, the front); the study lives in the project database.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from xcelerator.compress.userfn import load_ref
from xcelerator.errors import BadInputError


@dataclass
class OptimizeConfig:
    """What ``xc.optimize`` searches and how: one object for the YAML file, ``xcel optimize``'s
    options and the API's keyword settings (``xc.optimize(..., budget=8)`` overrides the field of
    that name). ``model``, ``train``, ``evaluate``, ``example`` and ``shape`` are the command's
    references to the user's files (``load``); the API takes those objects themselves.

    ``objectives``: any of latency, memory, macs, params, size, accuracy (several give a Pareto
    front). ``constraints``: ``accuracy>=baseline-0.005``, ``latency<=5``, ... . ``epochs``:
    fine-tuning epochs per candidate. ``finetune_baseline``: the baseline (trial 0) is trained
    ``epochs`` more too, so that every candidate has had the same training budget as the
    baseline it is compared with (pass the network as it was before those last epochs);
    otherwise the baseline is measured as given. ``plan``: how each candidate is measured (the
    ``Plan``; default ``OPTIMIZE_PLAN``). ``policy``: with ``strategy="dqn"``, a file the learned
    Q-network is loaded from (when it exists) and saved to. ``latency``: ``measured`` (every
    candidate on the device), ``predicted`` (the cost model stands in) or ``hybrid`` (measured
    only when the cost model's interval cannot settle the latency constraint or the front:
    ``nas/hybrid.py``); the default is hybrid when ``cost_model`` is given. ``cost_model`` (an
    ``xc.CostModel`` or its file), with ``dqn``: the agent first trains ``pretrain_steps`` steps
    on a surrogate (accuracy before fine-tuning, latency predicted), see ``policy.pretrain``.
    ``confirm``: measure the baseline and the fastest feasible candidates again in one
    interleaved run and keep the fastest (``confirm_best``), with the default ``Plan`` or the
    ``Plan`` given. ``warm_start``: uniform ratios tried right after the baseline (every group
    pruned alike; the natural first guesses, and the uniform-width reference inside the study)
    before the sampler takes over.

    ``precision``: ``["fp32", "int8"]`` makes precision a search dimension; an int8 candidate is
    quantized by its runtime's own tool (``RuntimeSpec.quantize``) on ``calibration`` (a few
    hundred of your inputs: a tensor, an iterable of batches or an ``.npz``). ``targets``:
    several runtimes, each a search dimension value (``target`` is then the first).
    ``round_channels``: pruned widths snapped to a multiple (``"auto"``: the channel block of the
    targets' CPU kernels, 16 with AVX-512, 8 otherwise; 1 or None: no rounding; several: a search
    dimension). ``deployed_accuracy``: ``evaluate`` scores the shipped file through ``deployed``
    (the torch module's score is kept as ``torch_accuracy``); constraints apply to the deployed
    score. ``sensitivity``: each group is first pruned alone at a few ratios and scored without
    fine-tuning (``compress.sensitivity``); the warm start is then, for each level of
    ``warm_start`` (a share of the MACs to remove), the groups pruned in the proportions one
    common loss allows (smallest level first), instead of every group pruned alike at that
    ratio. ``distill``: candidates learn from the baseline too: ``train(module, epochs,
    teacher)`` gets a ``compress.distill.Teacher`` (the baseline, frozen; ``teacher.loss(logits,
    inputs, labels)`` is the distillation loss); the baseline itself is trained with
    ``train(module, epochs)``.

    ``holdout``: a second ``evaluate`` on data the search never sees (``FILE.py:FUNCTION``, or
    the function itself in the API). The search chooses on ``evaluate``'s scores, so the best of
    many candidates tends to score higher there than it will elsewhere; at the end the baseline
    and the best are scored on ``holdout`` (their shipped files when ``deployed_accuracy``), and
    the accuracy constraint is checked again against the baseline's held-out score
    (``OptimizeResult.holdout``). It never changes which candidate is chosen."""

    model: str | None = None
    train: str | None = None
    evaluate: str | None = None
    example: str | None = None
    shape: list[int] | None = None
    target: str = "onnxruntime?threads=1"
    constraints: list[str] = field(default_factory=lambda: ["accuracy>=baseline-0.005"])
    objectives: list[str] = field(default_factory=lambda: ["latency"])
    budget: int = 20
    strategy: str = "tpe"
    epochs: int = 3
    early_stop: bool = True
    finetune_baseline: bool = False
    max_ratio: float = 0.75
    max_groups: int = 8
    blocks: bool = True
    resolutions: list[int] | None = None
    study: str | None = None
    seed: int = 0
    out: str | Path = "optimize-out"
    plan: Any = None  # a Plan for each candidate's measurement (default OPTIMIZE_PLAN)
    policy: str | Path | None = None
    cost_model: Any = None  # a file or an xc.CostModel: dqn pre-trains on it; the latency oracle's predictor
    latency: str | None = None  # predicted | measured | hybrid (default hybrid with a cost model)
    pretrain_steps: int = 30
    confirm: Any = True  # measure baseline and best again, interleaved, for the speed-up's CI (or a Plan)
    warm_start: list[float] = field(default_factory=lambda: [0.25, 0.5])
    targets: list[str] | None = None  # several runtimes: each a value of the search's runtime dimension
    precision: list[str] | str = field(default_factory=lambda: ["fp32"])  # fp32, int8 (a search dimension)
    calibration: Any = None  # int8: a .npz of your own inputs (one array per model input), a tensor or batches
    round_channels: str | int | list[int] | None = "auto"  # auto: the runtimes' channel block
    deployed_accuracy: bool = True  # constraints apply to the shipped file's score
    sensitivity: bool = True  # score each group pruned alone first; shapes the warm start
    distill: bool = False  # train(module, epochs, teacher): candidates learn from the baseline too
    holdout: Any = None  # FILE.py:FUNCTION or a function: evaluate on held-out data, checked at the end

    def validate(self) -> OptimizeConfig:
        """Every setting checked on entry (the message names the setting, what is valid and what
        was given); returns itself. Strategy names, objectives, constraints, targets and
        precisions are checked where they are parsed (their registries name the valid ones)."""
        from xcelerator.errors import check_params
        from xcelerator.rounds.plan import Plan

        opt_str = (str, type(None))
        seq, opt_seq = (list, tuple), (list, tuple, type(None))
        check_params(
            "optimize",
            self.__dict__,
            {
                "model": opt_str, "train": opt_str, "evaluate": opt_str, "example": opt_str,
                "shape": opt_seq, "target": str, "constraints": seq, "objectives": seq,
                "budget": {"range": (1, None)}, "strategy": str, "epochs": {"range": (0, None)},
                "early_stop": bool, "finetune_baseline": bool, "max_ratio": {"range": (0.0, 0.99)},
                "max_groups": {"range": (1, None)}, "blocks": bool, "resolutions": opt_seq, "study": opt_str,
                "seed": int, "out": (str, Path), "plan": (Plan, type(None)), "policy": (str, Path, type(None)),
                "latency": (None, "measured", "predicted", "hybrid"), "pretrain_steps": {"range": (0, None)},
                "confirm": (bool, Plan), "warm_start": seq, "targets": opt_seq, "precision": (str, list, tuple),
                "round_channels": (str, int, list, tuple, type(None)), "deployed_accuracy": bool,
                "sensitivity": bool, "distill": bool,
            },
        )  # fmt: skip
        if self.holdout is not None and not isinstance(self.holdout, str) and not callable(self.holdout):
            raise BadInputError(
                f"optimize: holdout must be FILE.py:FUNCTION or a function evaluate(module) -> float, "
                f"not {type(self.holdout).__name__}"
            )
        return self

    def holdout_fn(self) -> Any:
        """The held-out evaluation as a function (loaded from its file when a reference), or None."""
        if self.holdout is None or callable(self.holdout):
            return self.holdout
        return load_ref(str(self.holdout), "--holdout")

    def updated(self, settings: dict[str, Any]) -> OptimizeConfig:
        """A copy with ``settings`` (field names) replacing its fields, validated; an unknown
        name is one line naming the valid ones."""
        from dataclasses import replace

        known = {f.name for f in fields(self)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise BadInputError(f"optimize: unknown setting(s) {unknown}; valid: {sorted(known)}")
        return replace(self, **settings).validate()

    @classmethod
    def from_yaml(cls, path: Path) -> OptimizeConfig:
        if not path.is_file():
            raise BadInputError(f"--config {path}: no such file")
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise BadInputError(f"--config {path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(doc, dict):
            raise BadInputError(f"--config {path}: expected a mapping of optimize settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise BadInputError(f"--config {path}: unknown setting(s) {unknown}; valid: {sorted(known)}")
        base = path.resolve().parent
        for k in ("model", "train", "evaluate", "example"):  # file references relative to the YAML file
            ref = doc.get(k)
            if isinstance(ref, str) and ".py:" in ref and not Path(ref.rpartition(":")[0]).is_absolute():
                doc[k] = f"{base / ref.rpartition(':')[0]}:{ref.rpartition(':')[2]}"
        return cls(**doc)

    def load(self) -> tuple[Any, Any, Any, Any]:
        """(module, example inputs, train, evaluate) from the references; one clear line when one
        does not import, is not callable, or returns the wrong thing."""
        import torch
        from torch import nn

        for k in ("model", "train", "evaluate"):
            if not getattr(self, k):
                raise BadInputError(f"--{k}: required (FILE.py:FUNCTION)")
        assert self.model and self.train and self.evaluate
        build = load_ref(self.model, "--model")
        train = load_ref(self.train, "--train")
        evaluate = load_ref(self.evaluate, "--evaluate")
        try:
            built = build()
        except Exception as e:
            raise BadInputError(f"--model {self.model}: the builder raised {type(e).__name__}: {e}") from None
        example: Any = None
        if isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], nn.Module):
            built, example = built
        if not isinstance(built, nn.Module):
            raise BadInputError(f"--model {self.model}: returned {type(built).__name__}, not a torch.nn.Module")
        if self.example:
            fn = load_ref(self.example, "--example")
            try:
                example = fn()
            except Exception as e:
                raise BadInputError(f"--example {self.example}: raised {type(e).__name__}: {e}") from None
        elif self.shape:
            if any(int(d) < 1 for d in self.shape):
                raise BadInputError(f"--shape {self.shape}: every dimension must be >= 1")
            example = torch.zeros(*[int(d) for d in self.shape])
        elif example is None:
            try:
                example = load_ref(f"{self.model.rpartition(':')[0]}:example_inputs", "--example")()
            except BadInputError:
                raise BadInputError(
                    f"--model {self.model}: give the input with --shape 1,3,224,224 or --example FILE.py:FUNCTION "
                    "(or define example_inputs() beside the builder)"
                ) from None
        return built, example, train, evaluate


def write_outputs(result: Any, out: Path) -> dict[str, str]:
    """best.onnx, best.pt, optimize.json and report.html in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    doc = result.to_dict()
    best = result.best
    if best is not None and best.onnx and best.state_dict:
        art = Path(best.artifact or best.onnx)
        written["artifact"] = _ship(art, out / "best")
        written["onnx"] = written["artifact"] if art.suffix == ".onnx" else _ship(Path(best.onnx), out / "best")
        shutil.copyfile(best.state_dict, out / "best.pt")
        written["state_dict"] = str(out / "best.pt")
        if len(result.per_runtime) > 1:
            for c in result.per_runtime.values():
                if c.runtime and (c.artifact or c.onnx):
                    written[f"artifact:{c.runtime}"] = _ship(Path(c.artifact or c.onnx), out / f"best-{c.runtime}")
    (out / "optimize.json").write_text(json.dumps(_strict(doc), indent=1, allow_nan=False))
    written["json"] = str(out / "optimize.json")
    from xcelerator.report.html import build

    rep = build(
        [("optimize", [{"kind": "optimize", "title": doc["study"], **doc}])],
        out,
        title=f"optimize: {doc['study']}",
        png=False,
    )
    written["report"] = rep["html"]
    return written


def _ship(src: Path, stem: Path) -> str:
    """``src`` copied to ``stem`` + its suffix, with an OpenVINO IR's weights beside it."""
    dest = stem.with_suffix(src.suffix)
    shutil.copyfile(src, dest)
    if src.suffix == ".xml" and src.with_suffix(".bin").exists():
        shutil.copyfile(src.with_suffix(".bin"), dest.with_suffix(".bin"))
    return str(dest)


def _strict(doc: Any) -> Any:
    import math

    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _strict(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_strict(v) for v in doc]
    return doc
