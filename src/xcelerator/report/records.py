"""Plain records that figures are drawn from, each computed once from the store, a study or a
predictor evaluation. A record is a dict of lists and numbers (JSON-ready), so the HTML
(plotly) and PNG (matplotlib) renderers draw the same thing, and a report can be rebuilt from
its JSON without the database."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from xcelerator.measure.core import Measurement


def latency_record(m: Measurement) -> dict[str, Any]:
    """Samples per round, the warm-up runs, the median and its CI."""
    s = m.stats
    return {
        "kind": "latency",
        "title": f"{m.model} on {m.target}",
        "status": m.status,
        "rounds": [list(r.samples_ms) for r in m.rounds],
        "warmup": [list(r.warmup_ms) for r in m.rounds],
        "median_ms": s.median_ms if s else None,
        "ci": [s.ci_low_ms, s.ci_high_ms] if s else None,
        "first_run_ms": m.first_run_ms,
    }


def layers_record(m: Measurement, top: int = 15) -> dict[str, Any]:
    """Share per op type (with the unattributed remainder) and the slowest nodes."""
    un = m.unattributed_share or 0.0
    total = sum(x.mean_ms for x in m.layers)
    by_op = m.by_op_type()
    return {
        "kind": "layers",
        "title": f"{m.model} on {m.target}",
        "ops": list(by_op),
        "op_share": [(v / total) * (1 - un) if total else 0.0 for v in by_op.values()],
        "unattributed": un,
        "nodes": [x.name for x in m.layers[:top]],
        "node_ops": [x.op_type for x in m.layers[:top]],
        "node_ms": [x.mean_ms for x in m.layers[:top]],
        "note": m.layers_note or ("" if m.layers else "no layer data: measure with --layers"),
    }


def _inputs_key(m: Measurement) -> str:
    shapes = ", ".join(f"{i.get('name')} {'x'.join(map(str, i.get('shape', []))) or 'scalar'}" for i in m.inputs)
    return shapes or "declared shapes"


def model_labels(ms: Sequence[Measurement]) -> list[str]:
    """One label per measurement that keeps apart what must not be compared: the same name at
    other inputs gets its shapes, another file under the same name its content hash."""
    shas: dict[str, set[str]] = {}
    keys: dict[str, set[str]] = {}
    for m in ms:
        shas.setdefault(m.model, set()).add(m.artifact_sha256)
        keys.setdefault(m.model, set()).add(_inputs_key(m))
    out = []
    for m in ms:
        label = m.model
        if len(shas[m.model]) > 1:
            label += f" ({m.artifact_sha256[:8]})"
        if len(keys[m.model]) > 1:
            label += f" [{_inputs_key(m)}]"
        out.append(label)
    return out


def comparison_record(ms: Sequence[Measurement]) -> dict[str, Any]:
    """Models × targets medians and CIs, speed-up against the first target of each model. A model
    measured at other inputs (or another file of the same name) is another row: a speed-up is
    only taken between measurements of the same artifact fed the same inputs."""
    labels = model_labels(ms)
    models = list(dict.fromkeys(labels))
    targets = list(dict.fromkeys(m.target for m in ms))
    cell = {(lab, m.target): m for lab, m in zip(labels, ms, strict=True) if m.stats}
    med, lo, hi, spd = [], [], [], []
    for t in targets:
        row_m, row_l, row_h, row_s = [], [], [], []
        for mo in models:
            c = cell.get((mo, t))
            ref = cell.get((mo, targets[0]))
            row_m.append(c.stats.median_ms if c and c.stats else None)
            row_l.append(c.stats.ci_low_ms if c and c.stats else None)
            row_h.append(c.stats.ci_high_ms if c and c.stats else None)
            row_s.append(ref.stats.median_ms / c.stats.median_ms if c and ref and c.stats and ref.stats else None)
        med.append(row_m)
        lo.append(row_l)
        hi.append(row_h)
        spd.append(row_s)
    return {
        "kind": "comparison",
        "models": models,
        "targets": targets,
        "median_ms": med,
        "ci_low_ms": lo,
        "ci_high_ms": hi,
        "speedup": spd,
    }


def timeline_record(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every measurement's median (with its CI) in the order measured, per target: the overview
    of a large store, where one figure per measurement would be unreadable. ``rows`` are the
    store's light summaries (``Store.summaries``)."""
    by: dict[str, dict[str, list[Any]]] = {}
    for i, r in enumerate(rows):
        if r.get("median_ms") is None:
            continue
        d = by.setdefault(r["target"], {"index": [], "median_ms": [], "ci_low_ms": [], "ci_high_ms": [], "model": []})
        d["index"].append(i)
        d["median_ms"].append(r["median_ms"])
        d["ci_low_ms"].append(r.get("ci_low_ms") if r.get("ci_low_ms") is not None else r["median_ms"])
        d["ci_high_ms"].append(r.get("ci_high_ms") if r.get("ci_high_ms") is not None else r["median_ms"])
        d["model"].append(r["model"])
    failed = sum(1 for r in rows if r["status"] != "ok")
    return {"kind": "timeline", "targets": by, "n": len(rows), "failed": failed}


def pareto_record(path: str) -> dict[str, Any]:
    """A configuration front (``xcel pareto --out``): every measured point with its setting, the
    noise-aware front marked."""
    from xcelerator.fronts.core import front, load_front

    d = load_front(path)
    ok = [p for p in d.points if p.status == "ok"]
    fr = {p.id for p in front(d.points, d.with_error)}
    return {
        "kind": "pareto",
        "title": f"{d.model or path}: {d.space} ({d.estimator}, {len(d.points)} of {d.size or '?'} measured)",
        "ids": [p.id for p in ok],
        "exec_time": [p.exec_time for p in ok],
        "ci": [[p.ci_low, p.ci_high] for p in ok],
        "max_rss_mib": [p.max_rss / 1024 for p in ok],
        "error": [p.error for p in ok],
        "settings": [p.setting for p in ok],
        "front": sorted(fr),
        "failed": len(d.points) - len(ok),
    }


def costmodel_record(
    measured: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    names: Sequence[str],
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Predicted against measured, the error distribution and (with groups: devices or
    targets) the share within ±10 % per group."""
    y = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    err = (p / y - 1) * 100 if len(y) else np.zeros(0)
    rec: dict[str, Any] = {
        "kind": "costmodel",
        "measured": y.tolist(),
        "predicted": p.tolist(),
        "names": list(names),
        "abs_err_sorted": np.sort(np.abs(err)).tolist(),
    }
    if groups is not None and len(groups):
        g = np.asarray(groups)
        keys = list(dict.fromkeys(groups))
        rec["groups"] = keys
        rec["group_within10"] = [float(100 * np.mean(np.abs(err[g == k]) <= 10)) for k in keys]
        rec["group_mape"] = [float(np.mean(np.abs(err[g == k]))) for k in keys]
    return rec


def study_record(study: Any) -> dict[str, Any]:
    """A study's trials (values, params, state, feasibility), its Pareto front, the chosen
    trial, hypervolume after each evaluation and parameter importance (Optuna's
    default evaluator, on the last objective)."""
    import optuna

    from xcelerator.nas.problem import DIRECTIONS, hypervolume_2d, pareto_front

    cfg = study.user_attrs.get("config", {})
    objectives = list(cfg.get("objectives", [])) or [f"objective {i}" for i in range(len(study.directions))]
    from xcelerator.nas.study import confirmed_trial

    trials = study.get_trials(deepcopy=False)
    confirmed = study.user_attrs.get("confirmed", {})
    rows = []
    for t in trials:
        ua, values = confirmed_trial(t, confirmed, objectives)  # a hybrid run's front point measured at the end
        viol = ua.get("constraints", [0.0])
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "values": values,
                "params": dict(t.params),
                "feasible": bool(t.values) and all(v <= 0 for v in viol),
                "role": t.user_attrs.get("role", ""),
                "error": str(t.user_attrs.get("error", ""))[:200],
            }
        )
    done = [r for r in rows if r["state"] == "COMPLETE" and r["values"]]
    feasible = [r for r in done if r["feasible"]]
    dirs = [DIRECTIONS.get(o, "minimize") for o in objectives]
    front: list[int] = []
    chosen = None
    hv: list[float] = []
    if feasible and len(objectives) == 2:
        front = pareto_front([(r["number"], r["values"]) for r in feasible], dirs)
        # the chosen model: on the front, the best in the last objective (latency, as the search reports)
        sign = 1 if dirs[1] == "minimize" else -1
        chosen = min((r for r in feasible if r["number"] in front), key=lambda r: sign * r["values"][1])["number"]
        # hypervolume after each evaluation, objectives turned to minimization and scaled to [0, 1]
        signs = np.array([1.0 if d == "minimize" else -1.0 for d in dirs])
        mins = np.array([r["values"] for r in feasible]) * signs
        lo, span = mins.min(0), np.maximum(mins.max(0) - mins.min(0), 1e-12)
        seen: list[list[float]] = []
        for r in sorted(done, key=lambda r: r["number"]):
            if r["feasible"]:
                v = np.array(r["values"]) * signs
                seen.append(((v - lo) / span).tolist())
            hv.append(float(hypervolume_2d(seen, [1.1, 1.1])))
    importance: dict[str, float] = {}
    if len(done) >= 5 and len({tuple(sorted(r["params"].items())) for r in done}) > 2:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PED-ANOVA's reminder that it ranks for low target values
                imp = optuna.importance.get_param_importances(study, target=lambda t: t.values[-1] if t.values else 0.0)
            importance = {k: float(v) for k, v in imp.items()}
        except (RuntimeError, ValueError, ZeroDivisionError):
            importance = {}
    return {
        "kind": "study",
        "name": study.study_name,
        "objectives": objectives,
        "directions": dirs,
        "trials": rows,
        "front": front,
        "chosen": chosen,
        "hypervolume": hv,
        "importance": importance,
        "constraints": cfg.get("constraints", []),
    }
