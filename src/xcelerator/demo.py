"""The end-to-end demo on built-in data.

Today it profiles and compares the zoo on every runtime usable here (ONNX Runtime, OpenVINO,
PyTorch eager, LiteRT when a .tflite converter is installed), with layer profiles for one
model, stores everything, and writes ``demo.json`` and the store export into ``--out``.
The search half of the demo (a hand-tuned model made faster without losing accuracy) comes
with the search issue.
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

MODELS = ["mobilenet_v1_0.5_160", "mobilenet_v2_1.0_224", "resnet18_224", "squeezenet_224", "bert_tiny_s128"]
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
    from xcelerator.cli.measure import comparison_table, layer_tables, measurement_table

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
    doc["summary"] = (
        f"{len(comp.measurements)} measurements of {len(comp.models)} models on {len(targets)} "
        f"targets in {doc['seconds']} s; {len(failed)} failed; results in {out / 'demo.json'}"
    )
    (out / "demo.json").write_text(json.dumps(doc, indent=1, default=str))
    return doc
