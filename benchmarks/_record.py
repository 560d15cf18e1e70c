"""How every benchmark script writes its BENCHMARKS.md section: a heading, then the date, the
machine, the git commit and the exact command that produced it, then the body the script
computed from its own run (no prose that does not follow from the figures)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """The CPU as /proc/cpuinfo names it, with its family/model numbers and widest vector
    instructions: a cloud VM's "AMD EPYC" says nothing of the generation, and two sessions on
    different ones (AVX2 against AVX-512) time the same network 4x apart."""
    cpu = platform.processor()
    info: dict[str, str] = {}
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = ln.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    cpu = info.get("model name", cpu)
    flags = set(info.get("flags", "").split())
    detail = []
    if "cpu family" in info and "model" in info:
        detail.append(f"family {info['cpu family']} model {info['model']}")
    isa = next((x for x in ("avx512f", "avx2", "avx", "sse4_2") if x in flags), None)
    if isa:
        detail.append(isa.replace("avx512f", "avx512"))
    named = f"{cpu} ({', '.join(detail)})" if detail else cpu
    return f"{named}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        # BENCHMARKS.md is this output itself: a section written by an earlier script is not a code change
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md"],
            cwd=ROOT,
            capture_output=True,
        )
        return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


STARTED = commit()  # the code that ran is the code at the start (a script imports this first)


def header(title: str) -> str:
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    now = commit()
    which = STARTED if now == STARTED else f"{STARTED} when started; {now} when written"
    return (
        f"## {title}\n\n"
        f"- date: {dt.date.today().isoformat()}; machine: {machine()}\n"
        f"- commit: {which}; command: `{cmd}`\n\n"
    )


def write_section(path: Path, name: str, title: str, body: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures written by the scripts in `benchmarks/`.\n"
    block = f"{begin}\n{header(title)}{body.rstrip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
