"""Measure an Artifact on a Target under a Plan: rounds through the target's transport.

Each round is a ``RoundRequest`` handed to the target's transport (``targets/transports``),
which returns a ``RoundResult``; a round that crashed, hung, lost its connection or found no
device is a result, not an exception: the Measurement records the status with the reason, and
the caller goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.measure import stats as st
from xcelerator.measure.conditions import assess, busy_processes
from xcelerator.measure.records import LayerTime, Measurement, RoundRequest, RoundResult
from xcelerator.models.artifact import Artifact
from xcelerator.rounds.inputs import InputSpec, check_names
from xcelerator.rounds.inputs import resolve as resolve_inputs
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import Target

log = logging.getLogger(__name__)
__all__ = [
    "LayerTime",
    "Measurement",
    "RoundRequest",
    "RoundResult",
    "check_runnable",
    "measure",
    "measure_against",
    "measure_many",
]


def check_runnable(artifact: Artifact, target: Target) -> None:
    """Bad-input checks before any round starts: format accepted, target usable here."""
    formats = target.formats
    if artifact.format not in formats:
        specs = _runtimes().items()
        runs_it = [n for n, sp in specs if artifact.format in sp.formats]
        converts_it = [n for n, sp in specs if artifact.format in sp.converts and artifact.format not in sp.formats]
        hint = (
            f"targets that run {artifact.format}: {', '.join(runs_it)}"
            + (f"; targets that convert it: {', '.join(converts_it)}" if converts_it else "")
            if runs_it or converts_it
            else "give a zoo model name to get each target its format"
        )
        raise BadInputError(
            f"target {target.label} runs {'/'.join(formats) or 'no'} models, not {artifact.format} "
            f"({Path(artifact.path).name}); {hint}"
        )
    target.open().check()


def _runtimes() -> dict[str, Any]:
    from xcelerator.targets.registry import runtimes

    return runtimes()


def _effective(target: Target, plan: Plan) -> Target:
    if plan.threads is not None and target.transport_cls.runtime is None:
        return target.with_option("threads", str(plan.threads))
    return target


_RESOLVED: dict[tuple[Any, ...], tuple[InputSpec, ...]] = {}


def inputs_for(artifact: Artifact, plan: Plan) -> tuple[InputSpec, ...]:
    """The artifact's inputs as the plan feeds them (``BadInputError`` before anything runs),
    resolved once per model file and input settings in a process: checking a pair before it
    runs, building each round's request and accumulating its rounds all ask (an ``.npz`` input
    file is read again when it changes)."""
    import os

    stamp = os.stat(plan.npz).st_mtime_ns if plan.npz and os.path.exists(plan.npz) else None
    key = (
        artifact.path,
        artifact.sha256,
        artifact.inputs,
        plan.shapes,
        plan.dims,
        plan.fills,
        plan.input,
        plan.npz,
        stamp,
    )
    if key not in _RESOLVED:
        _RESOLVED[key] = resolve_inputs(artifact, plan.shapes, plan.dims, plan.fills, plan.input, plan.npz)
    return _RESOLVED[key]


def request_for(
    artifact: Artifact,
    target: Target,
    plan: Plan,
    index: int,
    layers: bool,
    inputs: tuple[InputSpec, ...] | None = None,
) -> RoundRequest:
    target = _effective(target, plan)
    return RoundRequest(
        model=artifact.path,
        format=artifact.format,
        runtime=target.runtime,
        options=tuple(sorted(target.runtime_opts.items())),
        inputs=inputs if inputs is not None else inputs_for(artifact, plan),
        plan=plan,
        layers=layers,
        index=index,
        name=artifact.name,
        artifact_sha256=artifact.sha256,
    )


def run_round(
    artifact: Artifact,
    target: Target,
    plan: Plan,
    index: int,
    layers: bool,
    on_start: Callable[[int], None] | None = None,
    inputs: tuple[InputSpec, ...] | None = None,
) -> RoundResult:
    """One round through the target's transport (a child process here, a board, a phone, a binary)."""
    transport = _effective(target, plan).open()
    if on_start is not None:
        transport.on_start = on_start
    req = request_for(artifact, target, plan, index, layers, inputs)
    try:
        return transport.run(req)  # type: ignore[no-any-return]
    except BadInputError:
        raise
    except Exception as e:  # a transport bug must not take a comparison down: record it
        log.debug("transport %s raised", target.transport, exc_info=True)
        now = time.time()
        return RoundResult.failure(index, "failed", f"{type(e).__name__}: {e}", now, now)


def run_side_by_side(
    accs: Sequence[_Accumulator], plan: Plan, on_start: Callable[[int], None] | None = None
) -> list[RoundResult]:
    """One round of several artifacts on one target, in one process, timed in alternating blocks
    (``Transport.run_side_by_side``); a transport bug is every artifact's failed round."""
    target = accs[0].target
    transport = _effective(target, plan).open()
    if on_start is not None:
        transport.on_start = on_start
    reqs = [request_for(a.artifact, target, plan, len(a.rounds), plan.layers and not a.rounds, a.inputs) for a in accs]
    try:
        return list(transport.run_side_by_side(reqs))
    except BadInputError:
        raise
    except Exception as e:
        log.debug("transport %s raised", target.transport, exc_info=True)
        now = time.time()
        return [RoundResult.failure(r.index, "failed", f"{type(e).__name__}: {e}", now, now) for r in reqs]


class _Accumulator:
    """Rounds of one (artifact, target) pair, combined into a Measurement."""

    def __init__(self, artifact: Artifact, target: Target, plan: Plan, noise: st.RunNoise | None = None) -> None:
        self.artifact, self.target, self.plan, self.noise = artifact, target, plan, noise
        self.paired = False  # paired rounds serve the A/B ratio, which the spread between runs does not enter
        self.inputs = inputs_for(artifact, plan)
        self.rounds: list[RoundResult] = []
        self.profiled: RoundResult | None = None
        self.env: dict[str, Any] = {}
        self.energy: list[dict[str, Any]] = []
        self.windows: list[list[float]] = []
        self.started = time.time()

    @property
    def failed(self) -> bool:
        return any(r.status != "ok" for r in self.rounds)

    def done(self) -> bool:
        if self.failed or len(self.rounds) >= self.plan.max_rounds:
            return True
        if len(self.rounds) < self.plan.min_rounds:
            return False
        if self.noise is not None and not self.paired:
            return True  # the calibrated spread is that of runs of min_rounds: more cannot be credited
        return self.stats(self.rounds).rel_ci <= self.plan.rel_ci

    def stats(self, rounds: Sequence[RoundResult]) -> st.Stats:
        return st.compute([list(r.samples_ms) for r in rounds], noise=self.noise, sha256=self.artifact.sha256)

    def add(self, rr: RoundResult) -> None:
        self.rounds.append(rr)
        if rr.env:
            self.env = rr.env
        if rr.energy:
            self.energy.append(rr.energy)
        if rr.timed_window:  # for aligning an external power monitor
            self.windows.append([rr.timed_window[0], rr.timed_window[1], len(rr.samples_ms)])
        if rr.layers or rr.layers_error:
            self.profiled = rr

    def result(self, busy: list[dict[str, Any]] | None = None) -> Measurement:
        ok_rounds = [r for r in self.rounds if r.status == "ok" and r.samples_ms]
        bad = next((r for r in self.rounds if r.status != "ok"), None)
        stats = self.stats(ok_rounds) if ok_rounds else None

        def med(vals: Sequence[float | None]) -> float | None:
            v = sorted(x for x in vals if x is not None)
            return v[len(v) // 2] if v else None

        # load time and memory from the rounds where the model ran alone: side by side, the
        # first model loaded pays the runtime's one-time costs and the others share them
        alone = [r for r in self.rounds if not r.env.get("side_by_side")] or list(self.rounds)

        layers: tuple[LayerTime, ...] = ()
        unattributed = None
        note = "" if self.plan.layers else "layers not requested (--layers)"
        if self.profiled is not None:
            if self.profiled.layers_error:
                note = self.profiled.layers_error
            else:
                layers = self.profiled.layers
                e2e = self.profiled.layers_e2e_ms
                unattributed = max(0.0, 1.0 - sum(x.share for x in layers)) if e2e else None
        peaks = [r.peak_rss_kib for r in alone if r.peak_rss_kib]
        mj = [e["mj_per_inference"] for e in self.energy if e.get("mj_per_inference") is not None]
        if not self.plan.energy:
            enote = "energy not requested (--energy)"
        elif mj:
            src = self.energy[0].get("source", "")
            enote = {"rapl": "RAPL package energy: the whole CPU package, other load included"}.get(src, src)
        else:
            enote = "unavailable: " + next((e.get("note", "") for e in self.energy if e.get("note")), "no reading")
        return Measurement(
            model=self.artifact.name,
            artifact_sha256=self.artifact.sha256,
            target=self.target.label,
            plan=self.plan,
            status=bad.status if bad else "ok",
            error=bad.error if bad else "",
            rounds=tuple(self.rounds),
            stats=stats,
            init_ms=med([r.init_ms for r in alone]),
            first_run_ms=med([r.first_run_ms for r in alone]),
            peak_rss_kib=max(peaks) if peaks else None,
            rss_before_load_kib=int(med([r.rss_before_load_kib for r in alone]) or 0) or None,
            rss_after_load_kib=int(med([r.rss_after_load_kib for r in alone]) or 0) or None,
            layers=layers,
            unattributed_share=unattributed,
            layers_note=note,
            energy_mj=med(mj) if mj else None,
            energy_note=enote,
            env={
                **self.env,
                "timed_windows": self.windows,
                "xcelerator": _version(),
                "target_uri": _effective(self.target, self.plan).uri,
            },
            started=self.started,
            finished=time.time(),
            inputs=tuple({k: v for k, v in i.to_dict().items() if k != "fill"} for i in self.inputs),
            quiet=assess([r.env for r in self.rounds if r.env], busy or []).to_dict() if self.rounds else None,
        )


def _version() -> str:
    from xcelerator._version import __version__

    return __version__


ProgressFn = Callable[[str], None]


def measure(
    artifact: Artifact,
    target: Target,
    plan: Plan | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: ProgressFn | None = None,
    noise: st.RunNoise | None = None,
) -> Measurement:
    """Measure one artifact on one target: adaptive rounds, each in its own child process.
    ``noise``: the target's calibrated spread between runs (``Store.run_noise``), which the CI
    then covers."""
    return measure_many([(artifact, target)], plan, on_start=on_start, progress=progress, noise=[noise])[0]


def measure_against(
    reference: Artifact,
    artifact: Artifact,
    target: Target,
    plan: Plan | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Measurement:
    """``artifact`` measured side by side with ``reference`` (``measure_many(paired=True)``): its
    own Measurement, with ``env["reference"]`` holding the paired ratio of its latency to the
    reference's (``ratio``, 95% ``ratio_low``/``ratio_high``, ``pairs``, ``pairing``) and the
    reference's ``median_ms`` in this run (or its ``error``).

    What for: on a shared machine a network's median moves by tens of percent with the machine's
    state, but its ratio to a reference timed in the same blocks barely moves. A corpus whose
    every network carries that ratio has labels on one scale (``costmodel.samples.from_store``:
    ratio x the reference's median over the corpus)."""
    from dataclasses import replace

    from xcelerator.measure.ab import paired

    mr, ma = measure_many([(reference, target), (artifact, target)], plan, on_start=on_start, paired=True)
    info: dict[str, Any] = {"name": reference.name, "sha256": reference.sha256}
    if mr.status != "ok" or mr.stats is None:
        info["error"] = f"the reference {reference.name}: {mr.error or mr.status}"
    elif ma.status == "ok":
        s = paired(mr, ma)
        if s.speedup is not None:
            info.update(
                ratio=1.0 / s.speedup,
                ratio_low=1.0 / s.ci_high if s.ci_high else None,
                ratio_high=1.0 / s.ci_low if s.ci_low else None,
                pairs=s.pairs,
                pairing=s.pairing,
                median_ms=mr.stats.median_ms,
            )
    return replace(ma, env={**ma.env, "reference": info})


def measure_many(
    pairs: Sequence[tuple[Artifact, Target]],
    plan: Plan | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: ProgressFn | None = None,
    paired: bool = False,
    noise: Sequence[st.RunNoise | None] | None = None,
    side_by_side: bool = True,
) -> list[Measurement]:
    """Measure several (artifact, target) pairs, interleaved round by round (A B B A ...), so
    their ratios stay honest while the machine's speed drifts. Layers are profiled once per
    pair, in its first round. ``paired``: every pair runs as many rounds as the slowest to
    settle, so round *i* of each was taken side by side (A/B verdicts pair them). ``noise``: per
    pair, its target's spread between runs (``stats.RunNoise``, from the store's repeats): the
    CI then includes it, and a pair that is not paired stops at ``min_rounds`` (the spread was
    calibrated on runs that long; more rounds could not be credited). ``side_by_side`` (with
    ``paired``, no energy): artifacts on one target whose transport can hold several models in
    one process run their first round alone (load time, memory, layers), then every round is one
    process timing them in alternating 20 ms blocks (``runner.alternate``; ``measure.ab`` pairs
    those rounds); a shared round that fails sends that round and the rest back to one model each."""
    plan = plan or Plan()
    check_names([a for a, _ in pairs], plan.shapes, plan.dims, plan.fills)
    for a, t in pairs:
        check_runnable(a, t)
    noise = list(noise) if noise is not None else [None] * len(pairs)
    accs = [_Accumulator(a, t, plan, n) for (a, t), n in zip(pairs, noise, strict=True)]
    for acc in accs:
        acc.paired = paired
    busy = busy_processes(0.2) if any(not t.remote for _, t in pairs) else []  # is this machine quiet?
    units = _units(accs, side_by_side=side_by_side and paired and not plan.energy)
    joint = [len(u) > 1 for u in units]

    def wants(acc: _Accumulator) -> bool:
        return not acc.done() or (paired and not acc.failed and len(acc.rounds) < plan.max_rounds)

    def solo(acc: _Accumulator) -> None:
        if progress:
            progress(f"{acc.artifact.name} on {acc.target.label}, round {len(acc.rounds) + 1}")
        rr = run_round(
            acc.artifact,
            acc.target,
            plan,
            len(acc.rounds),
            layers=plan.layers and not acc.rounds,
            on_start=on_start,
            inputs=acc.inputs,
        )
        acc.add(rr)
        if rr.status != "ok":
            log.warning("%s on %s: %s", acc.artifact.name, acc.target.label, rr.error)

    r = 0
    while not all(acc.done() for acc in accs):
        order = list(range(len(units))) if r % 2 == 0 else list(reversed(range(len(units))))
        for u in order:
            active = [acc for acc in units[u] if wants(acc)]
            if joint[u] and len(active) > 1 and all(acc.rounds for acc in active):
                if progress:  # one step per model, as rounds of their own count
                    names = ", ".join(a.artifact.name for a in active)
                    for _ in active:
                        progress(f"{names} side by side on {active[0].target.label}, round {len(active[0].rounds) + 1}")
                # which model loads (and is timed) first alternates too: a bias of load order
                # (memory placement) becomes spread between rounds, which the CI then holds
                active = active if len(active[0].rounds) % 2 else active[::-1]
                results = run_side_by_side(active, plan, on_start)
                if any(x.status != "ok" for x in results):
                    # a shared process that died or failed does not say whose model did it:
                    # this round and the rest run one model per process, so the failure lands
                    # on the model that causes it and the others are measured
                    bad = next(x for x in results if x.status != "ok")
                    log.warning("side-by-side round on %s: %s; rounds go one model at a time", active[0].target.label,
                                bad.error)  # fmt: skip
                    joint[u] = False
                    for acc in active:
                        solo(acc)
                    continue
                for acc, rr in zip(active, results, strict=True):
                    acc.add(rr)
                    if rr.status != "ok":
                        log.warning("%s on %s: %s", acc.artifact.name, acc.target.label, rr.error)
                continue
            for acc in active if r % 2 == 0 else active[::-1]:
                solo(acc)
        r += 1
    return [acc.result(busy if not acc.target.remote else []) for acc in accs]


def _units(accs: list[_Accumulator], side_by_side: bool) -> list[list[_Accumulator]]:
    """What runs as one round: artifacts on one target that can time several models in one
    process (``Transport.side_by_side``, and the runtime with these options: a multi-threaded
    ONNX Runtime's spinning workers slow the other session, ``RuntimeSpec.side_by_side``)
    together when ``side_by_side``; anything else alone."""
    units: list[list[_Accumulator]] = []
    shared: dict[str, list[_Accumulator]] = {}
    for acc in accs:
        t = _effective(acc.target, acc.plan)
        if side_by_side and t.transport_cls.side_by_side and (t.spec is None or t.spec.side_by_side(t.opts)):
            key = t.uri
            if key not in shared:
                shared[key] = []
                units.append(shared[key])
            shared[key].append(acc)
        else:
            units.append([acc])
    return units
