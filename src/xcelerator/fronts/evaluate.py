"""Evaluate one configuration: measure it (our runner, or a command target) and, where precision
changes, its output error against fp32 (or its accuracy drop on a labelled .npz)."""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError, XcelError
from xcelerator.fronts.core import Point
from xcelerator.fronts.space import Config, ConfigSpace, QuantizeSpace
from xcelerator.rounds.plan import Plan

PARETO_PLAN = Plan(
    min_rounds=2, max_rounds=3, min_seconds=0.2, max_seconds=1.0, rel_ci=0.02, warmup_runs=3, timeout=120
)
# the side-by-side run that confirms the points near the front: enough paired rounds for a ratio CI
CONFIRM_PLAN = Plan(
    min_rounds=5, max_rounds=5, min_seconds=0.2, max_seconds=0.5, rel_ci=0.02, warmup_runs=3, timeout=120
)


class ConfigEvaluator:
    def __init__(
        self,
        space: ConfigSpace,
        plan: Plan = PARETO_PLAN,
        store: Any = None,
        data: str | None = None,
        repeats: int = 3,
        runs: int = 50,
        noise: Any = None,
    ) -> None:
        """``noise`` (``measure.stats.RunNoise``): the target's spread between runs, which widens
        every configuration's CI so that noise-aware dominance compares intervals that cover a
        repeat; without it, what ``store`` learned of the configuration's target pooled with the
        shipped prior (``measure.session.noise_for``)."""
        self.space, self.plan, self.store, self.repeats, self.runs = space, plan, store, repeats, runs
        self.noise = noise
        self._noise_by_uri: dict[str, Any] = {}
        self.with_error = isinstance(space, QuantizeSpace)
        self._ref: tuple[list[dict[str, np.ndarray]], list[np.ndarray], np.ndarray | None] | None = None
        self.data = data

    def __call__(self, cid: int) -> Point:
        cfg = self.space.config(cid)
        try:
            p = self._command(cfg) if cfg.target.startswith("cmd:") else self._measure(cfg)
        except XcelError as e:
            if cfg.target.startswith("cmd:"):
                raise  # a template that does not run or a parser that matches nothing: stop, name the cause
            return Point(cid, float("inf"), float("inf"), float("inf"), 0, None, cfg.setting, "failed", str(e)[:300])
        if self.with_error and p.status == "ok":
            p.error = self._error(cfg)
        return p

    def _measure(self, cfg: Config) -> Point:
        from xcelerator.measure.core import measure
        from xcelerator.targets.registry import parse_target

        t = parse_target(cfg.target)
        m = measure(cfg.artifact, t, self.plan, noise=self._noise_for(t.uri))
        if self.store is not None:
            self.store.add(m, cfg.artifact, t)
        if m.status != "ok" or m.stats is None:
            return Point(
                cfg.id, float("inf"), float("inf"), float("inf"), 0, None, cfg.setting, m.status, m.error[:300]
            )
        s = m.stats
        return Point(cfg.id, s.median_ms, s.ci_low_ms, s.ci_high_ms, int(m.peak_rss_kib or 0), None, cfg.setting)

    def confirm(self, points: list[Point], with_error: bool, plan: Plan = CONFIRM_PLAN) -> list[int]:
        """The points near the front (``pareto.core.near_front``) measured again in one run,
        side by side and interleaved round by round; each one's time becomes its paired ratio to
        the fastest of them (free of the drift they share), placed on the scale of the
        estimator's own measurements: the reference's time is the median, over the confirmed
        points, of what the ratios say it was in their first measurements (so the confirmed
        points stay comparable with the ones not measured again, whatever the machine's state
        during this run). Its interval keeps the relative reach it had (which covers a repeat:
        the spread between runs) around the new time, hulled with the paired ratio's: a paired
        interval alone covers this run's rounds, and fronts judged on it alone did not hold from
        one run to the next (measured with ``benchmarks/pareto.py --live``: normalized IGD 0.12 to
        0.31 between two runs, against 0.03 with the reach kept). The ids confirmed (in place:
        ``Point.confirmed``); none for command targets or fewer than two points near the front."""
        from xcelerator.fronts.core import near_front
        from xcelerator.measure.ab import paired
        from xcelerator.measure.session import execute
        from xcelerator.targets.registry import parse_target

        near = [p for p in near_front(points, with_error) if not self.space.config(p.id).target.startswith("cmd:")]
        if len(near) < 2:
            return []
        cfgs = [self.space.config(p.id) for p in near]
        pairs = [(replace(c.artifact, name=f"config {c.id}"), parse_target(c.target)) for c in cfgs]
        ms = list(execute(pairs, plan, store=self.store).measurements)
        ref = ms[0]
        if ref.status != "ok" or ref.stats is None:
            return []
        ratios: dict[int, tuple[float, float, float]] = {near[0].id: (1.0, 1.0, 1.0)}  # time / the reference's
        for p, m in zip(near[1:], ms[1:], strict=True):
            sp = paired(ref, m) if m.status == "ok" and m.stats is not None else None
            if sp is not None and sp.speedup and sp.ci_low and sp.ci_high:
                ratios[p.id] = (1 / sp.speedup, 1 / sp.ci_high, 1 / sp.ci_low)
        confirmed = [p for p in near if p.id in ratios]
        base = statistics.median(p.exec_time / ratios[p.id][0] for p in confirmed)  # the reference, first-run scale
        for p in confirmed:
            r, lo, hi = ratios[p.id]
            down, up = p.ci_low / p.exec_time, p.ci_high / p.exec_time  # its interval's reach, a repeat included
            p.exec_time = base * r
            p.ci_low, p.ci_high = min(base * lo, p.exec_time * down), max(base * hi, p.exec_time * up)
            p.confirmed = True
        return [p.id for p in confirmed]

    def _noise_for(self, uri: str) -> Any:
        if self.noise is not None:
            return self.noise
        if uri not in self._noise_by_uri:
            from xcelerator.measure.session import noise_for

            self._noise_by_uri[uri] = noise_for(self.store, uri, self.plan.ci)
        return self._noise_by_uri[uri]

    def _command(self, cfg: Config) -> Point:
        from xcelerator.targets.transports.command import get_command, run_command

        spec = get_command(cfg.target[4:])
        meds, rss = [], []
        for _ in range(self.repeats):
            r = run_command(spec, cfg.artifact.path, self.runs, extra_env=cfg.env, variables=cfg.env)
            meds.append(r.figures.get("median_ms", r.figures.get("mean_ms", float("nan"))))
            rss.append(r.peak_rss_kib or 0)
        med = statistics.median(meds)
        return Point(cfg.id, med, min(meds), max(meds), int(max(rss)), None, cfg.setting)

    # ------------------------------------------------------------------ precision
    def _inputs(self) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray], np.ndarray | None]:
        """Feeds (one batch each, at the model's declared shape), the fp32 outputs, the labels."""
        if self._ref is None:
            import onnxruntime as ort

            art = self.space.art  # type: ignore[attr-defined]
            sess = ort.InferenceSession(art.path, providers=["CPUExecutionProvider"])
            ins = sess.get_inputs()
            labels = None
            if self.data:
                try:
                    d = np.load(self.data)
                except (OSError, ValueError) as e:
                    raise BadInputError(f"--data {self.data}: not a readable .npz ({e})") from None
                if "x" not in d.files:
                    raise BadInputError(f"--data {self.data}: needs an array 'x' (and 'y' for labels)")
                x = d["x"].astype(np.float32)
                feeds = [{ins[0].name: x[i : i + 1]} for i in range(len(x))]
                labels = d["y"] if "y" in d.files else None
            else:
                # the same inputs the measurements are fed (the plan's shapes, ids below the
                # graph's table size, --fill constants), eight seeds of them
                from xcelerator.measure.core import inputs_for
                from xcelerator.rounds.runner import make_inputs

                specs = [i.to_dict() for i in inputs_for(art, self.plan)]
                feeds = [make_inputs(specs, seed, self.plan.npz) for seed in range(8)]
            ref = np.concatenate([sess.run(None, f)[0] for f in feeds])
            self._ref = (feeds, [ref], labels)
        return self._ref

    def _error(self, cfg: Config) -> float:
        """Relative L2 error of the first output against fp32; with labels, the accuracy drop."""
        import onnxruntime as ort

        feeds, ref, labels = self._inputs()
        sess = ort.InferenceSession(cfg.artifact.path, providers=["CPUExecutionProvider"])
        out = np.concatenate([sess.run(None, f)[0] for f in feeds])
        if labels is not None:
            acc = lambda o: float(np.mean(np.argmax(o, axis=-1).reshape(-1) == labels.reshape(-1)))  # noqa: E731
            return max(0.0, acc(ref[0]) - acc(out))
        return float(np.linalg.norm(out - ref[0]) / (np.linalg.norm(ref[0]) + 1e-12))
