"""Generating and exporting networks: time for 100 mobilegen networks (goal: under 60 s) and
the memory of the process while doing it. Writes its section of BENCHMARKS.md.

    python benchmarks/generate.py [--count 100] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from profiler import write_section  # noqa: E402

from xcelerator.models.generate import generate  # noqa: E402
from xcelerator.models.spaces import get_space  # noqa: E402


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    import torch

    space = get_space("mobilegen")
    start_rss = rss_kib()
    samples: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        rows = generate(space, args.count, 0, Path(d), progress=lambda _: samples.append((len(samples) + 1, rss_kib())))
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(d).iterdir())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    macs = sorted(r["macs"] for r in rows)
    rss_10 = next((r for i, r in samples if i == max(1, args.count // 10)), start_rss)
    body = (
        f"## Generator (`benchmarks/generate.py`)\n\n"
        f"torch {torch.__version__}.\n\n"
        f"| networks | space | wall s | s / network | MACs (min / median / max) | files MB | "
        f"RSS before MiB | RSS after {args.count // 10} MiB | RSS after all MiB | peak RSS MiB |\n"
        f"|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {args.count} | mobilegen (40-400 M MACs, 224 px) | {wall:.1f} | {wall / args.count:.2f} | "
        f"{macs[0] / 1e6:.0f} / {macs[len(macs) // 2] / 1e6:.0f} / {macs[-1] / 1e6:.0f} M | {size / 1e6:.0f} | "
        f"{start_rss / 1024:.0f} | {rss_10 / 1024:.0f} | {samples[-1][1] / 1024:.0f} | {peak / 1024:.0f} |\n\n"
        f"Goal: 100 networks in under 60 s. Each network is built in torch, exported (TorchScript exporter + "
        f"onnxscript optimizer), reloaded for graph statistics and written with its spec JSON.\n"
    )
    write_section(Path(args.out), "generate", body)
    print(body)


if __name__ == "__main__":
    main()
