"""``xc.pareto``: estimate the Pareto front of how one model runs on a target (quantization,
runtime options, backends, placement), each configuration measured. ``xcel pareto`` is this
function on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.fronts.spaces import BUILTIN
from xcelerator.rounds.plan import Plan

SPACES = BUILTIN  # the built-in spaces' names (one file each under fronts/spaces/)


def make_space(
    space: str,
    model: str,
    target: str,
    mode: str,
    max_keys: int | None,
    calibration: str | None,
    backends: str,
    flags: list[str] | None,
) -> Any:
    """The registered space ``space`` over ``model`` (a file or zoo name) on ``target``."""
    from xcelerator.fronts.spaces import SpaceOptions, spaces
    from xcelerator.models.artifact import is_model_file, load_artifact

    known = spaces()
    if space not in known:
        raise BadInputError(f"--space {space!r}: known spaces are {', '.join(known)}")
    if is_model_file(model):
        art = load_artifact(model)
    else:
        from xcelerator.models.export import resolve_model

        art = resolve_model(model, "onnx")
    opts = SpaceOptions(mode, max_keys, calibration, tuple(backends.split(",")), tuple(flags) if flags else None)
    return known[space].make(art, target, opts)


def run_pareto(
    model: str,
    *,
    space: str = "quantize",
    strategy: str = "corners",
    budget: int = 16,
    target: str = "onnxruntime?threads=1",
    out: str | Path = "pareto.json",
    mode: str = "name",
    max_keys: int | None = None,
    calibration: str | None = None,
    data: str | None = None,
    backends: str = "cpu,acl_cl",
    flags: list[str] | None = None,
    seed: int = 0,
    plan: Plan | None = None,
    store: Any = None,
    progress: Callable[[str], None] | None = None,
    confirm: bool = True,
) -> Any:
    """Measure up to ``budget`` configurations of ``model`` chosen by ``strategy`` (corners, brute,
    random, hlps, nsga2); returns the ``FrontDoc`` (saved to ``out`` after every point, so an
    interruption keeps what was measured). ``doc.front()`` is the noise-aware front; with
    ``confirm`` the points near it are measured again side by side first (``ConfigEvaluator.confirm``;
    the dump's ``confirmed`` lists them)."""
    from xcelerator.fronts.core import FrontDoc, run_estimator
    from xcelerator.fronts.evaluate import PARETO_PLAN, ConfigEvaluator

    sp = make_space(space, model, target, mode, max_keys, calibration, backends, flags)
    ev = ConfigEvaluator(sp, plan=plan or PARETO_PLAN, store=store, data=data)
    first = sp.config(0)
    if not first.target.startswith("cmd:"):
        from xcelerator.measure.core import inputs_for

        # inputs the plan cannot feed (a dynamic dimension without --shape) are the user's to fix:
        # one line and exit 2 now, not every configuration failing for the same reason
        inputs_for(first.artifact, ev.plan)
    points: list[Any] = []
    doc = FrontDoc(
        mode=sp.mode,
        oplist=sp.oplist,
        points=points,
        space=sp.name,
        target=target,
        model=model,
        estimator=strategy,
        budget=budget,
        size=sp.size,
        choices=sp.choices,
        with_error=ev.with_error,
    )
    dest = Path(out)

    def keep(cid: int) -> Any:
        p = ev(cid)
        points.append(p)
        doc.save(dest)  # every measured point is on disk at once
        return p

    try:
        run_estimator(strategy, sp, keep, budget, seed=seed, with_error=ev.with_error, progress=progress)
        if confirm:
            if progress:
                progress("measuring the points near the front again, side by side")
            import copy

            first = {p.id: copy.copy(p) for p in points}
            doc.before_confirmation = [first[i] for i in ev.confirm(points, ev.with_error)]
    finally:
        if points:
            doc.save(dest)
    return doc
