"""What pruned channel counts do to measured latency, per runtime: the reason ``xc.optimize``
snaps widths to the runtime's channel block (``round_channels``).

One network (three 3×3 convolutions at 16×16 with a residual add, then global pooling and a
classifier; seeded weights) is built at every width in ``--widths``. On each runtime, all the
widths are measured side by side, interleaved, each against the widest (the unpruned network),
with the A/B protocol. MACs fall with the width; the table shows where latency does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, write_section

sys.path.insert(0, str(ROOT / "src"))

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, w: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, stride=2, padding=1), nn.ReLU())
        self.c1 = nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.ReLU())
        self.c2 = nn.Conv2d(w, w, 3, padding=1)
        self.fc = nn.Linear(w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = torch.relu(h + self.c2(self.c1(h)))
        return self.fc(h.mean((2, 3)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="96,92,90,88,84,80,72,64")
    ap.add_argument("--runtimes", default="onnxruntime,openvino,ncnn,mnn")
    ap.add_argument("--out", type=Path, default=ROOT / ".xcel" / "bench-rounding")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import xcelerator as xc
    from xcelerator.measure.ab import paired
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import export_onnx
    from xcelerator.targets.registry import parse_target

    widths = [int(w) for w in args.widths.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    files = []
    for w in widths:
        torch.manual_seed(w)
        files.append(str(export_onnx(Net(w).eval(), (torch.rand(1, 3, 32, 32),), args.out / f"w{w}.onnx")))
    macs = {w: load_artifact(f).stats.macs for w, f in zip(widths, files, strict=True)}  # type: ignore[union-attr]
    rows: dict[str, dict[int, str]] = {}
    blocks: dict[str, int] = {}
    for rt in args.runtimes.split(","):
        target = f"{rt}?threads=1"
        spec = parse_target(target).spec
        blocks[rt] = spec.channel_multiple() if spec else 0
        try:
            ms = xc.compare(files, [target], db=str(args.out / "bench.db"))
        except Exception as e:  # a runtime that cannot take these files here: its row says why
            rows[rt] = {w: f"{type(e).__name__}: {str(e).splitlines()[0][:60]}" for w in widths}
            continue
        ref = ms[0]
        cells = {}
        for w, m in zip(widths, ms, strict=True):
            if m.stats is None or ref.stats is None:
                cells[w] = m.status
            elif w == widths[0] or paired(ref, m).speedup is None:
                cells[w] = f"{m.stats.median_ms:.3f} ms"
            else:
                ab = paired(ref, m)
                cells[w] = f"{ab.speedup:.2f}x [{ab.ci_low:.2f}, {ab.ci_high:.2f}]"
        rows[rt] = cells
        print(rt, cells, file=sys.stderr)
    head = "| runtime (channel block) | " + " | ".join(f"{w} ch" for w in widths) + " |"
    lines = [
        "Speed of each width against the widest (first column: its median), measured side by side on each "
        "runtime, one thread (A/B, 95 % CI; > 1 is faster). Input 1x3x32x32, seeded weights.",
        "",
        head,
        "|" + "---|" * (len(widths) + 1),
        "| MACs against the widest | " + " | ".join(f"{macs[w] / macs[widths[0]]:.2f}" for w in widths) + " |",
    ]
    for rt, cells in rows.items():
        lines.append(f"| {rt} ({blocks[rt]}) | " + " | ".join(cells[w] for w in widths) + " |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "optimize-rounding", "Pruned widths and measured latency", body)


if __name__ == "__main__":
    main()
