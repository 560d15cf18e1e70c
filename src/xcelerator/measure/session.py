"""The Python API behind ``xcel profile`` and ``xcel compare``.

A model argument is a file or a zoo name; for a zoo name each target gets the format it runs
(ONNX for ONNX Runtime and OpenVINO, ``.pt2`` for torch, ``.tflite`` for LiteRT), exported
from the same seeded torch module. A runtime that runs its own format (ncnn ``.param``, MNN
``.mnn``, ExecuTorch ``.pte``) gets the model converted by its runtime file's ``convert`` from a
format it converts (ONNX, or ``.pt2``), cached under ``XCEL_CACHE/converted/`` by the source's
content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.measure.core import Measurement, ProgressFn, check_runnable, measure_many
from xcelerator.models.artifact import Artifact
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import RuntimeSpec, Target, parse_target

ZOO_FORMATS = ("onnx", "torch", "tflite", "openvino")  # what a zoo model is exported to directly


def artifact_for(model: str, target: Target, plan: Plan | None = None, **zoo_kw: Any) -> Artifact:
    """The model as the target runs it: a file as it is (converted when the target's runtime
    converts its format), a zoo name exported to the first format the target takes. With a plan,
    its inputs are resolved first (a dynamic shape refused before anything runs) and a
    conversion is made at those shapes."""
    from xcelerator.models.artifact import is_model_file, load_artifact

    formats = target.formats
    if is_model_file(model):
        art = load_artifact(model)  # a file: no torch import needed
    else:
        fmt = next((f for f in formats if f in ZOO_FORMATS), None)
        if fmt is None:
            raise BadInputError(f"target {target.label} takes {'/'.join(formats)} models; a zoo model cannot be one")
        from xcelerator.models.export import resolve_model

        art = resolve_model(model, fmt, **zoo_kw)
    return for_target(art, target, plan)


def for_target(art: Artifact, target: Target, plan: Plan | None = None) -> Artifact:
    """``art`` as ``target`` runs it: as it is, or converted by the target's runtime (cached, at
    the plan's input shapes); ``BadInputError`` naming the targets that run it when neither works."""
    spec = target.spec
    if spec is not None and art.format not in spec.formats and art.format in spec.converts:
        if plan is not None:
            from xcelerator.measure.core import inputs_for

            resolved = inputs_for(art, plan)
            art = replace(art, inputs=tuple(i.tensor() for i in resolved))
        return convert(art, spec)
    check_runnable(art, target)
    return art


def takes(target: Target, fmt: str) -> bool:
    """Whether ``target`` runs ``fmt`` models, directly or by converting them."""
    return fmt in target.formats


def _cache() -> Path:
    # absolute: converters run in their own directories, and the cached path is reused from others
    return (Path(os.environ.get("XCEL_CACHE") or Path.home() / ".cache" / "xcelerator") / "converted").resolve()


def convert(art: Artifact, spec: RuntimeSpec) -> Artifact:
    """``art`` in ``spec``'s own format, converted once and cached by the source's hash and input
    shapes; the converted artifact keeps the source's name, inputs and graph stats."""
    from xcelerator.models.artifact import sha256_file

    inputs = [t.to_dict() for t in art.inputs]
    key = hashlib.sha256(json.dumps([art.sha256, inputs, spec.name]).encode()).hexdigest()[:20]  # shapes included
    out_dir = _cache() / spec.name / key
    done = out_dir / "converted.json"
    if done.exists():
        path = Path(json.loads(done.read_text())["path"])
    else:
        tmp = out_dir.with_name(key + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            produced = Path(spec.convert(art.path, art.format, tmp, inputs))
        except BadInputError:
            raise
        except Exception as e:
            raise BadInputError(
                f"{Path(art.path).name}: {spec.name} cannot run it: conversion from {art.format} failed ({e})"
            ) from e
        (tmp / "converted.json").write_text(json.dumps({"path": str(out_dir / produced.name)}))
        try:
            os.replace(tmp, out_dir)
        except OSError:  # another process converted it meanwhile
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        path = Path(json.loads(done.read_text())["path"])
    extra = path.with_suffix(".bin") if path.suffix == ".param" else None
    return replace(art, path=str(path), format=spec.formats[0], sha256=sha256_file(path, extra), source=art.path)


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

    def speedups(self) -> list[Any]:
        """A/B verdicts from paired rounds: each model against the first, each target against the
        first (``measure/ab.py``)."""
        from xcelerator.measure.ab import speedups

        return speedups(list(self.measurements), list(self.models), list(self.targets))

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


def display_names(models: Sequence[str]) -> dict[str, str]:
    """Model arguments → names, by content: two different files with one file name get the
    shortest path suffix that tells them apart (``a/model``, ``b/model``); the same file under
    two names is one model (the later argument is dropped: it maps to ``""``)."""
    from xcelerator.models.artifact import is_model_file, sha256_file

    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    files: list[tuple[str, Path, str]] = []
    for m in models:
        if not is_model_file(m) or not Path(m).is_file():
            out[m] = m
            continue
        p = Path(m).resolve()
        sha = sha256_file(p)
        if sha in seen:
            out[m] = ""
            continue
        seen[sha] = m
        files.append((m, p, sha))
    for m, p, _ in files:
        others = [q for m2, q, _ in files if m2 != m and q.stem == p.stem]
        if not others:
            out[m] = p.stem
            continue
        for k in range(2, len(p.parts) + 1):
            mine = "/".join(p.with_suffix("").parts[-k:])
            if all("/".join(q.with_suffix("").parts[-k:]) != mine for q in others):
                out[m] = mine
                break
        else:
            out[m] = str(p)
    return out


def prepare(
    models: Sequence[str], targets: Sequence[str], plan: Plan | None = None, **zoo_kw: Any
) -> list[tuple[Artifact, Target]]:
    """Resolve every model for every target and check each pair can run here, inputs included
    (bad input raises ``BadInputError`` before anything is measured)."""
    from xcelerator.measure.core import inputs_for

    tgts = [parse_target(t) for t in targets]
    names = display_names(models)
    pairs = []
    for model in models:
        if not names[model]:
            continue  # the same file as an earlier argument
        for t in tgts:
            art = artifact_for(model, t, plan, **zoo_kw)
            pairs.append((replace(art, name=names[model]) if names[model] != art.name else art, t))
    if plan is not None:
        from xcelerator.rounds.inputs import check_names

        check_names([a for a, _ in pairs], plan.shapes, plan.dims, plan.fills)
    for a, t in pairs:
        check_runnable(a, t)
        if plan is not None:
            inputs_for(a, plan)
    return pairs


def noise_for(store: Any, target_uri: str, ci: str = "auto") -> Any:
    """The spread between runs a CI on ``target_uri`` is widened by (``measure.stats``): none
    with ``ci="rounds"``; what ``store`` learned of the target (a calibration, or repeated runs
    of its models), pooled with the shipped prior; the prior alone where it learned nothing."""
    from xcelerator.measure.stats import with_prior

    learned = store.run_noise(target_uri) if store is not None and ci != "rounds" else None
    return with_prior(learned, target_uri, ci)


def execute(
    pairs: Sequence[tuple[Artifact, Target]],
    plan: Plan,
    store: Any = None,
    progress: ProgressFn | None = None,
    on_start: Callable[[int], None] | None = None,
    side_by_side: bool = True,
    purpose: str = "",
) -> Comparison:
    """Measure the pairs interleaved, store each result, return them as a comparison
    (``side_by_side``: see ``measure_many``). Each CI covers a repeat by the target's spread
    between runs (``noise_for``). ``purpose``: kept with each stored measurement
    (``calibration`` for ``xcel calibrate``)."""
    several = len({a.name for a, _ in pairs}) > 1 or len({t.label for _, t in pairs}) > 1
    by_uri = {t.uri: noise_for(store, t.uri, plan.ci) for _, t in pairs}  # one store query per target
    noise = [by_uri[t.uri] for _, t in pairs]
    ms = measure_many(
        pairs, plan, on_start=on_start, progress=progress, paired=several, noise=noise, side_by_side=side_by_side
    )
    if store is not None:
        for (a, t), m in zip(pairs, ms, strict=True):
            store.add(replace(m, purpose=purpose) if purpose else m, a, t)
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
