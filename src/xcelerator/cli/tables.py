"""Rich tables of measurements, layer profiles, comparisons and A/B verdicts (for the CLI and
the demo)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from xcelerator.measure.records import Measurement


def _fmt(v: float | None, unit: str = "", digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}{unit}"


def measurement_table(ms: list[Measurement]) -> Table:
    t = Table(title="measurements", show_lines=False)
    for c in (
        "model",
        "target",
        "status",
        "median ms",
        "95% CI",
        "n",
        "rounds",
        "init ms",
        "first ms",
        "peak RSS MiB",
    ):
        t.add_column(c, justify="right" if c not in ("model", "target", "status") else "left")
    for m in ms:
        s = m.stats
        ci = f"{s.ci_low_ms:.4g}–{s.ci_high_ms:.4g} (±{100 * s.rel_ci:.1f}%)" if s else "-"
        status = m.status if m.status == "ok" else f"[red]{m.status}[/red]"
        t.add_row(
            m.model,
            m.target,
            status,
            _fmt(s.median_ms if s else None, digits=4),
            ci,
            str(s.n if s else 0),
            str(len(m.rounds)),
            _fmt(m.init_ms),
            _fmt(m.first_run_ms),
            _fmt(m.peak_rss_kib / 1024 if m.peak_rss_kib else None),
        )
    return t


def layer_tables(m: Measurement, top: int = 10) -> list[Table]:
    if not m.layers:
        return []
    a = Table(title=f"{m.model} on {m.target}: time per op type (profiled pass)")
    for c in ("op type", "ms", "share"):
        a.add_column(c, justify="right" if c != "op type" else "left")
    total = sum(x.mean_ms for x in m.layers)
    for op, ms in m.by_op_type().items():
        a.add_row(escape(op), f"{ms:.4f}", f"{100 * ms / total * (1 - (m.unattributed_share or 0)):.1f}%")
    a.add_row("(unattributed)", "", f"{100 * (m.unattributed_share or 0):.1f}%")
    b = Table(title=f"top {top} nodes")
    for c in ("node", "op type", "ms", "share"):
        b.add_column(c, justify="right" if c in ("ms", "share") else "left")
    for x in m.layers[:top]:
        b.add_row(escape(x.name[:60]), escape(x.op_type[:40]), f"{x.mean_ms:.4f}", f"{100 * x.share:.1f}%")
    return [a, b]


def speedup_table(sps: list[Any]) -> Table:
    t = Table(title="speed-ups from paired rounds (> 1: faster than the reference)")
    for c in ("model", "reference", "target", "speed-up", "95% CI", "verdict", "pairs"):
        t.add_column(c, justify="right" if c in ("speed-up", "95% CI", "pairs") else "left")
    for s in sps:
        ci = f"{s.ci_low:.3f}–{s.ci_high:.3f}" if s.ci_low is not None else "-"
        verdict = s.verdict
        if s.verdict == "no detectable difference" and s.detectable_pct is not None:
            verdict += f" (±{s.detectable_pct:.1f}% detectable)"
        t.add_row(
            escape(s.model),
            escape(s.reference),
            escape(s.target),
            f"{s.speedup:.3f}" if s.speedup is not None else "-",
            ci,
            verdict,
            f"{s.pairs} ({'in one process' if s.pairing == 'one process' else 'separate processes'})",
        )
    return t


def comparison_table(comp: Any) -> Table:
    t = Table(title=f"median ms (speed-up against {comp.targets[0]})")
    t.add_column("model")
    for tg in comp.targets:
        t.add_column(tg, justify="right")
    for model in comp.models:
        cells = []
        for tg in comp.targets:
            m = comp.cell(model, tg)
            if m is None or m.stats is None:
                cells.append(m.status if m else "-")
                continue
            sp = comp.speedup(model, tg)
            cells.append(
                f"{m.stats.median_ms:.4g}" + (f" ({sp:.2f}×)" if sp is not None and tg != comp.targets[0] else "")
            )
        t.add_row(model, *cells)
    return t
