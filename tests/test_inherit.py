from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from xcelerator.models.basespecs import base_spec
from xcelerator.models.builder import MBConv, build, example_inputs
from xcelerator.models.spaces import get_space
from xcelerator.train.datasets import load_dataset
from xcelerator.train.inherit import _sort_hidden, inherit
from xcelerator.train.trainer import evaluate, train


def _spec(name: str = "tiny_convnet"):  # type: ignore[no-untyped-def]
    s = base_spec(name)
    return replace(s, input=replace(s.input, channels=1, resolution=16))


def _perturb_bn(m: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)


def test_sorting_hidden_channels_keeps_the_function() -> None:
    spec = _spec()
    m = build(spec)
    _perturb_bn(m)
    x = example_inputs(spec)[0]
    with torch.inference_mode():
        before = m(x).clone()
    for blk in m.modules():
        if isinstance(blk, MBConv):
            _sort_hidden(blk)
    with torch.inference_mode():
        assert torch.allclose(m(x), before, atol=1e-5)


def test_inheriting_into_the_same_architecture_copies_the_network() -> None:
    spec = _spec()
    parent, child = build(spec, seed=0), build(spec, seed=1)
    _perturb_bn(parent)
    rep = inherit(parent, spec, child, spec)
    x = example_inputs(spec)[0]
    with torch.inference_mode():
        assert torch.allclose(child(x), parent(x), atol=1e-5)
    assert rep.tensors > 0


@pytest.mark.slow  # about 100 s for both points: trains several networks to compare learning curves
@pytest.mark.parametrize(
    "point", [{"width": 0.7, "depth": 1.0, "resolution": 16}, {"width": 1.0, "depth": 0.5, "resolution": 16}]
)
def test_a_smaller_child_recovers_accuracy_faster_than_from_scratch(point: dict) -> None:
    data = load_dataset("digits").resized(16)
    space = get_space("scaling", base="tiny_convnet", r_min=8, r_max=32, r_step=8)
    pspec = replace(space.to_spec(space.default_point()), input=replace(space.base.input, channels=1, resolution=16))
    parent = build(pspec)
    assert train(parent, data, epochs=3, seed=0).accuracy > 0.9
    cspec = space.to_spec(point)
    cspec = replace(cspec, input=replace(cspec.input, channels=1))
    child = build(cspec, seed=1)
    inherit(parent, pspec, child, cspec)
    inherited_now = evaluate(child, data.x_val, data.y_val)
    scratch = build(cspec, seed=1)
    assert inherited_now > evaluate(scratch, data.x_val, data.y_val)
    tuned = train(child, data, epochs=1, seed=0).accuracy
    from_scratch = train(scratch, data, epochs=1, seed=0).accuracy
    assert tuned >= from_scratch
