"""``xcel optimize``: the user's own model, training and evaluation through ``xc.optimize``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator import api
from xcelerator.cli import common
from xcelerator.errors import BadInputError


@dataclass(frozen=True)
class OptimizeOptions:
    """``xcel optimize``'s options: each overrides the ``OptimizeConfig`` field of the same
    meaning (from ``--config`` or the defaults) when given."""

    model: Annotated[str | None, typer.Option("--model", help="FILE.py:FUNCTION returning the trained nn.Module")] = (
        None
    )
    train: Annotated[str | None, typer.Option("--train", help="FILE.py:FUNCTION train(module, epochs)")] = None
    evaluate: Annotated[str | None, typer.Option("--evaluate", help="FILE.py:FUNCTION evaluate(module) -> float")] = (
        None
    )
    example: Annotated[str | None, typer.Option("--example", help="FILE.py:FUNCTION returning example inputs")] = None
    holdout: Annotated[
        str | None, typer.Option("--holdout", help="FILE.py:FUNCTION evaluate on held-out data, checked at the end")
    ] = None
    shape: Annotated[str | None, typer.Option("--shape", help="input shape, e.g. 1,3,224,224")] = None
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of these settings")] = None
    target: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="repeatable: the runtime becomes a search dimension")
    ] = None
    precision: Annotated[str | None, typer.Option("--precision", help="fp32,int8 (a search dimension)")] = None
    calibration: Annotated[
        str | None, typer.Option("--calibration", help="int8: .npz of your inputs, one array per model input")
    ] = None
    round_channels: Annotated[
        str | None, typer.Option("--round-channels", help="auto (runtime block), 1 (off), 8, 16 or 8,16")
    ] = None
    constraint: Annotated[
        list[str] | None,
        typer.Option("--constraint", "-c", help="accuracy>=baseline-0.005, latency<=5 (repeatable)"),
    ] = None
    objectives: Annotated[str | None, typer.Option("--objectives", help="latency[,memory,macs,...]")] = None
    budget: Annotated[int | None, typer.Option("--budget", help="candidates, the baseline included")] = None
    strategy: Annotated[str | None, typer.Option("--strategy", help=", ".join(api.strategy_names("optimize")))] = None
    epochs: Annotated[int | None, typer.Option("--epochs", help="fine-tuning epochs per candidate")] = None
    early_stop: Annotated[
        bool | None, typer.Option("--early-stop/--no-early-stop", help="stop hopeless candidates between rungs")
    ] = None
    policy: Annotated[
        str | None, typer.Option("--policy", help="dqn: load (if present) and save the Q-network here")
    ] = None
    cost_model: Annotated[
        str | None,
        typer.Option(
            "--cost-model",
            help="cost model for the target (xcel costmodel fit): measure when it is unsure; dqn pre-trains on it",
        ),
    ] = None
    latency: Annotated[
        str | None,
        typer.Option("--latency", help="measured | predicted | hybrid (default hybrid with --cost-model)"),
    ] = None
    distill: Annotated[bool | None, typer.Option("--distill/--no-distill", help="train(module, epochs, teacher)")] = (
        None
    )
    confirm: Annotated[
        bool | None,
        typer.Option("--confirm/--no-confirm", help="measure baseline and best again, interleaved (speed-up CI)"),
    ] = None
    study: Annotated[str | None, typer.Option("--study", help="study name (same name continues it)")] = None
    seed: Annotated[int | None, typer.Option("--seed")] = None
    out: Annotated[Path | None, typer.Option("--out", help="folder for the best model and the report")] = None
    resume: Annotated[bool, typer.Option("--resume", help="continue the named study (must exist)")] = False
    executor: common.ExecutorName = "local"
    json: Annotated[bool, typer.Option("--json")] = False

    def to_config(self) -> Any:
        """The ``OptimizeConfig`` these options make (``--config``'s file, then each given option)."""
        t = self.target
        return api.optimize_settings(
            self.config, model=self.model, train=self.train, evaluate=self.evaluate, example=self.example,
            holdout=self.holdout, shape=self.shape, target=t[0] if t else None,
            targets=list(t) if t and len(t) > 1 else None,
            precision=self.precision.split(",") if self.precision else None, calibration=self.calibration,
            round_channels=_round(self.round_channels) if self.round_channels else None,
            constraints=self.constraint, objectives=self.objectives.split(",") if self.objectives else None,
            budget=self.budget, strategy=self.strategy, epochs=self.epochs, early_stop=self.early_stop,
            policy=self.policy, cost_model=self.cost_model, latency=self.latency, confirm=self.confirm,
            distill=self.distill, study=self.study, seed=self.seed, out=str(self.out) if self.out else None,
        )  # fmt: skip


def optimize(opts: OptimizeOptions = OptimizeOptions()) -> None:
    """Make your own trained network faster on a target: prune, fine-tune, measure, keep the best."""
    cfg = opts.to_config()
    exe = common.executor(opts.executor, None, 2)
    with common.progress(cfg.budget, "optimize") as advance:
        res, written = api.optimize_config(cfg, db=common.store(), executor=exe, resume=opts.resume, progress=advance)
    doc = {**res.to_dict(), "written": written}
    if opts.json:
        common.emit_json(doc)
    else:
        _print(doc)
    if res.best is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(common.with_options(OptimizeOptions)(optimize))


def _round(text: str) -> str | int | list[int]:
    if text == "auto":
        return text
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInputError(f"--round-channels {text!r}: expected auto, an integer (8) or several (8,16)") from None
    return vals[0] if len(vals) == 1 else vals


def _print(doc: dict) -> None:  # type: ignore[type-arg]
    t = Table(title=f"optimize {doc['study']}: {', '.join(doc['constraints']) or 'no constraints'}")
    for c in ("trial", "state", "precision", "runtime", "accuracy", "latency ms (95% CI)", "MACs", "epochs"):
        t.add_column(c)
    front = set(doc["pareto"])
    for c in doc["trials"]:
        lat = (
            f"{c['latency_ms']:.3f} [{c['latency_ci'][0]:.3f}, {c['latency_ci'][1]:.3f}]"
            if c["latency_ms"] is not None and c["latency_ci"]
            else "-"
        )
        mark = " *" if c["trial"] in front else ""
        t.add_row(
            f"{c['trial']}{mark}",
            c["state"].lower(),
            c.get("precision") or "fp32",
            c.get("runtime") or "-",
            f"{c['accuracy']:.4f}" if c["accuracy"] is not None else "-",
            lat,
            f"{c['macs']:.3g}" if c["macs"] else "-",
            str(c["epochs"]),
        )
    common.out.print(t)
    b, best, sp = doc["baseline"], doc["best"], doc["speedup"]
    if best is None or best["trial"] == b["trial"]:
        common.out.print("no candidate met the constraints and beat the baseline; the closest:")
        for r in doc.get("closest", []):
            common.out.print(escape(f"  trial {r['trial']} ({r['precision']}): {r['why']}"))
        if best is None:
            return
    line = (
        f"best: trial {best['trial']} ({best.get('precision') or 'fp32'} on {best.get('runtime') or '-'}), "
        f"accuracy {best['accuracy']:.4f} (baseline {b['accuracy']:.4f})"
    )
    if sp:
        line += f", {sp['speedup']:.2f}x faster [{sp['ci_low']:.2f}, {sp['ci_high']:.2f}] ({sp['verdict']})"
    common.out.print(escape(line))
    h = doc.get("holdout")
    if h and h["best"] is not None:
        verdict = {True: "meets the constraint", False: "BELOW the constraint", None: "no accuracy constraint"}
        common.out.print(
            f"held out ({h['scored']}): best {h['best']:.4f}, baseline {h['baseline']:.4f} "
            f"(drop {h['drop']:+.4f} there, {h['search_drop']:+.4f} on evaluate): {verdict[h['meets']]}"
        )
    s = doc["saved"]
    common.out.print(
        f"stopped early: {s['stopped_early']:.0f} candidates, {s['train_seconds_saved']:.0f} s of training "
        f"and {s['measurements_saved']:.0f} device measurements saved"
    )
    for k, v in doc["written"].items():
        common.out.print(f"{k}: {escape(v)}")
