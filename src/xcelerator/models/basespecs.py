"""Named base specs that the ``scaling`` and ``blocks`` spaces vary around."""

from __future__ import annotations

from collections.abc import Callable

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import ArchSpec, BlockSpec, HeadSpec, InputSpec, StageSpec, StemSpec


def _mbv2_stages(first_stride: int) -> tuple[StageSpec, ...]:
    cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, first_stride),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    return tuple(
        StageSpec(tuple(BlockSpec("mbconv", c, 3, s if i == 0 else 1, float(t)) for i in range(n)))
        for t, c, n, s in cfg
    )


def mobilenet_v2(resolution: int = 224, classes: int = 1000) -> ArchSpec:
    return ArchSpec(
        "mobilenet_v2",
        InputSpec(resolution=resolution),
        StemSpec(32, 3, 2, "relu6"),
        _mbv2_stages(2),
        HeadSpec(1280, "relu6", classes),
    )


def mobilenet_v1(resolution: int = 224, classes: int = 1000) -> ArchSpec:
    cfg = [[(64, 1)], [(128, 2), (128, 1)], [(256, 2), (256, 1)], [(512, 2)] + [(512, 1)] * 5, [(1024, 2), (1024, 1)]]
    stages = tuple(StageSpec(tuple(BlockSpec("dwsep", c, 3, s, act="relu") for c, s in st)) for st in cfg)
    return ArchSpec(
        "mobilenet_v1",
        InputSpec(resolution=resolution),
        StemSpec(32, 3, 2, "relu"),
        stages,
        HeadSpec(0, "relu", classes),
    )


def resnet18(resolution: int = 224, classes: int = 1000) -> ArchSpec:
    stages = tuple(
        StageSpec((BlockSpec("basic", c, 3, 1 if i == 0 else 2, act="relu"), BlockSpec("basic", c, 3, 1, act="relu")))
        for i, c in enumerate((64, 128, 256, 512))
    )
    return ArchSpec(
        "resnet18", InputSpec(resolution=resolution), StemSpec(64, 3, 2, "relu"), stages, HeadSpec(0, "relu", classes)
    )


def mobilenet_v2_cifar(resolution: int = 32, classes: int = 10) -> ArchSpec:
    """MobileNet v2 for 32-px inputs (stride 1 stem, first strided stage kept at stride 1), the
    kind of network the aisys2021_AutoML seed scales on CIFAR-10."""
    return ArchSpec(
        "mobilenet_v2_cifar",
        InputSpec(resolution=resolution),
        StemSpec(32, 3, 1, "relu6"),
        _mbv2_stages(1),
        HeadSpec(1280, "relu6", classes),
    )


def tiny_convnet(resolution: int = 32, classes: int = 10) -> ArchSpec:
    """A small MBConv net (fast to build and train; tests and the demo use it)."""
    stages = (
        StageSpec((BlockSpec("mbconv", 16, 3, 1, 1.0), BlockSpec("mbconv", 16, 3, 1, 3.0))),
        StageSpec((BlockSpec("mbconv", 24, 3, 2, 3.0), BlockSpec("mbconv", 24, 3, 1, 3.0))),
        StageSpec((BlockSpec("mbconv", 32, 3, 2, 3.0), BlockSpec("mbconv", 32, 5, 1, 3.0, 0.25))),
    )
    return ArchSpec(
        "tiny_convnet",
        InputSpec(resolution=resolution),
        StemSpec(16, 3, 1, "relu6"),
        stages,
        HeadSpec(0, "relu6", classes),
    )


def digits_net(resolution: int = 32, classes: int = 10) -> ArchSpec:
    """The demo's "hand-tuned" model for 32-px digits: generous widths and expansions, as
    hand-tuned models tend to have, so there is speed to win without losing accuracy."""
    stages = (
        StageSpec((BlockSpec("mbconv", 32, 3, 1, 4.0), BlockSpec("mbconv", 32, 3, 1, 4.0))),
        StageSpec((BlockSpec("mbconv", 64, 3, 2, 4.0), BlockSpec("mbconv", 64, 3, 1, 4.0))),
        StageSpec((BlockSpec("mbconv", 96, 3, 2, 4.0), BlockSpec("mbconv", 96, 3, 1, 4.0))),
    )
    return ArchSpec(
        "digits_net",
        InputSpec(channels=1, resolution=resolution),
        StemSpec(32, 3, 1, "relu6"),
        stages,
        HeadSpec(256, "relu6", classes),
    )


BASES: dict[str, Callable[..., ArchSpec]] = {
    "digits_net": digits_net,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v1": mobilenet_v1,
    "resnet18": resnet18,
    "mobilenet_v2_cifar": mobilenet_v2_cifar,
    "tiny_convnet": tiny_convnet,
}


def base_spec(name: str) -> ArchSpec:
    if name not in BASES:
        raise BadInputError(f"unknown base spec '{name}'; known: {', '.join(BASES)}")
    return BASES[name]()
