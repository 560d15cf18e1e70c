"""A design space derived from any ``nn.Module``: structured channel pruning, block removal and
input resolution.

* **Channel groups.** ``torch-pruning``'s dependency graph finds the groups of coupled layers
  (a residual add ties the channels of every block it joins; a depthwise or grouped
  convolution ties its input and output channels; a concatenation splits its consumer's input
  channels). Each group gets one pruning ratio; when there are more groups than
  ``max_groups``, neighbouring groups (in the order the network computes them) share one ratio,
  stage by stage. Pruned channels are the least important by the group's L2 magnitude, the
  kept weights are inherited. Attention modules (``nn.MultiheadAttention``, and any module whose
  class name says attention, such as Hugging Face's and timm's) keep their own widths, and the
  last layer (the classifier) is not pruned; the MLP inside a transformer block is.
* **Blocks.** A child of a ``Sequential``/``ModuleList`` that holds at least two
  convolutions or linear layers and maps its input to an output of the same shape (a residual
  block, a transformer layer) can be removed: it becomes ``nn.Identity``. Each such block is
  checked by removing it and running the network.
* **Resolution.** When the network gives outputs of the same shape at smaller inputs (global
  pooling), the candidate resizes its input inside the model: it still takes the user's input
  shape, so the user's ``train`` and ``evaluate`` work unchanged and the exported model is
  measured at the user's shape with the resize in it.

A point is ``{"ratio:<group>": 0.0..max_ratio, "drop:<block>": 0|1, "resolution": px}``; the
default point (all zeros, native resolution) is the unchanged network. Every parameter is a
small grid, so the RL samplers work on this space as on the built-in ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xcelerator.errors import BadInputError
from xcelerator.models.spaces import Param, Space

log = logging.getLogger(__name__)

RATIO_STEP = 0.125


@dataclass(frozen=True)
class ChannelGroup:
    """One searched ratio: the root layers (by module name) of the coupled groups it prunes."""

    name: str
    roots: tuple[str, ...]
    channels: int


@dataclass(frozen=True)
class Skipped:
    """A group or block the space leaves out, and why (shown by ``xcel optimize --describe``)."""

    what: str
    reason: str


class _Resize(nn.Module):
    """Resizes a 4-D input to ``size`` (bilinear) before the wrapped network."""

    def __init__(self, inner: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.inner = inner
        self.size = size

    def forward(self, x: torch.Tensor, *rest: Any) -> Any:
        x = nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.inner(x, *rest)


def snap(channels: int, ratio: float, multiple: int) -> int:
    """The channels kept when ``ratio`` of ``channels`` is pruned, rounded to the nearest
    multiple of ``multiple`` (at least one multiple). A layer narrower than two multiples is
    rounded to the largest power-of-two fraction of ``multiple`` it holds twice, so that a small
    layer is not pruned away whole."""
    m = max(1, int(multiple))
    while m > 1 and channels < 2 * m:
        m //= 2
    want = channels * (1.0 - ratio)
    keep = max(m, round(want / m) * m)
    return min(channels, keep)


def as_tuple(example: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(example, torch.Tensor):
        return (example,)
    if isinstance(example, (tuple, list)) and example and all(isinstance(t, torch.Tensor) for t in example):
        return tuple(example)
    raise BadInputError(f"example_inputs: expected a tensor or a tuple of tensors, got {type(example).__name__}")


def _outputs(module: nn.Module, example: tuple[torch.Tensor, ...]) -> list[tuple[int, ...]]:
    with torch.no_grad():
        out = module(*example)
    if isinstance(out, torch.Tensor):
        return [tuple(out.shape)]
    if isinstance(out, (tuple, list)):
        return [tuple(o.shape) for o in out if isinstance(o, torch.Tensor)]
    if isinstance(out, dict):
        return [tuple(v.shape) for v in out.values() if isinstance(v, torch.Tensor)]
    return []


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) or "root"


def _is_layer(m: nn.Module) -> bool:
    return isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))


def _forward_with(model: nn.Module, example: tuple[Any, ...], hooks: list[Any]) -> None:
    """One forward pass of ``model`` on ``example`` with ``hooks`` registered, then removed."""
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for h in hooks:
            h.remove()


class PruneSpace(Space):
    """The pruning space of one network (see the module docstring)."""

    name = "prune"
    description = "structured pruning of a user network (torch-pruning dependency groups)"

    def __init__(
        self,
        module: nn.Module,
        example_inputs: Any,
        *,
        max_ratio: float = 0.75,
        max_groups: int = 8,
        blocks: bool = True,
        resolutions: Sequence[int] | None = None,
        round_to: int | Sequence[int] | None = None,
        ignored: Sequence[str] = (),
        precisions: Sequence[str] = ("fp32",),
        targets: Sequence[str] = (),
    ) -> None:
        try:
            import torch_pruning  # noqa: F401
        except ImportError as e:
            from xcelerator.errors import MissingDependencyError

            raise MissingDependencyError("torch-pruning", "optimize", "Pruning a network") from e
        if not isinstance(module, nn.Module):
            raise BadInputError(f"model: expected a torch.nn.Module, got {type(module).__name__}")
        if not 0 < max_ratio < 1:
            raise BadInputError(f"max_ratio {max_ratio}: must be in (0, 1)")
        self.module = module
        self.example = as_tuple(example_inputs)
        self.max_ratio = max_ratio
        rounds = [round_to] if isinstance(round_to, int) or round_to is None else list(round_to)
        bad = [r for r in rounds if r is not None and (not isinstance(r, int) or r < 1)]
        if bad or not rounds:
            raise BadInputError(f"round_channels {round_to!r}: expected a positive integer (1: no rounding) or several")
        self.round_choices = tuple(dict.fromkeys(int(r or 1) for r in rounds))
        self.round_to = self.round_choices[0]
        self.precisions = tuple(precisions)
        self.targets = tuple(targets)
        self._structures: dict[str, str] = {}
        self.root_channels: dict[str, int] = {}  # each group root's output channels, found with the groups
        self.ignored_names = tuple(ignored)
        self.skipped: list[Skipped] = []
        try:
            self.native_outputs = _outputs(module.eval(), self.example)
        except Exception as e:
            raise BadInputError(f"model: does not run on the example inputs ({type(e).__name__}: {e})") from None
        known = dict(module.named_modules())
        for n in self.ignored_names:
            if n not in known:
                raise BadInputError(f"ignored layer {n!r}: no such module; e.g. {list(known)[1:4]}")
        self.order = self._compute_order()  # one forward pass: layer name → position
        self.classifier = max(self.order, key=self.order.__getitem__) if self.order else None
        self.groups = self._find_groups(max_groups)
        self.blocks = self._find_blocks() if blocks else []
        self.resolutions = self._find_resolutions(resolutions)
        if not self.groups and not self.blocks and len(self.resolutions) < 2:
            why = "; ".join(f"{s.what}: {s.reason}" for s in self.skipped[:3]) or "no convolution or linear layer"
            raise BadInputError(f"model: nothing to prune, remove or resize ({why})")

    # ---------------------------------------------------------------- discovery
    def _ignored_modules(self, model: nn.Module) -> list[nn.Module]:
        """The classifier (the last conv/linear layer computed), attention and user-named layers,
        found by name in ``model`` (a copy of the network, perhaps with blocks removed)."""
        names = dict(model.named_modules())
        ign: list[nn.Module] = []
        for m in model.modules():
            if isinstance(m, nn.MultiheadAttention):
                ign.append(m)
            elif "attention" in type(m).__name__.lower():
                # attention written with plain layers (Hugging Face, timm): its projections' widths
                # are tied to a head count and head size it keeps as numbers; leave them whole
                ign += [x for x in m.modules() if _is_layer(x)]
        for n in (self.classifier, *self.ignored_names):
            if n is not None and n in names:
                ign.append(names[n])
        return ign

    def _compute_order(self) -> dict[str, int]:
        """Module name → position in the forward pass (conv/linear layers)."""
        model = copy.deepcopy(self.module).eval()
        seen: list[str] = []
        hooks = [
            m.register_forward_hook(lambda mod, i, o, n=n: seen.append(n))
            for n, m in model.named_modules()
            if _is_layer(m)
        ]
        _forward_with(model, self.example, hooks)
        return {n: i for i, n in reversed(list(enumerate(seen)))}

    def _pruner(self, model: nn.Module, ratios: dict[nn.Module, float] | None = None) -> Any:
        import torch_pruning as tp

        return tp.pruner.MetaPruner(
            model,
            self.example,
            importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.0,
            pruning_ratio_dict=ratios or {},
            ignored_layers=self._ignored_modules(model),
        )

    def _find_groups(self, max_groups: int) -> list[ChannelGroup]:
        model = copy.deepcopy(self.module).eval()
        try:
            pruner = self._pruner(model)
            groups = list(
                pruner.DG.get_all_groups(
                    ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types
                )
            )
        except Exception as e:
            raise BadInputError(
                f"model: torch-pruning cannot trace it ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            ) from None
        names = {m: n for n, m in model.named_modules()}
        found: list[tuple[str, int]] = []
        for g in groups:
            root = g[0].dep.target.module
            name = names.get(root)
            if name is None:
                continue
            ch = pruner.DG.get_out_channels(root) if not isinstance(root, nn.Linear) else root.out_features
            if not ch or ch < 4:
                self.skipped.append(Skipped(name, f"{ch} channels: too few to prune"))
                continue
            why = self._check_group(name)
            if why:
                self.skipped.append(Skipped(name, why))
                continue
            found.append((name, int(ch)))
            self.root_channels[name] = int(ch)
        found.sort(key=lambda item: self.order.get(item[0], len(self.order)))
        if not found:
            return []
        # neighbouring groups share a ratio when there are too many: contiguous chunks in compute order
        k = min(max_groups, len(found))
        chunks: list[list[tuple[str, int]]] = [[] for _ in range(k)]
        for i, item in enumerate(found):
            chunks[i * k // len(found)].append(item)
        out = []
        for c in chunks:
            label = c[0][0] if len(c) == 1 else f"{c[0][0]}..{c[-1][0]}"
            out.append(ChannelGroup(_slug(label), tuple(n for n, _ in c), sum(ch for _, ch in c)))
        return out

    def _check_group(self, root_name: str) -> str | None:
        """Prune this group alone by half; the reason it cannot be pruned, or None."""
        model = copy.deepcopy(self.module).eval()
        try:
            target = model.get_submodule(root_name)
            self._pruner(model, {target: 0.5}).step()
            if _outputs(model, self.example) != self.native_outputs:
                return "pruning it changes the output shape"
        except Exception as e:
            return f"pruning it breaks the network ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        return None

    def _find_blocks(self) -> list[str]:
        shapes: dict[str, tuple[Any, Any]] = {}
        hooks = []
        model = copy.deepcopy(self.module).eval()
        named = dict(model.named_modules())
        parents: dict[str, nn.Module] = {}
        for pname, p in named.items():
            if isinstance(p, (nn.Sequential, nn.ModuleList)):
                for cname, _ in p.named_children():
                    parents[f"{pname}.{cname}" if pname else cname] = p

        def hook(name: str) -> Any:
            def f(mod: nn.Module, inp: Any, out: Any) -> None:
                if len(inp) == 1 and isinstance(inp[0], torch.Tensor) and isinstance(out, torch.Tensor):
                    shapes.setdefault(name, (tuple(inp[0].shape), tuple(out.shape)))
                else:
                    shapes.setdefault(name, (None, 0))

            return f

        for name in parents:
            m = named[name]
            if sum(1 for x in m.modules() if _is_layer(x)) >= 2:
                hooks.append(m.register_forward_hook(hook(name)))
        _forward_with(model, self.example, hooks)
        cands = [n for n, (i, o) in shapes.items() if i == o]
        cands = [n for n in cands if not any(o != n and o.startswith(n + ".") for o in cands)]  # innermost
        ok = []
        for n in sorted(cands, key=list(named).index):
            trial = copy.deepcopy(self.module).eval()
            try:
                trial.set_submodule(n, nn.Identity())
                if _outputs(trial, self.example) != self.native_outputs:
                    self.skipped.append(Skipped(n, "removing it changes the output shape"))
                    continue
            except Exception as e:
                self.skipped.append(Skipped(n, f"removing it breaks the network ({type(e).__name__})"))
                continue
            ok.append(n)
        return ok

    def _find_resolutions(self, given: Sequence[int] | None) -> list[int]:
        x = self.example[0]
        if x.dim() != 4 or not x.is_floating_point() or x.shape[2] != x.shape[3]:
            return [int(x.shape[-1])] if x.dim() >= 1 else [0]
        native = int(x.shape[2])
        wanted = (
            sorted({int(r) for r in given}, reverse=True)
            if given
            else sorted({max(8, round(native * f / 4) * 4) for f in (0.75, 0.5)} - {native}, reverse=True)
        )
        out = [native]
        for r in wanted:
            if r == native:
                continue
            if r > native or r < 4:
                raise BadInputError(f"resolution {r}: must be between 4 and the input's {native} px")
            try:
                if _outputs(_Resize(copy.deepcopy(self.module).eval(), (r, r)), self.example) == self.native_outputs:
                    out.append(r)
                else:
                    self.skipped.append(Skipped(f"resolution {r}", "the outputs change shape"))
            except Exception as e:
                self.skipped.append(Skipped(f"resolution {r}", f"the network does not run ({type(e).__name__})"))
        return out

    # ---------------------------------------------------------------- Space protocol
    def params(self) -> list[Param]:
        ps = [Param(f"ratio:{g.name}", "float", 0.0, self.max_ratio, RATIO_STEP, default=0.0) for g in self.groups]
        ps += [Param(f"drop:{_slug(b)}", "int", 0, 1, 1, default=0) for b in self.blocks]
        if len(self.resolutions) > 1:
            ps.append(Param("resolution", "choice", choices=tuple(self.resolutions), default=self.resolutions[0]))
        if len(self.round_choices) > 1:
            ps.append(Param("round_channels", "choice", choices=self.round_choices, default=self.round_choices[0]))
        if len(self.precisions) > 1:
            ps.append(Param("precision", "choice", choices=self.precisions, default=self.precisions[0]))
        if len(self.targets) > 1:
            ps.append(Param("target", "choice", choices=self.targets, default=self.targets[0]))
        return ps

    DEPLOY_KEYS = ("precision", "target")

    def deployment(self, point: dict[str, Any]) -> tuple[str, str]:
        """(precision, target) of a point: its own choice where the space searches them."""
        p = self.check(point)
        return (
            str(p.get("precision", self.precisions[0] if self.precisions else "fp32")),
            str(p.get("target", self.targets[0] if self.targets else "")),
        )

    def widths(self, point: dict[str, Any]) -> dict[str, Any]:
        """What the point builds: every conv/linear layer's output width, the blocks removed and
        the resolution. Points that differ only in ratios that round to the same widths build
        the same network."""
        p = self.check(point)
        model = self._apply(p)
        inner = model.inner if isinstance(model, _Resize) else model
        out: dict[str, Any] = {
            n: int(getattr(m, "out_channels", getattr(m, "out_features", 0)))
            for n, m in inner.named_modules()
            if _is_layer(m)
        }
        out["resolution"] = int(p.get("resolution", self.resolutions[0]))
        return out

    def structure_id(self, point: dict[str, Any]) -> str:
        """One id per network built (see ``widths``), whatever the precision and target."""
        p = {k: v for k, v in self.check(point).items() if k not in self.DEPLOY_KEYS}
        key = json.dumps(p, sort_keys=True)
        if key not in self._structures:
            text = json.dumps(self.widths(p), sort_keys=True)
            self._structures[key] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._structures[key]

    def to_spec(self, point: dict[str, Any]) -> None:
        return None

    def arch_id(self, point: dict[str, Any]) -> str:
        """The network built (``structure_id``) with its precision and target: a point that
        builds a network already evaluated in the same way is the same candidate."""
        precision, target = self.deployment(point)
        text = f"{self.structure_id(point)}|{precision}|{target}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def is_default(self, point: dict[str, Any]) -> bool:
        """Whether the point builds the unchanged network (its precision and target aside)."""
        return self.structure_id(point) == self.structure_id(self.default_point())

    def build(self, point: dict[str, Any], seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        return self.apply(point), self.example

    def describe(self) -> dict[str, Any]:
        return {
            "groups": [{"name": g.name, "roots": list(g.roots), "channels": g.channels} for g in self.groups],
            "blocks": list(self.blocks),
            "resolutions": list(self.resolutions),
            "skipped": [{"what": s.what, "reason": s.reason} for s in self.skipped],
            "params": [p.to_dict() for p in self.params()],
        }

    # ---------------------------------------------------------------- applying a point
    def apply(self, point: dict[str, Any], module: nn.Module | None = None) -> nn.Module:
        """A pruned copy of the network (or of ``module``, e.g. re-initialized weights) at
        ``point``; the original is not touched."""
        return self._apply(self.check(point), module)

    def _apply(self, p: dict[str, Any], module: nn.Module | None = None) -> nn.Module:
        model = copy.deepcopy(module if module is not None else self.module)
        was_training = model.training
        model.eval()
        for b in self.blocks:
            if p.get(f"drop:{_slug(b)}", 0):
                model.set_submodule(b, nn.Identity())
        named = dict(model.named_modules())
        ratios: dict[nn.Module, float] = {}
        multiple = int(p.get("round_channels", self.round_to))
        for g in self.groups:
            r = float(p.get(f"ratio:{g.name}", 0.0))
            if r > 0:
                for root in g.roots:
                    if root in named:  # gone with a removed block
                        c = self.root_channels.get(root, 0)
                        keep = snap(c, r, multiple)
                        if keep < c:  # the exact share, so torch-pruning keeps ``keep`` channels
                            ratios[named[root]] = (c - keep) / c - 1e-9
        if ratios:
            self._pruner(model, ratios).step()
        res = int(p.get("resolution", self.resolutions[0]))
        if res != self.resolutions[0]:
            model = _Resize(model, (res, res))
        model.train(was_training)
        return model

    def uniform(self, ratio: float, module: nn.Module | None = None) -> nn.Module:
        """Every group pruned by the same ``ratio`` (any value in [0, 1), not only the grid's):
        the uniform width scaling and plain magnitude pruning baselines."""
        if not 0 <= ratio < 1:
            raise BadInputError(f"ratio {ratio}: must be in [0, 1)")
        return self._apply({**self.default_point(), **{f"ratio:{g.name}": ratio for g in self.groups}}, module)
