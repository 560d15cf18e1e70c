"""Generate networks from a space: ONNX files, spec JSON and an index CSV, deterministic for a seed."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.models.artifact import load_artifact
from xcelerator.models.export import export_onnx
from xcelerator.models.graphstats import encode13
from xcelerator.models.spaces import Space

INDEX_FIELDS = ("id", "space", "arch", "spec_hash", "macs", "params", "nodes", "onnx", "spec", "point")


@dataclass(frozen=True)
class Generated:
    id: str
    arch: str
    macs: int
    params: int
    onnx: Path


def materialize_point(space: Space, point: dict[str, Any], out: Path, ident: str, seed: int = 0) -> dict[str, Any]:
    """Build one point, export it to ``out/ident.onnx`` with ``out/ident.json`` beside it;
    returns its index row (and its 13-feature encoding under ``_encode13``)."""
    point = space.check(point)
    spec = space.to_spec(point)
    module, example = space.build(point, seed=seed)
    onnx_path = export_onnx(module, example, out / f"{ident}.onnx")
    art = load_artifact(onnx_path, name=ident, spec=spec.to_dict() if spec else None)
    assert art.stats is not None
    doc = {
        "id": ident,
        "space": space.name,
        "point": point,
        "arch": space.arch_id(point),
        "spec": spec.to_dict() if spec else None,
        "seed": seed,
        "artifact": {**art.to_dict(), "path": onnx_path.name},  # relative: the folder can move
    }
    (out / f"{ident}.json").write_text(json.dumps(doc, indent=1))
    return {
        "id": ident,
        "space": space.name,
        "arch": doc["arch"],
        "spec_hash": spec.hash if spec else "",
        "macs": art.stats.macs,
        "params": art.stats.params,
        "nodes": art.stats.node_count,
        "onnx": f"{ident}.onnx",
        "spec": f"{ident}.json",
        "point": json.dumps(point, sort_keys=True),
        "_encode13": encode13(art.stats),
    }


def draw_distinct(space: Space, count: int, seed: int) -> Iterator[tuple[int, dict[str, Any], str]]:
    """``count`` points drawn with ``Random(seed)``, distinct by architecture id: (index, point,
    arch). The same space, count and seed give the same sequence; ``count=N`` is a prefix of
    ``count=M > N``."""
    if count < 1:
        raise BadInputError(f"--count {count}: must be >= 1")
    size = space.size()
    if size is not None and count > size:
        raise BadInputError(f"--count {count}: space {space.name} has only {size} architectures")
    rng = random.Random(seed)
    seen: set[str] = set()
    tries = 0
    while len(seen) < count:
        tries += 1
        if tries > 50 * count + 100:
            raise BadInputError(f"space {space.name}: could not draw {count} distinct architectures")
        point = space.sample(rng)
        arch = space.arch_id(point)
        if arch in seen:
            continue
        seen.add(arch)
        yield len(seen) - 1, point, arch


def generate(
    space: Space, count: int, seed: int, out: Path, progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """``count`` distinct points sampled with ``Random(seed)`` (distinct by architecture id),
    each exported; ``index.csv`` and ``encode13.csv`` written at the end. The same space, count
    and seed give the same files."""
    draws = list(draw_distinct(space, count, seed))  # sampling is cheap; bad counts fail before any file
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for i, point, arch in draws:
        ident = f"{i:05d}"
        rows.append(materialize_point(space, point, out, ident, seed=seed * 1_000_003 + i))
        if progress:
            progress(f"{ident}: {arch[:48]}")
    with open(out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=INDEX_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with open(out / "encode13.csv", "w", newline="") as f:
        w2 = csv.writer(f)
        w2.writerow(["id", *[f"l{i // 13}_{i % 13}" for i in range(13 * 56)]])
        for r in rows:
            w2.writerow([r["id"], *r["_encode13"]])
    return rows
