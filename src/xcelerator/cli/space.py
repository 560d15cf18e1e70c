"""``xcel space list|show`` and ``xcel generate``."""

from __future__ import annotations

import json as jsonlib
import random
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xcelerator.cli import common
from xcelerator.errors import BadInputError

app = typer.Typer(help="Design spaces: list them, show their parameters, describe a point.", no_args_is_help=True)

Opt = Annotated[list[str] | None, typer.Option("--opt", "-o", help="space option KEY=VALUE (e.g. base=resnet18)")]


def _space(name: str, opts: list[str] | None) -> Any:
    from xcelerator.models.spaces import get_space, parse_options

    return get_space(name, **parse_options(opts or []))


@app.command("list")
def list_(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The registered spaces."""
    from xcelerator.models.spaces import SPACES

    rows: list[dict[str, Any]] = [
        {"name": n, "description": f().description, "size": f().size()} for n, f in SPACES.items()
    ]
    rows.append(
        {
            "name": "user",
            "description": "a YAML file of parameters + a builder module:function (--space user:FILE.yaml)",
            "size": None,
        }
    )
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
    from xcelerator.models.archspec import describe

    sp = _space(name, opt)
    pt = sp.check(_chosen_point(sp, point, arch, sample))
    spec = sp.to_spec(pt)
    doc: dict[str, Any] = {"space": sp.info(), "point": pt, "arch": sp.arch_id(pt)}
    if spec is not None:
        d = describe(spec)
        doc.update(spec=spec.to_dict(), totals=d.totals(), layers=[r.__dict__ for r in d.rows])
    if json:
        common.emit_json(doc)
        return
    t = Table(title=f"space {sp.name}: {sp.description}")
    for c in ("parameter", "kind", "range / choices", "default", "this point"):
        t.add_column(c)
    for p in sp.params():
        rng = (
            ", ".join(map(str, p.choices))
            if p.kind == "choice"
            else f"{p.low:g}..{p.high:g}" + (f" step {p.step:g}" if p.step else "")
        )
        t.add_row(p.name, p.kind, escape(rng), str(p.default), str(pt[p.name]))
    common.out.print(t)
    size = sp.size()
    common.out.print(f"architectures: {size:,}" if size else "architectures: unbounded (sampled)")
    common.out.print(f"arch id: {escape(doc['arch'])}")
    if spec is not None:
        _print_layers(spec, doc["totals"])


def _chosen_point(sp: Any, point: str | None, arch: str | None, sample: int | None) -> dict[str, Any]:
    """The point ``--point`` (JSON), ``--arch`` (NAS-Bench-201) or ``--sample`` names, else the default."""
    from xcelerator.models.spaces import NasBench201Space

    if point is not None:
        try:
            pt = jsonlib.loads(point)
        except jsonlib.JSONDecodeError as e:
            raise BadInputError(f"--point: not valid JSON ({e})") from None
        if not isinstance(pt, dict):
            raise BadInputError("--point: expected a JSON object of parameter values")
        return pt
    if arch is not None:
        return dict(NasBench201Space.from_arch_string(arch))
    if sample is not None:
        return dict(sp.sample(random.Random(sample)))
    return dict(sp.default_point())


def _print_layers(spec: Any, tot: dict[str, Any]) -> None:
    from xcelerator.models.archspec import describe
    from xcelerator.models.graphstats import human

    lt = Table(
        title=f"{spec.name}: {human(tot['macs'])} MACs, {human(tot['params'])} params, "
        f"peak activation {human(tot['peak_act_bytes'])}B"
    )
    for c in ("layer", "op", "in", "out", "k", "s", "groups", "MACs", "params", "act bytes"):
        lt.add_column(c, justify="left" if c in ("layer", "op", "in", "out") else "right")
    for r in describe(spec).rows:
        lt.add_row(
            r.name,
            r.op,
            "×".join(map(str, r.in_shape)),
            "×".join(map(str, r.out_shape)),
            str(r.kernel),
            str(r.stride),
            str(r.groups),
            human(r.macs),
            human(r.params),
            human(r.act_bytes),
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
    from xcelerator.models.generate import generate as gen

    sp = _space(space, opt)
    with common.progress(count, f"generating {count} from {sp.name}") as advance:
        rows = gen(sp, count, seed, out, progress=advance)
    if json:
        common.emit_json(
            {
                "out": str(out),
                "index": str(out / "index.csv"),
                "networks": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            }
        )
        return
    from xcelerator.models.graphstats import human

    macs = [r["macs"] for r in rows]
    common.out.print(
        f"{len(rows)} networks from {sp.name} in {out} (index.csv, encode13.csv); "
        f"MACs {human(min(macs))}..{human(max(macs))}"
    )


def register(root: typer.Typer) -> None:
    root.command()(generate)
