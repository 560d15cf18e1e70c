"""The evaluator ``xc.optimize`` gives the study: prune the user's network at a point, fine-tune
it with the user's ``train``, score it with the user's ``evaluate``, export it and measure it on
the target.

Multi-fidelity: ``train`` is called with growing epoch budgets (1, 2, 4, ... epochs in all, up
to ``epochs``); after each rung the candidate's accuracy is reported to a side study whose
pruner (``ConstraintHalvingPruner``) may stop it. A stopped candidate is never exported or
measured: the report counts the training epochs and device time that saved.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from xcelerator.compress.deploy import Calibration, deploy_file, deployed, int8_fallback, source_format
from xcelerator.compress.prune import PruneSpace
from xcelerator.errors import BadInputError
from xcelerator.nas.protocol import Outcome, Prepared, StagedEvaluator
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployed:
    """The file that ships for a candidate and the accuracy it is judged by (``deploy_stage``)."""

    artifact: str
    precision: str
    runtime: str
    target: str
    accuracy: float  # the deployed file's score, or the torch module's where the runtime hands no outputs back
    torch_accuracy: float
    accuracy_source: str  # "deployed" or "torch"
    deploy_seconds: float
    accuracy_flag: str = ""  # deployed and torch accuracy apart by more than the tolerance
    fp32_ops: list[str] | None = None  # INT8 with some ops kept in FP32 (the fallback)
    fp32_cost: dict[str, Any] | None = None
    int8_accuracy: float | None = None  # the all-INT8 file's score, before the fallback

    def attrs(self) -> dict[str, Any]:
        """What the candidate's trial records of the file that ships."""
        d = {k: v for k, v in asdict(self).items() if k != "accuracy"}
        return {k: v for k, v in d.items() if v is not None and v != ""}


OPTIMIZE_PLAN = Plan(
    min_rounds=3, max_rounds=5, min_seconds=0.2, max_seconds=0.5, rel_ci=0.02, warmup_runs=5, timeout=120
)


def rungs(epochs: int) -> list[int]:
    """Cumulative epoch budgets at which a candidate is scored: 1, 2, 4, ... and ``epochs``."""
    out, e = [], 1
    while e < epochs:
        out.append(e)
        e *= 2
    return [*out, epochs] if epochs > 0 else [0]


class ConstraintHalvingPruner(optuna.pruners.BasePruner):
    """Successive halving that only stops a candidate which also cannot meet the accuracy bound.

    Halving: at each rung (an epoch budget), a candidate is in the bottom part when it is not
    among the top ⌈n/η⌉ of the n ≥ η scores reported at this step. Optuna's
    ``SuccessiveHalvingPruner`` keeps the same rule but books rungs in trial system attributes,
    which the curves we restore on ``--resume`` lack, so the rule is applied here to the
    intermediate values directly.

    Constraint: in a latency search the fastest candidates are also the least accurate, so
    halving alone would stop exactly the ones worth having. A candidate stops only when it is
    in the bottom part *and* its accuracy at this rung, plus the largest gain any finished
    candidate made from this rung to the end, is still below the bound (no bound: halving alone).
    """

    def __init__(self, bound: float | None, reduction_factor: int = 3, min_observed: int = 3) -> None:
        self.bound = bound
        self.eta = reduction_factor
        self.min_observed = min_observed

    def best_gain(self, study: optuna.Study, step: int) -> float:
        """How much a candidate may still gain from ``step`` to the end: the largest gain a
        finished candidate made, plus the spread of those gains (a new candidate beats the
        largest of k gains one time in k + 1). Infinite until ``min_observed`` candidates have
        finished: with one or two curves a first rung stopped most candidates."""
        gains = []
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if step in t.intermediate_values and t.value is not None:
                gains.append(float(t.value) - float(t.intermediate_values[step]))
        if len(gains) < self.min_observed:
            return math.inf
        return max(gains) + statistics.pstdev(gains)

    def halving(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, step: int) -> bool:
        scores = [
            float(t.intermediate_values[step])
            for t in study.get_trials(deepcopy=False)
            if step in t.intermediate_values and t.number != trial.number
        ]
        scores.append(float(trial.intermediate_values[step]))
        if len(scores) < self.eta:
            return False
        keep = math.ceil(len(scores) / self.eta)
        cutoff = sorted(scores, reverse=True)[keep - 1]
        return float(trial.intermediate_values[step]) < cutoff

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not self.halving(study, trial, step):
            return False
        if self.bound is None:
            return True
        return trial.intermediate_values[step] + self.best_gain(study, step) < self.bound


def accuracy_bound(constraints: Sequence[str], baseline: float) -> float | None:
    """The accuracy that ``accuracy>=...`` constraints ask for, given the baseline's (None: no
    such constraint)."""
    from xcelerator.nas.problem import parse_constraint

    bounds = []
    for c in constraints:
        k = parse_constraint(c)
        if k.name == "accuracy" and k.op == ">=":
            bounds.append(k.bound({"accuracy": baseline}))
    return max(bounds) if bounds else None


def _number(v: Any, what: str) -> float:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise BadInputError(f"{what} returned {v!r}: it must return a finite number (higher is better)")
    return float(v)


class OptimizeEvaluator(StagedEvaluator):
    """``train_stage`` (prune, fine-tune by rungs, export) and ``measure_stage`` (quantize for
    the candidate's runtime, score the file that ships, measure it on the device).

    A network is trained once per run: a point that builds the same network as an earlier one
    (another precision or target, or ratios that round to the same widths) reuses its
    fine-tuned weights and learning curve, kept beside the trial files as ``s-<structure>.json``.
    The accuracy a candidate is judged by is the deployed file's: the user's ``evaluate`` gets
    ``deployed(file, target)``; the torch module's score is kept beside it as ``torch_accuracy``.
    """

    def __init__(
        self,
        space: PruneSpace,
        train: Callable[[nn.Module, int], Any],
        evaluate: Callable[[nn.Module], Any],
        target: str,
        *,
        epochs: int = 3,
        plan: Plan = OPTIMIZE_PLAN,
        out: Path,
        store: Any = None,
        early_stop: bool = True,
        reduction_factor: int = 3,
        reinit: bool = False,
        finetune_baseline: bool = False,
        ship_files: bool = False,
        constraints: tuple[str, ...] = (),
        calibration: Calibration | None = None,
        deployed_accuracy: bool = True,
        tolerance: float = 0.01,
        fallback: bool = True,
        teacher: Any = None,
        parsed: Mapping[str, Target] | None = None,
    ) -> None:
        from xcelerator.targets.registry import parse_target

        self.space, self.train_fn, self.evaluate_fn = space, train, evaluate
        # each target parsed once, by the string it was given as (``parsed``: already, by the caller)
        self.targets = dict(parsed or {})
        for t in (*space.targets, target):
            if t not in self.targets:
                self.targets[t] = parse_target(t)
        self.target = self.targets[target]
        self.calibration, self.deployed_accuracy, self.tolerance = calibration, deployed_accuracy, tolerance
        self.teacher = teacher  # distill=True: a Teacher (the baseline, frozen) for the user's train
        self.fallback = fallback  # int8 below the bound: keep the ops that cost most in FP32 (ONNX Runtime)
        self.ship_files = ship_files  # workers on other machines: the candidate's files travel back in the result
        self.epochs, self.plan, self.out, self.store = epochs, plan, Path(out), store
        self.early_stop, self.reinit = early_stop, reinit
        self.finetune_baseline, self.constraints = finetune_baseline, tuple(constraints)
        self.bound: float | None = None  # set_bound, once the baseline's accuracy is known
        self.reduction_factor = reduction_factor
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.fidelity = optuna.create_study(
            direction="maximize", pruner=ConstraintHalvingPruner(self.bound, reduction_factor)
        )

    def __getstate__(self) -> dict[str, Any]:
        """Tasks travel without the store (the driver alone writes it: measurements come back
        as records)."""
        state = dict(self.__dict__)
        state["store"] = None
        return state

    def after_baseline(self, values: dict[str, float], attrs: dict[str, Any]) -> None:
        """The baseline as trained in a worker sets the bound here, in the driver, too (the
        copies the workers get next are made from this object)."""
        if self.constraints and attrs.get("torch_accuracy") is not None:
            self.set_bound(accuracy_bound(self.constraints, float(attrs["torch_accuracy"])))

    def set_bound(self, bound: float | None) -> None:
        """The accuracy candidates must reach (known once the baseline is scored)."""
        self.bound = bound
        self.fidelity.pruner = ConstraintHalvingPruner(bound, self.reduction_factor)

    def remember(self, curve: list[list[float]], final: float | None) -> None:
        """A finished candidate's learning curve (from an earlier run of the same study)."""
        t = optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if final is not None else optuna.trial.TrialState.PRUNED,
            value=final,
            intermediate_values={int(e): float(a) for e, a in curve},
        )
        self.fidelity.add_trial(t)

    # ------------------------------------------------------------------ stages
    def _trained(self, point: dict[str, Any]) -> Path:
        return self.out / "trials" / f"s-{self.space.structure_id(point)}.json"

    def train_stage(self, point: dict[str, Any], tag: str) -> Prepared:
        point = self.space.check(point)
        precision, target = self.space.deployment(point)
        done_before = self._trained(point)
        if done_before.exists():  # this network was trained in this run: its weights serve again
            prev = Prepared.from_dict({**json.loads(done_before.read_text()), "point": point})
            if prev.pruned:
                return replace(prev, epochs=0, train_seconds=0.0, reused=prev.tag)
            return replace(prev, tag=tag, precision=precision, target=target, train_seconds=0.0, train_wall=0.0,
                           reused=prev.tag)  # fmt: skip
        prep = self._train(point, tag)
        done_before.parent.mkdir(parents=True, exist_ok=True)
        kept = {k: v for k, v in prep.to_dict().items() if k not in ("point", "train_wall")}
        done_before.write_text(json.dumps(kept))
        return replace(prep, precision=precision, target=target)

    def _train(self, point: dict[str, Any], tag: str) -> Prepared:
        t0 = time.perf_counter()
        baseline = self.space.is_default(point)
        try:
            module = self.space.apply(point)
        except Exception as e:
            raise RuntimeError(
                f"pruning failed at this point: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            ) from None
        if self.reinit and not baseline:
            _reinit(module)
        curve: list[list[float]] = []
        spent = 0.0
        done = 0
        ftrial = None if baseline or not self.early_stop else self.fidelity.ask()
        plan = [0] if baseline and not self.finetune_baseline else rungs(self.epochs)
        for budget in plan:
            if budget > done:
                t1 = time.perf_counter()
                extra = (self.teacher,) if self.teacher is not None and not baseline else ()
                ret = self.train_fn(module, budget - done, *extra)
                if isinstance(ret, nn.Module):
                    module = ret
                spent += time.perf_counter() - t1
                done = budget
            module.eval()
            acc = _number(self.evaluate_fn(module), "evaluate")
            curve.append([done, acc])
            if ftrial is not None and budget < plan[-1]:
                ftrial.report(acc, done)
                if ftrial.should_prune():
                    self.fidelity.tell(ftrial, state=optuna.trial.TrialState.PRUNED)
                    per_epoch = spent / max(1, done)
                    return Prepared(
                        point=point,
                        tag=tag,
                        pruned=f"accuracy {acc:.4f} after {done} of {self.epochs} epochs cannot reach the bound",
                        curve=curve,
                        epochs=done,
                        train_seconds=round(spent, 2),
                        saved_seconds=round(per_epoch * (self.epochs - done), 2),
                    )
        if ftrial is not None:
            self.fidelity.tell(ftrial, curve[-1][1])
        if baseline and self.constraints:  # the bound candidates must reach, from the baseline as trained here
            self.set_bound(accuracy_bound(self.constraints, curve[-1][1]))
        folder = self.out / "trials"
        folder.mkdir(parents=True, exist_ok=True)
        from xcelerator.models.export import export_onnx

        module.eval()
        onnx_path = export_onnx(module, self.space.example, folder / f"{tag}.onnx")
        if any(source_format(t) == "torch" for t in self.targets.values()):  # ExecuTorch starts from a program
            from xcelerator.models.export import export_pt2

            export_pt2(module, self.space.example, folder / f"{tag}.pt2")
        torch.save(module.state_dict(), folder / f"{tag}.pt")
        return Prepared(
            point=point,
            tag=tag,
            onnx=str(onnx_path),
            state_dict=str(folder / f"{tag}.pt"),
            accuracy=curve[-1][1],
            curve=curve,
            epochs=done,
            train_seconds=round(spent, 2),
            train_wall=time.perf_counter() - t0,
        )

    def deploy_stage(self, prep: Prepared) -> Deployed:
        """The file that ships for this candidate (quantized by the target runtime's own tool
        when its precision is int8) and the user's ``evaluate`` on it. A quantizer that fails
        fails this candidate with its root cause."""
        onnx_path = Path(prep.onnx)
        tgt = self.targets.get(prep.target or self.target.uri, self.target)
        precision = prep.precision or "fp32"
        t0 = time.perf_counter()
        try:
            artifact = deploy_file(onnx_path, tgt, precision, self.calibration, self.out / "deploy")
        except BadInputError:
            raise
        except Exception as e:
            why = str(e).splitlines()[0][:200] if str(e) else ""
            raise RuntimeError(f"{precision} on {tgt.runtime} failed: {type(e).__name__}: {why}") from None
        torch_acc = float(prep.accuracy or 0.0)
        acc, source = torch_acc, "torch"
        fallback: dict[str, Any] = {}
        if self.deployed_accuracy:
            try:
                acc, source = self._score(artifact, tgt), "deployed"
            except BadInputError as e:  # a runtime that does not hand outputs back here
                log.info("accuracy from the torch module: %s", e)
            if (
                precision == "int8" and self.fallback and source == "deployed" and artifact.suffix == ".onnx"
                and self.bound is not None and acc < self.bound <= torch_acc
            ):  # fmt: skip  # INT8 broke a network that meets the bound: keep some ops in FP32
                fb = int8_fallback(
                    onnx_path, tgt, self.calibration, self.out / "deploy" / f"{onnx_path.stem}-fallback",  # type: ignore[arg-type]
                    lambda f: self._score(f, tgt), self.bound, artifact, acc,
                )  # fmt: skip
                if fb is not None:
                    fallback = {"fp32_ops": list(fb.fp32_ops), "fp32_cost": fb.costs, "int8_accuracy": acc}
                    artifact, acc = fb.path, fb.accuracy
        flag = ""
        if source == "deployed" and abs(acc - torch_acc) > self.tolerance:
            flag = (
                f"the deployed file scores {acc:.4f}, the torch module {torch_acc:.4f} "
                f"(apart by more than {self.tolerance:g})"
            )
        return Deployed(
            artifact=str(artifact),
            precision=precision,
            runtime=tgt.runtime,
            target=tgt.uri,
            accuracy=acc,
            torch_accuracy=torch_acc,
            accuracy_source=source,
            deploy_seconds=round(time.perf_counter() - t0, 2),
            accuracy_flag=flag,
            **fallback,
        )

    def _score(self, path: Path, target: Any, fn: Callable[[nn.Module], Any] | None = None) -> float:
        """The user's ``evaluate`` (or ``fn``) on a file run by ``target``'s runtime."""
        module = deployed(path, target)
        with torch.no_grad():
            return _number((fn or self.evaluate_fn)(module), "evaluate" if fn is None else "holdout")

    def held_out(
        self, fn: Callable[[nn.Module], Any], artifact: str | None, target: str | None, module: Any
    ) -> tuple[float, str]:
        """``fn`` (the held-out evaluation) on a candidate: its shipped file when accuracy is
        judged on the deployed file, else (or where the runtime hands no outputs back) its torch
        module (``module()`` builds it). (score, "deployed" or "torch")."""
        if self.deployed_accuracy and artifact:
            try:
                return self._score(Path(artifact), self.targets.get(target or "", self.target), fn), "deployed"
            except BadInputError as e:
                log.info("held-out accuracy from the torch module: %s", e)
        m = module()
        m.eval()
        with torch.no_grad():
            return _number(fn(m), "holdout"), "torch"

    def measure_stage(self, prep: Prepared) -> Outcome:
        from xcelerator.nas.evaluators import judge_candidate

        t1 = time.perf_counter()
        dep = self.deploy_stage(prep)
        onnx_path, artifact = Path(prep.onnx), Path(dep.artifact)
        tgt = self.targets.get(dep.target, self.target)
        j = judge_candidate(
            self.oracle, onnx_path, dep.accuracy, artifact, f"optimize-{prep.tag}", tgt, self.plan, graph=onnx_path
        )
        if j.error:
            return Outcome({}, {"error": j.error}, j.record)
        head = {
            **dep.attrs(),
            **({"reused": prep.reused} if prep.reused else {}),
            "arch": self.space.arch_id(prep.point),
            "onnx": str(onnx_path),
            "state_dict": prep.state_dict,
        }
        common = {"curve": prep.curve, "epochs": prep.epochs, "train_seconds": prep.train_seconds}
        if j.measurement is None:
            return Outcome(j.values, {**head, **common, "seconds": round(prep.train_wall, 2), **j.attrs})
        values = j.values
        attrs = {
            **head,
            "memory_kib": values["memory"] * 1024,
            **common,
            "measure_seconds": round(time.perf_counter() - t1, 2),
            "seconds": round(prep.train_wall + time.perf_counter() - t1, 2),
            **j.attrs,
        }
        doc = {"point": prep.point, "values": values, "attrs": attrs}
        artifact.with_suffix(".json").write_text(json.dumps(doc, indent=1))
        files = _files(onnx_path, artifact, Path(prep.state_dict)) if self.ship_files else None
        return Outcome(values, attrs, j.record, files)

    def measure_resources(self) -> dict[str, float]:
        r = self.target.resource
        return {r: 1.0} if r else {}


def _files(*paths: Path) -> dict[str, bytes]:
    """The bytes of a candidate's files (an OpenVINO IR's weights included), by path."""
    out = {}
    for p in paths:
        for q in (p, p.with_suffix(".bin")) if p.suffix == ".xml" else (p,):
            if q.exists():
                out[str(q)] = q.read_bytes()
    return out


def _reinit(module: nn.Module) -> None:
    """Fresh weights for every layer that has ``reset_parameters`` (the uniform-width baseline
    trains from scratch rather than inheriting)."""
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset) and m is not module:
            reset()
