"""The Python API behind the command line (``import xcelerator as xc``).

    m = xc.profile("det.onnx", target="onnxruntime?threads=1", shape={"x": (1, 3, 640, 640)})
    m.status, m.stats.median_ms, m.stats.ci_low_ms, m.inputs
    c = xc.compare(["a.onnx", "b.onnx"], ["onnxruntime?threads=1", "ncnn?threads=1"])

Bad input raises ``BadInputError`` before anything runs; a run that fails is a ``Measurement``
with ``status`` other than ``ok`` and its reason in ``error`` (the whole text in ``error_detail``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xcelerator.measure.plan import Plan, make_plan
from xcelerator.measure.records import Measurement

Shape = Mapping[str, Sequence[int]] | Sequence[int] | None


def plan_for(
    plan: Plan | None = None,
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    **plan_kw: Any,
) -> Plan:
    """A Plan from keyword arguments (``Plan``'s fields), the input options added: ``shape`` as
    ``{"x": (1, 3, 640, 640)}`` or ``(1, 3, 640, 640)`` for a one-input model, ``dims`` as
    ``{"height": 640}``, ``fill`` as ``{"sr": 16000}``, ``input`` as ``random``, ``zeros`` or a
    ``.npz`` path."""
    base = plan or Plan()
    kw: dict[str, Any] = dict(plan_kw)
    if input != "random":  # zeros, or a .npz checked to exist
        given = make_plan(None, None, None, "0.01", 5, None, 300.0, False, None, input, 0)
        kw.update(input=given.input, npz=given.npz)
    shapes: list[tuple[str, tuple[int, ...]]] = []
    if isinstance(shape, Mapping):
        shapes = [(str(k), tuple(int(d) for d in v)) for k, v in shape.items()]
    elif shape is not None:
        shapes = [("", tuple(int(d) for d in shape))]
    if shapes:
        kw["shapes"] = tuple(sorted(shapes))
    if dims:
        kw["dims"] = tuple(sorted((str(k), int(v)) for k, v in dims.items()))
    if fill:
        kw["fills"] = tuple(sorted((str(k), float(v)) for k, v in fill.items()))
    return base.replace(**kw) if kw else base


def _store(db: Any) -> Any:
    if db is None:
        return None
    from xcelerator.store.db import Store

    return db if isinstance(db, Store) else Store(str(db))


def profile(
    model: str,
    target: str = "onnxruntime",
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    plan: Plan | None = None,
    db: Any = None,
    **plan_kw: Any,
) -> Measurement:
    """Measure one model (a file or a zoo name) on one target; stored when ``db`` is given (a URL,
    a path or a ``Store``)."""
    return compare([model], [target], shape=shape, dims=dims, fill=fill, input=input, plan=plan, db=db, **plan_kw)[0]


def compare(
    models: Sequence[str],
    targets: Sequence[str],
    *,
    shape: Shape = None,
    dims: Mapping[str, int] | None = None,
    fill: Mapping[str, float] | None = None,
    input: str = "random",
    plan: Plan | None = None,
    db: Any = None,
    **plan_kw: Any,
) -> list[Measurement]:
    """Every model on every target, interleaved round by round; the measurements in model-major
    order (the first model and the first target are the references)."""
    from xcelerator.measure import session

    p = plan_for(plan, shape=shape, dims=dims, fill=fill, input=input, **plan_kw)
    pairs = session.prepare(list(models), list(targets), plan=p)
    return list(session.execute(pairs, p, store=_store(db)).measurements)
