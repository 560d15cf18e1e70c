"""``xc.CostModel``: fit a latency predictor on stored measurements, predict a model's latency at
its input shape, save and load. ``xcel costmodel fit|predict`` are this class on the command line.

    cm = xc.CostModel.fit("xcel.db", target="onnxruntime?threads=1", kind="layer")
    cm.predict("det.onnx", shape={"x": (1, 3, 640, 640)})  # {"model", "latency_ms", "low_ms", ...}
    cm.save("ort.json"); xc.CostModel.load("ort.json")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError


def _store(db: Any) -> Any:
    from xcelerator.store.db import Store

    return db if isinstance(db, Store) else Store(str(db))


@dataclass
class CostModel:
    """A fitted predictor (``estimator``), what it was fitted on, and held-out metrics when asked."""

    estimator: Any
    target: str | None = None
    n_train: int = 0
    test: dict[str, float] | None = field(default=None)

    @property
    def kind(self) -> str:
        return str(self.estimator.kind)

    @classmethod
    def fit(
        cls,
        db: Any,
        target: str,
        *,
        kind: str | None = None,
        base: str | Path | CostModel | None = None,
        test: float | None = None,
        seed: int = 0,
        members: list[str] | None = None,
    ) -> CostModel:
        """Fit on ``db``'s successful measurements of ``target`` (one plan and input spec).

        ``kind``: layer (the default: the most accurate on held-out corpus networks and on zoo
        and real models, BENCHMARKS.md ``costmodel-mixed-ref``), ensemble (the default when
        ``members`` are given), gbm, lstm, adapted (then ``base``: another target's model to
        carry over). ``members``: for the ensemble, its predictors (default gbm and layer).
        ``test``: hold out this fraction and report on it."""
        from xcelerator.costmodel import predictors as P
        from xcelerator.costmodel.crossdevice import metrics
        from xcelerator.costmodel.samples import from_store, split

        if kind is None:
            kind = "ensemble" if members is not None else "layer"
        params: dict[str, Any] = {}
        if kind == "adapted":
            if base is None:
                raise BadInputError("kind adapted needs base (a predictor of another target)")
            params["base"] = (base.estimator if isinstance(base, CostModel) else P.load(base)).to_json()
        elif base is not None:
            raise BadInputError("base is for kind adapted")
        registered = P.kinds().get(kind)
        if registered is not None and "random_state" in registered().get_params():
            params["random_state"] = seed
        if members is not None:
            if kind != "ensemble":
                raise BadInputError(f"members are for kind ensemble, not {kind}")
            params["members"] = list(members)
        if test is not None and not 0 < test < 1:
            raise BadInputError(f"test {test}: a fraction in (0, 1)")
        est = P.make(kind, **params)
        samples = from_store(_store(db), target)
        train_idx = list(range(len(samples)))
        test_idx: list[int] = []
        if test is not None:
            tr, te = split(len(samples), test, seed)
            train_idx, test_idx = tr.tolist(), te.tolist()
        tr_s = samples.take(train_idx)
        est.fit(tr_s.stats, tr_s.y_ms, layers=tr_s.layers)
        est.conditions = {**samples.conditions, "trained_on": sorted(tr_s.sha256)}
        held = None
        if test_idx:
            te_s = samples.take(test_idx)
            held = metrics(te_s.y_ms, est.predict(te_s.stats))
        return cls(est, samples.target_uri, len(tr_s), held)

    @classmethod
    def adapt(
        cls,
        target: str,
        *,
        budget: int = 20,
        exclude: Sequence[str] = (),
        table: Any = None,
        store: Any = None,
        selection: str = "statistical",
        modes: Sequence[str] | None = None,
        seed: int = 0,
        progress: Any = None,
        details: bool = False,
    ) -> Any:
        """A predictor for a new ``target`` from ``budget`` measured networks and the shipped
        multi-runtime table (``costmodel.adapt``); ``exclude`` leaves those runtimes' columns out
        of the sources. The signature measurements go into ``store`` (default ``xcel.db``).
        With ``details``: ``(cost_model, Adapted)``."""
        from xcelerator.costmodel.adapt import ADAPT_MODES
        from xcelerator.costmodel.adapt import adapt as run

        res = run(
            target,
            budget=budget,
            exclude=exclude,
            table=table,
            store=None if store is None else _store(store),
            selection=selection,
            modes=tuple(modes) if modes else ADAPT_MODES,
            seed=seed,
            progress=progress,
        )
        cm = cls(res.estimator, res.target, len(res.signature), None)
        return (cm, res) if details else cm

    @classmethod
    def load(cls, path: str | Path) -> CostModel:
        from xcelerator.costmodel import predictors as P

        est = P.load(path)
        return cls(est, est.conditions.get("target"))

    def signature(self, X: Any, size: int = 20) -> list[int]:
        """Positions of the ``size`` networks of ``X`` (graph statistics or artifacts) to measure
        on a new target, to carry this model there (``fit(kind="adapted", base=...)``): chosen
        from this model's predictions alone by design (``predictors.design_signature``)."""
        from xcelerator.costmodel import predictors as P

        return P.design_signature(self.estimator, X, size)

    def save(self, path: str | Path) -> Path:
        return Path(self.estimator.save(path))

    def check_target(self, target: str) -> None:
        """Refuse a model fitted for another target."""
        from xcelerator.targets.registry import parse_target

        uri = parse_target(target).uri
        trained_for = self.estimator.conditions.get("target")
        if trained_for and trained_for != uri:
            raise BadInputError(f"this cost model was fitted for target {trained_for}, not {uri}")

    def predict(
        self,
        model: str,
        *,
        shape: Mapping[str, Sequence[int]] | Sequence[int] | None = None,
        dims: Mapping[str, int] | None = None,
        layers: int = 0,
    ) -> dict[str, Any]:
        """The latency of ``model`` (a file or zoo name) at its input shape, with the 80% interval,
        warnings and (``layers``: the N slowest kernels, layer predictor) a kernel breakdown."""
        from xcelerator.costmodel import predictors as P
        from xcelerator.models.artifact import at_shapes, is_model_file, load_artifact
        from xcelerator.rounds.inputs import resolve_shape

        if is_model_file(model):
            art = load_artifact(model)
        else:
            from xcelerator.models.export import resolve_model

            art = resolve_model(model, "onnx")
        named: dict[str, tuple[int, ...]] = {}
        if isinstance(shape, Mapping):
            named = {str(k): tuple(int(d) for d in v) for k, v in shape.items()}
        elif shape is not None:
            named = {"": tuple(int(d) for d in shape)}
        if "" in named and len(art.inputs) == 1:
            named[art.inputs[0].name] = named.pop("")
        resolved = {t.name: resolve_shape(t, named.get(t.name), dict(dims or {})) for t in art.inputs}
        art = at_shapes(art, resolved)  # features at the shape that would run
        if art.stats is None or not art.stats.nodes:
            raise BadInputError(f"{model}: no ONNX graph to compute features from (export it to ONNX)")
        p = self.estimator.explain(art.stats)
        top = []
        if layers and isinstance(self.estimator, P.LayerPredictor):
            top = sorted(self.estimator.kernel_times(art.stats), key=lambda r: -r[2])[:layers]
        import math

        return {
            "model": art.name,
            # DESIGN.md's predict contract: latency_ms, low_ms, high_ms, std_ms, in_distribution
            "latency_ms": p.ms,
            # the 80% interval is ±1.2816 σ in log space: σ back in ms, from the interval's width
            "std_ms": p.ms * (math.log(p.high_ms / p.low_ms) / (2 * 1.2816)) if p.low_ms > 0 else None,
            "in_distribution": not any(w.startswith("outside the training range") for w in p.warnings),
            "kind": self.kind,
            "target": self.estimator.conditions.get("target"),
            **p.to_dict(),
            "kernels": [{"name": n, "op_type": o, "ms": ms} for n, o, ms in top],
            "inputs": [{"name": k, "shape": list(v)} for k, v in resolved.items()],
        }
