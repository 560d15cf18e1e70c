"""Android phones over adb (adbutils): ``adb://SERIAL/tflite?threads=4&use_gpu=1&use_nnapi=1&
use_xnnpack=1&taskset=f0&binary=/path/to/benchmark_model``.

The ``.tflite`` model and the user's ``benchmark_model`` binary (TFLite's, built for the phone's
ABI) are pushed to a fresh directory under ``/data/local/tmp``, run there (pinned with
``taskset`` when given), and the directory is removed afterwards. The binary's output gives init,
first run, warm-up and steady-state times, the memory footprint and, with op profiling, the
per-op tables; the phone's facts (model, SoC, Android version, CPU governor, battery
temperature) are recorded with the result. Commands are argument lists joined with
``shlex.quote``. No phone is attached in CI: the parsers are tested on the tool's output, and
tests that need a phone skip with the reason.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from xcelerator.errors import BadInputError, MissingDependencyError
from xcelerator.rounds.records import LayerTime, RoundRequest, RoundResult
from xcelerator.targets.transports.base import Transport
from xcelerator.targets.transports.command import parse_benchmark_model

OPTIONS = (
    "threads",
    "use_gpu",
    "use_nnapi",
    "use_xnnpack",
    "taskset",
    "binary",
    "runs",
    "warmup",
    "op_profiling",
    "resource",  # the phone as a Ray device resource (device:<name>) on the host it is plugged into
)


@dataclass(frozen=True)
class AdbTarget:
    serial: str
    options: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, uri: str) -> AdbTarget:
        if not uri.startswith("adb://"):
            raise BadInputError(f"{uri}: not an adb:// target")
        serial, _, rest = uri[len("adb://") :].partition("/")
        runtime, _, query = rest.partition("?")
        if not serial or runtime not in ("tflite", "litert"):
            raise BadInputError(f"{uri}: expected adb://SERIAL/tflite?options")
        opts = dict(parse_qsl(query, keep_blank_values=True))
        bad = sorted(set(opts) - set(OPTIONS))
        if bad:
            raise BadInputError(f"{uri}: unknown option(s) {bad}; valid: {', '.join(OPTIONS)}")
        if "taskset" in opts and not re.fullmatch(r"[0-9a-fA-F]{1,16}", opts["taskset"]):
            raise BadInputError(f"{uri}: taskset must be a hexadecimal CPU mask like f0")
        return cls(serial, tuple(sorted(opts.items())))

    @property
    def opts(self) -> dict[str, str]:
        return dict(self.options)

    def argv(self, model: str, binary: str) -> list[str]:
        o = self.opts
        flag = lambda k: "true" if o.get(k, "0") in ("1", "true") else "false"  # noqa: E731
        cmd = [
            binary,
            f"--graph={model}",
            f"--num_threads={o.get('threads', '1')}",
            f"--num_runs={o.get('runs', '50')}",
            f"--warmup_runs={o.get('warmup', '5')}",
            f"--use_gpu={flag('use_gpu')}",
            f"--use_nnapi={flag('use_nnapi')}",
            f"--use_xnnpack={flag('use_xnnpack')}",
            f"--enable_op_profiling={flag('op_profiling')}",
        ]
        return (["taskset", o["taskset"]] if "taskset" in o else []) + cmd


_OP_ROW = re.compile(
    r"^\s*(?P<type>[A-Z][A-Z0-9_]*|[A-Za-z][\w ]*?)\s+(?P<count>\d+)\s+(?P<avg>[0-9.]+)\s+(?P<pct>[0-9.]+)%\s+"
    r"(?P<cdf>[0-9.]+)%\s+(?P<mem>[0-9.]+)\s+(?P<called>\d+)\s*$"
)


def parse_op_summary(text: str) -> list[dict[str, Any]]:
    """The "Summary by node type" table of ``--enable_op_profiling`` (TFLite's profile
    summarizer): node type, count, avg ms, %, cdf %, mem KB, times called."""
    m = re.search(r"Summary by node type =+\n(.*?)(?:\n\s*\n|Timings|\Z)", text, re.DOTALL)
    if not m:
        return []
    rows = []
    for line in m.group(1).splitlines():
        r = _OP_ROW.match(line.replace("\t", " "))
        if r:
            rows.append(
                {
                    "op_type": r["type"].strip(),
                    "count": int(r["count"]),
                    "avg_ms": float(r["avg"]),
                    "share": float(r["pct"]) / 100,
                }
            )
    return rows


def facts(device: Any) -> dict[str, Any]:
    """Model, SoC, Android version, governor and battery temperature of a phone."""

    def sh(cmd: list[str]) -> str:
        try:
            return str(device.shell(" ".join(shlex.quote(c) for c in cmd))).strip()
        except Exception:  # a property a phone does not have
            return ""

    temp = re.search(r"temperature:\s*(\d+)", sh(["dumpsys", "battery"]))
    return {
        "model": sh(["getprop", "ro.product.model"]),
        "soc": sh(["getprop", "ro.soc.model"]) or sh(["getprop", "ro.board.platform"]),
        "android": sh(["getprop", "ro.build.version.release"]),
        "abi": sh(["getprop", "ro.product.cpu.abi"]),
        "governor": sh(["cat", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"]),
        "battery_temp_c": int(temp.group(1)) / 10 if temp else None,
    }


def device(serial: str) -> Any:
    """The phone, or one clear line: adb server down, or no such serial (with those present)."""
    try:
        import adbutils
    except ImportError:
        raise MissingDependencyError("adbutils", "adb", "adb:// targets") from None
    try:
        present = [d.serial for d in adbutils.adb.device_list()]
    except Exception as e:  # the adb server is not running or not installed
        raise BadInputError(
            f"adb: cannot reach the adb server ({type(e).__name__}: {e}); "
            "install platform-tools and run 'adb start-server'"
        ) from None
    if serial not in present:
        raise BadInputError(f"adb: no device with serial {serial!r}; attached: {', '.join(present) or 'none'}")
    return adbutils.adb.device(serial)


def run_adb(target: AdbTarget, model: str | Path) -> dict[str, Any]:
    """Push, run, parse, clean up. Returns the figures, the op table and the phone's facts."""
    o = target.opts
    binary = o.get("binary")
    if not binary or not Path(binary).is_file():
        raise BadInputError("adb target: give the phone's benchmark_model with ?binary=/path/to/benchmark_model")
    if Path(model).suffix != ".tflite":
        raise BadInputError(f"adb target: runs .tflite models, not {Path(model).name}")
    dev = device(target.serial)
    info = facts(dev)
    work = f"/data/local/tmp/xcel-{uuid.uuid4().hex[:8]}"
    try:
        dev.shell(f"mkdir -p {shlex.quote(work)} && chmod 700 {shlex.quote(work)}")
        dev.sync.push(str(model), f"{work}/model.tflite")
        dev.sync.push(str(binary), f"{work}/benchmark_model")
        dev.shell(f"chmod 755 {shlex.quote(work + '/benchmark_model')}")
        argv = target.argv(f"{work}/model.tflite", f"{work}/benchmark_model")
        out = str(dev.shell(" ".join(shlex.quote(a) for a in argv) + " 2>&1"))
    finally:
        try:
            dev.shell(f"rm -rf {shlex.quote(work)}")
        except Exception:  # the phone went away; nothing more to clean
            pass
    if "not executable" in out or "Exec format error" in out or "Permission denied" in out:
        raise BadInputError(
            f"adb {target.serial}: benchmark_model does not run there ({out.strip()[:200]}); "
            f"build it for ABI {info.get('abi') or '?'}"
        )
    figures = parse_benchmark_model(out)
    if "mean_ms" not in figures:
        raise BadInputError(f"adb {target.serial}: no timings in benchmark_model's output ({out.strip()[-200:]})")
    return {"figures": figures, "ops": parse_op_summary(out), "facts": info}


_FLAG = {"choices": ["0", "1"]}


class AdbTransport(Transport):
    """``adb://SERIAL/tflite?options``: one ``benchmark_model`` run on the phone is one round
    (its mean is the round's sample). No phone, no adb server, a binary for the wrong ABI or an
    output without timings are failed rounds with the reason."""

    name = "adb"
    scheme = "adb://"
    runtime = "tflite"
    example = "adb://SERIAL/tflite"
    OPTIONS: ClassVar[dict[str, dict[str, Any]]] = {
        "threads": {"help": "benchmark_model --num_threads", "integer": True},
        "use_gpu": {"help": "GPU delegate", **_FLAG},
        "use_nnapi": {"help": "NNAPI delegate", **_FLAG},
        "use_xnnpack": {"help": "XNNPACK delegate", **_FLAG},
        "taskset": {"help": "hexadecimal CPU mask (taskset) on the phone"},
        "binary": {"help": "path of the phone's benchmark_model on this machine"},
        "runs": {"help": "benchmark_model --num_runs", "integer": True},
        "warmup": {"help": "benchmark_model --warmup_runs", "integer": True},
        "op_profiling": {"help": "per-op tables (--enable_op_profiling)", **_FLAG},
    }

    @classmethod
    def split(cls, rest: str) -> tuple[str, str, str]:
        serial, _, tail = rest.partition("/")
        runtime, _, query = tail.partition("?")
        if not serial or runtime not in ("tflite", "litert"):
            raise BadInputError(f"adb://{rest}: expected adb://SERIAL/tflite?options")
        return serial, "tflite", query

    @classmethod
    def validate(cls, target: Any) -> None:
        t = target.opts.get("taskset")
        if t is not None and not re.fullmatch(r"[0-9a-fA-F]{1,16}", t):
            raise BadInputError(f"{target.uri}: taskset must be a hexadecimal CPU mask like f0")

    @classmethod
    def formats(cls, target: Any) -> tuple[str, ...]:
        return ("tflite",)

    @classmethod
    def describe(cls) -> tuple[bool, str]:
        try:
            import adbutils
        except ImportError:
            return False, "adbutils is not installed: pip install 'xcelerator[adb]'"
        import os
        import socket

        port = int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
        try:  # listing devices would start a server; only ask one that is already running
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False, f"Android phones with benchmark_model; no adb server on port {port} (adb start-server)"
        try:
            n = len(adbutils.adb.device_list())
        except Exception as e:
            return False, f"Android phones with benchmark_model; no adb server here ({type(e).__name__})"
        return n > 0, f"Android phones with benchmark_model; {n} attached"

    def run(self, request: RoundRequest) -> RoundResult:
        started = time.time()
        adb = AdbTarget(self.target.address, tuple(sorted(self.target.transport_opts.items())))
        try:
            out = run_adb(adb, request.model)
        except BadInputError as e:  # no phone, no server, wrong binary: this round failed, say why
            return RoundResult.failure(request.index, "failed", str(e), started, time.time())
        f = out["figures"]
        layers: tuple[LayerTime, ...] = ()
        e2e = None
        if out["ops"]:
            total = sum(o["avg_ms"] for o in out["ops"]) or 1.0
            e2e = max(float(f["mean_ms"]), total)
            layers = tuple(
                LayerTime(o["op_type"], o["op_type"], o["avg_ms"], o["avg_ms"] / e2e)
                for o in sorted(out["ops"], key=lambda o: -o["avg_ms"])
            )
        return RoundResult(
            index=request.index,
            status="ok",
            error="",
            samples_ms=(float(f["mean_ms"]),),
            warmup_ms=(float(f["warmup_mean_ms"]),) if "warmup_mean_ms" in f else (),
            init_ms=f.get("init_ms"),
            first_run_ms=f.get("first_run_ms"),
            peak_rss_kib=None,  # benchmark_model reports a footprint delta, not the process peak: kept in env
            rss_before_load_kib=None,
            rss_after_load_kib=None,
            stop_reason="benchmark_model runs",
            started=started,
            finished=time.time(),
            pid=0,
            env={
                "phone": out["facts"],
                "runtime": "tflite benchmark_model",
                "memory_footprint_delta_mb": f.get("peak_memory_mb"),
            },
            layers=layers,
            layers_e2e_ms=e2e,
        )
