"""Artifact: a model file ready to run, with its inputs, content hash and graph stats."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError, MissingDependencyError
from xcelerator.models.graphstats import GraphStats, graph_stats

FORMATS = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".xml": "openvino",
    ".pt2": "torch",
    ".pt": "torchscript",
    ".param": "ncnn",
    ".mnn": "mnn",
    ".pte": "executorch",
}

_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        return cls(d["name"], tuple(d["shape"]), d["dtype"])


@dataclass(frozen=True)
class Artifact:
    """A model file. ``stats`` come from the ONNX graph (the file itself, or the ONNX export
    that sits beside a TFLite/OpenVINO/torch file of the same name)."""

    path: str
    format: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    stats: GraphStats | None = None
    name: str = ""
    spec: dict[str, Any] | None = field(default=None, repr=False)
    source: str = ""  # the file this one was converted from (an ONNX model for ncnn/MNN, a .pt2 for ExecuTorch)

    def onnx_twin(self) -> str | None:
        """The ONNX graph that describes this model: itself, the ``.onnx`` beside it or beside the
        file it was converted from (zoo exports), or the ONNX file it was converted from."""
        if self.format == "onnx":
            return self.path
        near = [str(Path(p).with_suffix(".onnx")) for p in (self.path, self.source) if p]
        for cand in (*near, self.source):
            if cand and cand.endswith(".onnx") and Path(cand).exists():
                return cand
        return None

    def to_dict(self, with_nodes: bool = False) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "sha256": self.sha256,
            "name": self.name,
            "inputs": [t.to_dict() for t in self.inputs],
            "stats": self.stats.to_dict(with_nodes=with_nodes) if self.stats else None,
            "spec": self.spec,
            "source": self.source or None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        return cls(
            path=d["path"],
            format=d["format"],
            sha256=d["sha256"],
            name=d.get("name", ""),
            inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
            stats=GraphStats.from_dict(d["stats"]) if d.get("stats") else None,
            spec=d.get("spec"),
            source=d.get("source") or "",
        )


def sha256_file(path: Path, extra: Path | None = None) -> str:
    h = hashlib.sha256()
    for p in (path, extra):
        if p is None:
            continue
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _onnx_inputs(model: Any) -> tuple[TensorSpec, ...]:
    inits = {i.name for i in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape: list[int | str] = []
        for d in tt.shape.dim:
            shape.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?"))
        out.append(TensorSpec(vi.name, tuple(shape), _ONNX_DTYPES.get(tt.elem_type, "float32")))
    return tuple(out)


def _load_onnx(path: Path) -> tuple[tuple[TensorSpec, ...], GraphStats]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise BadInputError(f"{path}: not a valid ONNX model ({type(e).__name__}: {str(e)[:120]})") from e
    if len(model.graph.node) == 0:
        raise BadInputError(f"{path}: not a valid ONNX model (the graph has no nodes)")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise BadInputError(f"{path}: corrupt ONNX model ({msg})") from e
    return _onnx_inputs(model), graph_stats(model)


def _tflite_inputs(path: Path) -> tuple[TensorSpec, ...]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise MissingDependencyError("ai-edge-litert", "litert", "Reading a .tflite file") from e
    try:
        it = Interpreter(model_path=str(path))
    except Exception as e:
        raise BadInputError(f"{path}: not a valid TFLite model ({str(e).splitlines()[0][:120]})") from e
    return tuple(
        TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), d["dtype"].__name__) for d in it.get_input_details()
    )


_ET_DTYPES = {
    0: "uint8",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "int64",
    5: "float16",
    6: "float32",
    7: "float64",
    11: "bool",
}


def _executorch_inputs(path: Path) -> tuple[TensorSpec, ...]:
    """A ``.pte`` program's inputs from its own method metadata (named ``input``, ``input_1``, ...
    as a program keeps no names); none when ExecuTorch is not installed or cannot read it."""
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError:
        return ()
    try:
        meta = portable_lib._load_for_executorch(str(path)).method_meta("forward")
        infos = [meta.input_tensor_meta(i) for i in range(meta.num_inputs())]
    except Exception:
        return ()
    return tuple(
        TensorSpec(
            "input" if i == 0 else f"input_{i}", tuple(int(d) for d in t.sizes()), _ET_DTYPES.get(int(t.dtype()), "")
        )
        for i, t in enumerate(infos)
    )


def _openvino_inputs(path: Path) -> tuple[TensorSpec, ...]:
    try:
        import openvino as ov
    except ImportError as e:
        raise MissingDependencyError("openvino", "openvino", "Reading an OpenVINO IR file") from e
    try:
        m = ov.Core().read_model(str(path))
    except Exception as e:
        raise BadInputError(f"{path}: not a valid OpenVINO IR ({str(e).splitlines()[0][:120]})") from e
    out = []
    for p in m.inputs:
        ps = p.get_partial_shape()
        shape = tuple(int(d.get_length()) if d.is_static else "?" for d in ps)
        out.append(TensorSpec(p.get_any_name(), shape, p.get_element_type().to_dtype().name))
    return tuple(out)


class _Said(logging.Handler):
    """What a library logged while it ran (torch.export.load logs why it could not deserialize
    and raises a generic error)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.lines.append(record.getMessage() + (f" {type(exc).__name__}: {exc}" if exc is not None else ""))


def _why_torch_load_failed(path: Path, e: Exception, said: list[str]) -> str:
    """One line: what is wrong with a torch model file and what would be right."""
    pytree = next((x for x in said if "in pytree is not registered" in x), None)
    if pytree is not None:  # e.g. a transformers ModelOutput: its package registered it where it was exported
        kind = pytree.split("Deserializing ")[-1].split(" in pytree")[0]
        return (
            f"{path}: its program returns {kind}, a type its own package registers with torch's pytree, not a "
            "tensor or a tuple of tensors: export it returning tensors (transformers: return_dict=False, or "
            "torchscript=True in the config)"
        )
    return f"{path}: not a valid torch model file ({str(e).splitlines()[0][:120]})"


def _torch_inputs(path: Path, fmt: str) -> tuple[TensorSpec, ...]:
    import torch

    said = _Said()
    log = logging.getLogger("torch.export")
    handlers, log.handlers = log.handlers, [said]  # its traceback is said once, in our one line
    try:
        if fmt == "torch":
            ep = torch.export.load(str(path))
            specs = [s for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
            metas = {n.name: n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"}
            out = []
            for s in specs:
                name = getattr(s.arg, "name", "input")
                v = metas.get(name)
                shape = tuple(int(x) for x in v.shape) if v is not None else ()
                dtype = str(v.dtype).replace("torch.", "") if v is not None else "float32"
                out.append(TensorSpec(name, shape, dtype))
            return tuple(out)
        torch.jit.load(str(path))
    except Exception as e:
        raise BadInputError(_why_torch_load_failed(path, e, said.lines)) from e
    finally:
        log.handlers = handlers
    return ()


def is_model_file(model: str) -> bool:
    """Whether a model argument names a file (rather than a zoo model)."""
    return Path(model).exists() or model.lower().endswith(tuple(FORMATS)) or "/" in model


def load_artifact(path: str | Path, name: str = "", spec: dict[str, Any] | None = None) -> Artifact:
    """Read a model file: format by extension, content hash, inputs, graph stats.

    Raises ``BadInputError`` for a missing, unsupported or corrupt file.
    """
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"{p}: no such file")
    if p.is_dir():
        raise BadInputError(f"{p}: is a directory, expected a model file")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{p}: unsupported model format '{p.suffix}'; expected one of {', '.join(sorted(FORMATS))}")
    if p.stat().st_size == 0:
        raise BadInputError(f"{p}: empty file, not a model")
    stats: GraphStats | None = None
    extra = None
    if fmt == "onnx":
        inputs, stats = _load_onnx(p)
    else:
        if fmt == "tflite":
            with open(p, "rb") as f:
                head = f.read(8)
            if head[4:8] != b"TFL3":
                raise BadInputError(f"{p}: not a TFLite model (missing the TFL3 identifier)")
            inputs = _tflite_inputs(p)
        elif fmt == "openvino":
            extra = p.with_suffix(".bin")
            if not extra.exists():
                raise BadInputError(f"{p}: OpenVINO IR needs its weights file {extra.name} beside it")
            inputs = _openvino_inputs(p)
        elif fmt in ("ncnn", "mnn", "executorch"):
            # inputs come from the ONNX/.pt2 it was converted from (session.convert keeps them, and
            # an ONNX kept beside it gives them below); a bare file has none known here, and runs
            # with the runtime's own input shapes
            extra = p.with_suffix(".bin") if fmt == "ncnn" and p.with_suffix(".bin").exists() else None
            inputs = ()
            if fmt == "executorch" and not p.with_suffix(".onnx").exists():
                inputs = _executorch_inputs(p)
        else:
            inputs = _torch_inputs(p, fmt)
        sibling = p.with_suffix(".onnx")  # the graph it was made from, where kept beside it
        if sibling.exists():
            try:
                graph_inputs, stats = _load_onnx(sibling)
                inputs = inputs or graph_inputs
            except BadInputError:
                stats = None
    return Artifact(
        path=str(p.resolve()),
        format=fmt,
        sha256=sha256_file(p, extra),
        inputs=inputs,
        stats=stats,
        name=name or p.stem,
        spec=spec,
    )


def at_shapes(artifact: Artifact, shapes: dict[str, tuple[int, ...]]) -> Artifact:
    """The artifact with its inputs fixed at ``shapes`` and its graph statistics (MACs, bytes,
    per-node shapes: what cost-model features are made of) recomputed at them. ONNX only; other
    formats keep their statistics."""
    if artifact.format != "onnx" or not shapes:
        return artifact
    import dataclasses

    import onnx

    model = onnx.load(artifact.path, load_external_data=False)
    for vi in model.graph.input:
        if vi.name in shapes:
            dims = vi.type.tensor_type.shape.dim
            for d, v in zip(dims, shapes[vi.name], strict=False):
                d.ClearField("dim_param")
                d.dim_value = int(v)
    inputs = tuple(TensorSpec(t.name, tuple(shapes.get(t.name, t.shape)), t.dtype) for t in artifact.inputs)
    return dataclasses.replace(artifact, inputs=inputs, stats=graph_stats(model))
