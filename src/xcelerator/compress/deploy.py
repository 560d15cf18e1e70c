"""From a trained candidate to the file a user ships, and back to a module their ``evaluate`` can score.

* ``Calibration``: a few hundred of the user's own inputs (a tensor, an iterable of batches or
  an ``.npz``), checked against the model's inputs once, on entry, and handed to a runtime's
  quantizer as feed dicts.
* ``deploy_file``: the candidate as the target runs it, in the precision asked: ``int8`` by the
  runtime's own quantizer (``RuntimeSpec.quantize``: ONNX Runtime's ``quantize_static`` QDQ,
  NNCF for OpenVINO, ExecuTorch's XNNPACK PT2E quantizer), FP32 as exported. A runtime that
  takes ONNX starts from the candidate's ONNX; one that takes torch programs (ExecuTorch) from
  the ``.pt2`` exported beside it (``source_format``).
* ``deployed(path, target)``: an ``nn.Module`` whose ``forward`` runs the file on the target's
  runtime in this process (torch tensors in and out, any batch), so the user's unchanged
  ``evaluate(module)`` scores the file that ships, not the torch module it came from.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xcelerator.errors import BadInputError
from xcelerator.targets.registry import Target, int8_choices, parse_target

PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class Calibration:
    """Calibration inputs as batches of numpy arrays, one tuple per batch, in the order of the
    model's inputs; ``count`` is the number of samples."""

    batches: tuple[tuple[np.ndarray, ...], ...]
    source: str

    @property
    def count(self) -> int:
        return sum(int(b[0].shape[0]) for b in self.batches)

    def feeds(self, names: Sequence[str], limit: int = 300) -> list[dict[str, np.ndarray]]:
        """One feed dict per sample (batch of one, the shape the candidates are exported and
        measured at), at most ``limit`` of them."""
        out: list[dict[str, np.ndarray]] = []
        for b in self.batches:
            for i in range(int(b[0].shape[0])):
                if len(out) >= limit:
                    return out
                out.append({n: np.ascontiguousarray(a[i : i + 1]) for n, a in zip(names, b, strict=True)})
        return out

    @classmethod
    def make(cls, data: Any, example: tuple[torch.Tensor, ...], minimum: int = 16) -> Calibration:
        """``data`` checked against ``example`` (the model's example inputs): every array has
        the example's dtype and shape but for the batch, and there are at least ``minimum``
        samples. Bad data is one ``BadInputError`` line naming the input, what was given and what
        is expected."""
        source = "tensor"
        if isinstance(data, (str, Path)):
            source = str(data)
            batches = [_npz(Path(data), len(example))]
        elif isinstance(data, (torch.Tensor, np.ndarray)):
            batches = [(_array(data),)]
        elif isinstance(data, (tuple, list)) and data and all(isinstance(t, (torch.Tensor, np.ndarray)) for t in data):
            # a tuple of tensors for a model of several inputs, or a list of batches of one input
            if len(example) > 1 and len(data) == len(example):
                batches = [tuple(_array(t) for t in data)]
            else:
                batches = [(_array(t),) for t in data]
        elif isinstance(data, Iterable):
            source = "batches"
            batches = []
            for b in data:
                if isinstance(b, dict):
                    b = tuple(b.values())
                if isinstance(b, (tuple, list)) and len(example) == 1 and len(b) == 2:
                    b = b[:1]  # (inputs, labels) from a DataLoader: the labels are not needed
                parts = tuple(b) if isinstance(b, (tuple, list)) else (b,)
                batches.append(tuple(_array(t) for t in parts))
                if sum(int(x[0].shape[0]) for x in batches) >= 1000:
                    break
        else:
            raise BadInputError(
                f"calibration: expected a tensor, an iterable of batches or an .npz file, got {type(data).__name__}"
            )
        for b in batches:
            _check(b, example, source)
        cal = cls(tuple(batches), source)
        if cal.count < minimum:
            raise BadInputError(
                f"calibration ({source}): {cal.count} samples given; expected at least {minimum} "
                "(a few hundred of your own inputs calibrate INT8 well)"
            )
        return cal


def _array(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    if isinstance(t, np.ndarray):
        return t
    raise BadInputError(f"calibration: expected tensors or arrays, got {type(t).__name__}")


def _npz(path: Path, n_inputs: int) -> tuple[np.ndarray, ...]:
    if not path.is_file():
        raise BadInputError(f"calibration {path}: no such file (expected an .npz with one array per model input)")
    try:
        data = np.load(path)
        arrays = [data[k] for k in data.files]
    except (OSError, ValueError) as e:
        raise BadInputError(f"calibration {path}: not a readable .npz ({str(e).splitlines()[0][:120]})") from None
    if len(arrays) != n_inputs:
        raise BadInputError(
            f"calibration {path}: {len(arrays)} arrays ({', '.join(data.files)}); "
            f"expected {n_inputs}, one per model input"
        )
    return tuple(arrays)


def _check(batch: tuple[np.ndarray, ...], example: tuple[torch.Tensor, ...], source: str) -> None:
    if len(batch) != len(example):
        raise BadInputError(f"calibration ({source}): batches of {len(batch)} inputs; the model takes {len(example)}")
    for i, (a, e) in enumerate(zip(batch, example, strict=True)):
        name = f"input {i}" if len(example) > 1 else "the input"
        want_dtype = str(e.detach().numpy().dtype)
        if str(a.dtype) != want_dtype:
            raise BadInputError(f"calibration ({source}): {name} has dtype {a.dtype}; expected {want_dtype}")
        if a.ndim != e.dim() or tuple(a.shape[1:]) != tuple(e.shape[1:]):
            want = "N x " + " x ".join(str(d) for d in e.shape[1:])
            raise BadInputError(
                f"calibration ({source}): {name} has shape {tuple(a.shape)}; expected {want} (N samples)"
            )


def check_precisions(precisions: Sequence[str], targets: Sequence[Target], calibration: Any) -> tuple[str, ...]:
    """The precisions asked, checked: known names, a quantizer on every target asked for int8,
    and calibration data when int8 is asked (``BadInputError`` otherwise)."""
    out = tuple(dict.fromkeys(str(p).lower() for p in precisions))
    bad = [p for p in out if p not in PRECISIONS]
    if bad or not out:
        raise BadInputError(f"precision {', '.join(bad) or '(none)'}: expected some of {', '.join(PRECISIONS)}")
    if "int8" in out:
        for t in targets:
            spec = t.spec
            if spec is None or not spec.int8:
                raise BadInputError(f"precision int8: runtime {t.runtime} has no INT8 quantizer here; {int8_choices()}")
            if t.remote:
                raise BadInputError(
                    f"precision int8 on {t.label}: quantized files are scored on this machine's runtime; "
                    "give a local target (e.g. onnxruntime?threads=1)"
                )
        if calibration is None:
            raise BadInputError(
                "precision int8: needs calibration data (calibration=a few hundred of your inputs: a tensor, "
                "an iterable of batches or an .npz)"
            )
    return out


def deploy_file(
    onnx: Path,
    target: Target,
    precision: str,
    calibration: Calibration | None,
    out_dir: Path,
    exclude: Sequence[str] = (),
    names: Sequence[str] | None = None,
) -> Path:
    """The file to ship for ``onnx`` on ``target`` in ``precision`` (see the module docstring);
    ``names``: the model's input names, when the caller has them (else read from the file)."""
    spec = target.spec
    if spec is None:
        raise BadInputError(f"unknown runtime {target.runtime}")
    program = source_format(target) == "torch"
    if precision == "fp32" and not program:
        return onnx
    if precision == "fp32" and "torch" in spec.formats:  # a runtime that runs the program itself
        return onnx.with_suffix(".pt2")
    if precision != "fp32" and calibration is None:
        raise BadInputError("precision int8: needs calibration data")
    if names is None:
        from xcelerator.models.artifact import load_artifact

        names = [t.name for t in load_artifact(onnx).inputs]
    folder = out_dir / f"{onnx.stem}-{target.runtime}"
    if not program:
        assert calibration is not None
        return Path(spec.quantize(str(onnx), folder, calibration.feeds(names), exclude))
    source = onnx.with_suffix(".pt2")
    if not source.exists():
        raise RuntimeError(
            f"{target.runtime} starts from the candidate's torch program; {source.name} was not exported"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if precision == "fp32":
        made = Path(spec.convert(str(source), "torch", folder, []))
    else:
        assert calibration is not None
        made = Path(spec.quantize(str(source), folder, calibration.feeds(names), exclude))
    final = folder / f"{onnx.stem}.{precision}{made.suffix}"
    made.replace(final)
    shutil.copyfile(onnx, final.with_suffix(".onnx"))  # its inputs and graph statistics, read beside it
    return final


def source_format(target: Target) -> str:
    """The format a candidate reaches ``target`` in: ``onnx`` where its runtime runs or converts
    ONNX, ``torch`` (the ExportedProgram ``.pt2`` exported beside the ONNX) where it takes only
    torch programs (ExecuTorch)."""
    spec = target.spec
    if spec is None or "onnx" in spec.formats or "onnx" in spec.converts:
        return "onnx"
    return "torch" if "torch" in spec.formats or "torch" in spec.converts else "onnx"


@dataclass(frozen=True)
class Fallback:
    """An INT8 file with some compute ops kept in FP32: which, what each recovered alone
    (accuracy gained when only it stays FP32) and its share of the network's MACs."""

    path: Path
    accuracy: float
    fp32_ops: tuple[str, ...]
    costs: dict[str, dict[str, float]]


def quantized_ops(path: Path) -> list[str]:
    """The compute nodes (Conv, MatMul, Gemm) of a QDQ model that read a dequantized weight or
    activation: the names ONNX Runtime's quantizer takes in ``nodes_to_exclude``."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return [n.name for n in graph.node if n.op_type in ("Conv", "MatMul", "Gemm") and set(n.input) & dq]


def int8_fallback(
    onnx_path: Path,
    target: Target,
    calibration: Calibration,
    out_dir: Path,
    score: Any,
    bound: float,
    int8_path: Path,
    int8_accuracy: float,
    max_ops: int = 12,
) -> Fallback | None:
    """Per-op precision fallback for an INT8 candidate that misses ``bound`` (ONNX files: ONNX
    Runtime's ``nodes_to_exclude``). Each quantized compute op is first kept in FP32 alone and
    the file scored (``score(path) -> accuracy``, the user's ``evaluate`` on the deployed file);
    then ops are kept in FP32 one more at a time, in the order of what they recovered alone
    (largest first; among equals, the fewest MACs first), until the file meets ``bound``. Order
    matters less than it seems: an activation quantized between two ops stays quantized until
    both are kept, so a pair can recover what neither does alone. None when all of them together
    do not reach the bound. With more than ``max_ops`` quantized ops, the ``max_ops`` with the
    fewest MACs are tried (keeping a heavy op in FP32 gives back the speed INT8 was for)."""
    from xcelerator.models.artifact import load_artifact

    ops = quantized_ops(int8_path)
    art = load_artifact(onnx_path)  # read once: every file below is quantized from it
    names = [t.name for t in art.inputs]
    stats = art.stats
    macs = {n.name: n.macs for n in stats.nodes} if stats else {}
    total = float(sum(macs.values()) or 1)
    if len(ops) > max_ops:
        ops = sorted(ops, key=lambda n: macs.get(n, 0))[:max_ops]

    def quantize(folder: str, fp32: list[str]) -> Path:
        return deploy_file(onnx_path, target, "int8", calibration, out_dir / folder, exclude=fp32, names=names)

    gains: dict[str, float] = {}
    for i, op in enumerate(ops):
        gains[op] = score(quantize(f"alone-{i}", [op])) - int8_accuracy
    order = sorted(gains, key=lambda o: (-gains[o], macs.get(o, 0)))
    kept: list[str] = []
    found: tuple[Path, float] | None = None
    for op in order:
        kept.append(op)
        f = quantize(f"keep-{len(kept)}", kept)
        acc = score(f)
        if acc >= bound:
            found = (f, acc)
            break
    if found is None:
        return None
    for op in list(kept[:-1]):  # then back to INT8 each op the bound does without (the last one was needed)
        trial = [o for o in kept if o != op]
        f = quantize(f"without-{len(kept)}-{op.strip('/').replace('/', '_')}", trial)
        acc = score(f)
        if acc >= bound:
            kept, found = trial, (f, acc)
    costs = {o: {"accuracy_alone": round(gains[o], 6), "macs_share": round(macs.get(o, 0) / total, 6)} for o in kept}
    return Fallback(found[0], found[1], tuple(kept), costs)


class DeployedModule(nn.Module):
    """A model file run by a runtime in this process, as a module (see ``deployed``)."""

    def __init__(self, path: Path, target: Target) -> None:
        super().__init__()
        from xcelerator.models.artifact import load_artifact

        spec = target.spec
        if spec is None:
            raise BadInputError(f"unknown runtime {target.runtime}")
        adapter_cls = getattr(spec.impl, "Adapter", None)
        if adapter_cls is None or not hasattr(adapter_cls, "infer"):
            runs = [n for n in ("onnxruntime", "openvino", "executorch") if n != target.runtime]
            raise BadInputError(
                f"runtime {target.runtime} does not hand outputs back here; a deployed file runs on {', '.join(runs)}"
            )
        self.path, self.target = Path(path), target
        self.art = load_artifact(path)
        self.adapter = adapter_cls(target.runtime_opts)
        first = self.art.inputs[0].shape if self.art.inputs else ()
        self.fixed_batch = first[0] if first and isinstance(first[0], int) else None  # None: any batch
        # a parameter-free module still answers ``next(module.parameters()).device``
        self._device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)
        self._loaded_for: tuple[tuple[int, ...], ...] | None = None

    def _load(self, feeds: dict[str, np.ndarray]) -> None:
        shapes = tuple(tuple(a.shape) for a in feeds.values())
        if self._loaded_for != shapes:
            self.adapter.load(str(self.path), feeds)
            self._loaded_for = shapes

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        feeds = {s.name: a for s, a in zip(self.art.inputs, arrays, strict=True)}
        self._load(feeds)
        return [np.asarray(o) for o in self.adapter.infer(feeds)]

    def forward(self, *inputs: torch.Tensor) -> Any:
        if len(inputs) != len(self.art.inputs):
            raise ValueError(f"{self.path.name} takes {len(self.art.inputs)} inputs, got {len(inputs)}")
        device = inputs[0].device if isinstance(inputs[0], torch.Tensor) else torch.device("cpu")
        arrays = []
        for s, t in zip(self.art.inputs, inputs, strict=True):
            a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            arrays.append(a.astype(s.dtype, copy=False) if s.dtype else a)
        n = int(arrays[0].shape[0]) if arrays[0].ndim else 1
        fixed = self.fixed_batch
        if fixed is None or fixed == n:
            outs = self._run(arrays)
        else:  # the file has a fixed batch: run it in slices of that batch
            step = int(fixed)
            parts: list[list[np.ndarray]] = []
            for i in range(0, n, step):
                chunk = [a[i : i + step] for a in arrays]
                short = step - int(chunk[0].shape[0])
                if short:
                    chunk = [np.concatenate([c, np.repeat(c[-1:], short, axis=0)]) for c in chunk]
                res = self._run(chunk)
                parts.append([r[: step - short] for r in res])
            outs = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        tensors = [torch.from_numpy(np.ascontiguousarray(o)).to(device) for o in outs]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)

    def extra_repr(self) -> str:
        return f"{self.path.name} on {self.target.label}"


def deployed(path: str | Path, target: str | Target = "onnxruntime?threads=1") -> DeployedModule:
    """An ``nn.Module`` whose ``forward`` runs the model file ``path`` on ``target``'s runtime in
    this process: torch tensors in and out, batches of any size (a file exported at batch 1 runs
    sample by sample). Hand it to your ``evaluate`` to score the file you ship."""
    tgt = target if isinstance(target, Target) else parse_target(target)
    if tgt.remote:
        raise BadInputError(f"deployed: {tgt.label} runs off this machine; give a local target for the same runtime")
    return DeployedModule(Path(path), tgt).eval()
