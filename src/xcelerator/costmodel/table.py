"""The multi-runtime latency table: one set of networks measured on many targets (columns).

Each column is a device in the cross-device sense (``crossdevice.LatencyTable``): a runtime at a
thread count on one machine. A row is a network, kept as what rebuilds it (a corpus point:
space, seed, index; or a zoo name) and its graph statistics, so a user's machine can both
predict from the table and export a signature network to measure on a new target.

The table ships in the package (``costmodel/data/table.json.gz``, built by
``benchmarks/costmodel.py --parts table``) so ``xcel costmodel adapt`` starts from every column
measured here; ``xcel costmodel sources`` lists them. Labels are each column's own labels
(ratios to a reference timed side by side, times the reference's typical median on that column,
when the column was characterized with ``--reference``: ``samples.labels_of``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError
from xcelerator.models.graphstats import GraphStats

TABLE_FORMAT = "xcelerator-latency-table"
TABLE_VERSION = 1
SHIPPED = "table.json.gz"


@dataclass(frozen=True)
class Column:
    """One source device: a target as measured on one machine."""

    target: str  # the target URI
    runtime: str
    threads: int | None
    runtime_version: str
    machine: str  # CPU model and cores
    labels: str  # how the labels were made (samples.labels_of)
    measured: str = ""  # the day the table was built from the store (ISO)
    reference: str = ""  # the model every network was timed beside (labels are ratios to it), if any
    reference_ms: float | None = None  # its typical median on this column (labels = ratio x this)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Column:
        kw: dict[str, Any] = {
            k: d.get(k) if k in ("threads", "reference_ms") else d.get(k, "") for k in cls.__dataclass_fields__
        }
        return cls(**kw)


@dataclass(frozen=True)
class SourceTable:
    """Networks × columns of latencies (ms; NaN where a column did not measure a network)."""

    names: tuple[str, ...]
    origins: tuple[dict[str, Any], ...]  # {"space", "seed", "index"} or {"zoo": name} or {"file": name}
    stats: tuple[GraphStats, ...]
    columns: tuple[Column, ...]
    latency: np.ndarray = field(repr=False)
    layers: dict[str, dict[str, list[tuple[str, str, float]]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n, c = self.latency.shape
        if n != len(self.names) or n != len(self.stats) or n != len(self.origins) or c != len(self.columns):
            raise BadInputError("latency table: the sizes of names, statistics, origins and columns disagree")

    # ------------------------------------------------------------------ views
    @property
    def targets(self) -> list[str]:
        return [c.target for c in self.columns]

    def runtimes(self) -> list[str]:
        return sorted({c.runtime for c in self.columns})

    def without(self, runtimes: Sequence[str]) -> SourceTable:
        """The table less every column of these runtimes (``adapt --exclude``)."""
        known = set(self.runtimes())
        bad = [r for r in runtimes if r not in known]
        if bad:
            raise BadInputError(f"--exclude {','.join(bad)}: not a runtime of this table (it has {', '.join(known)})")
        keep = [j for j, c in enumerate(self.columns) if c.runtime not in set(runtimes)]
        if not keep:
            raise BadInputError("--exclude leaves no source column")
        return self.take_columns(keep)

    def take_columns(self, idx: Sequence[int]) -> SourceTable:
        ix = list(idx)
        cols = tuple(self.columns[j] for j in ix)
        return replace(
            self,
            columns=cols,
            latency=self.latency[:, ix],
            layers={c.target: self.layers[c.target] for c in cols if c.target in self.layers},
        )

    def take_rows(self, idx: Sequence[int]) -> SourceTable:
        ix = list(idx)
        return replace(
            self,
            names=tuple(self.names[i] for i in ix),
            origins=tuple(self.origins[i] for i in ix),
            stats=tuple(self.stats[i] for i in ix),
            latency=self.latency[ix],
        )

    def complete(self) -> SourceTable:
        """Only the networks every column measured."""
        return self.take_rows(np.flatnonzero(np.all(np.isfinite(self.latency), axis=1)).tolist())

    def widest(self, cover: float = 0.9) -> SourceTable:
        """The columns that have at least ``cover`` of the networks the fullest column has (a
        column measured on a prefix of the corpus is left out, rather than cutting every other
        column down to that prefix), then only the networks all of them have."""
        n = np.isfinite(self.latency).sum(axis=0)
        if not len(n):
            return self
        return self.take_columns([k for k in range(len(self.columns)) if n[k] >= cover * n.max()]).complete()

    def around(self, target: str, cover: float = 0.9) -> SourceTable:
        """The table a held-out ``target`` is judged on when columns cover different networks:
        the networks ``target`` has, the columns of other runtimes that have at least ``cover``
        of them (a column measured on a prefix of the corpus is a source for the columns it
        covers, not a reason to drop the rest), then only the networks all of those have;
        ``target`` is the last column."""
        j = self.targets.index(target)
        have = np.isfinite(self.latency[:, j])
        runtime = self.columns[j].runtime
        keep = [
            k
            for k, c in enumerate(self.columns)
            if c.runtime != runtime and np.isfinite(self.latency[have, k]).mean() >= cover
        ]
        sub = self.take_columns([*keep, j])
        return sub.take_rows(np.flatnonzero(np.all(np.isfinite(sub.latency), axis=1)).tolist())

    def merged(self, other: SourceTable) -> SourceTable:
        """This table with ``other``'s columns: a column of a target both have is ``other``'s
        (replaced), a new one is appended; rows are joined by network name (a network only
        ``other`` has is added, unmeasured on this table's columns)."""
        theirs = set(other.targets)
        base = self.take_columns([j for j, c in enumerate(self.columns) if c.target not in theirs])
        names, origins, stats = list(base.names), list(base.origins), list(base.stats)
        pos = {n: i for i, n in enumerate(names)}
        for n, o, st in zip(other.names, other.origins, other.stats, strict=True):
            if n not in pos:
                pos[n] = len(names)
                names.append(n)
                origins.append(o)
                stats.append(st)
        nb = len(base.columns)
        lat = np.full((len(names), nb + len(other.columns)), np.nan)
        lat[: len(base.names), :nb] = base.latency
        for i, n in enumerate(other.names):
            lat[pos[n], nb:] = other.latency[i]
        return SourceTable(
            names=tuple(names),
            origins=tuple(origins),
            stats=tuple(stats),
            columns=base.columns + other.columns,
            latency=lat,
            layers={**base.layers, **other.layers},
        )

    def ordered(self, targets: Sequence[str]) -> SourceTable:
        """The columns of ``targets`` in that order (each must be a column)."""
        missing = [t for t in targets if t not in self.targets]
        if missing:
            raise BadInputError(f"latency table: no column {', '.join(missing)} (it has {', '.join(self.targets)})")
        return self.take_columns([self.targets.index(t) for t in targets])

    def corpus_rows(self) -> list[int]:
        return [i for i, o in enumerate(self.origins) if "space" in o]

    def cross_device(self) -> Any:
        """As a ``crossdevice.LatencyTable`` (complete rows), one group per runtime: a grouped
        split leaves every column of a runtime out at once, as a new runtime would be."""
        from xcelerator.costmodel.crossdevice import LatencyTable
        from xcelerator.costmodel.features import model_vector

        t = self.complete()
        if len(t.names) < 3:
            raise BadInputError(f"latency table: only {len(t.names)} networks are measured on every column")
        return LatencyTable(
            networks=list(t.names),
            devices=[c.target for c in t.columns],
            groups=[c.runtime for c in t.columns],
            latency=np.array(t.latency, dtype=np.float64),
            features=np.array([model_vector(s)[0] for s in t.stats]),
            source="latency-table",
        )

    # ------------------------------------------------------------------ files
    def to_json(self, with_layers: bool = False) -> dict[str, Any]:
        lat = [[None if not np.isfinite(v) else round(float(v), 6) for v in row] for row in self.latency]
        return {
            "format": TABLE_FORMAT,
            "version": TABLE_VERSION,
            "columns": [c.to_dict() for c in self.columns],
            "networks": [
                {"name": n, "origin": o, "stats": s.to_dict()}
                for n, o, s in zip(self.names, self.origins, self.stats, strict=True)
            ],
            "latency_ms": lat,
            "layers": self.layers if with_layers else {},
        }

    def save(self, path: str | Path, with_layers: bool = False) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        raw = json.dumps(self.to_json(with_layers), separators=(",", ":")).encode()
        with gzip.GzipFile(p, "wb", compresslevel=9, mtime=0) as f:  # mtime 0: the same bytes each build
            f.write(raw)
        return p

    @classmethod
    def load(cls, path: str | Path) -> SourceTable:
        p = Path(path)
        try:
            with gzip.open(p, "rt") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise BadInputError(f"{p}: not a latency table ({e})") from None
        return cls.from_json(d, str(p))

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str = "latency table") -> SourceTable:
        if d.get("format") != TABLE_FORMAT or d.get("version") != TABLE_VERSION:
            raise BadInputError(f"{where}: format {d.get('format')!r} v{d.get('version')}, expected {TABLE_FORMAT} v1")
        nets = d["networks"]
        lat = np.array([[np.nan if v is None else float(v) for v in row] for row in d["latency_ms"]], dtype=np.float64)
        return cls(
            names=tuple(n["name"] for n in nets),
            origins=tuple(n["origin"] for n in nets),
            stats=tuple(GraphStats.from_dict(n["stats"]) for n in nets),
            columns=tuple(Column.from_dict(c) for c in d["columns"]),
            latency=lat.reshape(len(nets), len(d["columns"])),
            layers={k: {n: [tuple(x) for x in v] for n, v in per.items()} for k, per in d.get("layers", {}).items()},
        )


def shipped_path() -> Path:
    return Path(str(resources.files("xcelerator.costmodel.data"))) / SHIPPED


def shipped() -> SourceTable:
    """The table that ships with the package."""
    p = shipped_path()
    if not p.exists():
        raise BadInputError(f"no latency table ships with this install ({p} is missing)")
    return SourceTable.load(p)


def load_table(where: str | Path | None) -> SourceTable:
    """The shipped table (None), a table file (``.json.gz``), or a store's columns (a database)."""
    if where is None:
        return shipped()
    p = Path(str(where))
    if p.suffixes[-2:] == [".json", ".gz"]:
        return SourceTable.load(p)
    raise BadInputError(f"--table {where}: expected a .json.gz latency table (xcel costmodel sources --out)")


def _origin(name: str) -> dict[str, Any]:
    """What rebuilds a stored network: ``mixed-0/00012`` is index 12 of the mixed space, seed 0
    (its corpus JSON says the point); a zoo name is itself; anything else is a file."""
    from xcelerator.models.zoo import parse_name

    head, _, tail = name.partition("/")
    if tail.isdigit() and "-" in head:
        space, _, seed = head.rpartition("-")
        if seed.isdigit():
            return {"space": space, "seed": int(seed), "index": int(tail)}
    try:
        parse_name(name)
    except (BadInputError, ValueError):
        return {"file": name}
    return {"zoo": name}


def from_store(
    store: Any, targets: Sequence[str], *, names: Sequence[str] | None = None, with_layers: bool = True
) -> SourceTable:
    """The table of ``targets``' stored measurements (each target's labels as ``samples.from_store``
    makes them); rows are every network any target measured, joined by name, in first-seen order
    (``names``: only these)."""
    from xcelerator.costmodel.samples import from_store as samples_from_store

    if not targets:
        raise BadInputError("a latency table needs at least one target")
    per = [samples_from_store(store, t) for t in targets]
    order: list[str] = []
    stats: dict[str, GraphStats] = {}
    for s in per:
        for n, st in zip(s.names, s.stats, strict=True):
            if n not in stats and (names is None or n in names):
                stats[n] = st
                order.append(n)
    pos = [{n: i for i, n in enumerate(s.names)} for s in per]
    lat = np.full((len(order), len(per)), np.nan)
    layers: dict[str, dict[str, list[tuple[str, str, float]]]] = {}
    for j, (s, p) in enumerate(zip(per, pos, strict=True)):
        for i, n in enumerate(order):
            if n in p:
                lat[i, j] = float(s.y_ms[p[n]])
        if with_layers:
            got = {n: list(s.layers[p[n]]) for n in order if n in p and s.layers[p[n]]}
            if got:
                layers[s.target_uri] = got
    cols = tuple(_column(store, s) for s in per)
    return SourceTable(
        names=tuple(order),
        origins=tuple(_origin(n) for n in order),
        stats=tuple(stats[n] for n in order),
        columns=cols,
        latency=lat,
        layers=layers,
    )


def _column(store: Any, s: Any) -> Column:
    import datetime

    from xcelerator.targets.registry import parse_target

    c = s.conditions
    t = parse_target(s.target_uri)
    threads = (c.get("plan.threads") if c.get("plan.threads") is not None else t.opts.get("threads")) or None
    return Column(
        target=s.target_uri,
        runtime=str(c.get("runtime") or t.runtime),
        threads=int(threads) if threads is not None else None,
        runtime_version=str(c.get("runtime_version") or ""),
        machine=f"{c.get('cpu_model') or '?'}, {c.get('cores') or '?'} cores",
        labels=str(c.get("labels", "own median")),
        measured=datetime.date.today().isoformat(),  # the day the table was built from the store
        reference=str(c.get("labels_reference") or ""),
        reference_ms=float(c["labels_reference_ms"]) if c.get("labels_reference_ms") else None,
    )


def describe(table: SourceTable) -> list[dict[str, Any]]:
    """One row per column: what ``xcel costmodel sources`` prints."""
    n_ok = np.isfinite(table.latency).sum(0)
    out = []
    for j, c in enumerate(table.columns):
        y = table.latency[np.isfinite(table.latency[:, j]), j]
        out.append(
            {
                **c.to_dict(),
                "networks": int(n_ok[j]),
                "median_ms": float(np.median(y)) if len(y) else None,
                "layer_profiles": len(table.layers.get(c.target, {})),
            }
        )
    return out


__all__ = ["Column", "SourceTable", "describe", "from_store", "load_table", "shipped", "shipped_path"]
