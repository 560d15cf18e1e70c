"""Targets: where and how a model runs, named by a URI; the registries of runtimes and transports.

A target is transport × runtime × options:

- ``RUNTIME[?k=v&...]`` runs on this machine (``onnxruntime?threads=1``, ``openvino?device=CPU``,
  ``torch?compile=1``, ``litert?threads=4``, ``ncnn?threads=1``, ``mnn``, ``executorch``);
- ``ssh://[user@]host[:port]/RUNTIME?...`` runs the same runtime on a Linux board;
- ``adb://SERIAL/tflite?...`` runs TFLite's ``benchmark_model`` on an Android phone;
- ``cmd:NAME`` runs a vendor binary declared in the targets file.

Names from a targets YAML file (``XCEL_TARGETS`` or ``./xcel-targets.yaml``, mapping
``targets: {name: uri}``) alias URIs. Runtimes are the files under ``targets/runtimes/`` plus the
entry-point group ``xcelerator.runtimes``; transports the files under ``targets/transports/``
plus ``xcelerator.transports``. A plug-in that fails to import is listed by ``xcel targets`` with
its error; the others still work. Probes are cached and never raise.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from xcelerator import plugins
from xcelerator.errors import BadInputError

log = logging.getLogger(__name__)
RUNTIME_GROUP = "xcelerator.runtimes"
TRANSPORT_GROUP = "xcelerator.transports"
ALIASES = {"ort": "onnxruntime", "ov": "openvino", "tflite": "litert", "pytorch": "torch", "et": "executorch"}


@dataclass(frozen=True)
class OptionSpec:
    help: str
    choices: tuple[str, ...] = ()
    integer: bool = False
    upper: bool = False  # the value is normalised to upper case (OpenVINO device names)

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> OptionSpec:
        return cls(
            str(d.get("help", "")),
            tuple(str(c) for c in d.get("choices", ())),
            bool(d.get("integer", False)),
            bool(d.get("upper", False)),
        )

    def check(self, owner: str, key: str, value: str) -> str:
        if self.integer:
            try:
                if int(value) < 0:
                    raise ValueError
            except ValueError:
                raise BadInputError(f"target {owner}: option {key}={value!r} must be a non-negative integer") from None
        if self.choices:
            for c in self.choices:
                if value == c or value.lower() == c.lower():
                    return c.upper() if self.upper else c
            raise BadInputError(f"target {owner}: option {key}={value!r} must be one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class RuntimeSpec:
    """A registered runtime, read from its file's declarations (see ``targets/runtimes``)."""

    name: str
    description: str
    module: str
    pip: str
    extra: str
    formats: tuple[str, ...]
    converts: tuple[str, ...]
    options: dict[str, OptionSpec]
    variants: tuple[str, ...]
    file: str  # the self-contained file the runner loads the adapter from
    source: str = "builtin"
    int8: str = ""  # how it quantizes to INT8 (its module's ``INT8`` and ``quantize``), empty: it does not
    preload: tuple[str, ...] = ()  # modules a local round's process may import before it forks (``PRELOAD``)
    impl: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_module(cls, mod: Any, source: str = "builtin") -> RuntimeSpec:
        missing = [a for a in ("NAME", "FORMATS", "OPTIONS", "probe", "Adapter") if not hasattr(mod, a)]
        if missing:
            raise TypeError(f"not a runtime: lacks {', '.join(missing)}")
        file = getattr(mod, "__file__", None)
        if not file:
            raise TypeError("not a runtime: its module has no file to ship to the runner")
        return cls(
            name=str(mod.NAME),
            description=str(getattr(mod, "DESCRIPTION", mod.NAME)),
            module=str(getattr(mod, "MODULE", mod.NAME)),
            pip=str(getattr(mod, "PIP", getattr(mod, "MODULE", mod.NAME))),
            extra=str(getattr(mod, "EXTRA", "")),
            formats=tuple(mod.FORMATS),
            converts=tuple(getattr(mod, "CONVERTS", ())),
            options={k: OptionSpec.from_data(v) for k, v in mod.OPTIONS.items()},
            variants=tuple(getattr(mod, "VARIANTS", ("",))),
            file=str(Path(file).resolve()),
            source=source,
            int8=str(getattr(mod, "INT8", "")) if callable(getattr(mod, "quantize", None)) else "",
            preload=tuple(str(m) for m in getattr(mod, "PRELOAD", ())),
            impl=mod,
        )

    def probe(self, options: dict[str, str] | None = None) -> tuple[bool, str]:
        """Whether this runtime runs here with these options, and why not. Never raises."""
        return _probe(self.name, tuple(sorted((options or {}).items())))

    def convert(self, path: str, fmt: str, out_dir: Path, inputs: list[dict[str, Any]]) -> str:
        if fmt not in self.converts or not hasattr(self.impl, "convert"):
            raise BadInputError(
                f"target {self.name} runs {'/'.join(self.formats)} models; it cannot convert {fmt} "
                f"(it converts: {', '.join(self.converts) or 'nothing'})"
            )
        return str(self.impl.convert(path, fmt, str(out_dir), inputs))

    def quantize(self, path: str, out_dir: Path, calibration: list[dict[str, Any]], exclude: Sequence[str] = ()) -> str:
        """``path`` quantized to INT8 by this runtime's own tool (see ``INT8``), calibrated on
        ``calibration`` (one feed dict a batch), the nodes in ``exclude`` left in FP32."""
        if not self.int8:
            raise BadInputError(f"runtime {self.name} has no INT8 quantizer here; {int8_choices()}")
        out_dir.mkdir(parents=True, exist_ok=True)
        return str(self.impl.quantize(path, str(out_dir), calibration, list(exclude)))

    def side_by_side(self, options: dict[str, str]) -> bool:
        """Whether several models of this runtime with ``options`` can be timed in one process
        without one model's idle threads slowing another's runs (the module's
        ``side_by_side(options)``; without one: yes)."""
        f = getattr(self.impl, "side_by_side", None)
        return bool(f(options)) if callable(f) else True

    def channel_multiple(self) -> int:
        """The channel count its CPU kernels block by (its module's ``channel_multiple()``; 8
        when it does not say): pruned widths snapped to it keep the fast layout."""
        fn = getattr(self.impl, "channel_multiple", None)
        try:
            return int(fn()) if callable(fn) else 8
        except Exception:
            return 8


def int8_choices() -> str:
    """The sentence naming the runtimes that quantize to INT8 here."""
    names = [n for n, r in runtimes().items() if r.int8]
    return f"int8 is available on: {', '.join(names) or 'none'}"


@functools.cache
def _probe(name: str, options: tuple[tuple[str, str], ...]) -> tuple[bool, str]:
    spec = runtimes().get(name)
    if spec is None:
        return False, f"unknown runtime {name}"
    try:
        ok, detail = spec.impl.probe(dict(options))
        return bool(ok), str(detail)
    except BaseException as e:  # a probe must never take the caller down
        return False, f"probe failed: {type(e).__name__}: {e}"


PluginError = plugins.PluginError  # (kept here too: plug-in errors were first the targets' own)


@functools.cache
def runtimes() -> dict[str, RuntimeSpec]:
    """Every registered runtime by name: the built-in files, then plug-ins (which may not
    replace a built-in). A plug-in that fails to load is recorded in ``plugin_errors()``."""
    from xcelerator.targets import runtimes as pkg

    out: dict[str, RuntimeSpec] = {}
    for name in pkg.BUILTIN:
        mod = importlib.import_module(f"xcelerator.targets.runtimes.{name}")
        out[name] = RuntimeSpec.from_module(mod)
    return plugins.add_plugins(
        RUNTIME_GROUP, out, lambda m, src: RuntimeSpec.from_module(m, source=src), lambda r: r.name, "runtime"
    )


@functools.cache
def transports() -> dict[str, type[Any]]:
    """Every registered transport class by name (built-in files, then plug-ins)."""
    from xcelerator.targets import transports as pkg
    from xcelerator.targets.transports.base import Transport

    out: dict[str, type[Any]] = {}
    for name in pkg.BUILTIN:  # each file defines one Transport subclass
        mod = importlib.import_module(f"{pkg.__name__}.{name}")
        (cls,) = [
            v for v in vars(mod).values()
            if isinstance(v, type) and issubclass(v, Transport) and v.__module__ == mod.__name__
        ]  # fmt: skip
        out[cls.name] = cls

    def plugin(cls: Any, source: str) -> type[Any]:
        if not (isinstance(cls, type) and issubclass(cls, Transport)):
            raise TypeError(f"{source} is not a Transport subclass")
        if not cls.scheme:
            raise TypeError("a plug-in transport needs a URI scheme")
        return cls

    return plugins.add_plugins(TRANSPORT_GROUP, out, plugin, lambda c: c.name, "transport")


def plugin_errors() -> list[PluginError]:
    runtimes()
    transports()
    return plugins.plugin_errors()


def reset() -> None:
    """Forget the registries and probes (tests that install a plug-in call this)."""
    runtimes.cache_clear()
    transports.cache_clear()
    _probe.cache_clear()
    _read_aliases.cache_clear()
    plugins.clear_errors()


@dataclass(frozen=True)
class Target:
    runtime: str
    options: tuple[tuple[str, str], ...] = ()
    name: str = ""
    transport: str = "local"
    address: str = ""  # ssh: [user@]host[:port]; adb: the phone's serial; command: the command's name

    @property
    def transport_cls(self) -> type[Any]:
        return transports()[self.transport]

    @property
    def uri(self) -> str:
        cls = self.transport_cls
        if self.transport == "local":
            base = self.runtime
        elif cls.runtime is not None and self.transport == "command":
            base = f"{cls.scheme}{self.address}"
        else:
            base = f"{cls.scheme}{self.address}/{self.runtime}"
        return base + ("?" + urlencode(self.options) if self.options else "")

    @property
    def label(self) -> str:
        return self.name or self.uri

    @property
    def opts(self) -> dict[str, str]:
        return dict(self.options)

    @property
    def remote(self) -> bool:
        """Whether rounds run off this machine (then the device is checked when it is reached)."""
        return self.transport != "local"

    @property
    def runtime_opts(self) -> dict[str, str]:
        """The options the runtime sees (``resource`` is for the scheduler, transport options for the link)."""
        own = self.transport_cls.OPTIONS
        if self.transport_cls.runtime is not None:
            return {}
        return {k: v for k, v in self.options if k != "resource" and k not in own}

    @property
    def transport_opts(self) -> dict[str, str]:
        own = self.transport_cls.OPTIONS
        return {k: v for k, v in self.options if k in own}

    @property
    def resource(self) -> str | None:
        """The Ray resource that serializes measurements on this target's device, if any."""
        r = self.opts.get("resource")
        return f"device:{r}" if r else None

    @property
    def spec(self) -> RuntimeSpec | None:
        return runtimes().get(self.runtime)

    @property
    def formats(self) -> tuple[str, ...]:
        """Artifact formats this target takes (natively first, then those it converts)."""
        return tuple(self.transport_cls.formats(self))

    def open(self) -> Any:
        """A transport instance bound to this target."""
        return self.transport_cls(self)

    def with_option(self, key: str, value: str, override: bool = False) -> Target:
        o = self.opts
        if key in o and not override:
            return self
        o[key] = value
        return Target(self.runtime, tuple(sorted(o.items())), self.name, self.transport, self.address)


def _aliases() -> dict[str, str]:
    """The targets file's names (``XCEL_TARGETS`` or ``./xcel-targets.yaml``); a file is read once
    per process while it is unchanged (every target parsed asks for it)."""
    path = os.environ.get("XCEL_TARGETS")
    p = Path(path) if path else Path("xcel-targets.yaml")
    if not p.exists():
        if path:
            raise BadInputError(f"XCEL_TARGETS={path}: no such file")
        return {}
    st = p.stat()
    return dict(_read_aliases(str(p.resolve()), st.st_mtime_ns, st.st_size, str(p)))


@functools.lru_cache(maxsize=8)
def _read_aliases(path: str, mtime_ns: int, size: int, shown: str) -> tuple[tuple[str, str], ...]:
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise BadInputError(f"{shown}: not valid YAML ({str(e).splitlines()[0]})") from e
    targets = doc.get("targets", {}) if isinstance(doc, dict) else None
    if not isinstance(targets, dict):
        raise BadInputError(f"{shown}: expected a mapping 'targets: {{name: uri}}'")
    return tuple((str(k), str(v)) for k, v in targets.items())


def _valid_targets() -> str:
    schemes = [c.example or f"{c.scheme}..." for n, c in transports().items() if n != "local"]
    return f"valid runtimes: {', '.join(runtimes())}; remote: {', '.join(schemes)} (see `xcel targets`)"


def parse_target(text: str | Target) -> Target:
    """Parse a target URI or alias; unknown transports, runtimes or options raise ``BadInputError``
    with one line listing the valid ones. A ``Target`` is returned as it is: a target parsed once
    travels as the object, and a function taking either parses nothing twice."""
    if isinstance(text, Target):
        return text
    text = text.strip()
    name = ""
    aliases = _aliases()
    if text in aliases:
        name, text = text, aliases[text]
    by_scheme = sorted(((c.scheme, n, c) for n, c in transports().items() if c.scheme), key=lambda x: -len(x[0]))
    tname, cls, rest = "local", transports()["local"], text
    for scheme, n, c in by_scheme:
        if text.startswith(scheme):
            tname, cls, rest = n, c, text[len(scheme) :]
            break
    else:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
            scheme = text.split("://", 1)[0]
            raise BadInputError(
                f"unknown transport '{scheme}://' in target '{text}'; valid transports: "
                + ", ".join(c.example or c.scheme or n for n, c in transports().items())
            )
    address, runtime, query = cls.split(rest)
    runtime = ALIASES.get(runtime, runtime) if cls.runtime is None else cls.runtime
    spec = runtimes().get(runtime) if cls.runtime is None else None
    if cls.runtime is None and spec is None:
        raise BadInputError(f"unknown runtime '{runtime}' in target '{text}'; {_valid_targets()}")
    own = {k: OptionSpec.from_data(v) for k, v in cls.OPTIONS.items()}
    opts: dict[str, str] = {}
    owner = f"{cls.scheme}{address}/{runtime}" if tname != "local" else runtime
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k == "resource":  # the device this target runs on, as a Ray resource (device:<name>)
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", v):
                raise BadInputError(f"target {owner}: resource {v!r} must be a name of letters, digits, . _ -")
            opts[k] = v
        elif k in own:
            opts[k] = own[k].check(owner, k, v)
        elif spec is not None and k in spec.options:
            opts[k] = spec.options[k].check(owner, k, v)
        else:
            valid = sorted({*own, *(spec.options if spec else ()), "resource"})
            raise BadInputError(f"target {owner}: unknown option '{k}'; valid options: {', '.join(valid)}")
    target = Target(runtime, tuple(sorted(opts.items())), name, tname, address)
    cls.validate(target)
    return target


# ----------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class Probe:
    target: str
    usable: bool
    detail: str


def probe_all() -> tuple[Probe, ...]:
    """What this machine can run, and why the rest cannot; plug-ins that failed to load, with
    their errors. Never raises."""
    out: list[Probe] = []
    for name, spec in runtimes().items():
        for variant in spec.variants:
            opts = dict(parse_qsl(variant))
            ok, detail = spec.probe(opts)
            if spec.converts:
                detail += f"; converts {', '.join(spec.converts)} to {'/'.join(spec.formats)}"
            if spec.source != "builtin":
                detail += f" ({spec.source})"
            out.append(Probe(name + (f"?{variant}" if variant else ""), ok, detail))
    for n, cls in transports().items():
        if n == "local":
            continue
        try:
            ok, detail = cls.describe()
        except Exception as e:
            ok, detail = False, f"probe failed: {type(e).__name__}: {e}"
        out.append(Probe(cls.example or f"{cls.scheme}...", ok, detail))
    for pe in plugin_errors():
        out.append(Probe(f"plug-in {pe.name} ({pe.group})", False, f"failed to load: {pe.error}"))
    return tuple(out)


@functools.cache
def tflite_converter_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("litert_torch") is not None


def usable(target: Target) -> tuple[bool, str]:
    """Whether this local target can run here (its runtime's probe with its options)."""
    spec = target.spec
    if spec is None:
        return False, f"unknown runtime {target.runtime}"
    return spec.probe(target.runtime_opts)
