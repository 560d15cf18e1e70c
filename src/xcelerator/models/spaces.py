"""Design spaces: named sets of networks with parameters, ranges, sampling, enumeration and a
mapping point → ArchSpec (or, for user spaces, point → ``nn.Module``).

A *point* is a plain dict ``{param name: value}``. Every space checks points (a value outside
its range is ``BadInputError`` naming the parameter) and gives each point an architecture id
(the NAS-Bench-201 arch string, or the spec hash) so results can be joined across tools.
"""

from __future__ import annotations

import importlib
import math
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import (
    NB201_OPS,
    ArchSpec,
    BlockSpec,
    HeadSpec,
    InputSpec,
    StageSpec,
    StemSpec,
    describe,
    make_divisible,
)
from xcelerator.models.basespecs import base_spec
from xcelerator.models.space_base import Param, Space


# ----------------------------------------------------------------------------- scaling
class ScalingSpace(Space):
    """Width, depth and resolution multipliers around a base spec (the aisys2021_AutoML seed):
    channels × w (rounded to multiples of 8), blocks per stage ⌈n·d⌉, input r pixels."""

    name = "scaling"

    def __init__(
        self,
        base: str = "mobilenet_v2_cifar",
        w_max: float = 2.0,
        d_max: float = 2.0,
        r_min: int = 4,
        r_max: int | None = None,
        r_step: int = 4,
        w_min: float = 0.1,
        d_min: float = 0.1,
        wd_step: float = 0.1,
    ) -> None:
        self.base = base_spec(base)
        self.base_name = base
        self.w_max, self.d_max = float(w_max), float(d_max)
        self.w_min, self.d_min, self.wd_step = float(w_min), float(d_min), float(wd_step)
        for lo, hi, nm in ((self.w_min, self.w_max, "w"), (self.d_min, self.d_max, "d")):
            k = (1.0 - lo) / self.wd_step
            if not 0 < lo <= 1.0 <= hi or abs(k - round(k)) > 1e-6:
                raise BadInputError(
                    f"scaling: {nm}_min {lo:g}, {nm}_max {hi:g}, wd_step {self.wd_step:g} must put "
                    "1.0 (the base spec) on the grid"
                )
        self.r_min, self.r_step = int(r_min), int(r_step)
        self.r_max = int(r_max or 2 * self.base.input.resolution)
        r0 = self.base.input.resolution
        if not self.r_min <= r0 <= self.r_max or (r0 - self.r_min) % self.r_step:
            raise BadInputError(
                f"scaling: the base resolution {r0} must be on the grid {self.r_min}..{self.r_max} "
                f"step {self.r_step} (the base spec is the baseline of every search)"
            )
        if not 0.1 <= 1.0 <= min(self.w_max, self.d_max):
            raise BadInputError("scaling: w_max and d_max must be >= 1.0 so the base spec is in the space")
        self.description = (
            f"width, depth, resolution around {base} (w, d in 0.1 steps from 0.1; "
            f"r in {self.r_step}-px steps from {self.r_min})"
        )

    def params(self) -> list[Param]:
        return [
            Param("width", "float", self.w_min, self.w_max, self.wd_step, default=1.0),
            Param("depth", "float", self.d_min, self.d_max, self.wd_step, default=1.0),
            Param("resolution", "int", self.r_min, self.r_max, self.r_step, default=self.base.input.resolution),
        ]

    def to_spec(self, point: dict[str, Any]) -> ArchSpec:
        p = self.check(point)
        w, d, r = p["width"], p["depth"], p["resolution"]
        stages = []
        prev = make_divisible(self.base.stem.out * w)
        for st in self.base.stages:
            n = max(1, math.ceil(len(st.blocks) * d - 1e-9))
            blocks = []
            for i in range(n):
                src = st.blocks[min(i, len(st.blocks) - 1)]
                out = make_divisible(src.out * w)
                if src.type == "bottleneck":
                    e = max(1, int(src.expansion))
                    out = make_divisible(src.out * w, 8 * e)
                blocks.append(replace(src, out=out, stride=src.stride if i == 0 else 1))
                prev = out
            stages.append(StageSpec(tuple(blocks)))
        head = self.base.head
        if head.hidden:
            head = replace(head, hidden=make_divisible(head.hidden * max(1.0, w)))
        del prev
        return ArchSpec(
            f"{self.base_name}_w{w:g}_d{d:g}_r{r}",
            replace(self.base.input, resolution=r),
            replace(self.base.stem, out=make_divisible(self.base.stem.out * w)),
            tuple(stages),
            head,
        )


# ----------------------------------------------------------------------------- blocks
class BlocksSpace(Space):
    """Per-block choices around a base spec (the xcelerator seed's "which layer to change or
    remove"): kernel, expansion (MBConv blocks), a channel multiplier, and removal of stride-1
    blocks. The base spec is the default point."""

    name = "blocks"
    KERNELS = (3, 5, 7)
    EXPANSIONS = (1.0, 3.0, 4.0, 6.0)
    WIDTHS = (0.5, 0.75, 1.0, 1.25)

    def __init__(self, base: str = "tiny_convnet") -> None:
        self.base = base_spec(base)
        self.base_name = base
        self.description = f"kernel / expansion / channels / removal per block of {base}"

    def params(self) -> list[Param]:
        ps: list[Param] = []
        for i, j, b in self.base.blocks:
            key = f"s{i}b{j}"
            ks = tuple(sorted(set(self.KERNELS) | {b.kernel}))
            ps.append(Param(f"{key}.kernel", "choice", choices=ks, default=b.kernel))
            if b.type in ("mbconv", "fused_mbconv"):
                es = tuple(sorted(set(self.EXPANSIONS) | {float(b.expansion)}))
                ps.append(Param(f"{key}.expansion", "choice", choices=es, default=float(b.expansion)))
            ps.append(Param(f"{key}.width", "choice", choices=self.WIDTHS, default=1.0))
            if b.stride == 1:
                ps.append(Param(f"{key}.keep", "choice", choices=(True, False), default=True))
        return ps

    def to_spec(self, point: dict[str, Any]) -> ArchSpec:
        p = self.check(point)
        stages = []
        kept_any = False
        for i, st in enumerate(self.base.stages):
            blocks = []
            for j, b in enumerate(st.blocks):
                key = f"s{i}b{j}"
                if not p.get(f"{key}.keep", True):
                    continue
                nb = replace(b, kernel=int(p[f"{key}.kernel"]), out=make_divisible(b.out * p[f"{key}.width"]))
                if f"{key}.expansion" in p:
                    nb = replace(nb, expansion=float(p[f"{key}.expansion"]))
                blocks.append(nb)
            if blocks:
                kept_any = True
                stages.append(StageSpec(tuple(blocks)))
        if not kept_any:
            raise BadInputError("point: every block is removed; keep at least one")
        return ArchSpec(f"{self.base_name}_blocks", self.base.input, self.base.stem, tuple(stages), self.base.head)


# ----------------------------------------------------------------------------- mobilegen
class MobileGenSpace(Space):
    """Random efficient MBConv networks within a MAC range (the cost-model seed's MobileGen:
    40-400 M MACs at 224 px). A point is a seed ``index``; the same index always gives the
    same network (rejection sampling from ``Random(index)`` until the MACs fall in range)."""

    name = "mobilegen"

    def __init__(
        self, macs_min: float = 40e6, macs_max: float = 400e6, resolution: int = 224, classes: int = 1000
    ) -> None:
        if not 0 < float(macs_min) < float(macs_max):
            raise BadInputError(f"mobilegen: need 0 < macs_min < macs_max, got {macs_min:g}, {macs_max:g}")
        self.lo, self.hi = float(macs_min), float(macs_max)
        self.resolution, self.classes = int(resolution), int(classes)
        self.description = (
            f"random MBConv networks of {self.lo / 1e6:g}-{self.hi / 1e6:g} M MACs at {self.resolution} px"
        )

    def params(self) -> list[Param]:
        return [Param("index", "int", 0, 2**31 - 1, 1, default=0)]

    def size(self) -> int | None:
        return None  # indices are seeds, not distinct architectures: do not enumerate

    def _draw(self, rng: random.Random) -> ArchSpec:
        n_stages = rng.randint(4, 6)
        c = rng.choice((16, 24, 32))
        stem = StemSpec(c, 3, 2, rng.choice(("relu", "relu6", "hswish")))
        stages = []
        strides = [2] * (n_stages - 1) + [1]
        rng.shuffle(strides)
        for s in range(n_stages):
            c = make_divisible(c * rng.uniform(1.2, 2.0))
            act = rng.choice(("relu", "relu6", "hswish"))
            se = rng.choice((0.0, 0.0, 0.25))
            blocks = []
            for i in range(rng.randint(1, 4)):
                blocks.append(
                    BlockSpec(
                        "mbconv",
                        c,
                        rng.choice((3, 5, 7)),
                        strides[s] if i == 0 else 1,
                        rng.choice((1.0, 3.0, 4.0, 6.0)),
                        se,
                        act,
                    )
                )
            stages.append(StageSpec(tuple(blocks)))
        head = HeadSpec(rng.choice((0, 1024, 1280)), "relu6", self.classes)
        return ArchSpec("mobilegen", InputSpec(resolution=self.resolution), stem, tuple(stages), head)

    def to_spec(self, point: dict[str, Any]) -> ArchSpec:
        idx = self.check(point)["index"]
        rng = random.Random(idx)
        for _ in range(2000):
            spec = self._draw(rng)
            if self.lo <= describe(spec).macs <= self.hi:
                return replace(spec, name=f"mobilegen_{idx}")
        raise BadInputError(
            f"mobilegen: no network in {self.lo:g}..{self.hi:g} MACs after 2000 draws (index {idx}); widen the range"
        )


# ----------------------------------------------------------------------------- nasbench201
class NasBench201Space(Space):
    """The NAS-Bench-201 cell space: 6 edges × 5 operations = 15,625 cells, in the standard
    macro skeleton (3×3 stem of 16 channels, three stages of ``cells`` cells at 16/32/64
    channels joined by stride-2 residual blocks, global pooling, a linear classifier)."""

    name = "nasbench201"
    EDGE_NAMES = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")

    def __init__(self, cells: int = 5, channels: int = 16, resolution: int = 32, classes: int = 10) -> None:
        self.cells, self.channels = int(cells), int(channels)
        self.resolution, self.classes = int(resolution), int(classes)
        self.description = "NAS-Bench-201 cells (15,625), arch strings like |nor_conv_3x3~0|+|...|"

    def params(self) -> list[Param]:
        return [Param(f"edge{i}", "choice", choices=NB201_OPS, default="none") for i in range(6)]

    @staticmethod
    def to_arch_string(point: dict[str, Any]) -> str:
        ops = [point[f"edge{i}"] for i in range(6)]
        return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"

    @staticmethod
    def from_arch_string(s: str) -> dict[str, Any]:
        nodes = s.strip().split("+")
        ops: list[str] = []
        if len(nodes) != 3:
            raise BadInputError(f"arch string {s!r}: expected 3 nodes separated by '+'")
        for j, node in enumerate(nodes, 1):
            parts = [x for x in node.split("|") if x]
            if len(parts) != j:
                raise BadInputError(f"arch string {s!r}: node {j} must have {j} edge(s)")
            for k, part in enumerate(parts):
                op, _, src = part.partition("~")
                if op not in NB201_OPS or src != str(k):
                    raise BadInputError(
                        f"arch string {s!r}: bad edge {part!r} (expected OP~{k}, OP in {', '.join(NB201_OPS)})"
                    )
                ops.append(op)
        return {f"edge{i}": op for i, op in enumerate(ops)}

    def arch_id(self, point: dict[str, Any]) -> str:
        return self.to_arch_string(self.check(point))

    def to_spec(self, point: dict[str, Any]) -> ArchSpec:
        p = self.check(point)
        ops = tuple(p[f"edge{i}"] for i in range(6))
        c = self.channels
        stages = []
        for s in range(3):
            blocks: list[BlockSpec] = []
            if s:
                c *= 2
                blocks.append(BlockSpec("basic", c, 3, 2, act="relu"))
            blocks += [BlockSpec("nb201_cell", c, ops=ops)] * self.cells
            stages.append(StageSpec(tuple(blocks)))
        return ArchSpec(
            f"nb201{self.to_arch_string(p)}",
            InputSpec(resolution=self.resolution),
            StemSpec(self.channels, 3, 1, "none"),
            tuple(stages),
            HeadSpec(0, "relu", self.classes),
        )


# ----------------------------------------------------------------------------- user
class UserSpace(Space):
    """A designer's own space: a YAML file of parameters and ranges plus a Python builder
    ``module:function`` called with the point's values as keyword arguments, returning an
    ``nn.Module`` (the xcelerator seed: "ranges are provided by model designer").

    ```yaml
    name: my-net
    builder: my_models:build        # module importable from the YAML's folder or sys.path
    input: {shape: [1, 3, 96, 96], dtype: float32}
    params:
      width: {type: float, low: 0.25, high: 1.0, step: 0.25, default: 1.0}
      kernel: {type: choice, choices: [3, 5, 7]}
      blocks: {type: int, low: 1, high: 4}
    ```
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.exists():
            raise BadInputError(f"{p}: no such space file")
        try:
            doc = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise BadInputError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(doc, dict):
            raise BadInputError(f"{p}: expected a mapping with name, builder, input and params")
        for key in ("builder", "params", "input"):
            if key not in doc:
                raise BadInputError(f"{p}: missing '{key}'")
        self.path = p
        self.name = f"user:{p}"
        self.description = str(doc.get("description", doc.get("name", p.stem)))
        self.builder_ref = str(doc["builder"])
        if ":" not in self.builder_ref:
            raise BadInputError(f"{p}: builder {self.builder_ref!r} must be 'module:function'")
        inp = doc["input"]
        if not isinstance(inp, dict) or not isinstance(inp.get("shape"), list):
            raise BadInputError(f"{p}: input must be a mapping with shape: [1, C, H, W] (and optional dtype)")
        self.input_shape = tuple(int(x) for x in inp["shape"])
        self.input_dtype = str(inp.get("dtype", "float32"))
        self._params = [self._param(p, k, v) for k, v in (doc["params"] or {}).items()]
        if not self._params:
            raise BadInputError(f"{p}: params is empty")

    @staticmethod
    def _param(path: Path, name: str, d: Any) -> Param:
        if not isinstance(d, dict) or "type" not in d:
            raise BadInputError(f"{path}: param {name}: expected a mapping with a type (int, float, choice)")
        t = d["type"]
        if t == "choice":
            ch = d.get("choices")
            if not isinstance(ch, list) or not ch:
                raise BadInputError(f"{path}: param {name}: choice needs a non-empty list 'choices'")
            return Param(name, "choice", choices=tuple(ch), default=d.get("default", ch[0]))
        if t in ("int", "float"):
            try:
                lo, hi = float(d["low"]), float(d["high"])
            except (KeyError, TypeError, ValueError):
                raise BadInputError(f"{path}: param {name}: {t} needs numeric low and high") from None
            if lo > hi:
                raise BadInputError(f"{path}: param {name}: low {lo:g} > high {hi:g}")
            step = float(d.get("step", 1 if t == "int" else 0) or 0)
            return Param(name, t, lo, hi, step, default=d.get("default", int(lo) if t == "int" else lo))
        raise BadInputError(f"{path}: param {name}: type {t!r} must be int, float or choice")

    def params(self) -> list[Param]:
        return self._params

    def to_spec(self, point: dict[str, Any]) -> ArchSpec | None:
        return None

    def _builder(self) -> Callable[..., Any]:
        mod_name, _, fn_name = self.builder_ref.partition(":")
        folder = str(self.path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            mod = importlib.import_module(mod_name)
        except Exception as e:
            raise BadInputError(
                f"{self.path}: cannot import builder module '{mod_name}': {type(e).__name__}: {e}"
            ) from None
        fn = getattr(mod, fn_name, None)
        if not callable(fn):
            raise BadInputError(f"{self.path}: builder '{self.builder_ref}': {mod_name} has no function {fn_name}")
        return fn  # type: ignore[no-any-return]

    def build(self, point: dict[str, Any], seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
        import torch

        p = self.check(point)
        fn = self._builder()
        torch.manual_seed(seed)
        try:
            module = fn(**p)
        except Exception as e:
            raise BadInputError(f"builder {self.builder_ref} raised {type(e).__name__} for {p}: {e}") from None
        if not isinstance(module, torch.nn.Module):
            raise BadInputError(f"builder {self.builder_ref} returned {type(module).__name__}, not an nn.Module")
        g = torch.Generator().manual_seed(seed)
        dt = getattr(torch, self.input_dtype)
        x = (
            torch.randn(self.input_shape, generator=g).to(dt)
            if dt.is_floating_point
            else torch.randint(0, 100, self.input_shape, generator=g).to(dt)
        )
        return module.eval(), (x,)


# ----------------------------------------------------------------------------- registry
SPACES: dict[str, Callable[..., Space]] = {
    "scaling": ScalingSpace,
    "blocks": BlocksSpace,
    "mobilegen": MobileGenSpace,
    "nasbench201": NasBench201Space,
}


def _mixed(**options: Any) -> Space:
    from xcelerator.models.mixed import MixedSpace  # its own file: the branch-and-concat families are torch code

    return MixedSpace(**options)


def _mixed_extra(**options: Any) -> Space:
    from xcelerator.models.mixed import EXTRA_FAMILIES, MixedSpace

    return MixedSpace(**{"families": list(EXTRA_FAMILIES), **options}, name="mixed_extra")


SPACES["mixed"] = _mixed
SPACES["mixed_extra"] = _mixed_extra


def list_spaces() -> list[str]:
    return [*SPACES, "user"]


def get_space(name: str, **options: Any) -> Space:
    """A space by name (``user:PATH.yaml`` or ``user`` with ``file=PATH`` for a designer's
    space); ``options`` go to its constructor (e.g. ``base``, ``macs_min``)."""
    if name.startswith("user:") or name == "user":
        path = name[5:] if name.startswith("user:") else options.pop("file", None)
        if not path:
            raise BadInputError("space user needs a YAML file: --space user:PATH.yaml")
        return UserSpace(path)
    if name not in SPACES:
        raise BadInputError(f"unknown space '{name}'; known: {', '.join(list_spaces())}")
    try:
        return SPACES[name](**options)
    except TypeError as e:
        raise BadInputError(f"space {name}: bad option ({e})") from None


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["base=resnet18", "macs_max=2e8"]`` → typed dict (YAML scalars)."""
    out: dict[str, Any] = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise BadInputError(f"space option {it!r}: expected KEY=VALUE")
        out[k.strip()] = parse_scalar(v)
    return out


def parse_scalar(v: str) -> Any:
    """'3' -> 3, '2e8' -> 2e8, 'true' -> True, else the YAML scalar."""
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return yaml.safe_load(v)
