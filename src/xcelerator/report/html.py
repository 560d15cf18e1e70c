"""A self-contained HTML report: plotly.js inlined once, every figure a div, notes in place of
figures that have nothing to draw. Opens offline from disk."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xcelerator.report.figures import Panel, panels, write_pngs

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .8em 1em; margin: 1em 0; }
.figure { margin: 1em 0; } .meta { color: #666; font-size: .9em; }
"""


def build(
    sections: Sequence[tuple[str, list[dict[str, Any]]]],
    out_dir: Path,
    title: str = "xcelerator report",
    png: bool = True,
) -> dict[str, Any]:
    """Write ``report.html``, ``records.json`` and PNGs into ``out_dir``. ``sections`` are
    (heading, records). Returns what was written and every panel's key (figure or note)."""
    from plotly.offline import get_plotlyjs

    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>written {dt.datetime.now().isoformat(timespec='seconds')} by xcelerator</p>",
    ]
    figures: list[str] = []
    notes: list[str] = []
    pngs: list[str] = []
    n = 0
    for heading, records in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if not records:
            parts.append("<div class='note'>nothing to show here</div>")
            notes.append(heading)
            continue
        for rec in records:
            n += 1
            for p in panels(rec, prefix=f"r{n}_"):
                parts.append(_panel_html(p))
                (figures if p.plotly is not None else notes).append(p.key)
            if png:
                pngs += [str(x) for x in write_pngs(rec, out_dir / "png", prefix=f"r{n}_")]
    parts.append("</body></html>")
    page = out_dir / "report.html"
    page.write_text("\n".join(parts))
    (out_dir / "records.json").write_text(json.dumps({"title": title, "sections": sections}, default=str))
    return {"html": str(page), "figures": figures, "notes": notes, "pngs": pngs, "bytes": page.stat().st_size}


def _panel_html(p: Panel) -> str:
    if p.plotly is None:
        return f"<div class='note' id='{p.key}'>{html.escape(p.title)}: {html.escape(p.note)}</div>"
    div = p.plotly.to_html(full_html=False, include_plotlyjs=False, div_id=p.key, config={"displaylogo": False})
    return f"<div class='figure'>{div}</div>"
