"""The end-to-end demo on built-in data.

1. Measure: the zoo compared on every runtime usable here (ONNX Runtime, OpenVINO, PyTorch eager,
   LiteRT when a .tflite converter is installed), layer profiles for one model.
2. Search: a hand-tuned network (``digits_net``) trained on scikit-learn's digits, profiled on
   ONNX Runtime; a TPE search over width, depth and resolution for a faster variant under
   "accuracy >= baseline - 0.5 points", each candidate inheriting the baseline's weights and
   fine-tuning for 2 epochs; baseline and best measured again side by side (interleaved
   rounds) for the speed-up.
3. Everything goes to the store; ``demo.json``, ``report.md``, ``baseline.onnx``,
   ``best.onnx`` and the HTML report with its figures (``report/report.html``, PNGs beside
   it) go to ``--out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from xcelerator.measure import session
from xcelerator.measure.plan import Plan
from xcelerator.targets.registry import probe_all, tflite_converter_available

MODELS = ["mobilenet_v2_1.0_224", "resnet18_224", "bert_tiny_s128"]
QUICK_MODELS = ["mobilenet_v2_0.35_96", "bert_tiny_s32"]


def demo_targets() -> tuple[list[str], list[str]]:
    """Single-threaded local CPU targets that are usable here; and notes on those left out."""
    usable = {p.target: p for p in probe_all()}
    chosen, notes = [], []
    for rt in ("onnxruntime", "openvino", "torch", "litert"):
        p = usable.get(rt)
        if p is None or not p.usable:
            notes.append(f"{rt}: {p.detail if p else 'unknown'}")
            continue
        if rt == "litert" and not tflite_converter_available():
            notes.append("litert: no .tflite converter installed (pip install 'xcelerator[tflite]')")
            continue
        chosen.append(f"{rt}?threads=1")
    return chosen, notes


def run_demo(out: Path, quick: bool = False, console: Console | None = None, db: str | None = None) -> dict[str, Any]:
    from xcelerator.cli.common import store as default_store
    from xcelerator.store.db import Store

    console = console or Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    st = Store(db) if db else default_store()
    targets, notes = demo_targets()
    for n in notes:
        console.print(f"[yellow]left out[/yellow] {escape(n)}")
    models = QUICK_MODELS if quick else MODELS
    plan = Plan(
        rel_ci=0.02,
        min_rounds=2,
        max_rounds=3 if not quick else 2,
        min_seconds=0.3,
        max_seconds=1.5 if not quick else 0.5,
        warmup_runs=3,
    )
    t0 = time.time()
    console.print(f"[bold]comparing {len(models)} zoo models on {', '.join(targets)}[/bold] (exports are cached)")
    from rich.progress import Progress

    with Progress(console=console) as prog:
        task = prog.add_task("measuring", total=None)
        comp = session.run(
            models,
            targets,
            plan,
            store=st,
            progress=lambda d: prog.update(task, description=d[:70], advance=1),
        )
    console.print("[bold]layer profile of mobilenet_v2 on each runtime[/bold]")
    layered = session.run(
        [models[0] if quick else "mobilenet_v2_1.0_224"],
        targets,
        plan.replace(layers=True, min_rounds=1, max_rounds=1),
        store=st,
    )
    from xcelerator.cli.tables import comparison_table, layer_tables, measurement_table

    console.print(measurement_table(list(comp.measurements)))
    console.print(comparison_table(comp))
    for m in layered.measurements:
        for t in layer_tables(m, top=5):
            console.print(t)
        if not m.layers:
            console.print(escape(f"{m.target}: no layer times: {m.layers_note}"))
    failed = [m for m in (*comp.measurements, *layered.measurements) if m.status != "ok"]
    doc: dict[str, Any] = {
        "targets": targets,
        "left_out": notes,
        "models": list(comp.models),
        "compare": comp.table(),
        "layers": [
            {
                "target": m.target,
                "model": m.model,
                "by_op_type": m.by_op_type(),
                "unattributed_share": m.unattributed_share,
                "note": m.layers_note,
            }
            for m in layered.measurements
        ],
        "measurements": [m.to_json() for m in (*comp.measurements, *layered.measurements)],
        "failed": [f"{m.model} on {m.target}: {m.error}" for m in failed],
        "db": st.url,
        "seconds": round(time.time() - t0, 1),
    }
    fastest = {}
    for model in comp.models:
        best = min(
            (m for m in comp.measurements if m.model == model and m.stats),
            key=lambda m: m.stats.median_ms if m.stats else 1e9,
            default=None,
        )
        if best is not None and best.stats is not None:
            fastest[model] = {"target": best.target, "median_ms": best.stats.median_ms}
    doc["fastest_target"] = fastest
    doc.update(_search_part(out, st, quick, console))
    failed_search = doc.get("search_failed")
    if failed_search:
        doc["failed"].append(failed_search)
    doc["seconds"] = round(time.time() - t0, 1)
    (out / "report.md").write_text(_report(doc))
    doc["report"] = str((out / "report.md").resolve())
    doc["html_report"] = _html_report(out, st, comp.measurements, layered.measurements, doc)
    doc["summary"] = (
        f"{len(comp.measurements)} measurements of {len(comp.models)} models on {len(targets)} targets; search: "
        + (
            f"{doc['speedup']:.2f}x faster at {100 * doc['accuracy_drop']:.2f} points lower accuracy"
            if doc.get("speedup")
            else "no faster feasible model"
        )
        + f"; {len(doc['failed'])} failed; {doc['seconds']} s; results in {out / 'demo.json'}"
    )
    (out / "demo.json").write_text(json.dumps(doc, indent=1, default=str))
    return doc


def _search_part(out: Path, st: Any, quick: bool, console: Console) -> dict[str, Any]:
    """Train the hand-tuned digits_net, search a faster variant, measure both side by side."""
    from xcelerator.measure.core import measure_many
    from xcelerator.models.artifact import load_artifact
    from xcelerator.search.evaluators import export_best
    from xcelerator.search.study import SearchConfig, run_search
    from xcelerator.targets.registry import parse_target

    cfg = SearchConfig(
        space="scaling",
        space_options={"base": "digits_net", "w_max": 1.0, "d_max": 1.0, "r_min": 8, "r_max": 32},
        objectives=["latency"],
        constraints=["accuracy>=baseline-0.005"],
        strategy="tpe",
        trials=3 if quick else 12,
        dataset="digits",
        epochs=3 if quick else 4,
        train_seconds=60.0,
        inherit=True,  # candidates start from the trained baseline and fine-tune (the seed's accuracy recovery)
        finetune_epochs=2,
        target="onnxruntime?threads=1",
        study=f"demo-{int(time.time())}",
        seed=0,
        out=str(out / "search"),
    )
    console.print(
        f"[bold]search[/bold]: {cfg.trials} trials of {cfg.space} around digits_net on digits, "
        f"objectives {cfg.objectives}, constraint {cfg.constraints[0]}"
    )
    from rich.progress import Progress

    with Progress(console=console) as prog:
        task = prog.add_task("search", total=cfg.trials)
        res = run_search(cfg, st.url, store=st, progress=lambda d: prog.update(task, description=d[:70], advance=1))
    base = res.baseline
    part: dict[str, Any] = {"search": res.to_json()}
    if base is None:
        part["search_failed"] = "the baseline failed"
        return part
    base_onnx = export_best(base["user_attrs"]["onnx"], out.resolve() / "baseline.onnx")
    part["baseline"] = {
        "onnx": str(base_onnx),
        "accuracy": base["user_attrs"]["values_all"]["accuracy"],
        "median_ms": base["user_attrs"]["values_all"]["latency"],
    }
    best = res.best
    if best is None or best["number"] == base["number"]:
        part.update(best=None, speedup=None, accuracy_drop=None)
        return part
    best_onnx = export_best(best["user_attrs"]["onnx"], out.resolve() / "best.onnx")
    # the speed-up measured in one run: baseline and best interleaved round by round
    t = parse_target(cfg.target)
    a, b = load_artifact(base_onnx, name="baseline"), load_artifact(best_onnx, name="best")
    plan = Plan(min_rounds=4, max_rounds=6, min_seconds=0.3, max_seconds=1.0, rel_ci=0.01)
    mb, mx = measure_many([(a, t), (b, t)], plan)
    st.add(mb, a, t)
    st.add(mx, b, t)
    assert mb.stats is not None and mx.stats is not None
    acc_b = base["user_attrs"]["values_all"]["accuracy"]
    acc_x = best["user_attrs"]["values_all"]["accuracy"]
    part["baseline"]["median_ms"] = mb.stats.median_ms
    part["best"] = {
        "onnx": str(best_onnx),
        "accuracy": acc_x,
        "median_ms": mx.stats.median_ms,
        "params": best["params"],
        "trial": best["number"],
    }
    part["speedup"] = mb.stats.median_ms / mx.stats.median_ms
    part["accuracy_drop"] = acc_b - acc_x
    console.print(
        f"[bold]best[/bold] {best['params']}: {mx.stats.median_ms:.3f} ms vs baseline "
        f"{mb.stats.median_ms:.3f} ms ({part['speedup']:.2f}x), accuracy {acc_x:.4f} vs {acc_b:.4f}"
    )
    return part


def _html_report(out: Path, st: Any, compared: Any, layered: Any, doc: dict[str, Any]) -> str | None:
    """The figures: zoo comparison, layer breakdowns, latency distributions, the search."""
    try:
        from xcelerator.report.html import build
        from xcelerator.report.records import comparison_record, latency_record, layers_record
    except ImportError:  # the report extra is not installed
        return None
    sections: list[tuple[str, list[Any]]] = [
        ("zoo: models × targets", [comparison_record(list(compared))]),
        ("layer breakdowns (mobilenet_v2)", [layers_record(m) for m in layered]),
        ("latency distributions", [latency_record(m) for m in list(compared)[:3]]),
    ]
    search = doc.get("search")
    if search and search.get("study"):
        from xcelerator.cli.report import study_sections

        sections += study_sections(st.url, [search["study"]])
    res = build(sections, out / "report", title="xcelerator demo")
    return str(res["html"])


def _report(doc: dict[str, Any]) -> str:
    """A plain markdown report (the figures are in report/report.html)."""
    lines = ["# xcelerator demo", "", f"Targets: {', '.join(doc['targets'])}.", ""]
    if doc.get("left_out"):
        lines += ["Left out: " + "; ".join(doc["left_out"]), ""]
    lines += [
        "## Zoo: median ms (speed-up against the first target)",
        "",
        "| model | target | median ms | 95% CI | speed-up |",
        "|---|---|---|---|---|",
    ]
    for r in doc["compare"]:
        ci = f"{r['ci_low_ms']:.4g}–{r['ci_high_ms']:.4g}" if r["ci_low_ms"] is not None else "-"
        med = f"{r['median_ms']:.4g}" if r["median_ms"] is not None else r["status"]
        sp = f"{r['speedup']:.2f}×" if r["speedup"] else "-"
        lines.append(f"| {r['model']} | {r['target']} | {med} | {ci} | {sp} |")
    s = doc.get("search")
    if s:
        lines += [
            "",
            f"## Search ({s['study']}, constraints: {', '.join(s['constraints'])})",
            "",
            "| trial | state | params | latency ms | accuracy | feasible |",
            "|---|---|---|---|---|---|",
        ]
        for t in s["trials"]:
            v = t["user_attrs"].get("values_all") or {}
            feas = all(x <= 0 for x in t["user_attrs"].get("constraints", [0])) if t["state"] == "COMPLETE" else False
            lines.append(
                f"| {t['number']}{' (baseline)' if t['user_attrs'].get('role') == 'baseline' else ''} | "
                f"{t['state']} | {t['params']} | {v.get('latency', float('nan')):.4g} | "
                f"{v.get('accuracy', float('nan')):.4f} | {'yes' if feas else 'no'} |"
            )
    if doc.get("speedup"):
        lines += [
            "",
            "## Result",
            "",
            f"Baseline {doc['baseline']['median_ms']:.4g} ms at accuracy {doc['baseline']['accuracy']:.4f}; "
            f"best {doc['best']['median_ms']:.4g} ms at accuracy {doc['best']['accuracy']:.4f}: "
            f"**{doc['speedup']:.2f}× faster**, accuracy drop {100 * doc['accuracy_drop']:.2f} points "
            "(both measured interleaved in one run).",
        ]
    return "\n".join(lines) + "\n"
