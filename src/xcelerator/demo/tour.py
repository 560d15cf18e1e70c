"""The end-to-end demo on built-in data.

1. Measure: the zoo compared on every runtime usable here (ONNX Runtime, OpenVINO, PyTorch eager,
   LiteRT when a .tflite converter is installed), layer profiles for one model.
2. Optimize (``xcelerator.demo.run``): a published baseline for Fashion-MNIST (TensorFlow's
   layers-tutorial CNN, 0.916 published test accuracy) at its native 28×28 goes through
   ``xc.optimize`` on ONNX Runtime under "accuracy >= baseline" on the validation split (the
   0.5-point goal on test accuracy is left to the split's noise and to the optimism of keeping
   the fastest candidate that passes);
   the baseline, the measured choice and the choice a MACs proxy would make are measured again
   side by side, and their accuracies reported on the 10,000 test images with CIs. Without
   Fashion-MNIST's files (Debian ``dataset-fashion-mnist``, or ``XCEL_DATA``), and with
   ``--quick``, the same runs on scikit-learn's digits at 8×8.
3. Everything goes to the store; ``demo.json``, ``report.md``, ``baseline.onnx``,
   ``best.onnx``, ``flops_proxy.onnx`` and the HTML report with its figures
   (``report/report.html``) go to ``--out``.

What it has to say goes to callbacks (``Hooks``): lines of text, the comparison and the layer
profiles to show (the command line draws them as tables), phases and steps for a progress bar.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xcelerator.measure import session
from xcelerator.rounds.plan import Plan
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


def demo_dataset(dataset: str | None, quick: bool) -> tuple[str, str | None, str | None]:
    """(dataset name, its folder, a one-line note when falling back to digits)."""
    from xcelerator.train.datasets import find_fashion_mnist

    if quick and dataset is None:
        return "digits", None, None
    name, _, folder = (dataset or "fashion-mnist").partition(":")
    if name == "digits":
        return "digits", None, None
    if name != "fashion-mnist":
        from xcelerator.errors import BadInputError

        raise BadInputError(f"--dataset {dataset!r}: use fashion-mnist, fashion-mnist:DIR or digits")
    where = find_fashion_mnist(folder or None)
    if where is None:
        return (
            "digits",
            None,
            (
                f"Fashion-MNIST not found ({folder or 'XCEL_DATA, /usr/share/datasets/fashion-mnist'}; "
                "apt-get install dataset-fashion-mnist): running on digits instead"
            ),
        )
    return "fashion-mnist", str(where), None


class Hooks:
    """Where the demo's output goes; by default, nowhere (subclass or pass callables)."""

    def __init__(
        self,
        say: Callable[[str], None] | None = None,
        show: Callable[[str, Any], None] | None = None,
        phase: Callable[[str, int | None], None] | None = None,
        step: Callable[[str], None] | None = None,
    ) -> None:
        self.say = say or (lambda text: None)  # a line of text
        self.show = show or (lambda kind, what: None)  # "comparison" (a Comparison), "layers" (a Measurement)
        self.phase = phase or (lambda text, total: None)  # a new phase of ``total`` steps (None: unknown)
        self.step = step or (lambda text: None)  # one step done


def run_demo(
    out: Path, quick: bool = False, hooks: Hooks | None = None, db: Any = None, dataset: str | None = None
) -> dict[str, Any]:
    """The whole demo into ``out`` and the store ``db`` (a ``Store``, a URL or path; None: the
    default store); returns what ``demo.json`` holds."""
    from xcelerator.store.db import Store

    hooks = hooks or Hooks()
    out.mkdir(parents=True, exist_ok=True)
    st = db if isinstance(db, Store) else Store(db)
    ds_name, ds_folder, ds_note = demo_dataset(dataset, quick)
    if ds_note:
        hooks.say(ds_note)
    targets, notes = demo_targets()
    for n in notes:
        hooks.say(f"left out {n}")
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
    doc, comp, layered = _zoo_part(models, targets, plan, st, hooks, quick, notes)
    doc.update(_optimize_part(out, st, quick, hooks, ds_name, ds_folder))
    doc["dataset_note"] = ds_note
    doc["seconds"] = round(time.time() - t0, 1)
    (out / "report.md").write_text(_report(doc))
    doc["report"] = str((out / "report.md").resolve())
    doc["html_report"] = _html_report(out, st, comp.measurements, layered.measurements, doc)
    doc["summary"] = _summary(doc, comp, targets, ds_name, out)
    (out / "demo.json").write_text(json.dumps(doc, indent=1, default=str))
    return doc


def _summary(doc: dict[str, Any], comp: Any, targets: list[str], ds_name: str, out: Path) -> str:
    sp_ci = doc.get("speedup_ci")
    return (
        f"{len(comp.measurements)} measurements of {len(comp.models)} models on {len(targets)} targets; "
        f"optimize on {ds_name}: "
        + (
            f"{doc['speedup']:.2f}x faster [{sp_ci[0]:.2f}, {sp_ci[1]:.2f}] at "
            f"{100 * doc['accuracy_drop']:.2f} points lower test accuracy "
            f"[{100 * doc['accuracy_drop_ci'][0]:.2f}, {100 * doc['accuracy_drop_ci'][1]:.2f}]"
            if doc.get("best") and sp_ci and doc.get("accuracy_drop_ci")
            else "no faster model met the accuracy constraint"
        )
        + f"; {len(doc['failed'])} failed; {doc['seconds']} s; results in {out / 'demo.json'}"
    )


def _fastest(comp: Any) -> dict[str, Any]:
    """Per model, the target it ran fastest on."""
    fastest = {}
    for model in comp.models:
        best = min(
            (m for m in comp.measurements if m.model == model and m.stats),
            key=lambda m: m.stats.median_ms if m.stats else 1e9,
            default=None,
        )
        if best is not None and best.stats is not None:
            fastest[model] = {"target": best.target, "median_ms": best.stats.median_ms}
    return fastest


def _zoo_part(
    models: list[str], targets: list[str], plan: Plan, st: Any, hooks: Hooks, quick: bool, notes: list[str]
) -> tuple[dict[str, Any], Any, Any]:
    """The zoo compared on every usable runtime, and one model's layer profile on each."""
    hooks.say(f"comparing {len(models)} zoo models on {', '.join(targets)} (exports are cached)")
    hooks.phase("measuring", None)
    comp = session.run(models, targets, plan, store=st, progress=hooks.step)
    hooks.say("layer profile of mobilenet_v2 on each runtime")
    layered = session.run(
        [models[0] if quick else "mobilenet_v2_1.0_224"],
        targets,
        plan.replace(layers=True, min_rounds=1, max_rounds=1),
        store=st,
    )
    hooks.show("comparison", comp)
    for m in layered.measurements:
        hooks.show("layers", m)
        if not m.layers:
            hooks.say(f"{m.target}: no layer times: {m.layers_note}")
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
    }
    doc["fastest_target"] = _fastest(comp)
    return doc, comp, layered


def _optimize_part(out: Path, st: Any, quick: bool, hooks: Hooks, name: str, folder: str | None) -> dict[str, Any]:
    """``xc.optimize`` on the dataset's published baseline (``xcelerator.demo.run``)."""
    from xcelerator.demo.data import load
    from xcelerator.demo.run import BUDGETS, QUICK, optimize_part

    budget = QUICK if quick else BUDGETS[name]
    data = load(name, folder)
    from xcelerator.targets.registry import runtimes

    et = runtimes().get("executorch")
    usable, why = et.probe({}) if et is not None else (False, "not registered")
    mobile = ("executorch?threads=1",) if usable else ()
    if not usable:
        hooks.say(f"the mobile runtime is left out of the search: executorch: {why}")
    hooks.phase("optimize", budget.trials)
    part = optimize_part(
        data,
        out.resolve(),
        st,
        budget,
        mobile=mobile,
        say=hooks.say,
        progress=hooks.step,
        side_by_side=Plan(min_rounds=3, max_rounds=4, min_seconds=0.1, max_seconds=0.3) if quick else None,
    )
    b, x = part["baseline"], part["best"]
    if x:
        hooks.say(
            f"best trial {x['trial']} ({x['precision']}): {x['median_ms']:.3f} ms "
            f"vs baseline {b['median_ms']:.3f} ms "
            f"({part['speedup']:.2f}x), test accuracy {x['accuracy']:.4f} vs {b['accuracy']:.4f}"
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
    opt = doc.get("optimize")
    if opt:
        sections.insert(
            0, (f"optimize on {doc['dataset']}: both fronts", [{"kind": "optimize", "title": opt["study"], **opt}])
        )
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
    lines += _report_trials(doc)
    lines += _report_result(doc)
    lines += [
        _runtime_line(t, r) for t, r in (doc.get("per_runtime") or {}).items() if r.get("baseline_trial") is not None
    ]
    return "\n".join(lines) + "\n"


def _report_trials(doc: dict[str, Any]) -> list[str]:
    """The optimize section: every trial, on the validation split."""
    lines: list[str] = []
    o = doc.get("optimize")
    if o:
        lines += [
            "",
            f"## Optimize on {doc['dataset']} ({o['study']}, constraint: {', '.join(o['constraints'])})",
            "",
            "Accuracy here is on the validation split (selection); the result below is on the test set.",
            "",
            "| trial | state | precision | point | latency ms | MACs | val accuracy (deployed file) | feasible |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in o["trials"]:
            lat = f"{t['latency_ms']:.4g}" if t["latency_ms"] is not None else "-"
            acc = f"{t['accuracy']:.4f}" if t["accuracy"] is not None else "-"
            macs = f"{t['macs']:.3g}" if t["macs"] else "-"
            pt = ", ".join(f"{k.split(':')[-1]}={v}" for k, v in t["point"].items() if v)
            lines.append(
                f"| {t['trial']}{' (baseline)' if t['trial'] == o['baseline']['trial'] else ''} | {t['state']} | "
                f"{t.get('precision') or 'fp32'} | {pt or 'unchanged'} | {lat} | {macs} | {acc} | "
                f"{'yes' if t['feasible'] else 'no'} |"
            )
    return lines


def _report_result(doc: dict[str, Any]) -> list[str]:
    """The result section: baseline, best and the MACs proxy's pick on the test set."""
    lines: list[str] = []
    lines += ["", "## Result (test set, measured side by side)", ""]
    lines += [
        "| model | trial | precision | median ms (95% CI) | MACs | test accuracy of the file (95% CI) |",
        "|---|---|---|---|---|---|",
    ]
    for k in ("baseline", "best", "flops_proxy"):
        row = doc.get(k)
        if not row:
            continue
        cims = row["ci_ms"] or [float("nan")] * 2
        lines.append(
            f"| {k} | {row['trial']} | {row.get('precision', 'fp32')} | {row['median_ms']:.4g} "
            f"({cims[0]:.4g}–{cims[1]:.4g}) | {row['macs']:.3g} | "
            f"{row['accuracy']:.4f} ({row['accuracy_ci'][0]:.4f}–{row['accuracy_ci'][1]:.4f}) |"
        )
    if doc.get("best") and doc.get("speedup_ci") and doc.get("accuracy_drop_ci"):
        lo, hi = doc["speedup_ci"]
        dlo, dhi = doc["accuracy_drop_ci"]
        lines += [
            "",
            f"Best against baseline: {doc['speedup']:.2f}× faster (95% CI {lo:.2f}–{hi:.2f}, "
            f"{doc['speedup_verdict']}); test accuracy {100 * doc['accuracy_drop']:.2f} points lower "
            f"(paired 95% CI {100 * dlo:.2f} to {100 * dhi:.2f}).",
        ]
    else:
        lines += ["", "No candidate faster than the baseline met the accuracy constraint."]
    ps = doc.get("proxy_slower")
    if ps:
        lines += [
            f"The MACs proxy's choice (trial {doc['flops_proxy']['trial']}) against the measured choice: "
            f"the measured choice is {ps['speedup']:.2f}× as fast (95% CI {ps['ci_low']:.2f}–{ps['ci_high']:.2f}, "
            f"{ps['verdict']})."
        ]
    elif doc.get("proxy_same_choice"):
        lines += ["The MACs proxy would have chosen the same candidate."]
    return lines


def _runtime_line(target: str, r: dict[str, Any]) -> str:
    """One sentence on the best on another runtime searched, against the unpruned FP32 network there."""
    ci = r.get("speedup_ci") or [r["speedup"], r["speedup"]]
    d = r["accuracy_drop_ci"]
    return (
        f"On {target}: trial {r['trial']} ({r['precision']}, {Path(r['artifact']).name}) runs {r['speedup']:.2f}× "
        f"as fast as the unpruned FP32 network there (95% CI {ci[0]:.2f}–{ci[1]:.2f}); test accuracy "
        f"{r['accuracy']:.4f} against {r['baseline_accuracy']:.4f} (paired drop 95% CI {100 * d[0]:.2f} to "
        f"{100 * d[1]:.2f} points)."
    )
