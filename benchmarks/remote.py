"""SSH target benchmarks; writes the ``remote`` section of BENCHMARKS.md.

    python benchmarks/remote.py [--pairs 6]

An OpenSSH server is started on 127.0.0.1 with fresh keys (as the tests do). The same model is
measured locally and over SSH on loopback in one run, interleaved (A B B A ...), so the ratio of
medians shows what the remote path adds to the figures themselves (goal: within ±5 %). The
fixed cost of a remote measurement with a reused connection is the wall time of a 1-round,
20-run measurement over SSH minus the same measurement locally (median of ``--pairs``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XCEL_CACHE", str(ROOT / ".xcel" / "cache"))

from benchmarks.profiler import write_section  # noqa: E402
from tests.test_ssh import Server, _keygen  # noqa: E402

from xcelerator.measure.core import measure, measure_many  # noqa: E402
from xcelerator.models.export import resolve_model  # noqa: E402
from xcelerator.rounds.plan import Plan  # noqa: E402
from xcelerator.targets.registry import parse_target  # noqa: E402
from xcelerator.targets.transports import ssh  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        srv = Server(root)
        _keygen(srv.host_key)
        (root / "authorized_keys").write_text(_keygen(home / ".ssh" / "id_ed25519") + "\n")
        pub = Path(str(srv.host_key) + ".pub").read_text().split()
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{srv.port} {pub[0]} {pub[1]}\n")
        user = os.environ.get("USER") or "root"
        (home / ".ssh" / "config").write_text(f"Host board\n  HostName 127.0.0.1\n  Port {srv.port}\n  User {user}\n")
        srv.start()
        os.environ["HOME"] = str(home)
        os.environ.pop("SSH_AUTH_SOCK", None)
        try:
            rows = []
            local = parse_target("onnxruntime?threads=1")
            remote = parse_target(f"ssh://board/onnxruntime?threads=1&python={sys.executable}")
            for name in ("mobilenet_v2_0.5_128", "resnet18_224"):
                art = resolve_model(name, "onnx")
                plan = Plan(min_rounds=6, max_rounds=6, min_seconds=0.5, max_seconds=1.5, rel_ci=0.01)
                a, b = measure_many([(art, local), (art, remote)], plan)
                assert a.stats and b.stats, (a.error, b.error)
                rows.append(
                    f"| {name} | {a.stats.median_ms:.3f} | {b.stats.median_ms:.3f} | "
                    f"{100 * (b.stats.median_ms / a.stats.median_ms - 1):+.1f} % |"
                )
            art = resolve_model("mobilenet_v2_0.5_128", "onnx")
            fixed = Plan(min_rounds=1, max_rounds=1, min_runs=20, max_runs=20, min_seconds=0.0, warmup_runs=2)
            measure(art, remote, fixed)  # connect, check the board, upload runner and model once
            costs = []
            for _ in range(args.pairs):
                t = time.perf_counter()
                measure(art, local, fixed)
                tl = time.perf_counter() - t
                t = time.perf_counter()
                measure(art, remote, fixed)
                costs.append(time.perf_counter() - t - tl)
            ssh.close_all()
        finally:
            srv.stop()
    body = "\n".join(
        [
            "## Remote targets (SSH)",
            "",
            "OpenSSH on 127.0.0.1 (the board is this "
            "machine), ONNX Runtime 1 thread, 6 rounds each, local and remote interleaved in one run.",
            "",
            "| model | local median ms | over SSH median ms | difference |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Fixed cost of one remote measurement (1 round, 20 runs) with the connection reused, over the same "
            f"measurement locally: median {1000 * statistics.median(costs):.0f} ms "
            f"(range {1000 * min(costs):.0f}–{1000 * max(costs):.0f} ms, {args.pairs} pairs): writing the request, "
            "starting the runner over the channel, fetching its JSON.",
            "",
        ]
    )
    write_section(Path(args.out), "remote", body)
    print(body)


if __name__ == "__main__":
    main()
