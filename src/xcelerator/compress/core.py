"""``xc.optimize``: make the user's own trained network faster on a target without losing accuracy.

The user brings a ``nn.Module``, example inputs, ``train(module, epochs)`` (trains in place; may
return the module) and ``evaluate(module) -> float`` (higher is better, e.g. validation
accuracy). We derive a design space from the network (``PruneSpace``: channel groups, removable
blocks, input resolution), and run an Optuna study over it (``run_search``: the baseline is
trial 0, failed candidates are FAILED with their reason and the study goes on, a study with the
same name in the same database continues after ``kill -9``). Each candidate is pruned by
importance with its weights inherited, fine-tuned with ``train`` for ``epochs`` epochs in
growing rungs (a pruner may stop it early), scored with ``evaluate``, exported to ONNX and
measured on the target. At the end the baseline and the best candidate are measured again,
interleaved, for a speed-up with a confidence interval.

Before anything is stored the inputs are checked: the module runs on the example inputs,
exports to ONNX, can be pruned, and ``evaluate`` returns a number; a failure is one
``BadInputError`` line.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from xcelerator.compress.config import OptimizeConfig
from xcelerator.compress.evaluator import OPTIMIZE_PLAN, OptimizeEvaluator, _number, accuracy_bound
from xcelerator.compress.prune import PruneSpace, as_tuple
from xcelerator.errors import BadInputError, RunFailedError
from xcelerator.rounds.plan import Plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One evaluated point: its pruned network, accuracy and measured cost."""

    trial: int
    state: str  # COMPLETE, PRUNED (stopped early) or FAIL
    point: dict[str, Any]
    accuracy: float | None = None
    latency_ms: float | None = None
    latency_ci: tuple[float, float] | None = None
    memory_kib: float | None = None
    macs: float | None = None
    params: float | None = None
    onnx: str | None = None
    state_dict: str | None = None
    epochs: int = 0
    train_seconds: float = 0.0
    curve: tuple[tuple[int, float], ...] = ()
    feasible: bool = False
    error: str | None = None
    space: PruneSpace | None = field(default=None, repr=False, compare=False)
    artifact: str | None = None  # the file that ships: the ONNX, or the runtime's own INT8 file
    runtime: str | None = None
    target: str | None = None
    precision: str = "fp32"
    fp32_ops: tuple[str, ...] = ()  # ops an INT8 candidate keeps in FP32
    fp32_cost: dict[str, dict[str, float]] = field(default_factory=dict)  # each: accuracy recovered alone, MACs
    torch_accuracy: float | None = None  # the torch module's score; ``accuracy`` is the deployed file's
    accuracy_flag: str | None = None  # deployed and torch accuracy apart by more than the tolerance
    reused: str | None = None  # the trial whose trained network this candidate took over

    @property
    def module(self) -> nn.Module:
        """The candidate's network with its fine-tuned weights."""
        if self.space is None or self.state_dict is None:
            raise RunFailedError(f"trial {self.trial} ({self.state}) has no saved network")
        m = self.space.apply(self.point)
        m.load_state_dict(torch.load(self.state_dict, weights_only=True))
        return m.eval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "state": self.state,
            "point": self.point,
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "latency_ci": list(self.latency_ci) if self.latency_ci else None,
            "memory_kib": self.memory_kib,
            "macs": self.macs,
            "params": self.params,
            "onnx": self.onnx,
            "state_dict": self.state_dict,
            "epochs": self.epochs,
            "train_seconds": self.train_seconds,
            "curve": [list(c) for c in self.curve],
            "feasible": self.feasible,
            "error": self.error,
            "artifact": self.artifact,
            "runtime": self.runtime,
            "target": self.target,
            "precision": self.precision,
            "fp32_ops": list(self.fp32_ops),
            "fp32_cost": self.fp32_cost,
            "torch_accuracy": self.torch_accuracy,
            "accuracy_flag": self.accuracy_flag,
            "reused": self.reused,
        }


@dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` found. ``speedup`` is the best candidate against the baseline, both
    measured again, interleaved: ``{"speedup", "ci_low", "ci_high", "verdict"}``;
    ``confirmed`` that final run's figures per trial (see ``confirm_best``)."""

    baseline: Candidate
    best: Candidate | None
    trials: tuple[Candidate, ...]
    pareto: tuple[Candidate, ...]
    study: optuna.Study
    constraints: tuple[str, ...]
    objectives: tuple[str, ...]
    space: dict[str, Any]
    speedup: dict[str, Any] | None
    saved: dict[str, float]
    confirmed: dict[int, Confirmed]
    seconds: float
    out: str
    latency: dict[str, Any] | None = None  # --latency predicted|hybrid: candidates measured and predicted
    per_runtime: dict[str, Candidate] = field(default_factory=dict)  # the best on each target searched
    closest: tuple[dict[str, Any], ...] = ()  # no faster candidate: the closest ones and what held each back
    sensitivity: dict[str, Any] | None = None  # each group pruned alone, accuracy without fine-tuning
    holdout: dict[str, Any] | None = None  # baseline and best on the held-out evaluation (``held_out``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_runtime": {k: c.to_dict() for k, c in self.per_runtime.items()},
            "closest": list(self.closest),
            "sensitivity": self.sensitivity,
            "holdout": self.holdout,
            "latency": self.latency,
            "study": self.study.study_name,
            "objectives": list(self.objectives),
            "constraints": list(self.constraints),
            "baseline": self.baseline.to_dict(),
            "best": self.best.to_dict() if self.best else None,
            "speedup": self.speedup,
            "confirmed": [v.to_dict() for v in self.confirmed.values()],
            "pareto": [c.trial for c in self.pareto],
            "trials": [c.to_dict() for c in self.trials],
            "space": self.space,
            "saved": self.saved,
            "seconds": round(self.seconds, 1),
            "out": self.out,
        }


def _storage(db: Any, out: Path) -> tuple[str, Any]:
    """(Optuna storage URL, measurement Store) for ``db``: a URL, a path, a Store, or None (a
    SQLite file in ``out``)."""
    from xcelerator.store.db import Store

    if db is None:
        out.mkdir(parents=True, exist_ok=True)
        st = Store(str(out / "optimize.db"))
    elif isinstance(db, Store):
        st = db
    else:
        st = Store(str(db))
    return st.url, st


def check_inputs(
    module: Any, example: tuple[torch.Tensor, ...], evaluate: Callable[[nn.Module], Any], train: Any
) -> float:
    """The checks that run before anything is stored; returns the baseline's score."""
    if not isinstance(module, nn.Module):
        raise BadInputError(f"model: expected a torch.nn.Module, got {type(module).__name__}")
    if not callable(train):
        raise BadInputError("train: expected a function train(module, epochs)")
    if not callable(evaluate):
        raise BadInputError("evaluate: expected a function evaluate(module) -> float")
    from xcelerator.models.export import export_onnx

    try:
        with torch.no_grad():
            copy.deepcopy(module).eval()(*example)
    except Exception as e:
        shapes = ", ".join(str(tuple(t.shape)) for t in example)
        raise BadInputError(
            f"model: does not run on the example inputs {shapes} ({type(e).__name__}: {_first_line(e)})"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with _silent("xcelerator.models.export"):
                export_onnx(copy.deepcopy(module).eval(), example, Path(tmp) / "baseline.onnx")
        except Exception as e:
            raise BadInputError(f"model: cannot be exported to ONNX: {_export_culprit(module, example, e)}") from None
    probe = copy.deepcopy(module).eval()
    try:
        score = evaluate(probe)
    except BadInputError:
        raise
    except Exception as e:
        raise BadInputError(
            f"evaluate raised {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        ) from None
    return _number(score, "evaluate")


def _operator(text: str) -> str | None:
    import re

    m = re.search(r"(aten::[A-Za-z0-9_.]+|torch\.ops\.[A-Za-z0-9_.]+)", text)
    return m.group(1) if m else None


def _export_culprit(module: nn.Module, example: tuple[torch.Tensor, ...], err: BaseException) -> str:
    """Which layer cannot be exported, and why: every submodule is exported alone on the input
    it saw; the innermost that fails is named, with the operator the exporter refused."""
    from xcelerator.models.export import export_onnx

    seen: dict[str, tuple[torch.Tensor, ...]] = {}
    net = copy.deepcopy(module).eval()
    hooks = []
    for name, m in list(net.named_modules())[1:200]:

        def hook(mod: nn.Module, inp: Any, out: Any, name: str = name) -> None:
            if all(isinstance(t, torch.Tensor) for t in inp):
                seen.setdefault(name, tuple(inp))

        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(*example)
    except Exception:
        pass
    finally:
        for h in hooks:
            h.remove()
    op = _operator(repr(err)) or _operator(str(err.__cause__ or ""))
    named = dict(net.named_modules())
    culprit = ""
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(seen, key=lambda n: -n.count(".")):
            try:
                with _silent("xcelerator.models.export"):
                    export_onnx(named[name], seen[name], Path(tmp) / "part.onnx")
            except Exception as e:
                culprit = f"layer '{name}' ({type(named[name]).__name__})"
                op = op or _operator(repr(e))
                break
    where = culprit or f"the forward of {type(module).__name__} itself (no submodule fails alone)"
    why = f"operator {op} has no ONNX export" if op else f"{type(err).__name__}: {_first_line(err)}"
    return f"{where}: {why}"


@contextlib.contextmanager
def _silent(logger: str) -> Iterator[None]:
    """An expected failure is reported in one line by the caller: the logger's own error lines
    would repeat it."""
    lg = logging.getLogger(logger)
    before = lg.disabled
    lg.disabled = True
    try:
        yield
    finally:
        lg.disabled = before


def _first_line(e: BaseException) -> str:
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    return (text.splitlines() or [""])[0][:200]


def _make_sampler(strategy: str, space: PruneSpace, seed: int, policy: str | None) -> optuna.samplers.BaseSampler:
    """A fresh sampler of a registered strategy (``nas/strategies/``) with optimize's settings; a
    DQN starts from the policy learned on earlier models when one is given."""
    from xcelerator.nas import strategies

    s = strategies.sampler(strategy, "optimize", space, seed)
    if strategy == "dqn" and policy and Path(policy).exists():
        from xcelerator.compress.policy import load_policy

        load_policy(s, Path(policy))
    return s


def optimize(
    module: nn.Module,
    example_inputs: Any,
    *,
    train: Callable[[nn.Module, int], Any],
    evaluate: Callable[[nn.Module], Any],
    config: OptimizeConfig | None = None,
    executor: Any = None,
    db: Any = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
    **settings: Any,
) -> OptimizeResult:
    """Search pruned versions of ``module`` for the fastest one on ``target`` that meets
    ``constraints`` (see the module docstring).

    What to search and how is an ``OptimizeConfig`` (``config``), each keyword in ``settings``
    replacing its field of that name (``budget=8``, ``precision=("fp32", "int8")``, ...): its
    docstring says what each does; all are checked on entry, one line naming a bad or unknown
    one. ``executor``: ``"ray"`` or an ``Executor``. ``db``: where the study and measurements
    live (default: ``OUT/optimize.db``). ``resume``: go on with the stored study of that name.
    """
    from xcelerator.compress.deploy import Calibration
    from xcelerator.nas.problem import parse_objectives
    from xcelerator.nas.study import SearchConfig, run_search

    t0 = time.time()
    c = (config or OptimizeConfig()).updated(settings)
    objs = parse_objectives(list(c.objectives))
    _check_settings(c.budget, c.epochs, c.strategy, c.constraints)
    uris, tgts, precisions = _deployments(c.target, c.targets, c.precision, c.calibration, c.latency, c.cost_model)
    target = uris[0]
    example = as_tuple(example_inputs)
    base_score = check_inputs(module, example, evaluate, train)
    cal = Calibration.make(c.calibration, example) if c.calibration is not None else None
    space = PruneSpace(
        module, example, max_ratio=c.max_ratio, max_groups=c.max_groups, blocks=c.blocks, resolutions=c.resolutions,
        round_to=_round_choices(c.round_channels, tgts), precisions=precisions, targets=uris,
    )  # fmt: skip
    outdir = Path(c.out)
    url, store = _storage(db, outdir)
    if isinstance(executor, str):
        from xcelerator.executors import make_executor

        executor = make_executor(executor, None, 2 if executor == "ray" else 1)
    ev = OptimizeEvaluator(
        space, train, evaluate, target, epochs=c.epochs, plan=c.plan or OPTIMIZE_PLAN, out=outdir, store=store,
        early_stop=c.early_stop, finetune_baseline=c.finetune_baseline, constraints=tuple(c.constraints),
        calibration=cal, deployed_accuracy=c.deployed_accuracy, ship_files=getattr(executor, "name", "") == "ray",
        teacher=_teacher(module, train) if c.distill else None, parsed=dict(zip(uris, tgts, strict=True)),
    )  # fmt: skip
    ev.set_bound(accuracy_bound(c.constraints, base_score))
    name = c.study or f"optimize-{c.strategy}-s{c.seed}"
    if resume:
        _remember(ev, url, name)
    cfg = SearchConfig(space="prune", objectives=objs, constraints=list(c.constraints), strategy=c.strategy,
                       trials=c.budget, target=target, study=name, seed=c.seed, out=str(outdir))  # fmt: skip
    sampler = _make_sampler(c.strategy, space, c.seed, str(c.policy) if c.policy else None)
    oracle = _oracle(c.latency, c.cost_model, target, c.constraints, objs)
    pre: dict[str, Any] = {}
    if c.strategy == "dqn" and c.cost_model is not None and not resume:
        pre = _pretrain(sampler, space, c.cost_model, target, evaluate, c.pretrain_steps)
    sens = None
    if c.strategy != "dqn" and not resume:
        sens = _warm_start(url, name, space, evaluate, c.warm_start, c.sensitivity, objs, progress)
    res = run_search(cfg, url, store=store, progress=progress, resume=resume, evaluator=ev, executor=executor,
                     space=space, sampler=sampler, oracle=oracle)  # fmt: skip
    if c.strategy == "dqn" and c.policy:
        from xcelerator.compress.policy import save_policy

        save_policy(sampler, Path(c.policy))
    out = _result(name, url, space, res, ev, pre, sens, c.confirm, target, store, objs, c.constraints, outdir, t0)
    fn = c.holdout_fn()
    return replace(out, holdout=held_out(out, ev, fn, c.constraints, progress)) if fn is not None else out


def held_out(
    res: OptimizeResult,
    ev: OptimizeEvaluator,
    fn: Callable[[nn.Module], Any],
    constraints: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The baseline and the best scored by ``fn`` on data the search never saw, and the accuracy
    constraint checked again against the baseline's held-out score: ``{"baseline", "best",
    "drop", "search_drop", "bound", "meets", "scored"}`` (``best`` and what follows from it are
    None when no candidate beat the baseline; ``bound`` and ``meets`` None without an accuracy
    constraint). The search chose on ``evaluate``'s scores; the best of many candidates tends
    to score higher there than it will on other data, and this says by how much."""
    b, scored = ev.held_out(fn, res.baseline.artifact, res.baseline.target, lambda: res.baseline.module)
    out: dict[str, Any] = {"baseline": b, "best": None, "drop": None, "search_drop": None, "bound": None,
                           "meets": None, "scored": scored}  # fmt: skip
    best = res.best
    if best is None or best.trial == res.baseline.trial:
        return out
    x, _ = ev.held_out(fn, best.artifact, best.target, lambda: best.module)
    bound = accuracy_bound(constraints, b)
    out.update(best=x, drop=b - x, bound=bound, meets=None if bound is None else x >= bound - 1e-12)
    if best.accuracy is not None and res.baseline.accuracy is not None:
        out["search_drop"] = res.baseline.accuracy - best.accuracy
    if out["meets"] is False:
        msg = (
            f"held out: the best (trial {best.trial}) scores {x:.4f} against the baseline's {b:.4f}, "
            f"below the constraint's {bound:.4f}"
        )
        log.warning(msg)
        if progress:
            progress(msg)
    return out


def _result(
    name: str,
    url: str,
    space: PruneSpace,
    res: Any,
    ev: OptimizeEvaluator,
    pre: dict[str, Any],
    sens: Any,
    confirm: bool | Plan,
    target: str,
    store: Any,
    objs: list[str],
    constraints: Sequence[str],
    outdir: Path,
    t0: float,
) -> OptimizeResult:
    """The finished study as an ``OptimizeResult``: every candidate, the baseline and the best
    (confirmed side by side with the baseline when ``confirm``), the front and what was saved."""
    st = optuna.load_study(study_name=name, storage=url)
    conf = st.user_attrs.get("confirmed", {})
    cands = tuple(_candidate(t, space, conf) for t in st.get_trials(deepcopy=False) if t.state.is_finished())
    baseline = next((c for c in cands if c.trial == (res.baseline or {}).get("number", 0)), cands[0])
    best = next((c for c in cands if res.best and c.trial == res.best["number"]), None)
    saved = _saved(cands, ev.epochs)
    if pre:
        saved.update(pretrain_steps=float(pre["steps"]), pretrain_predictions=float(pre["evaluations"]),
                     pretrain_seconds=float(pre["seconds"]))  # fmt: skip
    speedup = None
    confirmed: dict[int, Confirmed] = {}
    if confirm and best is not None and best.trial != baseline.trial and best.onnx and baseline.onnx:
        plan_c = confirm if isinstance(confirm, Plan) else Plan()
        best, confirmed = confirm_best(cands, baseline, target, store, plan_c, objs)
        if best is not None and best.trial != baseline.trial:
            speedup = confirmed[best.trial].speedup
    outdir.mkdir(parents=True, exist_ok=True)
    return OptimizeResult(
        baseline=baseline, best=best, trials=cands, pareto=_front(cands, objs), study=st,
        constraints=tuple(constraints), objectives=tuple(objs), space=space.describe(), speedup=speedup, saved=saved,
        confirmed=confirmed, seconds=time.time() - t0, out=str(outdir), latency=res.latency,
        per_runtime=_per_target(cands, baseline, confirmed),
        closest=() if best is not None and best.trial != baseline.trial else _closest(cands, baseline),
        sensitivity=sens.to_dict() if sens is not None else None,
    )  # fmt: skip


def _check_settings(budget: int, epochs: int, strategy: str, constraints: Sequence[str]) -> None:
    from xcelerator.nas.problem import parse_constraint

    if budget < 1:
        raise BadInputError(f"budget {budget}: must be >= 1")
    if epochs < 0:
        raise BadInputError(f"epochs {epochs}: must be >= 0")
    from xcelerator.nas import strategies

    if strategy not in strategies.names("optimize"):
        raise BadInputError(f"unknown strategy '{strategy}'; valid: {', '.join(strategies.names('optimize'))}")
    for c in constraints:
        parse_constraint(c)


def _deployments(
    target: str, targets: Sequence[str] | None, precision: Sequence[str] | str, calibration: Any, latency: Any,
    cost_model: Any,
) -> tuple[list[str], list[Any], tuple[str, ...]]:  # fmt: skip
    """The targets (each parsed once, usable here and taking ONNX) and precisions searched,
    checked before anything runs."""
    from xcelerator.compress.deploy import check_precisions
    from xcelerator.measure.session import takes
    from xcelerator.targets.registry import parse_target

    uris = list(dict.fromkeys(targets)) if targets else [target]
    tgts = [parse_target(u) for u in uris]
    for u, tgt in zip(uris, tgts, strict=True):
        if not (takes(tgt, "onnx") or takes(tgt, "torch")):
            raise BadInputError(
                f"target {u}: candidates are ONNX or torch programs; this target takes {'/'.join(tgt.formats)}"
            )
        tgt.open().check()
    precisions = check_precisions([precision] if isinstance(precision, str) else precision, tgts, calibration)
    if (len(uris) > 1 or "int8" in precisions) and (latency not in (None, "measured") or cost_model is not None):
        raise BadInputError(
            "latency predicted/hybrid: a cost model predicts the FP32 graph on one runtime; "
            "search precision and runtimes with measured latency (leave cost_model out)"
        )
    return uris, tgts, precisions


def _oracle(latency: str | None, cost_model: Any, target: str, constraints: Sequence[str], objs: list[str]) -> Any:
    """The hybrid/predicted latency oracle (``search.hybrid``), None when every candidate is measured."""
    if latency in (None, "measured") and not (latency is None and cost_model is not None):
        return None
    from xcelerator.nas.hybrid import LatencyOracle
    from xcelerator.nas.problem import parse_constraint

    if latency not in (None, "measured") and cost_model is None:
        raise BadInputError(f"latency {latency!r} needs a cost model for the target (cost_model=...)")
    if "memory" in objs:
        raise BadInputError(f"latency {latency or 'hybrid'}: memory as an objective needs every candidate measured")
    return LatencyOracle.make(latency, cost_model, target, [parse_constraint(c) for c in constraints], objs)


def _pretrain(sampler: Any, space: PruneSpace, cost_model: Any, target: str, evaluate: Any, steps: int) -> Any:
    from xcelerator.compress.policy import pretrain
    from xcelerator.costmodel.model import CostModel

    cm = cost_model if isinstance(cost_model, CostModel) else CostModel.load(cost_model)
    cm.check_target(target)
    return pretrain(sampler, space, cm, evaluate, steps=steps, progress=None)


def _warm_start(
    url: str, name: str, space: PruneSpace, evaluate: Any, levels: Sequence[float], sensitivity: bool,
    objs: list[str], progress: Callable[[str], None] | None,
) -> Any:  # fmt: skip
    """Queue the study's first points (``_enqueue_start``): the warm start is shaped by the
    groups' sensitivity when asked (returned), else every group pruned alike at each level."""
    warm = [{k: r for k in space.default_point() if k.startswith("ratio:")} for r in levels]
    sens = None
    if sensitivity and space.groups and levels:
        from xcelerator.compress.sensitivity import measure_sensitivity, schedule

        sens = measure_sensitivity(space, evaluate)
        warm = schedule(space, sens, levels)
        if progress:
            progress(f"sensitivity: {len(space.groups)} groups scored in {sens.seconds:.1f} s")
    _enqueue_start(url, name, space, warm, objs)
    return sens


def _teacher(module: nn.Module, train: Any) -> Any:
    from xcelerator.compress.distill import Teacher, takes_teacher

    if not takes_teacher(train):
        raise BadInputError("distill=True: train must take a third argument, train(module, epochs, teacher)")
    return Teacher(module)


def _round_choices(given: int | Sequence[int] | str | None, targets: Sequence[Any]) -> int | list[int]:
    """``round_channels`` as PruneSpace takes it: ``"auto"`` is the widest channel block among
    the targets' runtimes (``RuntimeSpec.channel_multiple``), None is 1 (no rounding)."""
    if given is None:
        return 1
    if isinstance(given, str):
        if given != "auto":
            raise BadInputError(f"round_channels {given!r}: expected 'auto', a positive integer or several")
        return max(t.spec.channel_multiple() if t.spec else 8 for t in targets)
    if isinstance(given, int):
        return given
    return [int(r) for r in given]


def _per_target(
    cands: Sequence[Candidate], baseline: Candidate, confirmed: dict[int, Confirmed]
) -> dict[str, Candidate]:
    """The fastest feasible candidate on each target (by the final side-by-side run where it was
    in it, else by the study's measurement); the baseline where nothing on a target beats it."""
    out: dict[str, Candidate] = {}

    def speed(c: Candidate) -> float:
        conf = confirmed.get(c.trial)
        return (conf.median_ms if conf is not None and conf.median_ms is not None else c.latency_ms) or math.inf

    for c in sorted((c for c in cands if c.feasible and c.latency_ms is not None), key=speed):
        out.setdefault(c.target or baseline.target or "", c)
    return out


def _closest(cands: Sequence[Candidate], baseline: Candidate, n: int = 5) -> tuple[dict[str, Any], ...]:
    """Why nothing beat the baseline: the fastest candidates that ran (or were stopped), each
    with its accuracy, latency and what held it back."""
    base_ms = baseline.latency_ms or math.inf
    rows = []
    for c in cands:
        if c.trial == baseline.trial:
            continue
        if c.state == "COMPLETE" and c.latency_ms is not None:
            if c.latency_ms >= base_ms:
                why = f"not faster: {c.latency_ms:.4g} ms against the baseline's {base_ms:.4g} ms"
            elif not c.feasible:
                why = "misses a constraint" + (f" (accuracy {c.accuracy:.4f})" if c.accuracy is not None else "")
            else:
                why = "faster and feasible, but slower than the baseline in the final side-by-side run"
        else:
            why = c.error or c.state.lower()
        rows.append({"trial": c.trial, "state": c.state, "precision": c.precision, "target": c.target,
                     "accuracy": c.accuracy, "latency_ms": c.latency_ms, "why": why})  # fmt: skip
    rows.sort(key=lambda r: (r["latency_ms"] is None, r["latency_ms"] or 0.0))
    return tuple(rows[:n])


def _enqueue_start(
    url: str, name: str, space: PruneSpace, warm: Sequence[dict[str, float]], objs: Sequence[str]
) -> None:
    """Queue the first points of a new study (run_search queues the baseline only into an
    empty study, so it goes first here): the baseline; the unpruned network in every other
    precision and on every other target (quantize-only, runtime-only: the one-step alternatives
    the search must beat); then the pruned networks of the warm start (the ``warm`` ratios,
    snapped to the grid), each in all the precisions asked (int8 first: INT8 is faster on most
    networks, not on all) on the first target. A point that builds a network already queued in
    the same precision and target is left out."""
    from xcelerator.compress.sensitivity import nearest
    from xcelerator.nas.problem import DIRECTIONS

    storage = optuna.storages.RDBStorage(url)
    if name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        return
    st = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=[DIRECTIONS[o] for o in objs],  # type: ignore[misc]
    )
    base = space.default_point()
    queued = {space.arch_id(base)}
    st.enqueue_trial(base, user_attrs={"role": "baseline"})

    def queue(point: dict[str, Any], role: str) -> None:
        key = space.arch_id(point)
        if key not in queued:
            queued.add(key)
            st.enqueue_trial(point, user_attrs={"role": role})

    deploy = {}  # the first target's other precisions first, then each other target's
    if len(space.targets) > 1:
        deploy["target"] = space.targets
    if len(space.precisions) > 1:
        deploy["precision"] = space.precisions
    import itertools

    for combo in itertools.product(*deploy.values()):
        queue({**base, **dict(zip(deploy, combo, strict=True))}, "deploy")
    grids = {p.name: p.values() for p in space.params() if p.name.startswith("ratio:")}
    precisions = [{"precision": p} for p in reversed(space.precisions)] if len(space.precisions) > 1 else [{}]
    for ratios in warm if space.groups else ():
        snapped = {k: nearest(grids[k], r) for k, r in ratios.items() if k in grids}
        for prec in precisions:  # the second precision of a network costs no training (it is reused)
            queue({**base, **prec, **snapped}, "warm start")


def _remember(ev: OptimizeEvaluator, url: str, name: str) -> None:
    """Refill the pruner's side study with the learning curves of an earlier run."""
    try:
        st = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return
    for t in st.get_trials(deepcopy=False):
        curve = t.user_attrs.get("curve")
        if curve and t.user_attrs.get("role") != "baseline":
            final = (
                float(t.user_attrs["values_all"]["accuracy"]) if t.state == optuna.trial.TrialState.COMPLETE else None
            )
            ev.remember(curve, final)


def _candidate(t: optuna.trial.FrozenTrial, space: PruneSpace, confirmed: dict[str, Any] | None = None) -> Candidate:
    from xcelerator.nas.study import confirmed_attrs

    ua = confirmed_attrs(t.user_attrs, confirmed or {})  # a hybrid run's front point measured at the end
    vals = ua.get("values_all") or {}
    precision, target = space.deployment(dict(t.params))  # also for a candidate that failed or stopped
    ci = ua.get("latency_ci")
    return Candidate(
        trial=t.number,
        state=t.state.name,
        point=dict(t.params),
        accuracy=vals.get("accuracy") if vals else (ua["curve"][-1][1] if ua.get("curve") else None),
        latency_ms=vals.get("latency"),
        latency_ci=(float(ci[0]), float(ci[1])) if ci else None,
        memory_kib=ua.get("memory_kib"),
        macs=vals.get("macs"),
        params=vals.get("params"),
        onnx=ua.get("onnx"),
        state_dict=ua.get("state_dict"),
        epochs=int(ua.get("epochs", 0) or 0),
        train_seconds=float(ua.get("train_seconds", 0.0) or 0.0),
        curve=tuple((int(e), float(a)) for e, a in ua.get("curve", [])),
        feasible=t.state == optuna.trial.TrialState.COMPLETE and all(v <= 0 for v in ua.get("constraints", [0.0])),
        error=ua.get("error") or ua.get("pruned"),
        space=space,
        artifact=ua.get("artifact") or ua.get("onnx"),
        runtime=ua.get("runtime") or (_runtime_of(target) if target else None),
        target=ua.get("target") or target or None,
        precision=str(ua.get("precision") or precision),
        fp32_ops=tuple(ua.get("fp32_ops", ())),
        fp32_cost=dict(ua.get("fp32_cost", {})),
        torch_accuracy=ua.get("torch_accuracy"),
        accuracy_flag=ua.get("accuracy_flag"),
        reused=ua.get("reused"),
    )


@functools.lru_cache(maxsize=64)
def _runtime_of(target: str) -> str:
    """The runtime a target names (parsed once per process: parsing reads the targets file)."""
    from xcelerator.targets.registry import parse_target

    return parse_target(target).runtime


def _front(cands: Sequence[Candidate], objectives: Sequence[str]) -> tuple[Candidate, ...]:
    """The feasible candidates no other feasible one beats on accuracy and every objective."""
    from xcelerator.nas.problem import DIRECTIONS, pareto_front

    names = list(dict.fromkeys(["accuracy", *objectives]))
    attr = {"accuracy": "accuracy", "latency": "latency_ms", "memory": "memory_kib", "macs": "macs", "params": "params"}
    names = [n for n in names if n in attr]
    pts = [
        (c.trial, [float(getattr(c, attr[n])) for n in names])
        for c in cands
        if c.feasible and all(getattr(c, attr[n]) is not None for n in names)
    ]
    keep = set(pareto_front(pts, [DIRECTIONS[n] for n in names]))
    return tuple(sorted((c for c in cands if c.trial in keep), key=lambda c: c.latency_ms or math.inf))


def _saved(cands: Sequence[Candidate], epochs: int) -> dict[str, float]:
    """Training and device time the early stops saved, from the run's own timings."""
    measured = [c for c in cands if c.state == "COMPLETE" and c.epochs > 0]
    stopped = [c for c in cands if c.state == "PRUNED"]
    per_epoch = [c.train_seconds / c.epochs for c in measured + stopped if c.epochs > 0]
    mean_epoch = sum(per_epoch) / len(per_epoch) if per_epoch else 0.0
    train_saved = sum((epochs - c.epochs) * mean_epoch for c in stopped)
    spent = sum(c.train_seconds for c in cands)
    return {
        "stopped_early": float(len(stopped)),
        "train_seconds_spent": round(spent, 1),
        "train_seconds_saved": round(train_saved, 1),
        "measurements_saved": float(len(stopped)),
    }


@dataclass(frozen=True)
class Confirmed:
    """One model of the final interleaved run: its measurement and its A/B result against the
    baseline (None for the baseline itself)."""

    trial: int
    measurement: Any  # Measurement
    speedup: dict[str, Any] | None

    @property
    def median_ms(self) -> float | None:
        st = self.measurement.stats
        return float(st.median_ms) if st is not None else None

    @property
    def ci(self) -> list[float] | None:
        st = self.measurement.stats
        return [float(st.ci_low_ms), float(st.ci_high_ms)] if st is not None else None

    def against(self, other: Confirmed) -> dict[str, Any]:
        """This model against ``other`` (> 1: this one is faster), paired over the same rounds."""
        from xcelerator.measure.ab import paired

        return paired(other.measurement, self.measurement).to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "median_ms": self.median_ms, "ci": self.ci, "speedup": self.speedup,
                "status": self.measurement.status}  # fmt: skip


def confirm_best(
    cands: Sequence[Candidate],
    baseline: Candidate,
    target: str,
    store: Any,
    plan: Plan,
    objectives: Sequence[str] = ("latency",),
    contenders: int = 3,
    extra: Sequence[Candidate] = (),
) -> tuple[Candidate | None, dict[int, Confirmed]]:
    """The final choice, made on a measurement that can carry it: the baseline and the
    ``contenders`` fastest feasible candidates (plus ``extra``) measured again in one run,
    interleaved round by round, each against the baseline with the A/B protocol. The study's
    own measurements are short and taken minutes apart, so two candidates a few percent apart
    there may swap here; the best is the feasible one with the lowest median in this run.
    Returns (best, {trial: Confirmed}). With objectives other than latency
    alone, the study's best stands and only its speed-up is measured."""
    from xcelerator.measure.ab import paired
    from xcelerator.measure.session import execute, prepare

    feasible = sorted(
        (c for c in cands if c.feasible and c.onnx and c.latency_ms is not None and c.trial != baseline.trial),
        key=lambda c: c.latency_ms or math.inf,
    )
    pick = feasible[: max(1, contenders)] if list(objectives) == ["latency"] else feasible[:1]
    # the fastest on every other target searched is in the run too (the best per runtime)
    firsts = {c.target: c for c in reversed(feasible) if c.target not in (None, baseline.target)}
    pick += [c for c in firsts.values() if c not in pick]
    chosen = list({c.trial: c for c in [baseline, *pick, *extra] if c.onnx}.values())
    pairs = [prepare([c.artifact or c.onnx or ""], [c.target or target], plan=plan)[0] for c in chosen]
    pairs = [(replace(a, name=f"trial {c.trial}"), t) for (a, t), c in zip(pairs, chosen, strict=True)]
    comp = execute(pairs, plan, store=store)
    ms = list(comp.measurements)  # one per pair, in order
    ref = ms[0]
    out: dict[int, Confirmed] = {}
    for c, m in zip(chosen, ms, strict=True):
        sp = paired(ref, m).to_dict() if c is not baseline and m.stats else None
        out[c.trial] = Confirmed(c.trial, m, sp)
    ok = [c for c in pick if out[c.trial].median_ms is not None]
    if not ok:
        return (pick[0] if pick else None), out
    return min(ok, key=lambda c: out[c.trial].median_ms or math.inf), out
