"""Command targets: run a vendor benchmark binary from a template and parse what it prints.

A command target is declared in the targets file (``xcel-targets.yaml`` or ``XCEL_TARGETS``)::

    commands:
      ov-bench:
        command: [benchmark_app, -m, "{model}", -d, CPU, -hint, none, -nthreads, "1", -niter, "{runs}"]
        parser: benchmark_app          # or litert_benchmark, benchmark_model, onnxruntime_perf_test,
                                       # nnpackage_run, trtexec, regex
        format: onnx                   # the artifact format the binary takes
        env: {OMP_NUM_THREADS: "1"}    # values may use {model} {runs} and configuration variables
        regex: {median_ms: 'median (\\S+) ms'}   # for parser: regex (named values, in ms)

and used as ``-t cmd:ov-bench``. The command is an argument list, never a shell string: the
template's placeholders are substituted per argument, so a model path with spaces or quotes
stays one argument. Each run of the binary is one round; its own summary (median or mean,
min, max, init, first run) becomes the round's figures; peak RSS comes from ``wait4``.

Parsers are tested against the real ``benchmark_app`` and ``litert-benchmark`` here, and against
verbatim outputs published in each tool's documentation or issue tracker for the rest.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any, ClassVar

from xcelerator.errors import BadInputError
from xcelerator.rounds.records import RoundRequest, RoundResult
from xcelerator.targets.transports.base import Transport

_NUM = r"([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"


class ParseError(BadInputError):
    pass


def _find(text: str, pattern: str, scale: float = 1.0) -> float | None:
    m = re.search(pattern, text, re.MULTILINE)
    return float(m.group(1)) * scale if m else None


_UNIT = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3}


def _find_time(text: str, label: str) -> float | None:
    """``label`` followed by a number and its unit (ns, us, ms, s), in ms."""
    m = re.search(label + r"\s*" + _NUM + r"\s*(ns|us|µs|ms|sec|s)\b", text, re.MULTILINE)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def parse_benchmark_app(text: str) -> dict[str, float]:
    """OpenVINO ``benchmark_app``: the Latency block (it prints ms, or us for fast models),
    first inference, count."""
    out = {
        "median_ms": _find_time(text, r"Median:"),
        "mean_ms": _find_time(text, r"Average:"),
        "min_ms": _find_time(text, r"Min:"),
        "max_ms": _find_time(text, r"Max:"),
        "first_run_ms": _find_time(text, r"First inference took"),
        "init_ms": _find_time(text, r"(?:Compile model|Read model) took"),
        "count": _find(text, r"Count:\s+" + _NUM),
    }
    return {k: v for k, v in out.items() if v is not None}


def parse_litert_benchmark(text: str) -> dict[str, float]:
    """``litert-benchmark`` (ai-edge-litert): the BENCHMARK RESULTS block."""
    out = {
        "median_ms": _find(text, r"Inference \(median\):\s+" + _NUM + r"\s*ms"),
        "mean_ms": _find(text, r"Inference \(avg\):\s+" + _NUM + r"\s*ms"),
        "min_ms": _find(text, r"Inference \(min\):\s+" + _NUM + r"\s*ms"),
        "max_ms": _find(text, r"Inference \(max\):\s+" + _NUM + r"\s*ms"),
        "first_run_ms": _find(text, r"Warmup \(first\):\s+" + _NUM + r"\s*ms"),
        "init_ms": _find(text, r"Model initialization:\s+" + _NUM + r"\s*ms"),
        "count": _find(text, r"Inference \(avg\):.*\(" + _NUM + r" runs\)"),
    }
    return {k: v for k, v in out.items() if v is not None}


def parse_benchmark_model(text: str) -> dict[str, float]:
    """TFLite ``benchmark_model``: ``Inference timings in us: Init: .., First inference: ..,
    Warmup (avg): .., Inference (avg): ..`` (one line or several), the memory footprint line
    and, with ``--enable_op_profiling``, the op tables (kept as text by the caller)."""
    out = {
        "init_ms": _find(text, r"Init:\s*" + _NUM, 1e-3),
        "first_run_ms": _find(text, r"First inference:\s*" + _NUM, 1e-3),
        "warmup_mean_ms": _find(text, r"Warmup \(avg\):\s*" + _NUM, 1e-3),
        "mean_ms": _find(text, r"Inference timings in us:.*?Inference \(avg\):\s*" + _NUM, 1e-3)
        or _find(text, r"^\s*Inference \(avg\):\s*" + _NUM + r"\s*$", 1e-3),
        "std_ms": _find(text, r"std=" + _NUM, 1e-3),
        "count": _find(text, r"count=" + _NUM),
        "min_ms": _find(text, r"count=\d+ first=\S+ curr=\S+ min=" + _NUM, 1e-3),
        "max_ms": _find(text, r"count=\d+ first=\S+ curr=\S+ min=\S+ max=" + _NUM, 1e-3),
        "peak_memory_mb": _find(text, r"overall=" + _NUM),
    }
    if out["mean_ms"] is None:  # the multi-line form: "Inference (avg): 12340" under the header
        m = re.search(r"Inference timings in us:(.*)", text, re.DOTALL)
        if m:
            out["mean_ms"] = _find(m.group(1), r"Inference \(avg\):\s*" + _NUM, 1e-3)
    return {k: v for k, v in out.items() if v is not None}


def parse_onnxruntime_perf_test(text: str) -> dict[str, float]:
    """``onnxruntime_perf_test``: average (ms), P50/min/max latency (s), session creation."""
    out = {
        "mean_ms": _find(text, r"Average (?:inference )?time cost:\s*" + _NUM + r"\s*ms"),
        "median_ms": _find(text, r"P50 Latency(?: is|:)\s*" + _NUM + r"\s*s", 1e3),
        "min_ms": _find(text, r"Min Latency(?: is|:)\s*" + _NUM + r"\s*s", 1e3),
        "max_ms": _find(text, r"Max Latency(?: is|:)\s*" + _NUM + r"\s*s", 1e3),
        "p90_ms": _find(text, r"P90 Latency(?: is|:)\s*" + _NUM + r"\s*s", 1e3),
        "init_ms": _find(text, r"Session creation time cost:\s*" + _NUM + r"\s*s", 1e3),
        "count": _find(text, r"Total (?:inference requests|iterations):\s*" + _NUM),
        "peak_memory_mb": _find(text, r"Peak working set size:\s*" + _NUM + r"\s*bytes", 1e-6),
    }
    return {k: v for k, v in out.items() if v is not None}


def parse_nnpackage_run(text: str) -> dict[str, float]:
    """ONE's ``nnpackage_run`` / ``onert_run``: ``nnfw_prepare takes X ms``, ``nnfw_run takes
    X ms`` or the phase table (MODEL_LOAD / PREPARE / EXECUTE takes X ms, then MEAN/MEDIAN)."""
    out = {
        "init_ms": _find(text, r"(?:nnfw_prepare|PREPARE)\s+takes\s+" + _NUM + r"\s*ms"),
        "mean_ms": _find(text, r"(?:nnfw_run|EXECUTE)\s+takes\s+" + _NUM + r"\s*ms"),
        "median_ms": _find(text, r"-\s*MEDIAN\s*:\s*" + _NUM + r"\s*ms"),
        "min_ms": _find(text, r"-\s*MIN\s*:\s*" + _NUM + r"\s*ms"),
        "max_ms": _find(text, r"-\s*MAX\s*:\s*" + _NUM + r"\s*ms"),
        "peak_memory_mb": _find(text, r"MAX_RSS\s*:\s*" + _NUM + r"\s*KB", 1e-3),
    }
    mean = _find(text, r"-\s*MEAN\s*:\s*" + _NUM + r"\s*ms")
    if mean is not None:
        out["mean_ms"] = mean
    return {k: v for k, v in out.items() if v is not None}


def parse_trtexec(text: str) -> dict[str, float]:
    """NVIDIA ``trtexec``: the ``Latency:`` line of the performance summary (host latency)."""
    line = re.search(r"\] Latency: (.*)", text)
    if not line:
        return {}
    s = line.group(1)
    out = {
        "min_ms": _find(s, r"min = " + _NUM + r" ms"),
        "max_ms": _find(s, r"max = " + _NUM + r" ms"),
        "mean_ms": _find(s, r"mean = " + _NUM + r" ms"),
        "median_ms": _find(s, r"median = " + _NUM + r" ms"),
        "p90_ms": _find(s, r"percentile\(90%\) = " + _NUM + r" ms"),
        "gpu_compute_median_ms": _find(text, r"GPU Compute Time: .*?median = " + _NUM + r" ms"),
    }
    return {k: v for k, v in out.items() if v is not None}


PARSERS: dict[str, Callable[[str], dict[str, float]]] = {
    "benchmark_app": parse_benchmark_app,
    "litert_benchmark": parse_litert_benchmark,
    "benchmark_model": parse_benchmark_model,
    "onnxruntime_perf_test": parse_onnxruntime_perf_test,
    "nnpackage_run": parse_nnpackage_run,
    "trtexec": parse_trtexec,
}


def parse_output(parser: str, text: str, regex: Mapping[str, str] | None = None) -> dict[str, float]:
    """Figures from a tool's output; ``ParseError`` when nothing matches (median or mean needed)."""
    if parser == "regex":
        if not regex:
            raise BadInputError("command target: parser regex needs a 'regex' mapping of name → pattern")
        out: dict[str, float] = {}
        for k, pat in regex.items():
            try:
                v = _find(text, pat)
            except (re.error, IndexError) as e:
                raise BadInputError(f"command target: regex for {k!r} is not valid ({e})") from None
            if v is not None:
                out[k] = v
    elif parser in PARSERS:
        out = PARSERS[parser](text)
    else:
        raise BadInputError(f"command target: unknown parser {parser!r}; known: regex, {', '.join(PARSERS)}")
    if "median_ms" not in out and "mean_ms" not in out:
        tail = " | ".join(text.strip().splitlines()[-3:])[:300]
        raise ParseError(f"no latency found by the {parser} parser in the command's output (last lines: {tail})")
    return out


@dataclass(frozen=True)
class CommandSpec:
    name: str
    command: tuple[str, ...]
    parser: str
    format: str = "onnx"
    env: tuple[tuple[str, str], ...] = ()
    regex: tuple[tuple[str, str], ...] = ()
    timeout: float = 600.0

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> CommandSpec:
        cmd = d.get("command")
        if isinstance(cmd, str) or not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise BadInputError(f"command target {name}: 'command' must be a list of arguments (no shell string)")
        parser = str(d.get("parser", ""))
        if parser != "regex" and parser not in PARSERS:
            raise BadInputError(f"command target {name}: parser {parser!r}; known: regex, {', '.join(PARSERS)}")
        env = d.get("env") or {}
        regex = d.get("regex") or {}
        if not isinstance(env, dict) or not isinstance(regex, dict):
            raise BadInputError(f"command target {name}: 'env' and 'regex' must be mappings")
        return cls(
            name=name,
            command=tuple(cmd),
            parser=parser,
            format=str(d.get("format", "onnx")),
            env=tuple((str(k), str(v)) for k, v in env.items()),
            regex=tuple((str(k), str(v)) for k, v in regex.items()),
            timeout=float(d.get("timeout", 600.0)),
        )

    def argv(self, values: Mapping[str, str]) -> list[str]:
        return [_fill(a, values) for a in self.command]

    def environment(self, values: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: _fill(v, values) for k, v in self.env})
        env.update(extra or {})
        return env


def _fill(template: str, values: Mapping[str, str]) -> str:
    def rep(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise BadInputError(f"command template: unknown placeholder {{{key}}}; known: {', '.join(sorted(values))}")
        return values[key]

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", rep, template)


@dataclass
class CommandRun:
    figures: dict[str, float]
    returncode: int
    seconds: float
    peak_rss_kib: int | None
    output: str = field(repr=False, default="")


def run_command(
    spec: CommandSpec,
    model: str | Path,
    runs: int = 50,
    extra_env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
) -> CommandRun:
    """Run the binary once on ``model``; parse its output. A binary that is missing, not
    executable, killed, past its timeout or printing nothing parseable raises ``BadInputError``
    (the message names the cause)."""
    values = {"model": str(model), "runs": str(runs), **(variables or {})}
    argv = [*spec.argv(values), *extra_args]
    env = spec.environment(values, extra_env)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    except FileNotFoundError:
        raise BadInputError(f"command target {spec.name}: {argv[0]!r} not found (is it on PATH?)") from None
    except PermissionError:
        raise BadInputError(f"command target {spec.name}: {argv[0]!r} is not executable (chmod +x)") from None
    # drain the output in a thread and reap the child ourselves: wait4 gives its peak RSS
    chunks: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read() if proc.stdout else b""), daemon=True)
    reader.start()
    deadline = time.monotonic() + spec.timeout
    status, peak = None, None
    while status is None:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, peak = st, int(ru.ru_maxrss) or None  # KiB on Linux
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise BadInputError(f"command target {spec.name}: no result within {spec.timeout:g} s (killed)")
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    out = b"".join(chunks)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        tail = " | ".join(text.strip().splitlines()[-2:])[:300]
        raise BadInputError(f"command target {spec.name}: exit status {proc.returncode} ({tail})")
    figures = parse_output(spec.parser, text, dict(spec.regex))
    return CommandRun(figures, proc.returncode, time.perf_counter() - t0, peak, text)


def load_commands(path: Path | None = None) -> dict[str, CommandSpec]:
    """The ``commands:`` section of the targets file."""
    import yaml

    p = path or Path(os.environ.get("XCEL_TARGETS", "xcel-targets.yaml"))
    if not p.exists():
        return {}
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise BadInputError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    cmds = doc.get("commands", {}) if isinstance(doc, dict) else {}
    if not isinstance(cmds, dict):
        raise BadInputError(f"{p}: 'commands' must be a mapping of name → command target")
    return {str(k): CommandSpec.from_dict(str(k), v) for k, v in cmds.items()}


def get_command(name: str, path: Path | None = None) -> CommandSpec:
    cmds = load_commands(path)
    if name not in cmds:
        raise BadInputError(
            f"unknown command target 'cmd:{name}'; declared: {', '.join(sorted(cmds)) or 'none'} "
            "(in xcel-targets.yaml under 'commands:')"
        )
    return cmds[name]


class CommandTransport(Transport):
    """``cmd:NAME[?runs=N]``: a vendor binary declared in the targets file. One run of the binary
    is one round; its summary (median, else mean) is the round's sample. A binary that is
    missing, crashes, hangs or prints nothing parseable is a failed round with the reason."""

    name = "command"
    scheme = "cmd:"
    runtime = "command"
    example = "cmd:NAME"
    OPTIONS: ClassVar[dict[str, dict[str, Any]]] = {
        "runs": {"help": "the {runs} placeholder: runs of the binary per round (default 50)", "integer": True},
    }

    @classmethod
    def split(cls, rest: str) -> tuple[str, str, str]:
        name, _, query = rest.partition("?")
        if not name:
            raise BadInputError("target 'cmd:': expected cmd:NAME, a command declared in xcel-targets.yaml")
        return name, "command", query

    @classmethod
    def validate(cls, target: Any) -> None:
        get_command(target.address)

    @classmethod
    def formats(cls, target: Any) -> tuple[str, ...]:
        return (get_command(target.address).format,)

    @classmethod
    def describe(cls) -> tuple[bool, str]:
        try:
            cmds = load_commands()
        except BadInputError as e:
            return False, str(e)
        return True, f"vendor binaries from the targets file; declared: {', '.join(sorted(cmds)) or 'none'}"

    def run(self, request: RoundRequest) -> RoundResult:
        spec = get_command(self.target.address)
        runs = int(self.target.opts.get("runs", "50"))
        started = time.time()
        try:
            r = run_command(
                dataclass_replace(spec, timeout=min(spec.timeout, request.plan.timeout)), request.model, runs
            )
        except BadInputError as e:
            status = "timeout" if "no result within" in str(e) else "failed"
            return RoundResult.failure(request.index, status, str(e), started, time.time())
        f = r.figures
        sample = f.get("median_ms", f.get("mean_ms"))
        return RoundResult(
            index=request.index,
            status="ok",
            error="",
            samples_ms=(float(sample),) if sample is not None else (),
            warmup_ms=(),
            init_ms=f.get("init_ms"),
            first_run_ms=f.get("first_run_ms"),
            peak_rss_kib=r.peak_rss_kib,
            rss_before_load_kib=None,
            rss_after_load_kib=None,
            stop_reason=f"{spec.name}: {int(f.get('count', runs))} runs",
            started=started,
            finished=time.time(),
            pid=0,
            env={"command": spec.name, "parser": spec.parser, "figures": f},
        )
