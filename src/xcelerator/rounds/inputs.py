"""What a model is fed: every input's concrete shape, dtype and where its data comes from.

Resolved on the host before anything runs, from the model's declared inputs and the plan's
``shapes`` (``--shape NAME=1x3x640x640``, or ``--shape 1x3x640x640`` for a one-input model),
``dims`` (``--dim NAME=VALUE`` for a named symbolic dimension, as ``onnxruntime_perf_test -f``),
``fills`` (``--fill NAME=VALUE``) and ``input`` (``random``, ``zeros`` or a ``.npz``):

- a dynamic dimension takes its ``--shape`` or ``--dim``; else a leading batch-like dimension
  becomes 1, and any other is refused (``BadInputError``, exit 2) with one line naming the input,
  its symbolic dimensions and an example ``--shape``;
- float inputs are seeded standard-normal (``zeros``: zeros); integer inputs that index an
  embedding (ONNX ``Gather`` on a constant table) get ids below the table's size; masks get ones;
  any other integer or scalar input needs ``--fill`` or the ``.npz`` (a sample rate of 99 fails a
  model as surely as a crash);
- a ``.npz`` is checked against the model before anything runs: missing or extra names, dtype,
  rank and static dimensions, each mismatch named, nothing matched by position.

The result (``InputSpec`` per input, with its ``source``) travels in every ``RoundRequest`` and
is recorded with every measurement.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.models.artifact import Artifact, TensorSpec

_BATCH = re.compile(r"^(\?|-1|n|N|b|B|bs|batch.*|.*batch.*|unk__\d+|p2o\.DynamicDimension\.0|DynamicDimension\.0)$")


@dataclass(frozen=True)
class InputSpec:
    """One input as it is fed: concrete shape, dtype, the runner's fill instruction and a human
    ``source`` (``random normal``, ``token ids < 30522``, ``--fill 16000``, ``npz``...)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    fill: str  # normal | zeros | ones | ids:V | const:V | bool | npz
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "fill": self.fill,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(
            d["name"], tuple(int(x) for x in d["shape"]), d["dtype"], d.get("fill", "normal"), d.get("source", "")
        )

    def tensor(self) -> TensorSpec:
        return TensorSpec(self.name, self.shape, self.dtype)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x640x640`` or ``1x3x640x640`` (name ``""``: the model's only input); ``NAME=`` or
    ``NAME=scalar`` for a scalar."""
    name, sep, dims = text.rpartition("=")
    if not sep:
        name, dims = "", text
    dims = dims.strip()
    if dims in ("", "scalar", "()"):
        return name.strip(), ()
    try:
        shape = tuple(int(d) for d in re.split(r"[x,×]", dims))
    except ValueError:
        raise BadInputError(f"--shape {text!r}: expected NAME=1x3x640x640 (positive integers joined by x)") from None
    if any(d <= 0 for d in shape):
        raise BadInputError(f"--shape {text!r}: every dimension must be a positive integer")
    return name.strip(), shape


def parse_assignment(text: str, what: str, integer: bool) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise BadInputError(f"{what} {text!r}: expected NAME=VALUE")
    try:
        v = float(int(value)) if integer else float(value)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise BadInputError(f"{what} {text!r}: the value must be {kind}") from None
    if integer and v <= 0:
        raise BadInputError(f"{what} {text!r}: a dimension must be a positive integer")
    return name.strip(), v


def _example(spec: TensorSpec, dims: dict[str, int]) -> str:
    ex = []
    for i, d in enumerate(spec.shape):
        if isinstance(d, int) and d > 0:
            ex.append(str(d))
        elif isinstance(d, str) and d in dims:
            ex.append(str(dims[d]))
        elif i == 0:
            ex.append("1")
        else:
            ex.append("640" if len(spec.shape) == 4 else "128")
    return f"--shape {spec.name}={'x'.join(ex) or 'scalar'}"


def _label(d: int | str, i: int) -> str:
    return d if isinstance(d, str) and d not in ("?", "") else f"dim {i} (unnamed)"


def resolve_shape(spec: TensorSpec, given: tuple[int, ...] | None, dims: dict[str, int]) -> tuple[int, ...]:
    if given is not None:
        if spec.shape and len(given) != len(spec.shape):
            raise BadInputError(
                f"--shape {spec.name}={'x'.join(map(str, given)) or 'scalar'}: the model's input {spec.name!r} has "
                f"rank {len(spec.shape)} ({list(spec.shape)}), not {len(given)}"
            )
        for i, (d, g) in enumerate(zip(spec.shape, given, strict=False)):
            if isinstance(d, int) and d > 0 and d != g:
                raise BadInputError(
                    f"--shape {spec.name}: dimension {i} is fixed at {d} in the model, not {g} "
                    f"(shape {list(spec.shape)})"
                )
        return given
    out: list[int] = []
    unknown: list[str] = []
    for i, d in enumerate(spec.shape):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif isinstance(d, str) and d in dims:
            out.append(dims[d])
        elif i == 0 and (len(spec.shape) >= 2 or _BATCH.match(str(d))):
            out.append(1)  # a leading batch-like dimension
        else:
            unknown.append(_label(d, i))
            out.append(-1)
    if unknown:
        named = [u for u in unknown if not u.startswith("dim ")]
        how = f" or --dim {named[0]}=VALUE" if named else ""
        raise BadInputError(
            f"input {spec.name!r} has dynamic dimensions {', '.join(unknown)} (shape {list(spec.shape)}); "
            f"give them, e.g. {_example(spec, dims)}{how}"
        )
    return tuple(out)


def resolve(
    artifact: Artifact,
    shapes: Sequence[tuple[str, tuple[int, ...]]] = (),
    dims: Sequence[tuple[str, int]] = (),
    fills: Sequence[tuple[str, float]] = (),
    mode: str = "random",
    npz: str | None = None,
) -> tuple[InputSpec, ...]:
    """Every input of ``artifact`` as it will be fed; ``BadInputError`` names what is missing."""
    specs = list(artifact.inputs)
    names = [s.name for s in specs]
    shape_map = dict(shapes)
    if "" in shape_map:
        if len(specs) != 1:
            raise BadInputError(
                f"--shape {'x'.join(map(str, shape_map['']))}: the model has {len(specs)} inputs ({', '.join(names)}); "
                "name each one: --shape NAME=1x3x224x224"
            )
        shape_map[names[0]] = shape_map.pop("")
    # names this model lacks are another model's (in a comparison); check_names refuses a name no model has
    dim_map = {k: int(v) for k, v in dims}
    fill_map = dict(fills)
    if mode == "npz":
        return _from_npz(artifact, npz or "", shape_map, fill_map)
    vocab = embedding_sizes(artifact)
    out = []
    for s in specs:
        shape = resolve_shape(s, shape_map.get(s.name), dim_map)
        kind = _kind(s.dtype)
        if s.name in fill_map:
            v = fill_map[s.name]
            text = str(int(v)) if kind in "iub" else f"{v:g}"
            out.append(InputSpec(s.name, shape, s.dtype, f"const:{text}", f"--fill {text}"))
        elif kind == "f":
            fill = "zeros" if mode == "zeros" else "normal"
            out.append(InputSpec(s.name, shape, s.dtype, fill, "zeros" if fill == "zeros" else "random normal"))
        elif kind == "b":
            out.append(InputSpec(s.name, shape, s.dtype, "bool", "random booleans"))
        elif s.name in vocab:
            v = vocab[s.name]
            out.append(
                InputSpec(s.name, shape, s.dtype, f"ids:{v}", f"ids < {v} (the embedding or one-hot size in the graph)")
            )
        elif "mask" in s.name.lower():
            out.append(InputSpec(s.name, shape, s.dtype, "ones", "ones (a mask)"))
        else:
            raise BadInputError(
                f"input {s.name!r} is {s.dtype} {list(shape) or 'scalar'} and feeds no embedding: its value matters "
                f"(a sample rate, a length, an index); give it with --fill {s.name}=VALUE or in an --input .npz"
            )
    return tuple(out)


def check_names(
    artifacts: Sequence[Artifact],
    shapes: Sequence[tuple[str, tuple[int, ...]]] = (),
    dims: Sequence[tuple[str, int]] = (),
    fills: Sequence[tuple[str, float]] = (),
) -> None:
    """Refuse a ``--shape``/``--fill`` input name or a ``--dim`` dimension name that none of the
    models being run has (a typo would otherwise be ignored)."""
    inputs = sorted({s.name for a in artifacts for s in a.inputs})
    declared = sorted(
        {d for a in artifacts for s in a.inputs for d in s.shape if isinstance(d, str) and d not in ("?", "")}
    )
    for what, keys in (("--shape", [n for n, _ in shapes if n]), ("--fill", [n for n, _ in fills])):
        bad = [k for k in keys if k not in inputs]
        if bad:
            raise BadInputError(f"{what} {bad[0]}: no model here has an input {bad[0]!r}; inputs: {', '.join(inputs)}")
    bad = [k for k, _ in dims if k not in declared]
    if bad:
        raise BadInputError(
            f"--dim {bad[0]}: no model here has a dimension named {bad[0]!r}; named dimensions: "
            f"{', '.join(declared) or 'none'}"
        )


def _kind(dtype: str) -> str:
    if dtype.startswith(("float", "bfloat")):
        return "f"
    if dtype == "bool":
        return "b"
    return "u" if dtype.startswith("uint") else "i"


def _from_npz(
    artifact: Artifact, path: str, shape_map: dict[str, tuple[int, ...]], fill_map: dict[str, float]
) -> tuple[InputSpec, ...]:
    import zipfile

    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BadInputError(f"--input {path}: not a readable .npz ({e})") from None
    names = [s.name for s in artifact.inputs]
    have = set(data.files)
    missing = [n for n in names if n not in have and n not in fill_map]
    extra = sorted(have - set(names))
    problems = []
    if missing:
        problems.append(f"lacks {', '.join(repr(n) for n in missing)}")
    if extra:
        problems.append(f"has {', '.join(repr(n) for n in extra)}, which the model does not take")
    out = []
    for s in artifact.inputs:
        if s.name in fill_map:
            v = fill_map[s.name]
            shape = resolve_shape(s, shape_map.get(s.name), {})
            out.append(InputSpec(s.name, shape, s.dtype, f"const:{v:g}", f"--fill {v:g}"))
            continue
        if s.name not in have:
            continue
        arr = data[s.name]
        if str(arr.dtype) != s.dtype:
            problems.append(f"{s.name!r} is {arr.dtype}, the model takes {s.dtype}")
            continue
        shape = tuple(int(x) for x in arr.shape)
        if s.shape and len(shape) != len(s.shape):
            problems.append(f"{s.name!r} has shape {list(shape)}, the model takes rank {len(s.shape)} {list(s.shape)}")
            continue
        fixed = [
            (i, d, g) for i, (d, g) in enumerate(zip(s.shape, shape, strict=False)) if isinstance(d, int) and d > 0
        ]
        wrong = [(i, d, g) for i, d, g in fixed if d != g]
        if wrong:
            i, d, g = wrong[0]
            problems.append(f"{s.name!r} has {g} at dimension {i}, the model fixes it at {d} ({list(s.shape)})")
            continue
        out.append(InputSpec(s.name, shape, s.dtype, "npz", f"npz {path.rsplit('/', 1)[-1]}"))
    if problems:
        raise BadInputError(f"--input {path}: " + "; ".join(problems) + f" (model inputs: {', '.join(names)})")
    return tuple(out)


def embedding_sizes(artifact: Artifact) -> dict[str, int]:
    """Integer inputs that index a constant table (ONNX ``Gather`` whose data is an initializer)
    or are one-hot encoded (``OneHot``, or ``Equal`` against a constant range), directly or through
    Cast/Unsqueeze/Reshape/Expand: input name → the number of valid ids."""
    path = artifact.onnx_twin()
    if path is None:  # a torch program (or one converted from it): its own graph says
        pt2 = next((p for p in (artifact.path, artifact.source) if p and str(p).endswith(".pt2")), None)
        try:
            return _pt2_sizes(str(pt2), os.stat(pt2).st_mtime_ns) if pt2 else {}
        except OSError:
            return {}
    try:
        sizes = _graph_sizes(path, os.stat(path).st_mtime_ns)
    except OSError:
        return {}
    graph_inputs, out = sizes
    # the twin of a .pt2/.tflite/converted model is the same network exported to ONNX: its inputs
    # come in the same order, under names the exporters chose
    rename = {}
    if path != artifact.path and len(graph_inputs) == len(artifact.inputs):
        rename = {a: t.name for a, t in zip(graph_inputs, artifact.inputs, strict=True)}
    return {rename.get(k, k): v for k, v in out.items()}


# ops an index passes through unchanged on its way to an embedding, in an exported program
_PT2_PASSTHROUGH = {"view", "reshape", "unsqueeze", "squeeze", "_to_copy", "to", "expand", "slice", "clone",
                    "contiguous", "flatten", "_unsafe_view", "alias", "select"}  # fmt: skip


@functools.lru_cache(maxsize=32)
def _pt2_sizes(path: str, mtime_ns: int) -> dict[str, int]:
    """Id-table sizes by input of a ``.pt2`` ExportedProgram: user inputs that reach the indices
    of ``aten.embedding`` (directly or through view-like ops), with the table's row count."""
    try:
        import torch

        ep = torch.export.load(path)
    except Exception:
        return {}
    user = [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    origin: dict[str, str] = {n: n for n in user}
    out: dict[str, int] = {}
    for node in ep.graph.nodes:
        if node.op != "call_function" or not node.args:
            continue
        op = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        first = getattr(node.args[0], "name", None)
        if op in _PT2_PASSTHROUGH and first in origin:
            origin[node.name] = origin[first]
        elif op == "embedding" and len(node.args) >= 2 and getattr(node.args[1], "name", None) in origin:
            w = getattr(node.args[0], "meta", {}).get("val")
            if w is not None and len(w.shape) >= 1:
                src = origin[node.args[1].name]
                out[src] = min(out.get(src, int(w.shape[0])), int(w.shape[0]))
    return out


@functools.lru_cache(maxsize=32)
def _graph_sizes(path: str, mtime_ns: int) -> tuple[list[str], dict[str, int]]:
    """(graph inputs, id-table sizes by input) of one ONNX file, read once per file version:
    a run resolves the same model's inputs several times."""
    try:
        import onnx

        model = onnx.load(path, load_external_data=False)
    except Exception:
        return [], {}
    g = model.graph
    inits = {i.name: list(i.dims) for i in g.initializer}
    graph_inputs = [i.name for i in g.input if i.name not in inits]
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    inputs = {i.name for i in g.input}
    passthrough = {"Cast", "Unsqueeze", "Reshape", "Squeeze", "Flatten", "Identity", "Expand"}
    values = {i.name: i for i in g.initializer}
    origin: dict[str, str] = {n: n for n in inputs}
    out: dict[str, int] = {}
    for n in g.node:  # nodes are topologically sorted
        if n.op_type in passthrough and n.input and n.input[0] in origin:
            for o in n.output:
                origin[o] = origin[n.input[0]]
        if n.op_type == "Gather" and len(n.input) >= 2 and n.input[1] in origin:
            table = n.input[0]
            rows = inits.get(table)
            if rows is None and table in consts:
                for a in consts[table].attribute:
                    if a.name == "value":
                        rows = list(a.t.dims)
            if rows:
                src = origin[n.input[1]]
                out[src] = min(out.get(src, rows[0]), rows[0])
        # a one-hot encoding: OneHot(indices, depth), or Equal(ids, a constant range) as jax2tf writes it
        if n.op_type == "OneHot" and len(n.input) >= 2 and n.input[0] in origin and n.input[1] in values:
            from onnx import numpy_helper

            out[origin[n.input[0]]] = int(numpy_helper.to_array(values[n.input[1]]).reshape(-1)[0])
        if n.op_type == "Equal" and len(n.input) == 2:
            a, b = n.input
            ids, table = (a, b) if a in origin else (b, a)
            if ids in origin and table in inits and inits[table]:
                out[origin[ids]] = int(inits[table][-1])
    return graph_inputs, out
