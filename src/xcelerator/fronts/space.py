"""Configuration spaces over how one model runs, with the ONE seed's encoding.

A configuration is an integer ``id`` in ``[0, prod(b_i))``; digit ``i`` (least significant
first, base ``b_i``) is the choice for ``oplist[i]``. With one base ``b`` for every digit this
is exactly the seed's ``id in [0, b^n)``; different bases per digit (mixed radix) let runtime
options with 2, 3 or 4 values share one space.

* ``quantize``: each op type (``mode="name"``) or each (op type, output tensor bytes) group of
  nodes (``mode="index"``, the seed's node-index mode) stays fp32 or becomes int8 through ONNX
  Runtime's dynamic quantization, or static QDQ quantization when calibration inputs are given.
* ``runtime-options``: threads, graph optimization level and execution mode of ONNX Runtime,
  and the runtime itself (ONNX Runtime or OpenVINO) for the same ONNX file.
* ``backend``: for a command target, each op type gets one of the backends; a configuration
  becomes environment variables like the seed's ``BACKENDS="acl_cl;cpu" OP_BACKEND_Conv2D=cpu``.
* ``placement``: op types on CPU or GPU; needs a GPU (refused otherwise).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError
from xcelerator.models.artifact import Artifact

QUANTIZABLE = ("Conv", "MatMul", "Gemm", "Attention", "LSTM", "GRU", "Gather", "EmbedLayerNormalization")


@dataclass
class Config:
    id: int
    choices: tuple[str, ...]  # one per oplist entry
    setting: str  # the seed's configs[id] string
    artifact: Artifact
    target: str
    env: dict[str, str]


class ConfigSpace:
    name = "config"
    mode = "name"

    def __init__(self, oplist: Sequence[str], choices: Sequence[Sequence[str]]) -> None:
        if not oplist:
            raise BadInputError(f"space {self.name}: nothing to configure in this model")
        self.oplist = list(oplist)
        self.choices = [list(c) for c in choices]
        self.bases = [len(c) for c in self.choices]

    @property
    def size(self) -> int:
        return math.prod(self.bases)

    def decode(self, cid: int) -> tuple[int, ...]:
        if not 0 <= cid < self.size:
            raise BadInputError(f"configuration id {cid}: outside [0, {self.size})")
        digits = []
        for b in self.bases:
            digits.append(cid % b)
            cid //= b
        return tuple(digits)

    def encode(self, digits: Sequence[int]) -> int:
        cid, mul = 0, 1
        for d, b in zip(digits, self.bases, strict=True):
            cid += d * mul
            mul *= b
        return cid

    def neighbours(self, cid: int, distance: int = 1) -> list[int]:
        """Ids at Hamming distance exactly ``distance`` (in digits)."""
        from itertools import combinations, product

        base = self.decode(cid)
        out = []
        for pos in combinations(range(len(base)), distance):
            alts = [[v for v in range(self.bases[p]) if v != base[p]] for p in pos]
            for vals in product(*alts):
                d = list(base)
                for p, v in zip(pos, vals, strict=True):
                    d[p] = v
                out.append(self.encode(d))
        return out

    def choice_names(self, cid: int) -> tuple[str, ...]:
        return tuple(self.choices[i][d] for i, d in enumerate(self.decode(cid)))

    def setting(self, cid: int) -> str:
        return " ".join(f"{op}={c}" for op, c in zip(self.oplist, self.choice_names(cid), strict=True))

    def config(self, cid: int) -> Config:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "space": self.name,
            "mode": self.mode,
            "oplist": self.oplist,
            "choices": self.choices,
            "size": self.size,
        }


# ----------------------------------------------------------------------------- oplist
def gen_oplist(art: Artifact, mode: str = "name") -> tuple[list[str], dict[str, list[str]]]:
    """The seed's gen_oplist: unique op types in graph order (``name``), or unique (op type,
    output tensor bytes) keys (``index``); and the node names under each entry."""
    if art.stats is None or not art.stats.nodes:
        raise BadInputError(f"{art.name}: no ONNX graph to list operations from")
    if mode not in ("name", "index"):
        raise BadInputError(f"--mode {mode!r}: name (op types) or index (op type and tensor size)")
    groups: dict[str, list[str]] = {}
    for n in art.stats.nodes:
        key = n.op_type if mode == "name" else f"{n.op_type}:{n.output_bytes}"
        groups.setdefault(key, []).append(n.name)
    return list(groups), groups


# ----------------------------------------------------------------------------- quantize
class QuantizeSpace(ConfigSpace):
    name = "quantize"

    def __init__(
        self,
        art: Artifact,
        target: str = "onnxruntime?threads=1",
        mode: str = "name",
        max_keys: int | None = None,
        calibration: str | None = None,
        cache: Path | None = None,
    ) -> None:
        if art.format != "onnx":
            raise BadInputError(f"space quantize: needs an ONNX model, got {art.format}")
        self.art, self.target, self.mode, self.calibration = art, target, mode, calibration
        _, groups = gen_oplist(art, mode)
        keys = [k for k in groups if k.split(":")[0] in QUANTIZABLE]
        if not keys:
            ops = sorted({k.split(":")[0] for k in groups})
            raise BadInputError(
                f"space quantize: {art.name} has no op that ONNX Runtime quantizes "
                f"({', '.join(QUANTIZABLE)}); its ops: {', '.join(ops)}"
            )
        if max_keys is not None and len(keys) > max_keys:
            # the heaviest groups by MACs: where int8 can matter
            macs = {k: 0 for k in keys}
            names = {n: k for k in keys for n in groups[k]}
            assert art.stats is not None
            for n in art.stats.nodes:
                if n.name in names:
                    macs[names[n.name]] += n.macs
            keys = sorted(keys, key=lambda k: -macs[k])[:max_keys]
        self.groups = {k: groups[k] for k in keys}
        super().__init__(keys, [["fp32", "int8"]] * len(keys))
        self.cache = cache or Path(".xcel") / "pareto" / art.sha256[:16]

    def config(self, cid: int) -> Config:
        from xcelerator.models.artifact import load_artifact

        names = self.choice_names(cid)
        chosen = [k for k, c in zip(self.oplist, names, strict=True) if c == "int8"]
        if not chosen:
            art = self.art
        else:
            tag = hashlib.sha256(("|".join(chosen) + str(self.calibration)).encode()).hexdigest()[:12]
            out = self.cache / f"q{cid}-{tag}.onnx"
            if not out.exists():
                self.cache.mkdir(parents=True, exist_ok=True)
                self._quantize(chosen, out)
            art = load_artifact(out, name=f"{self.art.name}@{cid}")
        return Config(cid, names, self.setting(cid), art, self.target, {})

    def _quantize(self, keys: list[str], out: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static

        nodes = [n for k in keys for n in self.groups[k]]
        ops = sorted({k.split(":")[0] for k in keys})
        tmp = out.with_suffix(".tmp.onnx")
        import logging

        logging.disable(logging.WARNING)  # onnxruntime's "consider pre-processing" advice, once per call
        try:
            if self.calibration:
                quantize_static(
                    self.art.path,
                    str(tmp),
                    _NpzReader(self.calibration, self.art),
                    op_types_to_quantize=ops,
                    nodes_to_quantize=nodes,
                )
            else:
                quantize_dynamic(
                    self.art.path,
                    str(tmp),
                    op_types_to_quantize=ops,
                    nodes_to_quantize=nodes,
                    weight_type=QuantType.QInt8,
                )
            tmp.replace(out)
        except Exception as e:  # quantization of an exotic graph fails inside onnxruntime
            tmp.unlink(missing_ok=True)
            raise BadInputError(f"quantizing {', '.join(keys)} failed: {type(e).__name__}: {e}") from None
        finally:
            logging.disable(logging.NOTSET)


class _NpzReader:
    """Calibration inputs for static quantization from an .npz (one array per model input)."""

    def __init__(self, path: str, art: Artifact) -> None:
        import numpy as np

        try:
            data = np.load(path)
        except (OSError, ValueError) as e:
            raise BadInputError(f"--calibration {path}: not a readable .npz ({e})") from None
        names = [t.name for t in art.inputs]
        missing = [n for n in names if n not in data.files]
        if missing:
            raise BadInputError(f"--calibration {path}: no array for input(s) {missing}; has {data.files}")
        n = len(data[names[0]])
        self.batches = iter([{k: data[k][i : i + 1] for k in names} for i in range(n)])

    def get_next(self) -> dict[str, Any] | None:
        return next(self.batches, None)


# ----------------------------------------------------------------------------- runtime options
class RuntimeOptionsSpace(ConfigSpace):
    name = "runtime-options"
    mode = "name"
    OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("threads", ("1", "2")),
        ("graph_opt", ("disable", "basic", "extended", "all")),
        ("execution_mode", ("sequential", "parallel")),
        ("runtime", ("onnxruntime", "openvino")),
    )

    def __init__(self, art: Artifact, options: Sequence[tuple[str, Sequence[str]]] | None = None) -> None:
        if art.format != "onnx":
            raise BadInputError(f"space runtime-options: needs an ONNX model, got {art.format}")
        from xcelerator.targets.registry import parse_target, usable

        opts = [(k, tuple(v)) for k, v in (options or self.OPTIONS)]
        runtimes = dict(opts).get("runtime", ("onnxruntime",))
        ok = [r for r in runtimes if usable(parse_target(r))[0]]
        if not ok:
            raise BadInputError("space runtime-options: none of its runtimes is usable here")
        opts = [(k, tuple(ok) if k == "runtime" else v) for k, v in opts]
        self.art = art
        super().__init__([k for k, _ in opts], [list(v) for _, v in opts])

    def config(self, cid: int) -> Config:
        o = dict(zip(self.oplist, self.choice_names(cid), strict=True))
        runtime = o.pop("runtime", "onnxruntime")
        if runtime == "openvino":  # ORT's graph levels and execution mode do not apply
            q = f"threads={o.get('threads', '1')}"
        else:
            q = "&".join(f"{k}={v}" for k, v in o.items())
        return Config(cid, self.choice_names(cid), self.setting(cid), self.art, f"{runtime}?{q}", {})


# ----------------------------------------------------------------------------- backend (command targets)
class BackendSpace(ConfigSpace):
    """Op types × backends for a command target, as environment variables (ONE's
    ``BACKENDS`` and ``OP_BACKEND_<op>``), or flags: ``flags={"-hint": ["latency", "none"]}``
    gives one digit per flag whose value is substituted as ``{flag_name}`` in the template."""

    name = "backend"

    def __init__(
        self,
        art: Artifact,
        command: str,
        backends: Sequence[str] = ("cpu", "acl_cl"),
        flags: Mapping[str, Sequence[str]] | None = None,
        oplist: Sequence[str] | None = None,
    ) -> None:
        self.art, self.command, self.backends = art, command, list(backends)
        if flags:
            self.flag_mode = True
            super().__init__(list(flags), [list(v) for v in flags.values()])
        else:
            self.flag_mode = False
            ops = list(oplist) if oplist is not None else gen_oplist(art, "name")[0]
            super().__init__(ops, [self.backends] * len(ops))

    def setting(self, cid: int) -> str:
        names = self.choice_names(cid)
        if self.flag_mode:
            return " ".join(f"{k}={v}" for k, v in zip(self.oplist, names, strict=True))
        head = 'BACKENDS="' + ";".join(reversed(self.backends)) + '" '
        return head + "".join(f"OP_BACKEND_{op}={c} " for op, c in zip(self.oplist, names, strict=True))

    def config(self, cid: int) -> Config:
        names = self.choice_names(cid)
        if self.flag_mode:
            env = {k.lstrip("-").replace("-", "_"): v for k, v in zip(self.oplist, names, strict=True)}
        else:
            env = {"BACKENDS": ";".join(reversed(self.backends))}
            env.update({f"OP_BACKEND_{op}": c for op, c in zip(self.oplist, names, strict=True)})
        return Config(cid, names, self.setting(cid), self.art, f"cmd:{self.command}", env)


def placement_space(art: Artifact) -> ConfigSpace:
    import shutil

    has_gpu = shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()
    if not has_gpu:
        raise BadInputError("space placement: needs a GPU (no NVIDIA GPU found here); use quantize or runtime-options")
    raise BadInputError("space placement: GPU placement needs onnxruntime-gpu, which this installation lacks")
