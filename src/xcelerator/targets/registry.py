"""Targets: where and how a model runs, named by a URI.

``RUNTIME[?k=v&...]`` runs on this machine (``onnxruntime?threads=1``, ``openvino?device=CPU``,
``torch?compile=1``, ``litert?threads=4``). Names from a targets YAML file (``XCEL_TARGETS`` or
``./xcel-targets.yaml``, mapping ``targets: {name: uri}``) alias URIs. Remote schemes
(``ssh://``, ``adb://``, ``cmd:``) are recognised and reported as not available in this version.

Hardware probes are cached and never raise: they return (usable, reason).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from xcelerator.errors import BadInputError


@dataclass(frozen=True)
class OptionSpec:
    help: str
    choices: tuple[str, ...] = ()
    integer: bool = False

    def check(self, runtime: str, key: str, value: str) -> str:
        if self.integer:
            try:
                if int(value) < 0:
                    raise ValueError
            except ValueError:
                raise BadInputError(
                    f"target {runtime}: option {key}={value!r} must be a non-negative integer"
                ) from None
        if self.choices:
            v = value if value in self.choices else value.lower()
            if v not in self.choices and value.upper() not in self.choices:
                raise BadInputError(
                    f"target {runtime}: option {key}={value!r} must be one of {', '.join(self.choices)}"
                )
        return value


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    module: str
    extra: str
    formats: tuple[str, ...]
    options: dict[str, OptionSpec] = field(default_factory=dict)
    description: str = ""


_THREADS = OptionSpec("intra-op threads (0: runtime default)", integer=True)
RUNTIMES: dict[str, RuntimeSpec] = {
    "onnxruntime": RuntimeSpec(
        "onnxruntime",
        "onnxruntime",
        "core",
        ("onnx",),
        {
            "threads": _THREADS,
            "inter_threads": OptionSpec("inter-op threads", integer=True),
            "provider": OptionSpec("execution provider", ("cpu", "cuda", "tensorrt")),
            "graph_opt": OptionSpec("graph optimization level", ("disable", "basic", "extended", "all")),
            "execution_mode": OptionSpec("execution mode", ("sequential", "parallel")),
            "precision": OptionSpec("precision (fp16 for TensorRT)", ("fp32", "fp16")),
        },
        "ONNX Runtime",
    ),
    "openvino": RuntimeSpec(
        "openvino",
        "openvino",
        "openvino",
        ("onnx", "openvino"),
        {
            "threads": _THREADS,
            "device": OptionSpec("device", ("CPU", "GPU", "NPU", "AUTO")),
            "precision": OptionSpec("inference precision hint", ("f32", "bf16", "f16")),
            "hint": OptionSpec("performance hint", ("latency", "throughput")),
            "streams": OptionSpec("number of streams", integer=True),
        },
        "OpenVINO",
    ),
    "torch": RuntimeSpec(
        "torch",
        "torch",
        "core",
        ("torch", "torchscript"),
        {
            "threads": _THREADS,
            "device": OptionSpec("device", ("cpu", "cuda")),
            "compile": OptionSpec("torch.compile the model", ("0", "1")),
            "compile_mode": OptionSpec("torch.compile mode", ("default", "reduce-overhead", "max-autotune")),
            "precision": OptionSpec("precision", ("fp32", "fp16", "bf16")),
        },
        "PyTorch eager (torch.compile optional)",
    ),
    "litert": RuntimeSpec(
        "litert",
        "ai_edge_litert",
        "litert",
        ("tflite",),
        {"threads": _THREADS, "xnnpack": OptionSpec("use the XNNPACK delegate", ("0", "1"))},
        "LiteRT (TFLite) interpreter",
    ),
}
REMOTE_SCHEMES = ("ssh://", "adb://", "cmd:")
SSH_OPTIONS = ("python", "accept_new", "retries", "connect_timeout")


@dataclass(frozen=True)
class Target:
    runtime: str
    options: tuple[tuple[str, str], ...] = ()
    name: str = ""
    remote: str = ""  # ssh: user@host[:port] of the board
    adb: str = ""  # adb: the phone's serial

    @property
    def uri(self) -> str:
        if self.adb:
            base = f"adb://{self.adb}/tflite"
        else:
            base = f"ssh://{self.remote}/{self.runtime}" if self.remote else self.runtime
        return base + ("?" + urlencode(self.options) if self.options else "")

    @property
    def label(self) -> str:
        return self.name or self.uri

    @property
    def opts(self) -> dict[str, str]:
        return dict(self.options)

    @property
    def runtime_opts(self) -> dict[str, str]:
        """The options the runtime sees (``resource`` is for the scheduler, ssh options for the link)."""
        return {k: v for k, v in self.options if k != "resource" and not (self.remote and k in SSH_OPTIONS)}

    @property
    def resource(self) -> str | None:
        """The Ray resource that serializes measurements on this target's device, if any."""
        r = self.opts.get("resource")
        return f"device:{r}" if r else None

    @property
    def spec(self) -> RuntimeSpec:
        return RUNTIMES[self.runtime]

    def with_option(self, key: str, value: str, override: bool = False) -> Target:
        o = self.opts
        if key in o and not override:
            return self
        o[key] = value
        return Target(self.runtime, tuple(sorted(o.items())), self.name, self.remote, self.adb)


def _aliases() -> dict[str, str]:
    path = os.environ.get("XCEL_TARGETS")
    p = Path(path) if path else Path("xcel-targets.yaml")
    if not p.exists():
        if path:
            raise BadInputError(f"XCEL_TARGETS={path}: no such file")
        return {}
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise BadInputError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from e
    targets = doc.get("targets", {}) if isinstance(doc, dict) else None
    if not isinstance(targets, dict):
        raise BadInputError(f"{p}: expected a mapping 'targets: {{name: uri}}'")
    return {str(k): str(v) for k, v in targets.items()}


def parse_target(text: str) -> Target:
    """Parse a target URI or alias; unknown runtimes or options raise ``BadInputError``."""
    text = text.strip()
    name = ""
    aliases = _aliases()
    if text in aliases:
        name, text = text, aliases[text]
    remote = ""
    if text.startswith("ssh://"):
        rest = text[len("ssh://") :]
        remote, sep, text = rest.partition("/")
        if not sep or not remote or not text:
            raise BadInputError(f"target 'ssh://{rest}': expected ssh://[user@]host[:port]/RUNTIME[?options]")
    elif text.startswith("adb://"):
        from xcelerator.targets.adb import AdbTarget

        a = AdbTarget.parse(text)
        return Target("litert", a.options, name, "", a.serial)
    elif text.startswith(REMOTE_SCHEMES):
        raise BadInputError(
            f"target '{text}': cmd: targets run through xcel pareto --space backend; profile/compare take "
            f"local runtimes ({', '.join(RUNTIMES)}), ssh:// boards and adb:// phones"
        )
    runtime, _, query = text.partition("?")
    runtime = {"ort": "onnxruntime", "ov": "openvino", "tflite": "litert", "pytorch": "torch"}.get(runtime, runtime)
    if runtime not in RUNTIMES:
        raise BadInputError(f"unknown target '{text}'; valid runtimes: {', '.join(RUNTIMES)} (see `xcel targets`)")
    spec = RUNTIMES[runtime]
    opts: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k == "resource":  # the device this target runs on, as a Ray resource (device:<name>)
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", v):
                raise BadInputError(f"target {runtime}: resource {v!r} must be a name of letters, digits, . _ -")
            opts[k] = v
            continue
        if remote and k in SSH_OPTIONS:
            opts[k] = v
            continue
        if k not in spec.options:
            raise BadInputError(
                f"target {runtime}: unknown option '{k}'; valid options: {', '.join(sorted(spec.options))}"
            )
        opts[k] = spec.options[k].check(runtime, k, v)
    if "device" in opts and runtime == "openvino":
        opts["device"] = opts["device"].upper()
    return Target(runtime, tuple(sorted(opts.items())), name, remote)


# ----------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class Probe:
    target: str
    usable: bool
    detail: str


@functools.cache
def probe_all() -> tuple[Probe, ...]:
    """What this machine can run, and why the rest cannot. Never raises."""
    out: list[Probe] = []

    def add(target: str, fn: Any) -> None:
        try:
            ok, detail = fn()
        except Exception as e:
            ok, detail = False, f"probe failed: {type(e).__name__}: {e}"
        out.append(Probe(target, bool(ok), str(detail)))

    def ort_providers() -> list[str]:
        import onnxruntime as ort

        return list(ort.get_available_providers())

    def ort_cpu() -> tuple[bool, str]:
        import onnxruntime as ort

        return True, f"onnxruntime {ort.__version__}, providers: {', '.join(ort_providers())}"

    def ort_ep(ep: str) -> tuple[bool, str]:
        try:
            provs = ort_providers()
        except ImportError:
            return False, "onnxruntime is not installed"
        if ep not in provs:
            return (
                False,
                f"{ep} is not in this onnxruntime build (install onnxruntime-gpu on a machine with a GPU)",
            )
        import ctypes.util

        if ep == "CUDAExecutionProvider" and not _has_nvidia():
            return False, "no NVIDIA GPU visible (nvidia-smi / /dev/nvidia0 missing)"
        if ep == "TensorrtExecutionProvider" and not ctypes.util.find_library("nvinfer"):
            if not _has_nvidia():
                return False, "no NVIDIA GPU visible"
        return True, f"{ep} available"

    add("onnxruntime", ort_cpu)
    add("onnxruntime?provider=cuda", lambda: ort_ep("CUDAExecutionProvider"))
    add("onnxruntime?provider=tensorrt", lambda: ort_ep("TensorrtExecutionProvider"))

    def ov_devices() -> list[str]:
        import openvino as ov

        return list(ov.Core().available_devices)

    def ov_dev(dev: str) -> tuple[bool, str]:
        try:
            devs = ov_devices()
        except ImportError:
            return False, "openvino is not installed: pip install 'xcelerator[openvino]'"
        if not any(d.startswith(dev) for d in devs):
            return False, f"OpenVINO sees no {dev} device here (devices: {', '.join(devs) or 'none'})"
        import openvino as ov

        return True, f"OpenVINO {ov.get_version().split('-')[0]} on {dev}"

    add("openvino", lambda: ov_dev("CPU"))
    add("openvino?device=GPU", lambda: ov_dev("GPU"))
    add("openvino?device=NPU", lambda: ov_dev("NPU"))

    def torch_cpu() -> tuple[bool, str]:
        import torch

        return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"

    def torch_cuda() -> tuple[bool, str]:
        import torch

        if not torch.cuda.is_available():
            return False, f"torch {torch.__version__} sees no CUDA device"
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name()}"

    add("torch", torch_cpu)
    add("torch?device=cuda", torch_cuda)

    def litert() -> tuple[bool, str]:
        try:
            import ai_edge_litert  # noqa: F401
        except ImportError:
            return False, "ai-edge-litert is not installed: pip install 'xcelerator[litert]'"
        conv = (
            "a .tflite converter is installed"
            if tflite_converter_available()
            else ("no .tflite converter (pip install 'xcelerator[tflite]'); .tflite files still run")
        )
        return True, f"LiteRT interpreter; {conv}"

    add("litert", litert)
    for scheme, why in (
        ("ssh://user@host/RUNTIME", "remote targets are not in this version"),
        ("adb://SERIAL/tflite", "remote targets are not in this version"),
    ):
        out.append(Probe(scheme, False, why))
    return tuple(out)


def _has_nvidia() -> bool:
    import shutil

    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


@functools.cache
def tflite_converter_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("litert_torch") is not None


def usable(target: Target) -> tuple[bool, str]:
    """Whether this local target can run here (by its runtime and device/provider option)."""
    key = target.runtime
    o = target.opts
    if target.runtime == "onnxruntime" and o.get("provider", "cpu") != "cpu":
        key += f"?provider={o['provider']}"
    elif target.runtime == "openvino" and o.get("device", "CPU") not in ("CPU", "AUTO"):
        key += f"?device={o['device']}"
    elif target.runtime == "torch" and o.get("device", "cpu") == "cuda":
        key += "?device=cuda"
    for p in probe_all():
        if p.target == key:
            return p.usable, p.detail
    return False, "unknown"
