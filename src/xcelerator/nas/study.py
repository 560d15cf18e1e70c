"""A search is an Optuna study driven by ask/tell, stored in the project database.

The space's default point (the designer's model, or the base spec) is always trial 0: it is
the baseline that ``accuracy>=baseline-DELTA`` refers to and that the result is compared with.
Every trial is evaluated in this process (``Evaluator.evaluate``); a trial whose build,
training or measurement fails is told FAIL with its reason in ``user_attrs["error"]`` and the
study goes on. A study with the same name continues where it stopped: trials left RUNNING by a
killed process are marked FAIL ("interrupted") and the budget counts finished trials.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml

from xcelerator.errors import BadInputError, RunFailedError, XcelError
from xcelerator.executors import Executor, Handle, LocalExecutor, TaskFailed
from xcelerator.models.spaces import Space, get_space
from xcelerator.nas.distributions import distributions
from xcelerator.nas.problem import DIRECTIONS, Constraint, pareto_front, parse_constraint, parse_objectives
from xcelerator.nas.protocol import Evaluator, Outcome, Prepared, StagedEvaluator

log = logging.getLogger(__name__)


@dataclass
class SearchConfig:
    space: str = "scaling"
    space_options: dict[str, Any] = field(default_factory=dict)
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "latency"])
    constraints: list[str] = field(default_factory=list)
    strategy: str = "tpe"
    trials: int = 20
    max_seconds: float | None = None
    dataset: str = "digits"
    epochs: int = 3
    train_seconds: float | None = 60.0
    inherit: bool = False  # candidates start from the trained baseline and fine-tune finetune_epochs
    finetune_epochs: int = 1
    target: str = "onnxruntime?threads=1"
    study: str | None = None
    seed: int = 0
    out: str = "search-out"
    benchmark: str | None = None  # "nasbench201" (tabular; dataset cifar10|cifar100|imagenet)
    latency: str | None = None  # predicted | measured | hybrid (nas/hybrid.py); None: hybrid with a cost model
    cost_model: str | None = None  # a cost model file for the target (xcel costmodel fit)

    def validate(self) -> SearchConfig:
        """Every setting checked on entry (the message names the setting, what is valid and what
        was given); returns itself. The strategy's name, the objectives, constraints and latency
        mode are checked where they are parsed (their registry and grammar name the valid ones)."""
        from xcelerator.errors import check_params

        check_params(
            "search",
            self.__dict__,
            {
                "space": str, "space_options": dict, "objectives": list, "constraints": list,
                "strategy": str, "trials": {"range": (1, None)},
                "max_seconds": {"range": (0, None), "optional": True},
                "dataset": str, "epochs": {"range": (0, None)},
                "train_seconds": {"range": (0, None), "optional": True},
                "inherit": bool, "finetune_epochs": {"range": (0, None)}, "target": str, "study": (str, type(None)),
                "seed": int, "out": str, "benchmark": (None, "nasbench201", "toy"),
                "cost_model": (str, type(None)),
            },
        )  # fmt: skip
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> SearchConfig:
        if not path.exists():
            raise BadInputError(f"{path}: no such config file")
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise BadInputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(doc, dict):
            raise BadInputError(f"{path}: expected a mapping of search settings")
        known = set(cls.__dataclass_fields__)
        unknown = set(doc) - known
        if unknown:
            raise BadInputError(f"{path}: unknown setting(s) {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**doc)


def make_sampler(strategy: str, space: Space, seed: int) -> optuna.samplers.BaseSampler:
    """A fresh sampler of a registered strategy (``nas/strategies/``) with the search's settings."""
    from xcelerator.nas import strategies

    return strategies.sampler(strategy, "search", space, seed)


@dataclass
class SearchResult:
    study: str
    objectives: list[str]
    trials: list[dict[str, Any]]
    pareto: list[int]
    best: dict[str, Any] | None
    baseline: dict[str, Any] | None
    feasible: bool
    closest: list[dict[str, Any]]
    constraints: list[str]
    seconds: float
    latency: dict[str, Any] | None = None  # the hybrid oracle's summary: measured, predicted, bias

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "objectives": [{"name": n, "direction": DIRECTIONS[n]} for n in self.objectives],
            "constraints": self.constraints,
            "trials": self.trials,
            "pareto": self.pareto,
            "best": self.best,
            "baseline": self.baseline,
            "feasible": self.feasible,
            "closest": self.closest,
            "seconds": round(self.seconds, 1),
            "latency": self.latency,
        }


def _evaluator(cfg: SearchConfig, space: Space, store: Any) -> Any:
    if cfg.benchmark == "toy":
        from xcelerator.nas.toy import ToyEvaluator

        return ToyEvaluator()
    if cfg.benchmark:
        if cfg.benchmark != "nasbench201":
            raise BadInputError(f"unknown benchmark '{cfg.benchmark}'; valid: nasbench201, toy")
        from xcelerator.nas.evaluators import NasBench201Table

        return NasBench201Table(cfg.dataset if cfg.dataset != "digits" else "cifar10", cfg.seed)
    from xcelerator.nas.evaluators import TrainMeasureEvaluator
    from xcelerator.train.datasets import load_dataset

    data = load_dataset(cfg.dataset, cfg.seed)
    from xcelerator.measure.session import takes
    from xcelerator.targets.registry import parse_target

    t = parse_target(cfg.target)
    if not takes(t, "onnx"):
        raise BadInputError(
            f"search target {cfg.target}: candidates are exported to ONNX; this target takes "
            f"{'/'.join(t.formats)} (use a target that runs or converts ONNX)"
        )
    t.open().check()
    return TrainMeasureEvaluator(
        space,
        data,
        cfg.target,
        cfg.epochs,
        cfg.train_seconds,
        out=Path(cfg.out) / "trials",
        store=store,
        seed=cfg.seed,
        inherit=cfg.inherit,
        finetune_epochs=cfg.finetune_epochs,
    )


def run_search(
    cfg: SearchConfig,
    storage_url: str | optuna.storages.BaseStorage,
    store: Any = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
    evaluator: Any = None,
    executor: Executor | None = None,
    space: Space | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    oracle: Any = None,
) -> SearchResult:
    """Run (or continue) the study described by ``cfg``; see the module docstring. ``space``,
    ``evaluator`` and ``sampler`` replace the ones ``cfg`` names (``xc.optimize`` passes a
    network's pruning space and its own evaluator). An evaluator may stop a candidate early
    (multi-fidelity): its attrs then carry ``"pruned"`` (the reason) and no values, and the
    trial is told PRUNED. ``oracle`` (``search.hybrid.LatencyOracle``; made from ``cfg.latency``
    and ``cfg.cost_model`` when not given) decides which candidates are measured."""
    if space is None:  # xc.optimize passes its own space, sampler and evaluator
        cfg.validate()
    objectives = parse_objectives(cfg.objectives)
    constraints: list[Constraint] = [parse_constraint(c) for c in cfg.constraints]
    if oracle is None and (cfg.latency or cfg.cost_model):
        from xcelerator.nas.hybrid import LatencyOracle

        if cfg.latency not in (None, "measured") and "memory" in objectives:
            raise BadInputError(f"--latency {cfg.latency}: memory as an objective needs every candidate measured")
        oracle = LatencyOracle.make(cfg.latency, cfg.cost_model, cfg.target, constraints, objectives)
    if cfg.trials < 1:
        raise BadInputError(f"trials {cfg.trials}: must be >= 1")
    space = space or _space_of(cfg)
    sampler = sampler or make_sampler(cfg.strategy, space, cfg.seed)
    evaluator = evaluator or _evaluator(cfg, space, store)
    if oracle is not None:
        evaluator.oracle = oracle
    study = _open_study(cfg, space, sampler, storage_url, resume, objectives)
    run = _Run(cfg, study, space, sampler, evaluator, executor or LocalExecutor(1), store, progress, constraints)
    run.loop()
    if oracle is not None and oracle.mode == "hybrid" and run.baseline is not None:
        _confirm_front(
            study, objectives, constraints, run.baseline, evaluator, run.exe, run.measure_res, store, progress, oracle
        )
    res = summarize(study, objectives, constraints, time.time() - run.t0)
    return res if oracle is None else _with_latency_counts(res, oracle)


def _space_of(cfg: SearchConfig) -> Space:
    if cfg.benchmark == "toy":
        from xcelerator.nas.toy import ToySpace

        return ToySpace()
    if cfg.benchmark == "nasbench201":
        return get_space("nasbench201")
    return get_space(cfg.space, **cfg.space_options)


def _open_study(
    cfg: SearchConfig,
    space: Space,
    sampler: optuna.samplers.BaseSampler,
    storage_url: str | optuna.storages.BaseStorage,
    resume: bool,
    objectives: list[str],
) -> optuna.study.Study:
    """The study (created, or continued): its directions checked, trials a killed process left
    running marked failed, and the baseline (the space's default point) enqueued first."""
    name = cfg.study or f"{space.name}-{cfg.strategy}-s{cfg.seed}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage: Any = optuna.storages.RDBStorage(storage_url) if isinstance(storage_url, str) else storage_url
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if resume and name not in existing:
        raise BadInputError(f"--resume: no study named '{name}' in {storage_url}")
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        load_if_exists=True,
        directions=[DIRECTIONS[o] for o in objectives],  # type: ignore[misc]
    )
    if list(study.directions) != [
        optuna.study.StudyDirection.MINIMIZE if DIRECTIONS[o] == "minimize" else optuna.study.StudyDirection.MAXIMIZE
        for o in objectives
    ]:
        raise BadInputError(f"study '{name}' exists with other objectives; pick another --study name")
    study.set_user_attr("config", {k: v for k, v in cfg.__dict__.items()})
    # trials a killed process left RUNNING: they are lost evaluations, mark them so
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "error", "interrupted (the search process stopped)")
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    if not study.trials:
        study.enqueue_trial(space.default_point(), user_attrs={"role": "baseline"})
    return study


def _with_latency_counts(res: SearchResult, oracle: Any) -> SearchResult:
    """The oracle's summary with what the trials say was measured and predicted (counted from
    the trials: with Ray the oracle's copies live on the workers); a repeated architecture
    reuses its first evaluation: neither a measurement nor a prediction."""
    done = [t["user_attrs"] for t in res.trials if t["state"] == "COMPLETE"]
    firsts = [ua for ua in done if ua.get("repeat_of") is None]
    sources = [ua.get("latency_source") for ua in firsts]
    return dataclasses.replace(
        res,
        latency={
            **oracle.summary(),
            "measured": sum(s == "measured" for s in sources),
            "predicted": sum(s == "predicted" for s in sources),
            "repeats": len(done) - len(sources),
            "confirmed": sum(ua.get("latency_reason") in (CONFIRMED, SETTLED) for ua in firsts),
        },
    )


class _Run:
    """One search's ask/evaluate/tell loop: the trials in flight on the executor (a staged
    evaluator's candidates go train → measure), the cache of evaluated architectures, and the
    baseline once it is known."""

    def __init__(
        self,
        cfg: SearchConfig,
        study: optuna.study.Study,
        space: Space,
        sampler: optuna.samplers.BaseSampler,
        evaluator: Any,
        exe: Executor,
        store: Any,
        progress: Callable[[str], None] | None,
        constraints: list[Constraint],
    ) -> None:
        self.cfg, self.study, self.space, self.sampler = cfg, study, space, sampler
        self.evaluator, self.exe, self.store, self.progress = evaluator, exe, store, progress
        self.constraints = constraints
        self.objectives = parse_objectives(cfg.objectives)
        self.dists = distributions(space)
        self.cache: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if "values_all" in t.user_attrs:
                self.cache[t.user_attrs["arch"]] = (t.user_attrs["values_all"], dict(t.user_attrs))
        self.t0 = time.time()
        self.staged = isinstance(evaluator, StagedEvaluator)
        self.measure_res: dict[str, float] = evaluator.measure_resources() if self.staged else {}
        self.ev_ref: Any = evaluator  # replaced by a shared copy once the baseline is known (Ray: one upload)
        self.in_flight: dict[Any, tuple[optuna.trial.Trial, dict[str, Any], str, str]] = {}
        self.handles: dict[Any, Handle] = {}
        self.baseline = _baseline(study)

    def finished(self) -> int:
        return len([t for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()])

    def record(self, trial: optuna.trial.Trial, arch: str, out: Outcome) -> None:
        study, progress = self.study, self.progress
        values, attrs = out.values, dict(out.attrs)
        if out.record is not None and self.store is not None:  # only the driver writes the store
            attrs["measurement_id"] = _store_record(self.store, out.record)
        _land(out.files)
        if "error" in attrs and not values:
            raise RunFailedError(str(attrs["error"]))
        if attrs.get("pruned"):
            for k, v in attrs.items():
                trial.set_user_attr(k, v)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if progress:
                progress(f"trial {trial.number}: stopped early ({attrs['pruned']})")
            return
        attrs["trial"] = trial.number
        self.cache.setdefault(arch, (values, attrs))  # a repeat points at the first evaluation
        if self.baseline is None and trial.user_attrs.get("role") == "baseline":
            self.baseline = values
            study.set_user_attr("baseline", values)
            if isinstance(self.evaluator, StagedEvaluator):  # before it is shared with the workers (Ray: copies)
                self.evaluator.after_baseline(values, attrs)
        if self.baseline is None:
            raise RunFailedError("the baseline (trial 0) has no result")
        viol = [c.violation(values, self.baseline) for c in self.constraints]
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("values_all", values)
        trial.set_user_attr("constraints", viol or [0.0])
        for c, v in zip(self.constraints, viol, strict=True):  # Optuna 5: samplers read these from the trial
            trial.set_constraint(str(c), v)
        study.tell(trial, [values[o] for o in self.objectives])
        msg = ", ".join(f"{o}={values[o]:.4g}" for o in self.objectives)
        if progress:
            progress(f"trial {trial.number}: {msg}" + (" (infeasible)" if any(v > 0 for v in viol) else ""))

    def fail(self, trial: optuna.trial.Trial, e: BaseException) -> None:
        trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if trial.user_attrs.get("role") == "baseline":
            raise RunFailedError(f"the baseline (the space's default point) failed: {e}") from e
        log.warning("trial %d failed: %s", trial.number, e)
        if self.progress:
            self.progress(f"trial {trial.number}: FAILED ({type(e).__name__})")

    def launch(self, trial: optuna.trial.Trial, point: dict[str, Any], arch: str) -> None:
        tag = f"{trial.number:04d}"
        exe, ev = self.exe, self.evaluator
        if not self.staged:
            h = exe.submit(trial.number, _task_evaluate, self.ev_ref, point, tag)
            stage = "evaluate"
        elif self.baseline is None and ev.inherit:
            # the baseline trains here, in the driver: every later candidate inherits its weights
            prep = ev.train_stage(point, tag)
            h = exe.submit(trial.number, _task_measure, self.ev_ref, prep, resources=self.measure_res)
            stage = "measure"
        else:
            h = exe.submit(trial.number, _task_train, self.ev_ref, point, tag)
            stage = "train"
        self.in_flight[trial.number] = (trial, point, arch, stage)
        self.handles[trial.number] = h

    def room(self) -> bool:
        cfg, study = self.cfg, self.study
        if cfg.max_seconds is not None and time.time() - self.t0 > cfg.max_seconds:
            return False
        if isinstance(self.sampler, optuna.samplers.GridSampler) and study.trials and self.sampler.is_exhausted(study):
            return False
        limit = 1 if self.baseline is None else max(1, self.exe.max_in_flight)  # the baseline first, alone
        return len(self.in_flight) < limit and self.finished() + len(self.in_flight) < cfg.trials

    def ask(self) -> None:
        """Ask for trials while there is room: a repeated architecture is told its first result."""
        while self.room():
            trial = self.study.ask(self.dists)
            point = {k: trial.params[k] for k in self.dists}
            try:
                arch = self.space.arch_id(point)
                if arch in self.cache:
                    values, attrs = self.cache[arch]
                    self.record(trial, arch, Outcome(dict(values), {**attrs, "repeat_of": attrs.get("trial", None)}))
                else:
                    self.launch(trial, point, arch)
            except (XcelError, RuntimeError, ValueError, MemoryError, OSError) as e:
                self.fail(trial, e)

    def collect(self, h: Handle) -> None:
        """A finished task: a trained candidate goes on to be measured, a result is told."""
        n = h.key
        trial, point, arch, stage = self.in_flight.pop(n)
        self.handles.pop(n)
        try:
            out = self.exe.result(h)
            if stage == "train" and out.pruned:
                self.record(trial, arch, Outcome({}, out.stopped_attrs()))
                return
            if stage == "train":
                h2 = self.exe.submit(n, _task_measure, self.ev_ref, out, resources=self.measure_res)
                self.in_flight[n] = (trial, point, arch, "measure")
                self.handles[n] = h2
                return
            self.record(trial, arch, out)
        except (XcelError, RuntimeError, ValueError, MemoryError, OSError, TaskFailed) as e:
            self.fail(trial, e)

    def loop(self) -> None:
        shared = False
        while True:
            self.ask()
            if not self.in_flight:
                break
            for h in self.exe.wait(list(self.handles.values())):
                self.collect(h)
            if self.baseline is not None and not shared:
                self.ev_ref = self.exe.put(self.evaluator)  # as it is after the baseline, shared by all tasks
                shared = True


CONFIRMED = "on the front at the end: measured then"
SETTLED = "could still enter the front at the end: measured then"


def _land(files: dict[str, bytes] | None) -> None:
    """Files a worker made (its candidate's model files) written where the attrs say they are,
    when the driver does not see them: a worker on another machine writes its own disk."""
    for path, data in (files or {}).items():
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def _store_record(store: Any, rec: dict[str, Any]) -> Any:
    """Store a candidate's measurement record (only the driver writes the store); its id."""
    from xcelerator.measure.core import Measurement
    from xcelerator.models.artifact import Artifact
    from xcelerator.targets.registry import parse_target

    return store.add(
        Measurement.from_dict(rec["measurement"]), Artifact.from_dict(rec["artifact"]), parse_target(rec["target"])
    )


def confirmed_attrs(user_attrs: dict[str, Any], confirmed: dict[str, Any]) -> dict[str, Any]:
    """A trial's user attrs with its end-of-run measurement (``_confirm_front``) applied: the
    measured objective values (``values_all``), constraint violations and measurement id. A
    trial whose latency was predicted and never confirmed comes back unchanged."""
    c = confirmed.get(str(user_attrs.get("arch")))
    if c is None or user_attrs.get("latency_source") != "predicted":
        return user_attrs
    return {**user_attrs, **c["attrs"], "values_all": c["values"], "constraints": c["constraints"]}


def confirmed_trial(
    t: optuna.trial.FrozenTrial, confirmed: dict[str, Any], objectives: list[str]
) -> tuple[dict[str, Any], list[float] | None]:
    """A trial's user attrs and objective values with its end-of-run measurement applied."""
    ua = confirmed_attrs(t.user_attrs, confirmed)
    if ua is not t.user_attrs and all(o in ua["values_all"] for o in objectives):
        return ua, [ua["values_all"][o] for o in objectives]
    return ua, list(t.values) if t.values else None


def _confirm_front(
    study: optuna.Study,
    objectives: list[str],
    constraints: list[Constraint],
    baseline: dict[str, float],
    evaluator: Any,
    exe: Executor,
    resources: dict[str, float],
    store: Any,
    progress: Callable[[str], None] | None,
    oracle: Any = None,
) -> None:
    """Hybrid latency (nas/hybrid.py): measure every front point whose latency was only
    predicted, until the front carries measured latencies alone. The fronts are the study's own
    and the (accuracy, latency) one that the oracle reasoned about (what ``xc.optimize`` reports
    when latency is its only objective). A measurement can move a point
    off the front and uncover another predicted one, hence the loop; each architecture is
    measured once. Then, one at a time, the candidate the oracle left unsettled that could still
    enter the front within its interval (``LatencyOracle.unsettled``, intervals recomputed with
    every measurement so far), and the loop goes on until none is left. The results live in the
    study's ``confirmed`` attribute (a finished Optuna trial's values cannot change), keyed by
    architecture, and ``summarize`` applies them. A confirming measurement that fails makes its
    point infeasible, with the reason."""
    confirmed: dict[str, Any] = dict(study.user_attrs.get("confirmed", {}))
    while True:
        res = summarize(study, objectives, constraints, 0.0)
        # the study's own front, and the (accuracy, latency) one the oracle reasoned about
        # (``xc.optimize`` reports that one when latency is its only objective)
        pts = [
            (t["number"], [t["user_attrs"]["values_all"]["accuracy"], t["user_attrs"]["values_all"]["latency"]])
            for t in res.trials
            if t["state"] == "COMPLETE"
            and {"accuracy", "latency"} <= set(t["user_attrs"].get("values_all", {}))
            and all(v <= 0 for v in t["user_attrs"].get("constraints", [0]))
        ]
        front = set(res.pareto) | set(pareto_front(pts, ["maximize", "minimize"]))
        todo: dict[str, optuna.trial.FrozenTrial] = {}
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        for num in sorted(front):
            t = trials[num]
            if t.user_attrs.get("latency_source") == "predicted" and str(t.user_attrs.get("arch")) not in confirmed:
                todo.setdefault(str(t.user_attrs.get("arch")), t)
        reason = CONFIRMED
        if not todo and oracle is not None and oracle.front_rule:
            todo = _unsettled(list(trials.values()), constraints, confirmed, oracle)
            reason = SETTLED
        if not todo:
            return
        if progress:
            progress(
                f"measuring {len(todo)} front point(s) whose latency was predicted"
                if reason == CONFIRMED
                else "measuring a candidate that could still enter the front within its predicted interval"
            )
        handles = {
            arch: exe.submit(
                f"confirm-{t.number}",
                _task_confirm,
                evaluator,
                t.user_attrs["onnx"],
                f"{t.number:04d}",
                float(t.user_attrs["values_all"]["accuracy"]),
                t.user_attrs.get("spec"),
                resources=resources,
            )
            for arch, t in todo.items()
        }
        for arch, h in handles.items():
            t = todo[arch]
            try:
                out: Outcome = exe.result(exe.wait([h])[0])
            except (XcelError, RuntimeError, ValueError, MemoryError, OSError, TaskFailed) as e:
                out = Outcome({}, {"error": f"{type(e).__name__}: {e}"[:500]})
            values, attrs = out.values, dict(out.attrs)
            if out.record is not None and store is not None:
                attrs["measurement_id"] = _store_record(store, out.record)
            if not values:
                why = attrs.get("error", "the measurement failed")
                attrs.update(latency_reason=f"measuring it at the end failed: {why}")
                confirmed[arch] = {"values": t.user_attrs["values_all"], "attrs": attrs, "constraints": [float("inf")]}
            else:
                values = {**t.user_attrs["values_all"], **values}
                viol = [c.violation(values, baseline) for c in constraints] or [0.0]
                attrs.update(
                    latency_source="measured",
                    latency_reason=reason,
                    predicted_ms=t.user_attrs["values_all"]["latency"],
                )
                confirmed[arch] = {"values": values, "attrs": attrs, "constraints": viol}
            if progress:
                lat = confirmed[arch]["values"].get("latency")
                progress(f"trial {t.number}: measured at the end, latency={lat:.4g}")
        study.set_user_attr("confirmed", confirmed)


def _unsettled(
    trials: list[optuna.trial.FrozenTrial], constraints: list[Constraint], confirmed: dict[str, Any], oracle: Any
) -> dict[str, optuna.trial.FrozenTrial]:
    """The most accurate candidate whose latency was predicted and that could still enter the
    (accuracy, latency) front (``LatencyOracle.unsettled``), as ``{arch: trial}``; empty when
    none could. Each architecture counts once (its first complete trial), with its end-of-run
    measurement applied; one that fails a constraint other than latency takes no part. The
    oracle's residuals are first relearned from every measured candidate (see ``relearn``)."""
    from xcelerator.nas.hybrid import Candidate

    firsts: dict[str, tuple[optuna.trial.FrozenTrial, dict[str, Any]]] = {}
    for t in trials:
        if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("repeat_of") is None:
            ua = confirmed_attrs(t.user_attrs, confirmed)
            v = ua.get("values_all", {})
            viol = ua.get("constraints", [])
            other_ok = all(x <= 0 for c, x in zip(constraints, viol, strict=False) if c.name != "latency")
            if {"accuracy", "latency"} <= set(v) and other_ok and ua.get("onnx"):
                firsts.setdefault(str(ua.get("arch")), (t, ua))
    measured = [
        (ua["onnx"], float(ua["values_all"]["latency"]))
        for _, ua in firsts.values()
        if ua.get("latency_source") == "measured" and Path(ua["onnx"]).exists()
    ]
    oracle.relearn(measured)
    cands = []
    for arch, (_, ua) in firsts.items():
        acc, ms = float(ua["values_all"]["accuracy"]), float(ua["values_all"]["latency"])
        if ua.get("latency_source") == "measured":
            cands.append(Candidate(arch, acc, ms, ms, True))
        elif arch not in confirmed and Path(ua["onnx"]).exists():
            _, lo, hi, _ = oracle.predict(ua["onnx"])
            cands.append(Candidate(arch, acc, lo, hi, False))
    left = oracle.unsettled(cands)
    return {left[0].key: firsts[left[0].key][0]} if left else {}


def _task_confirm(evaluator: Any, onnx: str, tag: str, accuracy: float, spec: dict[str, Any] | None) -> Outcome:
    """Measure a front point at the end of a hybrid run: its latency and memory, and the
    measurement to store."""
    from xcelerator.nas.evaluators import measure_candidate

    values, m, rec = measure_candidate(Path(onnx), f"confirm-{tag}", accuracy, evaluator.target, evaluator.plan, spec)
    if not values or m.stats is None:
        return Outcome({}, {"error": f"measurement {m.status}: {m.error}"}, rec)
    attrs = {
        "latency_ci": [m.stats.ci_low_ms, m.stats.ci_high_ms],
        "memory_kib": values["memory"] * 1024,
        "measured": [m.started, m.finished],
    }
    return Outcome({"latency": values["latency"], "memory": values["memory"]}, attrs, rec)


def _task_evaluate(evaluator: Evaluator, point: dict[str, Any], tag: str) -> Outcome:
    out = evaluator.evaluate(point, tag)
    if not isinstance(out, Outcome):
        raise TypeError(f"{type(evaluator).__name__}.evaluate returned {type(out).__name__}, not an Outcome")
    return out


def _task_train(evaluator: StagedEvaluator, point: dict[str, Any], tag: str) -> Prepared:
    return evaluator.train_stage(point, tag)


def _task_measure(evaluator: StagedEvaluator, prep: Prepared) -> Outcome:
    return evaluator.measure_stage(prep)


def _baseline(study: optuna.Study) -> dict[str, float] | None:
    b = study.user_attrs.get("baseline")
    return dict(b) if b else None


def summarize(
    study: optuna.Study, objectives: list[str], constraints: list[Constraint], seconds: float
) -> SearchResult:
    trials: list[dict[str, Any]] = []
    feasible_pts: list[tuple[int, list[float]]] = []
    directions = [DIRECTIONS[o] for o in objectives]
    confirmed = study.user_attrs.get("confirmed", {})
    for t in study.get_trials(deepcopy=False):
        ua, values = confirmed_trial(t, confirmed, objectives)  # a front point measured at the end of a hybrid run
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "values": values,
            "user_attrs": {k: v for k, v in ua.items() if k not in ("spec",)},
        }
        trials.append(row)
        if t.state == optuna.trial.TrialState.COMPLETE and all(v <= 0 for v in ua.get("constraints", [0])):
            assert values is not None
            feasible_pts.append((t.number, values))
    front = pareto_front(feasible_pts, directions)
    by_num = {t["number"]: t for t in trials}
    best = None
    if feasible_pts:

        def key(item: tuple[int, list[float]]) -> list[float]:
            return [v if d == "minimize" else -v for v, d in zip(item[1], directions, strict=True)]

        num = min(feasible_pts, key=key)[0]
        best = {**by_num[num], "objectives": dict(zip(objectives, by_num[num]["values"], strict=True))}
    closest = []
    if not feasible_pts:
        done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        done.sort(key=lambda t: sum(max(0.0, v) for v in t.user_attrs.get("constraints", [0])))
        closest = [
            {
                "number": t.number,
                "params": t.params,
                "values": list(t.values),
                "violations": {
                    str(c): v for c, v in zip(constraints, t.user_attrs.get("constraints", []), strict=False)
                },
            }
            for t in done[:5]
        ]
    base = next((t for t in trials if t["user_attrs"].get("role") == "baseline" and t["state"] == "COMPLETE"), None)
    return SearchResult(
        study.study_name,
        objectives,
        trials,
        sorted(front),
        best,
        base,
        bool(feasible_pts),
        closest,
        [str(c) for c in constraints],
        seconds,
    )
