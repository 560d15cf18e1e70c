"""Figures from records: plotly for the HTML report, matplotlib for PNGs.

Each ``Panel`` is one figure or, where the record has nothing to draw (an empty study, only
failed trials, a measurement without layer data), a note saying so in its place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Panel:
    key: str
    title: str
    plotly: Any = None  # plotly.graph_objects.Figure
    note: str = ""  # shown instead of the figure when there is nothing to draw


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: Any, title: str, **kw: Any) -> Any:
    fig.update_layout(title=title, template="plotly_white", height=420, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    fig.update_layout(**kw)
    return fig


# ----------------------------------------------------------------------------- plotly
def panels(rec: dict[str, Any], prefix: str = "") -> list[Panel]:
    kind = rec["kind"]
    fn = {
        "latency": _latency,
        "layers": _layers,
        "comparison": _comparison,
        "costmodel": _costmodel,
        "study": _study,
        "studies": _studies,
        "timeline": _timeline,
        "pareto": _pareto,
        "optimize": _optimize,
    }[kind]
    out = fn(rec)
    for p in out:
        p.key = f"{prefix}{p.key}"
    return out


def _latency(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    samples = [x for rnd in r["rounds"] for x in rnd]
    t = f"latency: {r['title']}"
    if not samples:
        return [Panel("latency", t, note=f"no timed runs ({r['status']})")]
    fig = go.Figure()
    for i, rnd in enumerate(r["rounds"]):
        if rnd:
            fig.add_trace(go.Histogram(x=rnd, name=f"round {i + 1}", opacity=0.6, nbinsx=40))
    fig.update_layout(barmode="overlay")
    if r["ci"]:
        fig.add_vrect(x0=r["ci"][0], x1=r["ci"][1], fillcolor="green", opacity=0.15, line_width=0)
    if r["median_ms"]:
        fig.add_vline(x=r["median_ms"], line_color="green", annotation_text=f"median {r['median_ms']:.4g} ms")
    _layout(fig, t + " (95 % CI of the median shaded)", xaxis_title="ms", yaxis_title="runs")
    w = go.Figure()
    for i, wu in enumerate(r["warmup"]):
        if wu:
            w.add_trace(go.Scatter(y=wu, mode="lines+markers", name=f"round {i + 1}"))
    if r["median_ms"]:
        w.add_hline(y=r["median_ms"], line_dash="dot", annotation_text="steady-state median")
    out = [Panel("latency", t, fig)]
    if any(r["warmup"]):
        out.append(Panel("warmup", f"warm-up runs: {r['title']}", _layout(w, "warm-up runs", xaxis_title="run")))
    else:
        out.append(Panel("warmup", "warm-up runs", note="no warm-up runs recorded"))
    return out


def _layers(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    t = f"layers: {r['title']}"
    if not r["ops"]:
        return [Panel("layers", t, note=r["note"] or "no layer data")]
    labels = [*r["ops"], "(unattributed)"]
    values = [*r["op_share"], r["unattributed"]]
    pie = go.Figure(go.Pie(labels=labels, values=values, hole=0.35, sort=False))
    bars = go.Figure(
        go.Bar(
            x=r["node_ms"][::-1],
            y=[f"{n[:40]} ({o})" for n, o in zip(r["nodes"], r["node_ops"], strict=True)][::-1],
            orientation="h",
        )
    )
    return [
        Panel("layers_pie", t, _layout(pie, f"time per op type: {r['title']}")),
        Panel(
            "layers_top",
            t,
            _layout(bars, f"slowest nodes: {r['title']}", xaxis_title="ms (profiled pass)", height=520),
        ),
    ]


def _pareto(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    if not r["ids"]:
        return [Panel("pareto", r["title"], note=f"no configuration measured successfully ({r['failed']} failed)")]
    fr = set(r["front"])
    fig = go.Figure()
    for on, name, color in ((False, "measured", "#9aa5b1"), (True, "Pareto front (noise-aware)", "#d62728")):
        idx = [i for i, c in enumerate(r["ids"]) if (c in fr) == on]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r["exec_time"][i] for i in idx],
                y=[r["max_rss_mib"][i] for i in idx],
                mode="markers",
                name=name,
                marker={"color": color, "size": 10 if on else 7},
                error_x={
                    "type": "data",
                    "array": [r["ci"][i][1] - r["exec_time"][i] for i in idx],
                    "arrayminus": [r["exec_time"][i] - r["ci"][i][0] for i in idx],
                },
                text=[f"id {r['ids'][i]}: {r['settings'][i]}" for i in idx],
                hoverinfo="text+x+y",
            )
        )
    title = f"{r['title']}: execution time (95 % CI) against peak RSS; hover for each setting"
    return [Panel("pareto", r["title"], _layout(fig, title, xaxis_title="ms", yaxis_title="peak RSS MiB", height=500))]


def _timeline(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    if not r["targets"]:
        return [Panel("timeline", "measurements", note=f"no successful measurement among {r['n']}")]
    fig = go.Figure()
    # WebGL only where SVG would crawl: thousands of points
    trace = go.Scattergl if sum(len(d["index"]) for d in r["targets"].values()) > 3000 else go.Scatter
    for t, d in r["targets"].items():
        med = np.array(d["median_ms"])
        fig.add_trace(
            trace(
                x=d["index"],
                y=med,
                mode="markers",
                name=t,
                text=d["model"],
                marker={"size": 4},
                error_y={
                    "type": "data",
                    "array": (np.array(d["ci_high_ms"]) - med).tolist(),
                    "arrayminus": (med - np.array(d["ci_low_ms"])).tolist(),
                    "thickness": 0.5,
                },
            )
        )
    title = f"{r['n']} measurements: median and 95 % CI in the order measured ({r['failed']} failed)"
    return [Panel("timeline", "measurements", _layout(fig, title, xaxis_title="measurement", yaxis_type="log"))]


def _comparison(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    if not r["models"]:
        return [Panel("comparison", "comparison", note="no successful measurements to compare")]
    fig = go.Figure()
    for t, med, lo, hi in zip(r["targets"], r["median_ms"], r["ci_low_ms"], r["ci_high_ms"], strict=True):
        err_hi = [(h - m) if m is not None and h is not None else 0 for m, h in zip(med, hi, strict=True)]
        err_lo = [(m - lo_) if m is not None and lo_ is not None else 0 for m, lo_ in zip(med, lo, strict=True)]
        fig.add_trace(
            go.Bar(
                name=t,
                x=r["models"],
                y=med,
                error_y={"type": "data", "array": err_hi, "arrayminus": err_lo},
            )
        )
    _layout(fig, "median latency per model and target (95 % CI)", barmode="group", yaxis_title="ms")
    sp = go.Figure()
    for t, s in zip(r["targets"][1:], r["speedup"][1:], strict=True):
        sp.add_trace(go.Bar(name=t, x=r["models"], y=s))
    out = [Panel("comparison", "comparison", fig)]
    if len(r["targets"]) > 1:
        sp.add_hline(y=1.0, line_dash="dot")
        out.append(
            Panel(
                "speedup",
                "speed-up",
                _layout(sp, f"speed-up against {r['targets'][0]}", barmode="group", yaxis_title="×"),
            )
        )
    return out


def _costmodel(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    y, p = np.array(r["measured"]), np.array(r["predicted"])
    if not len(y):
        return [Panel("costmodel", "cost model", note="no measurements to score the predictor on")]
    lo, hi = float(min(y.min(), p.min())) * 0.8, float(max(y.max(), p.max())) * 1.25
    line = np.geomspace(lo, hi, 50)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=line, y=line * 1.1, mode="lines", line={"width": 0}, showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=line,
            y=line * 0.9,
            mode="lines",
            fill="tonexty",
            fillcolor="rgba(0,150,0,0.15)",
            line={"width": 0},
            name="±10 %",
        )
    )
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", line={"dash": "dot", "color": "gray"}, name="exact"))
    fig.add_trace(go.Scatter(x=y, y=p, mode="markers", text=r["names"], name="models", marker={"size": 6}))
    _layout(
        fig,
        "predicted against measured",
        xaxis={"type": "log", "title": "measured ms"},
        yaxis={"type": "log", "title": "predicted ms"},
    )
    e = np.array(r["abs_err_sorted"])
    cdf = go.Figure(go.Scatter(x=e, y=np.arange(1, len(e) + 1) / len(e) * 100, mode="lines", name="models"))
    cdf.add_vline(x=10, line_dash="dot", annotation_text="±10 %")
    out = [
        Panel("costmodel_scatter", "predicted against measured", fig),
        Panel(
            "costmodel_cdf",
            "error CDF",
            _layout(cdf, "error distribution", xaxis_title="|error| %", yaxis_title="% of models within"),
        ),
    ]
    if r.get("groups"):
        g = go.Figure(go.Bar(x=r["groups"], y=r["group_within10"], text=[f"{v:.0f}" for v in r["group_within10"]]))
        out.append(
            Panel("costmodel_groups", "per device", _layout(g, "share within ±10 % per device", yaxis_title="%"))
        )
    return out


def _study(r: dict[str, Any]) -> list[Panel]:
    go = _go()
    name = r["name"]
    done = [t for t in r["trials"] if t["state"] == "COMPLETE" and t["values"]]
    if not r["trials"]:
        return [Panel("study", f"study {name}", note=f"study {name} has no trials yet")]
    if not done:
        failed = [t for t in r["trials"] if t["state"] == "FAIL"]
        why = f"; e.g. #{failed[0]['number']}: {failed[0]['error']}" if failed else ""
        return [
            Panel("study", f"study {name}", note=f"study {name}: no completed trial ({len(failed)} failed{why})"),
            _trial_table(r),
        ]
    out = []
    objs = r["objectives"]
    if len(objs) == 2:
        fig = go.Figure()
        for feas, color, label in ((True, "#1f77b4", "feasible"), (False, "#bbbbbb", "infeasible")):
            pts = [t for t in done if t["feasible"] == feas]
            if pts:
                fig.add_trace(
                    go.Scatter(
                        x=[t["values"][1] for t in pts],
                        y=[t["values"][0] for t in pts],
                        mode="markers",
                        name=label,
                        marker={"color": color, "size": 8},
                        text=[f"#{t['number']} {json.dumps(t['params'])}" for t in pts],
                        hoverinfo="text+x+y",
                    )
                )
        front = sorted((t for t in done if t["number"] in r["front"]), key=lambda t: t["values"][1])
        if front:
            fig.add_trace(
                go.Scatter(
                    x=[t["values"][1] for t in front],
                    y=[t["values"][0] for t in front],
                    mode="lines+markers",
                    name="Pareto front",
                    line={"shape": "hv", "color": "#d62728"},
                )
            )
        for t in done:
            if t["number"] == r["chosen"] or t["role"] == "baseline":
                fig.add_trace(
                    go.Scatter(
                        x=[t["values"][1]],
                        y=[t["values"][0]],
                        mode="markers",
                        name="chosen" if t["number"] == r["chosen"] else "baseline",
                        marker={"symbol": "star" if t["number"] == r["chosen"] else "diamond", "size": 16},
                    )
                )
        note = f" (constraints: {', '.join(r['constraints'])})" if r["constraints"] else ""
        out.append(
            Panel(
                "pareto",
                f"Pareto front: {name}",
                _layout(fig, f"{name}: Pareto front{note}", xaxis_title=objs[1], yaxis_title=objs[0], height=500),
            )
        )
        if r["hypervolume"]:
            hv = go.Figure(go.Scatter(y=r["hypervolume"], x=list(range(1, len(r["hypervolume"]) + 1)), mode="lines"))
            out.append(
                Panel(
                    "hypervolume",
                    "hypervolume",
                    _layout(hv, f"{name}: hypervolume of feasible trials", xaxis_title="evaluations"),
                )
            )
        else:
            out.append(Panel("hypervolume", "hypervolume", note="no feasible trial: no hypervolume to draw"))
    else:
        fig = go.Figure(go.Scatter(y=[t["values"][0] for t in done], x=[t["number"] for t in done], mode="markers"))
        out.append(Panel("values", f"{name}: values", _layout(fig, f"{name}: {objs[0]}", xaxis_title="trial")))
    if r["importance"]:
        imp = go.Figure(go.Bar(x=list(r["importance"].values()), y=list(r["importance"]), orientation="h"))
        out.append(
            Panel(
                "importance",
                "parameter importance",
                _layout(imp, f"{name}: importance (last objective)"),
            )
        )
    else:
        out.append(Panel("importance", "parameter importance", note="too few distinct trials for importance"))
    out.append(_trial_table(r))
    return out


def _trial_table(r: dict[str, Any]) -> Panel:
    go = _go()
    rows = r["trials"]
    cols = ["#", "state", *r["objectives"], "feasible", "params"]
    vals: list[list[Any]] = [
        [t["number"] for t in rows],
        [t["state"] + (" (baseline)" if t["role"] == "baseline" else "") for t in rows],
        *[[f"{t['values'][i]:.4g}" if t["values"] else "-" for t in rows] for i in range(len(r["objectives"]))],
        ["yes" if t["feasible"] else "no" for t in rows],
        [json.dumps(t["params"])[:80] or t["error"][:80] for t in rows],
    ]
    fig = go.Figure(go.Table(header={"values": cols}, cells={"values": vals}))
    return Panel("trials", "trials", _layout(fig, f"{r['name']}: trials", height=min(900, 120 + 24 * len(rows))))


def _studies(r: dict[str, Any]) -> list[Panel]:
    """Hypervolume against evaluations, one line per study (e.g. one per strategy)."""
    go = _go()
    fig = go.Figure()
    for s in r["studies"]:
        if s["hypervolume"]:
            fig.add_trace(go.Scatter(y=s["hypervolume"], x=list(range(1, len(s["hypervolume"]) + 1)), name=s["name"]))
    if not fig.data:
        return [Panel("strategies", "strategies", note="no study with a feasible trial")]
    return [
        Panel(
            "strategies",
            "strategies",
            _layout(
                fig,
                "hypervolume against evaluations, per study (each normalized on its own trials)",
                xaxis_title="evaluations",
            ),
        )
    ]


# ----------------------------------------------------------------------------- matplotlib
_PRECISION_COLOURS = {"fp32": "#1f77b4", "int8": "#ff7f0e"}
_RUNTIME_SYMBOLS = ("circle", "square", "triangle-up", "diamond", "cross", "x", "pentagon")


def _optimize(r: dict[str, Any]) -> list[Panel]:
    """``xc.optimize``'s candidates: accuracy against measured latency (with the 95 % CI) and
    against MACs, one colour per precision and one marker per runtime; the baseline, the best
    and the accuracy-latency front marked over them."""
    go = _go()
    done = [t for t in r["trials"] if t["state"] == "COMPLETE" and t["latency_ms"] is not None]
    if not done:
        return [Panel("optimize", r["title"], note="no candidate was measured")]
    front = set(r["pareto"])
    base = r["baseline"]["trial"]
    best = r["best"]["trial"] if r.get("best") else None
    runtimes = list(dict.fromkeys(t.get("runtime") or "onnxruntime" for t in done))
    kinds = list(dict.fromkeys((t.get("precision") or "fp32", t.get("runtime") or "onnxruntime") for t in done))
    out = []
    for key, field, label in (("latency", "latency_ms", "measured latency (ms)"), ("macs", "macs", "MACs")):
        fig = go.Figure()
        groups: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []
        for prec, rt in kinds:
            ts = [t for t in done if (t.get("precision") or "fp32", t.get("runtime") or "onnxruntime") == (prec, rt)]
            symbol = _RUNTIME_SYMBOLS[runtimes.index(rt) % len(_RUNTIME_SYMBOLS)]
            groups.append((f"{prec} on {rt}", ts, {"color": _PRECISION_COLOURS.get(prec, "#9aa5b1"), "size": 8,
                                                   "symbol": symbol}))  # fmt: skip
        ring = {"color": "rgba(0,0,0,0)", "size": 15, "line": {"width": 2}}
        groups += [
            ("front", [t for t in done if t["trial"] in front], {**ring, "line": {"color": "#d62728", "width": 2}}),
            ("baseline", [t for t in done if t["trial"] == base], {"color": "#7f7f7f", "size": 16, "symbol": "star"}),
            ("best", [t for t in done if t["trial"] == best], {**ring, "size": 20, "symbol": "diamond-open",
                                                               "line": {"color": "#2ca02c", "width": 3}}),
        ]  # fmt: skip
        for name, ts, marker in groups:
            if not ts:
                continue
            err = None
            if field == "latency_ms" and name not in ("front", "best"):
                err = {
                    "type": "data",
                    "array": [(t["latency_ci"] or [0, t["latency_ms"]])[1] - t["latency_ms"] for t in ts],
                    "arrayminus": [t["latency_ms"] - (t["latency_ci"] or [t["latency_ms"], 0])[0] for t in ts],
                }
            fig.add_trace(
                go.Scatter(
                    x=[t[field] for t in ts],
                    y=[t["accuracy"] for t in ts],
                    mode="markers",
                    name=name,
                    marker=marker,
                    error_x=err,
                    text=[f"trial {t['trial']} ({t.get('precision') or 'fp32'}): {t['point']}" for t in ts],
                    hoverinfo="text+x+y",
                )
            )
        title = f"{r['title']}: accuracy against {label}"
        out.append(Panel(f"optimize_{key}", title, _layout(fig, title, xaxis_title=label, yaxis_title="accuracy")))
    return out


def write_pngs(rec: dict[str, Any], out: Path, prefix: str = "") -> list[Path]:
    """The main figure(s) of a record as PNG (matplotlib, no browser needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        p = out / f"{prefix}{name}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)

    kind = rec["kind"]
    if kind == "latency":
        samples = [x for rnd in rec["rounds"] for x in rnd]
        if samples:
            fig, ax = plt.subplots(figsize=(7, 4))
            ax.hist(samples, bins=40, alpha=0.7)
            if rec["ci"]:
                ax.axvspan(rec["ci"][0], rec["ci"][1], color="green", alpha=0.2, label="95 % CI of the median")
            if rec["median_ms"]:
                ax.axvline(rec["median_ms"], color="green", label=f"median {rec['median_ms']:.4g} ms")
            ax.set(xlabel="ms", ylabel="runs", title=f"latency: {rec['title']}")
            ax.legend()
            save(fig, "latency")
    elif kind == "layers" and rec["ops"]:
        fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5))
        a.pie([*rec["op_share"], rec["unattributed"]], labels=[*rec["ops"], "(unattributed)"], autopct="%1.0f%%")
        a.set_title("time per op type")
        b.barh([n[:30] for n in rec["nodes"]][::-1], rec["node_ms"][::-1])
        b.set(xlabel="ms", title="slowest nodes")
        save(fig, "layers")
    elif kind == "comparison" and rec["models"]:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        n = len(rec["targets"])
        x = np.arange(len(rec["models"]))
        for i, (t, med) in enumerate(zip(rec["targets"], rec["median_ms"], strict=True)):
            ax.bar(x + i / (n + 1), [m or 0 for m in med], width=1 / (n + 1), label=t)
        ax.set_xticks(x + (n - 1) / (2 * (n + 1)), rec["models"], rotation=20, ha="right")
        ax.set(ylabel="median ms", title="models × targets")
        ax.legend()
        save(fig, "comparison")
    elif kind == "costmodel" and rec["measured"]:
        y, p = np.array(rec["measured"]), np.array(rec["predicted"])
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
        line = np.geomspace(min(y.min(), p.min()) * 0.8, max(y.max(), p.max()) * 1.25, 50)
        a.fill_between(line, line * 0.9, line * 1.1, color="green", alpha=0.15, label="±10 %")
        a.plot(line, line, ":", color="gray")
        a.scatter(y, p, s=10)
        a.set(xscale="log", yscale="log", xlabel="measured ms", ylabel="predicted ms", title="predicted vs measured")
        a.legend()
        e = np.array(rec["abs_err_sorted"])
        b.plot(e, np.arange(1, len(e) + 1) / len(e) * 100)
        b.axvline(10, ls=":", color="gray")
        b.set(xlabel="|error| %", ylabel="% of models within", title="error CDF")
        save(fig, "costmodel")
    elif kind == "study":
        done = [t for t in rec["trials"] if t["state"] == "COMPLETE" and t["values"]]
        if done and len(rec["objectives"]) == 2:
            fig, ax = plt.subplots(figsize=(7, 5))
            for feas, c in ((False, "#bbbbbb"), (True, "#1f77b4")):
                pts = [t for t in done if t["feasible"] == feas]
                ax.scatter([t["values"][1] for t in pts], [t["values"][0] for t in pts], c=c, s=18)
            front = sorted((t for t in done if t["number"] in rec["front"]), key=lambda t: t["values"][1])
            ax.step([t["values"][1] for t in front], [t["values"][0] for t in front], where="post", color="#d62728")
            for t in done:
                if t["number"] == rec["chosen"]:
                    ax.scatter([t["values"][1]], [t["values"][0]], marker="*", s=250, c="gold", edgecolors="k")
            ax.set(xlabel=rec["objectives"][1], ylabel=rec["objectives"][0], title=f"{rec['name']}: Pareto front")
            save(fig, "pareto")
    return paths
