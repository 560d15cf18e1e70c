"""``xcel space list|show`` and ``xcel generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator import api
from xcelerator.cli import common
from xcelerator.models.graphstats import human

app = typer.Typer(help="Design spaces: list them, show their parameters, describe a point.", no_args_is_help=True)

Opt = Annotated[list[str] | None, typer.Option("--opt", "-o", help="space option KEY=VALUE (e.g. base=resnet18)")]


@app.command("list")
def list_(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The registered spaces."""
    rows = api.spaces()
    if json:
        common.emit_json({"spaces": rows})
        return
    t = Table(title="design spaces")
    for c in ("name", "architectures", "description"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["name"], f"{r['size']:,}" if r["size"] else "-", escape(r["description"]))
    common.out.print(t)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="space name or user:FILE.yaml")],
    opt: Opt = None,
    point: Annotated[str | None, typer.Option("--point", help="a point as JSON (default: the space's default)")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="a NAS-Bench-201 arch string")] = None,
    sample: Annotated[int | None, typer.Option("--sample", help="describe the point drawn with this seed")] = None,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Parameters and ranges of a space, and the per-layer description of one point."""
    doc = api.space_point(name, options=opt or [], point=point, arch=arch, sample=sample)
    info, pt = doc["space"], doc["point"]
    if json:
        common.emit_json(doc)
        return
    t = Table(title=f"space {info['name']}: {info['description']}")
    for c in ("parameter", "kind", "range / choices", "default", "this point"):
        t.add_column(c)
    for p in info["params"]:
        rng = (
            ", ".join(map(str, p["choices"]))
            if p["kind"] == "choice"
            else f"{p['low']:g}..{p['high']:g}" + (f" step {p['step']:g}" if p.get("step") else "")
        )
        t.add_row(p["name"], p["kind"], escape(rng), str(p.get("default")), str(pt[p["name"]]))
    common.out.print(t)
    size = info["size"]
    common.out.print(f"architectures: {size:,}" if size else "architectures: unbounded (sampled)")
    common.out.print(f"arch id: {escape(doc['arch'])}")
    if "spec" in doc:
        _print_layers(doc["spec"]["name"], doc["layers"], doc["totals"])


def _print_layers(name: str, rows: list[dict[str, Any]], tot: dict[str, Any]) -> None:
    lt = Table(
        title=f"{name}: {human(tot['macs'])} MACs, {human(tot['params'])} params, "
        f"peak activation {human(tot['peak_act_bytes'])}B"
    )
    for c in ("layer", "op", "in", "out", "k", "s", "groups", "MACs", "params", "act bytes"):
        lt.add_column(c, justify="left" if c in ("layer", "op", "in", "out") else "right")
    for r in rows:
        lt.add_row(
            r["name"],
            r["op"],
            "×".join(map(str, r["in_shape"])),
            "×".join(map(str, r["out_shape"])),
            str(r["kernel"]),
            str(r["stride"]),
            str(r["groups"]),
            human(r["macs"]),
            human(r["params"]),
            human(r["act_bytes"]),
        )
    common.out.print(lt)


def generate(
    space: Annotated[str, typer.Option("--space", help="space name or user:FILE.yaml")],
    count: Annotated[int, typer.Option("--count", help="how many distinct networks")],
    out: Annotated[Path, typer.Option("--out", help="output folder")],
    seed: Annotated[int, typer.Option("--seed", help="sampling seed (same seed, same networks)")] = 0,
    opt: Opt = None,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sample networks from a space and export each: ONNX + spec JSON + index.csv + encode13.csv."""
    with common.progress(count, f"generating {count} from {space}") as advance:
        rows = api.generate(space, count, out, seed=seed, options=opt or [], progress=advance)
    if json:
        common.emit_json(
            {
                "out": str(out),
                "index": str(out / "index.csv"),
                "networks": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            }
        )
        return
    macs = [r["macs"] for r in rows]
    common.out.print(
        f"{len(rows)} networks from {space} in {out} (index.csv, encode13.csv); "
        f"MACs {human(min(macs))}..{human(max(macs))}"
    )


def register(root: typer.Typer) -> None:
    root.command()(generate)
