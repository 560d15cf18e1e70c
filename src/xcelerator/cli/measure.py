"""``xcel profile``, ``xcel compare``, ``xcel targets`` and ``xcel demo``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

import xcelerator as xc
from xcelerator import api
from xcelerator.cli import common
from xcelerator.cli.tables import comparison_table, layer_tables, measurement_table, speedup_table
from xcelerator.errors import BadInputError, RunFailedError
from xcelerator.rounds.plan import Plan, make_plan, parse_rel_ci

Runs = Annotated[int | None, typer.Option("--runs", help="exactly N timed runs per round (no adaptive stop)")]
MinTime = Annotated[float | None, typer.Option("--min-time", help="at least S seconds of timed runs per round")]
MaxTime = Annotated[float | None, typer.Option("--max-time", help="at most S seconds of timed runs per round")]
RelCi = Annotated[
    str, typer.Option("--rel-ci", help="stop when the CI half-width of the median is under this (0.01 or 1%)")
]
Warmup = Annotated[int, typer.Option("--warmup", help="warm-up runs (reported, not counted)")]
Threads = Annotated[int | None, typer.Option("--threads", help="runtime threads (unless the target URI sets them)")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds one round may take before it is killed")]
Layers = Annotated[bool, typer.Option("--layers", help="per-node times from the runtime's own profiler")]
Rounds = Annotated[
    str | None, typer.Option("--rounds", help="child processes per measurement: N or MIN..MAX (default 6..12)")
]
Inputs = Annotated[str, typer.Option("--input", help="random (seeded), zeros, or a .npz file")]
Shapes = Annotated[
    list[str] | None,
    typer.Option("--shape", help="input shape NAME=1x3x640x640 (repeatable; 1x3x640x640 for a one-input model)"),
]
Dims = Annotated[list[str] | None, typer.Option("--dim", help="a named dynamic dimension NAME=VALUE (repeatable)")]
WaitQuiet = Annotated[
    float | None,
    typer.Option("--wait-quiet", help="wait up to S seconds for no other busy process before measuring"),
]
Fills = Annotated[
    list[str] | None, typer.Option("--fill", help="a constant for an input NAME=VALUE, e.g. sr=16000 (repeatable)")
]
Seed = Annotated[int, typer.Option("--seed", help="seed of random inputs")]
Energy = Annotated[
    bool, typer.Option("--energy", help="energy per inference: RAPL (CPU package) or NVML (CUDA targets)")
]
Ci = Annotated[
    str,
    typer.Option(
        "--ci",
        help="auto: the CI covers a repeat (the target's spread between runs: calibrated, learned from this "
        "database, or a shipped prior); rounds: this run's rounds only",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]
Width = Annotated[float | None, typer.Option("--width", help="zoo width multiplier")]
Res = Annotated[int | None, typer.Option("--resolution", help="zoo input resolution")]
Seq = Annotated[int | None, typer.Option("--seq-len", help="zoo text model sequence length")]


@dataclass(frozen=True)
class MeasureOptions:
    """The options ``profile`` and ``compare`` share, declared once (``common.with_options``):
    how to measure (the Plan), how to wait for a quiet machine, and how to build a zoo model."""

    runs: Runs = None
    min_time: MinTime = None
    max_time: MaxTime = None
    rel_ci: RelCi = "0.01"
    warmup: Warmup = 5
    threads: Threads = None
    timeout: Timeout = 300.0
    layers: Layers = False
    rounds: Rounds = None
    inputs: Inputs = "random"
    shape: Shapes = None
    dim: Dims = None
    fill: Fills = None
    wait_quiet: WaitQuiet = None
    seed: Seed = 0
    energy: Energy = False
    ci: Ci = "auto"
    json: Json = False
    width: Width = None
    resolution: Res = None
    seq_len: Seq = None

    def plan(self) -> Plan:
        return make_plan(
            runs=self.runs, min_time=self.min_time, max_time=self.max_time, rel_ci=self.rel_ci, warmup=self.warmup,
            threads=self.threads, timeout=self.timeout, layers=self.layers, rounds=self.rounds, inputs=self.inputs,
            seed=self.seed, energy=self.energy, shapes=self.shape, dims=self.dim, fills=self.fill, ci=self.ci,
        )  # fmt: skip

    def run(self, models: list[str], targets: list[str] | None, compare: bool, **kw: Any) -> None:
        _run(
            models, targets or ["onnxruntime"], self.plan(), self.json, compare, wait_quiet=self.wait_quiet,
            width=self.width, resolution=self.resolution, seq_len=self.seq_len, **kw,
        )  # fmt: skip


def profile(
    model: Annotated[str, typer.Argument(help="model file (.onnx .tflite .xml .pt2) or zoo name")],
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="target URI or alias (repeatable)")] = None,
    opts: MeasureOptions = MeasureOptions(),
) -> None:
    """Measure one model on one or more targets; store and print the result."""
    opts.run([model], target, False)


def calibrate(
    models: Annotated[
        list[str] | None, typer.Argument(help="models to repeat (default: five zoo networks, ~0.4-60 ms)")
    ] = None,
    target: Annotated[str, typer.Option("--target", "-t", help="target URI or alias")] = "onnxruntime",
    runs: Annotated[int, typer.Option("--runs", help="measurements of each model (3 or more)")] = 5,
    over: Annotated[
        float, typer.Option("--over", help="seconds to spread the runs across (the machine drifts over minutes)")
    ] = 600.0,
    rounds: Rounds = "6",
    threads: Threads = None,
    json: Json = False,
) -> None:
    """Learn how far a median moves between runs on a target (each model measured --runs times,
    each its own measurement); later profiles and compares with this database include that
    spread in their CIs, so they cover a repeat minutes later."""

    plan = make_plan(threads=threads, rounds=rounds)
    n = len(models or api.CALIBRATION_MODELS) * runs
    with common.progress(n, f"calibrating {target}: {n} measurements") as advance:
        noise = api.calibrate(
            target, models or (), runs=runs, over=over, db=common.store(), plan=plan, progress=advance
        )
    if noise is None:
        raise RunFailedError(
            f"calibrate: no model on {target} was measured 3 times successfully (`xcel db export` holds the errors)"
        )
    if json:
        common.emit_json({"target": target, "noise": noise.to_dict()})
        return
    t = Table(title=f"spread of the median between runs on {target}")
    for c in ("model", "median ms", "runs", "between-run SD"):
        t.add_column(c)
    for p in noise.points:
        t.add_row(escape(p.name), f"{p.latency_ms:.3g}", str(p.runs), f"{100 * p.sd:.1f}%")
    common.out.print(t)


def compare(
    models: Annotated[list[str], typer.Argument(help="model files or zoo names")],
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="target URI (repeatable); the first is the reference"),
    ] = None,
    fail_if_slower: Annotated[
        str | None,
        typer.Option(
            "--fail-if-slower",
            help="exit 1 when a model is slower than the first by more than this (5%) with 95% confidence",
        ),
    ] = None,
    apart: Annotated[
        bool,
        typer.Option(
            "--apart",
            help="time every round of every model in its own process (default: models on one target of "
            "this machine share a process after a first round alone, timed in alternating blocks)",
        ),
    ] = False,
    opts: MeasureOptions = MeasureOptions(),
) -> None:
    """Models × targets, interleaved round by round (A B B A): each model against the first and
    each target against the first, a speed-up with its 95% CI and a verdict from paired rounds."""
    gate = parse_rel_ci(fail_if_slower) if fail_if_slower is not None else None
    if gate is not None and len(models) < 2:
        raise BadInputError("--fail-if-slower compares models: give the reference model first, then the candidate")
    opts.run(models, target, True, gate=gate, side_by_side=not apart)


def targets(
    json: Json = False,
    ray: Annotated[bool, typer.Option("--ray", help="list the device resources of the Ray cluster")] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address")] = None,
) -> None:
    """What this machine can run, and why the rest cannot (--ray: the cluster's devices)."""
    if ray:
        doc = api.ray_devices(ray_address)
        devs = doc["devices"]
        if json:
            common.emit_json({"devices": devs})
            return
        t = Table(title=f"device resources of the Ray cluster ({doc['nodes']} nodes)")
        for c in ("device", "units", "node", "alive"):
            t.add_column(c)
        for d in devs:
            t.add_row(d["device"], f"{d['units']:g}", d["node"], "yes" if d["alive"] else "[red]no[/red]")
        common.out.print(t)
        if not devs:
            common.err.print("no device resources: start device nodes with --resources='{\"device:NAME\": 1}'")
        return

    doc = api.targets()
    if json:
        common.emit_json(doc)
        return
    t = Table(title="targets on this machine")
    for c in ("target", "usable", "detail"):
        t.add_column(c)
    for p in doc["targets"]:
        t.add_row(p["target"], "[green]yes[/green]" if p["usable"] else "[red]no[/red]", escape(p["detail"]))
    common.out.print(t)


def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for the demo's outputs")] = Path("demo-out"),
    json: Json = False,
    quick: Annotated[bool, typer.Option("--quick", help="fewer models, digits, a small budget (for tests)")] = False,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="fashion-mnist (default when found), fashion-mnist:DIR or digits"),
    ] = None,
) -> None:
    """The end-to-end demo on built-in data: the zoo on every usable runtime, then xc.optimize
    on a published Fashion-MNIST baseline, measured against a MACs proxy's choice."""

    def show(kind: str, what: Any) -> None:
        if kind == "comparison":
            common.err.print(measurement_table(list(what.measurements)))
            common.err.print(comparison_table(what))
        elif kind == "layers":
            for t in layer_tables(what, top=5):
                common.err.print(t)

    with common.progress(None, "demo") as bar:
        doc = api.demo(
            out, quick=quick, dataset=dataset, db=common.store(), say=lambda m: common.err.print(escape(m)),
            show=show, phase=bar.phase, progress=bar,
        )  # fmt: skip
    if json:
        common.emit_json(doc)
    else:
        common.out.print(f"demo done: {doc['summary']}")
        if doc.get("html_report"):
            common.out.print(f"report: file://{Path(doc['html_report']).resolve()}")
    if doc.get("failed"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(common.with_options(MeasureOptions)(profile))
    app.command()(calibrate)
    app.command()(common.with_options(MeasureOptions)(compare))
    app.command()(targets)
    app.command()(demo)


def _run(
    models: list[str],
    targets: list[str],
    plan: Plan,
    as_json: bool,
    comparing: bool,
    gate: float | None = None,
    wait_quiet: float | None = None,
    side_by_side: bool = True,
    **zoo_kw: Any,
) -> None:
    def busy(still: list[dict[str, Any]]) -> None:
        common.err.print(
            f"[yellow]warning[/yellow]: still busy after {wait_quiet:g} s: "
            + escape(", ".join(f"{b['name']} ({b['cpu_pct']:.0f}%)" for b in still[:3])),
            highlight=False,
        )

    with common.progress(None, "preparing models") as bar:
        comp = api.measure(
            models, targets, plan, db=common.store(), wait_quiet=wait_quiet, side_by_side=side_by_side,
            phase=bar.phase, progress=bar, on_busy=busy, **zoo_kw,
        )  # fmt: skip
    ms = list(comp.measurements)
    sps = comp.speedups() if comparing else []
    regressions = [s for s in sps if gate is not None and s.against == "model" and s.slower_than(gate)]
    _show(ms, comp, sps, plan, as_json, comparing, gate, regressions)
    _warn(ms, plan, comparing, gate, regressions)
    if any(m.status != "ok" for m in ms) or regressions:
        raise typer.Exit(1)


def energy(
    csv: Annotated[Path, typer.Argument(help="power monitor CSV: Time(ms),Main(mA),Main Voltage(V)")],
    measurement: Annotated[int, typer.Option("--measurement", "-m", help="stored measurement id")],
    t0: Annotated[float, typer.Option("--t0", help="when the monitor's time 0 was (seconds since the epoch)")],
    json: Json = False,
) -> None:
    """Energy per inference of a stored measurement from a Monsoon power-monitor CSV."""
    doc = api.energy(csv, measurement, t0, db=common.store())
    if json:
        common.emit_json(doc)
        return
    common.out.print(
        f"{doc['model']} on {doc['target']}: {doc['median_mj']:.4g} mJ per inference "
        f"(median of {len(doc['mj_per_inference'])} rounds)"
    )


def _show(
    ms: list[Any],
    comp: Any,
    sps: list[Any],
    plan: Plan,
    as_json: bool,
    comparing: bool,
    gate: float | None,
    regressions: list[Any],
) -> None:
    """The measurements (and the comparison) as one JSON document or as tables."""
    if as_json:
        doc: dict[str, Any] = {"measurements": [m.to_json() for m in ms]}
        if comparing:
            doc["table"] = comp.table()
            doc["reference_target"] = comp.targets[0]
            doc["reference_model"] = comp.models[0]
            doc["speedups"] = [s.to_dict() for s in sps]
            if gate is not None:
                doc["gate"] = {"fail_if_slower": gate, "failed": [s.to_dict() for s in regressions]}
        doc["caveats"] = [c.to_dict() for c in xc.caveats(ms, plan, comparing, gate, regressions)]
        common.emit_json(doc)
    else:
        common.out.print(measurement_table(ms))
        if comparing:
            common.out.print(comparison_table(comp))
            if sps:
                common.out.print(speedup_table(sps))
        for m in ms:
            for t in layer_tables(m):
                common.out.print(t)
            if plan.layers and not m.layers and m.layers_note:
                common.err.print(escape(f"{m.model} on {m.target}: no layer times: {m.layers_note}"))
        for m in ms:
            if m.status != "ok":
                common.err.print(
                    f"[red]{escape(f'{m.model} on {m.target}: {m.status}: {m.error}')}[/red]", highlight=False
                )
                if common.state.debug and m.error_detail:
                    common.err.print(escape(m.error_detail), highlight=False)


def _warn(ms: list[Any], plan: Plan, comparing: bool, gate: float | None, regressions: list[Any]) -> None:
    """The caveats of the figures (``xc.caveats``), on stderr."""
    color = {"warning": "[yellow]warning[/yellow]", "regression": "[red]regression[/red]", "note": "note"}
    for c in xc.caveats(ms, plan, comparing, gate, regressions):
        common.err.print(f"{color[c.level]}: {escape(c.text)}", highlight=False)


def register_energy(app: typer.Typer) -> None:
    app.command()(energy)
