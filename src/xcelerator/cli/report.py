"""``xcel report`` (a self-contained HTML file and PNGs) and ``xcel dashboard`` (optuna-dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xcelerator.cli import common
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

    from xcelerator.costmodel.crossdevice import CrossDeviceModel, load_phone_dataset, select_signature
    from xcelerator.report.records import costmodel_record

    tables = {"phones": "cpu", "phones-gpu": "gpu"}
    if data not in tables:
        raise BadInputError(f"--data {data!r}: known latency tables are {', '.join(tables)}")
    from sklearn.model_selection import GroupKFold

    table = load_phone_dataset(tables[data])
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


def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.html, PNGs and records.json")] = Path(
        "xcel-report"
    ),
    study: Annotated[list[str] | None, typer.Option("--study", help="a study in the database (repeatable)")] = None,
    measurements: Annotated[
        bool, typer.Option("--measurements", help="the latest stored measurements (see --model, --target, --last)")
    ] = False,
    model: Annotated[str | None, typer.Option("--model", help="only measurements of this model")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="target filter / predictor target")] = None,
    last: Annotated[int, typer.Option("--last", help="the latest N measurements")] = 10_000,
    detail: Annotated[int, typer.Option("--detail", help="distributions and layers of the latest N measurements")] = 6,
    predictor: Annotated[
        str | None, typer.Option("--predictor", "-p", help="a predictor scored on --target's measurements")
    ] = None,
    include_training: Annotated[bool, typer.Option("--include-training")] = False,
    data: Annotated[str | None, typer.Option("--data", help="cross-device study: phones | phones-gpu")] = None,
    pareto: Annotated[
        list[str] | None, typer.Option("--pareto", help="a front written by xcel pareto --out (repeatable)")
    ] = None,
    method: Annotated[str, typer.Option("--method", "-m")] = "spearman",
    mode: Annotated[str, typer.Option("--mode")] = "stacked",
    size: Annotated[int, typer.Option("--size")] = 10,
    title: Annotated[str, typer.Option("--title")] = "xcelerator report",
    png: Annotated[bool, typer.Option("--png/--no-png", help="also write PNGs (matplotlib)")] = True,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write a self-contained HTML report (works offline) and PNGs."""
    from xcelerator.report.html import build

    if last < 1:
        raise BadInputError(f"--last {last}: must be >= 1")
    sections: list[tuple[str, list[Any]]] = []
    st = common.store()
    if study:
        sections += study_sections(st.url, study)
    if predictor:
        if not target:
            raise BadInputError("--predictor needs --target (whose measurements to score it on)")
        sections += predictor_sections(st, predictor, target, include_training)
    if data:
        sections += crossdevice_sections(data, method, mode, size)
    if pareto:
        from xcelerator.report.records import pareto_record

        sections += [(f"configuration front {Path(p).name}", [pareto_record(p)]) for p in pareto]
    if measurements or not (study or predictor or data or pareto):
        sections += measurement_sections(st, model, None if predictor else target, last, detail)
    with common.err.status("drawing"):
        res = build(sections, out, title=title, png=png)
    if json:
        common.emit_json(res)
        return
    common.out.print(
        f"report: {res['html']} ({res['bytes'] / 1e6:.1f} MB, {len(res['figures'])} figures, "
        f"{len(res['notes'])} notes, {len(res['pngs'])} PNGs)"
    )


def dashboard(
    host: Annotated[str, typer.Option("--host", help="address to bind (keep it private)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
) -> None:
    """Serve optuna-dashboard on the project database (live studies)."""
    try:
        import optuna_dashboard
    except ImportError:
        from xcelerator.errors import MissingDependencyError

        raise MissingDependencyError("optuna_dashboard", "report", "xcel dashboard") from None
    st = common.store()
    common.err.print(f"optuna-dashboard on http://{host}:{port}/ for {st.url} (Ctrl-C stops it)")
    optuna_dashboard.run_server(st.url, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(dashboard)
