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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from xcelerator.compress.prune import PruneSpace
from xcelerator.errors import BadInputError
from xcelerator.measure.plan import Plan
from xcelerator.search.hybrid import consult, skip_attrs

log = logging.getLogger(__name__)

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

    def __init__(self, bound: float | None, reduction_factor: int = 3) -> None:
        self.bound = bound
        self.eta = reduction_factor

    def best_gain(self, study: optuna.Study, step: int) -> float:
        gains = []
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if step in t.intermediate_values and t.value is not None:
                gains.append(float(t.value) - float(t.intermediate_values[step]))
        return max(gains) if gains else math.inf

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
    from xcelerator.search.problem import parse_constraint

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


class OptimizeEvaluator:
    """``train_stage`` (prune, fine-tune by rungs, export) and ``measure_stage`` (the device)."""

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
        constraints: tuple[str, ...] = (),
    ) -> None:
        from xcelerator.targets.registry import parse_target

        self.space, self.train_fn, self.evaluate_fn = space, train, evaluate
        self.target = parse_target(target)
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
    def train_stage(self, point: dict[str, Any], tag: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        point = self.space.check(point)
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
                ret = self.train_fn(module, budget - done)
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
                    return {
                        "pruned": f"accuracy {acc:.4f} after {done} of {self.epochs} epochs cannot reach the bound",
                        "curve": curve,
                        "epochs": done,
                        "train_seconds": round(spent, 2),
                        "saved_seconds": round(per_epoch * (self.epochs - done), 2),
                    }
        if ftrial is not None:
            self.fidelity.tell(ftrial, curve[-1][1])
        if baseline and self.constraints:  # the bound candidates must reach, from the baseline as trained here
            self.set_bound(accuracy_bound(self.constraints, curve[-1][1]))
        folder = self.out / "trials"
        folder.mkdir(parents=True, exist_ok=True)
        from xcelerator.models.export import export_onnx

        module.eval()
        onnx_path = export_onnx(module, self.space.example, folder / f"{tag}.onnx")
        torch.save(module.state_dict(), folder / f"{tag}.pt")
        return {
            "point": point,
            "tag": tag,
            "onnx": str(onnx_path),
            "state_dict": str(folder / f"{tag}.pt"),
            "accuracy": curve[-1][1],
            "curve": curve,
            "epochs": done,
            "train_seconds": round(spent, 2),
            "train_wall": time.perf_counter() - t0,
        }

    def measure_stage(self, prep: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
        from xcelerator.search.evaluators import measure_candidate

        t1 = time.perf_counter()
        onnx_path = Path(prep["onnx"])
        oracle = getattr(self, "oracle", None)
        decision, predicted = consult(oracle, onnx_path, prep["accuracy"])
        if predicted is not None:  # the prediction settles it (search/hybrid.py)
            return predicted, {
                "arch": self.space.arch_id(prep["point"]),
                "onnx": str(onnx_path),
                "state_dict": prep["state_dict"],
                "curve": prep["curve"],
                "epochs": prep["epochs"],
                "train_seconds": prep["train_seconds"],
                "seconds": round(prep["train_wall"], 2),
                **skip_attrs(decision),
            }
        values, m, record = measure_candidate(
            onnx_path, f"optimize-{prep['tag']}", prep["accuracy"], self.target, self.plan
        )
        if m.status != "ok" or m.stats is None:
            return {}, {"_record": record, "error": f"measurement {m.status}: {m.error}"}
        if oracle is not None and decision is not None:
            oracle.record(prep["accuracy"], values["latency"], True, decision.raw_ms)
        own_kib = values["memory"] * 1024
        attrs = {
            "arch": self.space.arch_id(prep["point"]),
            "onnx": str(onnx_path),
            "state_dict": prep["state_dict"],
            "latency_ci": [m.stats.ci_low_ms, m.stats.ci_high_ms],
            "memory_kib": own_kib,
            "curve": prep["curve"],
            "epochs": prep["epochs"],
            "train_seconds": prep["train_seconds"],
            "measure_seconds": round(time.perf_counter() - t1, 2),
            "seconds": round(prep["train_wall"] + time.perf_counter() - t1, 2),
            "_record": record,
        }
        if decision is not None:
            attrs.update(latency_source="measured", latency_reason=decision.reason, predicted_ms=decision.latency_ms)
        onnx_path.with_suffix(".json").write_text(
            json.dumps(
                {"point": prep["point"], "values": values, "attrs": {k: v for k, v in attrs.items() if k != "_record"}},
                indent=1,
            )
        )
        return values, attrs

    def evaluate(self, point: dict[str, Any], tag: str) -> tuple[dict[str, float], dict[str, Any]]:
        prep = self.train_stage(point, tag)
        if prep.get("pruned"):
            return {}, prep
        return self.measure_stage(prep)

    def measure_resources(self) -> dict[str, float]:
        r = self.target.resource
        return {r: 1.0} if r else {}


def _reinit(module: nn.Module) -> None:
    """Fresh weights for every layer that has ``reset_parameters`` (the uniform-width baseline
    trains from scratch rather than inheriting)."""
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset) and m is not module:
            reset()
