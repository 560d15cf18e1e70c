"""The Python API behind ``xcel profile`` and ``xcel compare``.

A model argument is a file or a zoo name; for a zoo name each target gets the format it runs
(ONNX for ONNX Runtime and OpenVINO, ``.pt2`` for torch, ``.tflite`` for LiteRT), exported
from the same seeded torch module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xcelerator.measure.core import Measurement, ProgressFn, check_runnable, measure_many
from xcelerator.measure.plan import Plan
from xcelerator.models.artifact import Artifact
from xcelerator.targets.registry import Target, parse_target

PREFERRED_FORMAT = {"onnxruntime": "onnx", "openvino": "onnx", "torch": "torch", "litert": "tflite"}


def artifact_for(model: str, target: Target, **zoo_kw: Any) -> Artifact:
    from xcelerator.models.artifact import is_model_file, load_artifact

    if is_model_file(model):
        return load_artifact(model)  # a file: no torch import needed
    from xcelerator.models.export import resolve_model

    return resolve_model(model, PREFERRED_FORMAT[target.runtime], **zoo_kw)


@dataclass(frozen=True)
class Comparison:
    models: tuple[str, ...]
    targets: tuple[str, ...]
    measurements: tuple[Measurement, ...]

    def cell(self, model: str, target: str) -> Measurement | None:
        for m in self.measurements:
            if m.model == model and m.target == target:
                return m
        return None

    def speedup(self, model: str, target: str) -> float | None:
        """Median on the first (reference) target divided by the median on this one."""
        ref = self.cell(model, self.targets[0])
        m = self.cell(model, target)
        if ref is None or m is None or ref.stats is None or m.stats is None:
            return None
        return ref.stats.median_ms / m.stats.median_ms

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for model in self.models:
            for t in self.targets:
                m = self.cell(model, t)
                rows.append(
                    {
                        "model": model,
                        "target": t,
                        "status": m.status if m else "missing",
                        "median_ms": m.stats.median_ms if m and m.stats else None,
                        "ci_low_ms": m.stats.ci_low_ms if m and m.stats else None,
                        "ci_high_ms": m.stats.ci_high_ms if m and m.stats else None,
                        "speedup": self.speedup(model, t),
                    }
                )
        return rows


def prepare(models: Sequence[str], targets: Sequence[str], **zoo_kw: Any) -> list[tuple[Artifact, Target]]:
    """Resolve every model for every target and check each pair can run here (bad input raises
    ``BadInputError`` before anything is measured)."""
    tgts = [parse_target(t) for t in targets]
    pairs = [(artifact_for(model, t, **zoo_kw), t) for model in models for t in tgts]
    for a, t in pairs:
        check_runnable(a, t)
    return pairs


def execute(
    pairs: Sequence[tuple[Artifact, Target]],
    plan: Plan,
    store: Any = None,
    progress: ProgressFn | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Comparison:
    """Measure the pairs interleaved, store each result, return them as a comparison."""
    ms = measure_many(pairs, plan, on_start=on_start, progress=progress)
    if store is not None:
        for (a, t), m in zip(pairs, ms, strict=True):
            store.add(m, a, t)
    models = tuple(dict.fromkeys(a.name for a, _ in pairs))
    targets = tuple(dict.fromkeys(t.label for _, t in pairs))
    return Comparison(models, targets, tuple(ms))


def run(
    models: Sequence[str],
    targets: Sequence[str],
    plan: Plan,
    store: Any = None,
    progress: ProgressFn | None = None,
    on_start: Callable[[int], None] | None = None,
    **zoo_kw: Any,
) -> Comparison:
    """Measure every model on every target, interleaved, store each result, return them all."""
    return execute(prepare(models, targets, **zoo_kw), plan, store, progress, on_start)
