"""The sections a report is made of (``xc.report`` and ``xcel report``): each a titled list of
records (``report.records``) that ``report.html.build`` draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError


def measurement_sections(
    st: Any, model: str | None, target: str | None, last: int, detail: int = 6
) -> list[tuple[str, list[Any]]]:
    """An overview of the selected measurements (all of them), models × targets for the latest
    models (at most 25, a readable chart), distributions and layers of the latest ``detail``."""
    from xcelerator.report.records import comparison_record, latency_record, layers_record, timeline_record

    rows = st.summaries(target=target, model=model)[-last:]
    # full records (every sample, layers) only for what is drawn in detail: the latest 25 models
    recent_models = list(dict.fromkeys(r["model"] for r in reversed(rows)))[:25]
    ids = [r["id"] for r in rows if r["model"] in recent_models][-200:]
    ms = [m for _, m in st.measurements_by_id(ids)]
    cmp = ms
    latest = ms[-detail:] if detail > 0 else []
    return [
        ("all measurements", [timeline_record(rows)] if rows else []),
        ("models × targets", [comparison_record(cmp)] if cmp else []),
        ("latency distributions", [latency_record(m) for m in latest]),
        ("layer breakdowns", [layers_record(m) for m in latest]),
    ]


def study_sections(url: str, names: list[str]) -> list[tuple[str, list[Any]]]:
    import optuna

    from xcelerator.report.records import study_record

    storage = optuna.storages.RDBStorage(url)
    known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    recs = []
    for n in names:
        if n not in known:
            raise BadInputError(f"no study named '{n}' in {url} (studies there: {', '.join(known) or 'none'})")
        recs.append(study_record(optuna.load_study(study_name=n, storage=storage)))
    out: list[tuple[str, list[Any]]] = [(f"study {r['name']}", [r]) for r in recs]
    if len(recs) > 1:
        out.append(("strategies", [{"kind": "studies", "studies": recs}]))
    return out


def predictor_sections(st: Any, predictor: str, target: str, include_training: bool) -> list[tuple[str, list[Any]]]:
    from xcelerator.costmodel import predictors as P
    from xcelerator.costmodel.samples import from_store
    from xcelerator.report.records import costmodel_record

    est = P.load(predictor)
    s = from_store(st, target)
    trained = set(est.conditions.get("trained_on", []))
    idx = [i for i, h in enumerate(s.sha256) if include_training or h not in trained]
    ev = s.take(idx)
    pred: Any = est.predict(ev.stats) if idx else []
    return [(f"cost model {Path(predictor).name} on {s.target_uri}", [costmodel_record(ev.y_ms, pred, ev.names)])]


def crossdevice_sections(data: str, method: str, mode: str, size: int) -> list[tuple[str, list[Any]]]:
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from xcelerator.costmodel.crossdevice import CrossDeviceModel, phone_table, select_signature
    from xcelerator.report.records import costmodel_record

    table = phone_table(data)
    ys, ps, names, groups = [], [], [], []
    for tr, te in GroupKFold(5).split(table.latency.T, groups=table.groups):
        train = table.subset(tr)
        sig = select_signature(train, method, size)
        model = CrossDeviceModel(mode).fit(train, sig)
        rest = np.setdiff1d(np.arange(len(table.networks)), sig)
        for d in te:
            p = model.predict(table.latency[sig, d])
            ys += table.latency[rest, d].tolist()
            ps += p[rest].tolist()
            names += [f"{table.networks[i]} on {table.devices[d]}" for i in rest]
            groups += [table.groups[d]] * len(rest)
    return [(f"{data}: held-out phones, {method}/{mode}, signature {size}", [costmodel_record(ys, ps, names, groups)])]
