"""The store: everything measured, failures included, in one SQLAlchemy database.

Default: SQLite ``xcel.db`` in the working directory; ``--db URL`` or ``XCEL_DB`` to change
(a PostgreSQL URL works too). Each measurement is written in one transaction together with its
rounds (every sample) and layer times, so an interrupted command leaves nothing half-written.
Nothing is ever overwritten: a re-measurement is a new row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from xcelerator.errors import BadInputError
from xcelerator.measure.core import Measurement
from xcelerator.measure.stats import STATS_KEYS
from xcelerator.models.artifact import Artifact
from xcelerator.targets.registry import Target


class Base(DeclarativeBase):
    pass


class TargetRow(Base):
    __tablename__ = "targets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    runtime: Mapped[str] = mapped_column(String(50))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    inputs: Mapped[list[Any]] = mapped_column(JSON)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class MeasurementRow(Base):
    __tablename__ = "measurements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), index=True)
    model: Mapped[str] = mapped_column(String(300))
    target: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    median_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_rss_kib: Mapped[int | None] = mapped_column(Integer, nullable=True)
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)  # Measurement.to_dict() less rounds and layers
    started: Mapped[float] = mapped_column(Float)
    finished: Mapped[float] = mapped_column(Float)
    rounds: Mapped[list[RoundRow]] = relationship(order_by="RoundRow.idx", cascade="all, delete-orphan")
    layers: Mapped[list[LayerRow]] = relationship(order_by="LayerRow.id", cascade="all, delete-orphan")


class RoundRow(Base):
    __tablename__ = "rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measurement_id: Mapped[int] = mapped_column(ForeignKey("measurements.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    samples_ms: Mapped[list[float]] = mapped_column(JSON)
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)


class LayerRow(Base):
    __tablename__ = "layers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measurement_id: Mapped[int] = mapped_column(ForeignKey("measurements.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    op_type: Mapped[str] = mapped_column(String(100))
    mean_ms: Mapped[float] = mapped_column(Float)
    share: Mapped[float] = mapped_column(Float)


def default_url() -> str:
    return os.environ.get("XCEL_DB") or "sqlite:///xcel.db"


def _normalize(url: str) -> str:
    if "://" not in url:  # a bare path means a SQLite file
        return f"sqlite:///{url}"
    return url


class Store:
    """Measurements, artifacts and targets in one database."""

    def __init__(self, url: str | None = None) -> None:
        self.url = _normalize(url or default_url())
        try:
            self.engine: Engine = create_engine(self.url)
        except (ArgumentError, ImportError, ValueError) as e:
            raise BadInputError(f"database URL '{self.url}' is not usable: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            db_path = self.engine.url.database
            if db_path and db_path != ":memory:":
                p = Path(db_path)
                if p.exists() and p.stat().st_size > 0:
                    with open(p, "rb") as f:
                        if f.read(16) != b"SQLite format 3\x00":
                            raise BadInputError(f"{p}: not a SQLite database (refusing to touch it)")
                elif not p.parent.exists():
                    raise BadInputError(f"database {p}: directory {p.parent} does not exist")
        # Another process opening the same new database can create a table or index between our
        # check and our CREATE. create_all skips what exists, so each such failure means one more
        # object is there: at most one retry per table and index is ever needed.
        tries = 2 + sum(1 + len(t.indexes) for t in Base.metadata.tables.values())
        for attempt in range(tries):
            try:
                Base.metadata.create_all(self.engine)
                break
            except OperationalError as e:
                if "already exists" in str(e.orig) and attempt < tries - 1:
                    continue
                raise BadInputError(f"cannot open database '{self.url}': {str(e.orig).splitlines()[0]}") from e

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as s, s.begin():
            yield s

    # ------------------------------------------------------------------ writes
    def _target_row(self, s: Session, target: Target) -> TargetRow:
        row = s.scalar(select(TargetRow).where(TargetRow.uri == target.uri))
        if row is None:
            row = TargetRow(uri=target.uri, label=target.label, runtime=target.runtime, options=target.opts)
            s.add(row)
            s.flush()
        return row

    def _artifact_row(self, s: Session, a: Artifact) -> ArtifactRow:
        row = s.get(ArtifactRow, a.sha256)
        if row is None:
            d = a.to_dict(with_nodes=True)
            row = ArtifactRow(
                sha256=a.sha256,
                name=a.name,
                path=a.path,
                format=a.format,
                inputs=d["inputs"],
                stats=d["stats"],
                spec=a.spec,
            )
            s.add(row)
            s.flush()
        return row

    def refresh_stats(self, artifacts: Sequence[Artifact]) -> int:
        """Store the graph statistics of ``artifacts`` that are stored with other ones (computed
        by an older version: a field added since, such as a Resize's mode); returns how many
        changed. Measurements are untouched: the same file, better described."""
        changed = 0
        try:
            with self.session() as s:
                for a in artifacts:
                    row = s.get(ArtifactRow, a.sha256)
                    if row is None or a.stats is None:
                        continue
                    new = json.loads(json.dumps(a.to_dict(with_nodes=True)["stats"]))  # as stored
                    if row.stats != new:
                        row.stats = new
                        changed += 1
        except SQLAlchemyError as e:
            raise BadInputError(f"cannot write to database '{self.url}': {str(e).splitlines()[0]}") from e
        return changed

    def add(self, m: Measurement, artifact: Artifact, target: Target) -> int:
        """Store one measurement with its rounds and layers, atomically. Returns its id."""
        try:
            with self.session() as s:
                self._artifact_row(s, artifact)
                t = self._target_row(s, target)
                row = _measurement_row(m, artifact.sha256, t.id)
                s.add(row)
                s.flush()
                return int(row.id)
        except SQLAlchemyError as e:
            raise BadInputError(f"cannot write to database '{self.url}': {str(e).splitlines()[0]}") from e

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _to_measurement(row: MeasurementRow) -> Measurement:
        d = dict(row.doc)
        d["rounds"] = [r.doc for r in row.rounds]
        d["layers"] = [
            {"name": x.name, "op_type": x.op_type, "mean_ms": x.mean_ms, "share": x.share} for x in row.layers
        ]
        return Measurement.from_dict(d)

    def measurements(
        self, target: str | None = None, model: str | None = None, status: str | None = None
    ) -> list[tuple[int, Measurement]]:
        with self.session() as s:
            q = select(MeasurementRow).order_by(MeasurementRow.id)
            if target:
                q = q.where(MeasurementRow.target == target)
            if model:
                q = q.where(MeasurementRow.model == model)
            if status:
                q = q.where(MeasurementRow.status == status)
            return [(r.id, self._to_measurement(r)) for r in s.scalars(q)]

    def summaries(self, target: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """One light row per measurement (no samples, no layers): id, model, target, status,
        median and CI. What an overview of thousands of measurements needs."""
        with self.session() as s:
            q = select(
                MeasurementRow.id,
                MeasurementRow.model,
                MeasurementRow.target,
                MeasurementRow.status,
                MeasurementRow.doc,
            ).order_by(MeasurementRow.id)
            if target:
                q = q.where(MeasurementRow.target == target)
            if model:
                q = q.where(MeasurementRow.model == model)
            out = []
            for i, mo, t, status, doc in s.execute(q):
                st_ = (doc or {}).get("stats") or {}
                out.append(
                    {
                        "id": i,
                        "model": mo,
                        "target": t,
                        "status": status,
                        "median_ms": st_.get("median_ms"),
                        "ci_low_ms": st_.get("ci_low_ms"),
                        "ci_high_ms": st_.get("ci_high_ms"),
                    }
                )
            return out

    def measurements_by_id(self, ids: Sequence[int]) -> list[tuple[int, Measurement]]:
        with self.session() as s:
            q = select(MeasurementRow).where(MeasurementRow.id.in_(list(ids))).order_by(MeasurementRow.id)
            return [(r.id, self._to_measurement(r)) for r in s.scalars(q)]

    def artifacts(self) -> list[Artifact]:
        with self.session() as s:
            return [
                Artifact.from_dict(
                    {
                        "path": r.path,
                        "format": r.format,
                        "sha256": r.sha256,
                        "name": r.name,
                        "inputs": r.inputs,
                        "stats": r.stats,
                        "spec": r.spec,
                    }
                )
                for r in s.scalars(select(ArtifactRow))
            ]

    def measured(self, sha256: str, target_uri: str, plan: dict[str, Any]) -> bool:
        """Whether this artifact was already measured on this target under this plan (any status:
        a crash or a timeout is a result too, and repeating it would only repeat it)."""
        with self.session() as s:
            q = (
                select(MeasurementRow.doc)
                .join(TargetRow, TargetRow.id == MeasurementRow.target_id)
                .where(MeasurementRow.artifact_sha256 == sha256, TargetRow.uri == target_uri)
            )
            return any(doc.get("plan") == plan for doc in s.scalars(q))

    def samples(self, target_uri: str) -> list[dict[str, Any]]:
        """Successful measurements on one target (by URI) with what a cost model learns from:
        the artifact's name, sha256 and graph statistics (nodes included), the median, the layer
        times and the plan and environment. The latest measurement of each artifact under each
        plan wins (measurements at other inputs or plans are other samples, never mixed)."""
        with self.session() as s:
            q = (
                select(MeasurementRow, ArtifactRow)
                .join(TargetRow, TargetRow.id == MeasurementRow.target_id)
                .join(ArtifactRow, ArtifactRow.sha256 == MeasurementRow.artifact_sha256)
                .where(TargetRow.uri == target_uri, MeasurementRow.status == "ok")
                .order_by(MeasurementRow.id)
            )
            out: dict[tuple[str, str], dict[str, Any]] = {}
            for m, a in s.execute(q):
                out[(a.sha256, json.dumps(m.doc.get("plan", {}), sort_keys=True))] = {
                    "name": a.name,
                    "sha256": a.sha256,
                    "stats": a.stats,
                    "spec": a.spec,
                    "median_ms": m.median_ms,
                    "layers": [(x.name, x.op_type, x.mean_ms) for x in m.layers],
                    "plan": m.doc.get("plan", {}),
                    "env": m.doc.get("env", {}),
                    "target": m.target,
                }
            return list(out.values())

    def run_noise(self, target_uri: str) -> Any:
        """The target's spread between runs (``measure.stats.RunNoise``) from every model measured
        on it three or more times at the same inputs (``xcel calibrate`` makes such repeats, and
        so do repeated ``profile``/``compare`` runs), or None when there are none. Its source is
        ``calibrated`` when a calibration run is among them, else ``model history``. Only each
        measurement's median, rounds and purpose are read."""
        from xcelerator.measure.stats import run_noise

        keys = ("shapes", "dims", "fills", "input", "npz", "seed", "threads")
        groups: dict[tuple[str, str], tuple[str, list[tuple[float, int]]]] = {}
        calibrated = False
        with self.session() as s:
            q = (
                select(MeasurementRow.artifact_sha256, MeasurementRow.model, MeasurementRow.doc)
                .join(TargetRow, TargetRow.id == MeasurementRow.target_id)
                .where(TargetRow.uri == target_uri, MeasurementRow.status == "ok")
                .order_by(MeasurementRow.id)
            )
            for sha, name, doc in s.execute(q):
                stats = (doc or {}).get("stats") or {}
                plan = (doc or {}).get("plan") or {}
                if stats.get("median_ms") is None:
                    continue
                key = (sha, json.dumps({k: plan.get(k) for k in keys}, sort_keys=True))
                groups.setdefault(key, (name, []))[1].append((float(stats["median_ms"]), int(stats.get("rounds") or 1)))
                calibrated = calibrated or (doc or {}).get("purpose") == "calibration"
        return run_noise(
            target_uri,
            [(sha, name, runs) for (sha, _), (name, runs) in groups.items()],
            source="calibrated" if calibrated else "model history",
        )

    def target_uris(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(TargetRow.uri).order_by(TargetRow.id)))

    def count(self) -> int:
        with self.session() as s:
            return len(list(s.scalars(select(MeasurementRow.id))))

    # ------------------------------------------------------------------ export / import
    def export_json(self) -> dict[str, Any]:
        with self.session() as s:
            targets = [
                {"uri": t.uri, "label": t.label, "runtime": t.runtime, "options": t.options}
                for t in s.scalars(select(TargetRow))
            ]
        return {
            "format": "xcelerator-store/1",
            "targets": targets,
            "artifacts": [a.to_dict(with_nodes=True) for a in self.artifacts()],
            "measurements": [{"id": i, **m.to_dict()} for i, m in self.measurements()],
        }

    def export_csv(self) -> dict[str, str]:
        """Three tables as CSV text: measurements (one row each), samples, layers."""
        rows = self.measurements()
        keys = STATS_KEYS
        out: dict[str, str] = {}
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(
            [
                "id",
                "model",
                "artifact_sha256",
                "target",
                "status",
                "error",
                *keys,
                "rounds",
                "init_ms",
                "first_run_ms",
                "peak_rss_kib",
                "rss_after_load_kib",
                "unattributed_share",
                "runtime",
                "runtime_version",
                "cpu_model",
                "started",
            ]
        )
        for i, m in rows:
            s = m.stats.to_dict() if m.stats else {}
            w.writerow(
                [
                    i,
                    m.model,
                    m.artifact_sha256,
                    m.target,
                    m.status,
                    m.error,
                    *(s.get(k, "") for k in keys),
                    len(m.rounds),
                    m.init_ms,
                    m.first_run_ms,
                    m.peak_rss_kib,
                    m.rss_after_load_kib,
                    m.unattributed_share,
                    m.env.get("runtime", ""),
                    m.env.get("runtime_version", ""),
                    m.env.get("cpu_model", ""),
                    m.started,
                ]
            )
        out["measurements.csv"] = buf.getvalue()
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["measurement_id", "round", "index", "ms"])
        for i, m in rows:
            for r in m.rounds:
                for j, v in enumerate(r.samples_ms):
                    w.writerow([i, r.index, j, v])
        out["samples.csv"] = buf.getvalue()
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["measurement_id", "name", "op_type", "mean_ms", "share"])
        for i, m in rows:
            for x in m.layers:
                w.writerow([i, x.name, x.op_type, x.mean_ms, x.share])
        out["layers.csv"] = buf.getvalue()
        return out

    def import_json(self, doc: dict[str, Any]) -> int:
        """Add the measurements of an exported document (all in one transaction)."""
        if not isinstance(doc, dict) or doc.get("format") != "xcelerator-store/1":
            raise BadInputError("not an xcelerator store export (expected format 'xcelerator-store/1')")
        from xcelerator.targets.registry import parse_target

        arts = {a["sha256"]: Artifact.from_dict(a) for a in doc.get("artifacts", [])}
        n = 0
        with self.session() as s:
            for md in doc.get("measurements", []):
                m = Measurement.from_dict(md)
                a = arts.get(m.artifact_sha256)
                if a is None:
                    raise BadInputError(f"measurement {md.get('id')}: its artifact {m.artifact_sha256[:12]} is missing")
                self._artifact_row(s, a)
                t = self._target_row(s, parse_target(m.env.get("target_uri") or m.target))
                row = _measurement_row(m, a.sha256, t.id)
                s.add(row)
                n += 1
        return n


def _measurement_row(m: Measurement, artifact_sha256: str, target_id: int) -> MeasurementRow:
    """The rows of one measurement: itself, its rounds (every sample) and its layer times."""
    d = m.to_dict()
    rounds = d.pop("rounds")
    d.pop("layers")
    row = MeasurementRow(
        artifact_sha256=artifact_sha256,
        target_id=target_id,
        model=m.model,
        target=m.target,
        status=m.status,
        error=m.error,
        median_ms=m.stats.median_ms if m.stats else None,
        peak_rss_kib=m.peak_rss_kib,
        doc=d,
        started=m.started,
        finished=m.finished,
    )
    row.rounds = [RoundRow(idx=r["index"], status=r["status"], samples_ms=list(r["samples_ms"]), doc=r) for r in rounds]
    row.layers = [LayerRow(name=x.name, op_type=x.op_type, mean_ms=x.mean_ms, share=x.share) for x in m.layers]
    return row


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def write_csv(tables: dict[str, str], out_dir: Path) -> Sequence[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in tables.items():
        p = out_dir / name
        p.write_text(text)
        paths.append(p)
    return paths


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=1, default=str)
