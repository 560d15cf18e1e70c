"""Every space: sampled points build, export, run in ONNX Runtime with the output shape the spec
says, and their analytic MACs equal the ONNX graph's (property-based, hypothesis)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import describe
from xcelerator.models.artifact import load_artifact
from xcelerator.models.export import export_onnx
from xcelerator.models.spaces import NasBench201Space, Space, get_space, parse_options

USER_YAML = Path(__file__).parent / "fixtures" / "user_space" / "space.yaml"

# small variants keep the property tests fast; the defaults are exercised in test_space_defaults
SPACES = {
    "scaling": lambda: get_space("scaling", r_max=64, w_max=1.5),
    "blocks": lambda: get_space("blocks"),
    "mobilegen": lambda: get_space("mobilegen", macs_min=2e6, macs_max=3e7, resolution=64),
    "nasbench201": lambda: get_space("nasbench201", cells=1),
    "user": lambda: get_space(f"user:{USER_YAML}"),
}


def points(space: Space) -> st.SearchStrategy[dict]:
    """A hypothesis strategy over a space's grid."""
    ps = space.params()
    return st.fixed_dictionaries(
        {
            p.name: (
                st.sampled_from(p.choices)
                if p.kind == "choice"
                else st.integers(0, (p.count() or 1) - 1).map(
                    lambda k, p=p: int(p.low + k * p.step) if p.kind == "int" else round(p.low + k * p.step, 10)
                )
            )
            for p in ps
        }
    )


def check_point(space: Space, point: dict, tmp: Path) -> None:
    module, example = space.build(point)
    path = export_onnx(module, example, tmp / "m.onnx")
    art = load_artifact(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: example[0].numpy()})[0]
    spec = space.to_spec(space.check(point))
    if spec is not None:
        assert out.shape == spec.output_shape()
        assert art.stats is not None and art.stats.macs == describe(spec).macs
    else:
        with __import__("torch").inference_mode():
            assert out.shape == tuple(module(*example).shape)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", list(SPACES))
def test_sampled_points_build_export_run_and_count(name: str, tmp_path: Path) -> None:
    space = SPACES[name]()

    @settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(points(space))
    def prop(point: dict) -> None:
        if name == "blocks" and not any(v for k, v in point.items() if k.endswith(".keep")):
            # every removable block removed and the stride-2 ones kept: still a network
            pass
        check_point(space, point, tmp_path)

    prop()


@pytest.mark.parametrize("name", ["scaling", "mobilegen", "nasbench201"])
def test_space_defaults_build(name: str, tmp_path: Path) -> None:
    space = get_space(name)
    point = space.sample(random.Random(3))
    check_point(space, point, tmp_path)


def test_mobilegen_is_within_the_mac_range_and_reproducible() -> None:
    space = get_space("mobilegen")
    rng = random.Random(0)
    for _ in range(25):
        p = space.sample(rng)
        macs = describe(space.to_spec(p)).macs
        assert 40e6 <= macs <= 400e6
        assert space.to_spec(p) == space.to_spec(dict(p))
    assert get_space("mobilegen").to_spec({"index": 7}).hash == space.to_spec({"index": 7}).hash


def test_scaling_follows_the_seed() -> None:
    space = get_space("scaling")
    lo = space.check({"width": 0.1, "depth": 0.1, "resolution": 4})  # the seed's minimum point
    spec = space.to_spec(lo)
    assert spec.input.resolution == 4 and all(len(s.blocks) == 1 for s in spec.stages)
    base = space.to_spec(space.default_point())
    assert base.hash == space.base.hash
    bigger = space.to_spec({"width": 1.5, "depth": 1.0, "resolution": 32})
    assert describe(bigger).macs > describe(base).macs
    with pytest.raises(BadInputError, match=r"width=0.15 is not on the grid"):
        space.check({"width": 0.15, "depth": 1.0, "resolution": 32})
    with pytest.raises(BadInputError, match=r"resolution=1000 is outside 4..64"):
        space.check({"width": 1.0, "depth": 1.0, "resolution": 1000})


def test_blocks_space_default_is_the_base_and_removal_works() -> None:
    space = get_space("blocks")
    assert space.to_spec(space.default_point()).hash == space.base.hash
    p = space.default_point()
    removable = [k for k in p if k.endswith(".keep")]
    p[removable[0]] = False
    spec = space.to_spec(p)
    assert sum(len(s.blocks) for s in spec.stages) == sum(len(s.blocks) for s in space.base.stages) - 1


def test_nasbench201_strings_round_trip_for_all_15625_cells() -> None:
    space = NasBench201Space()
    seen = set()
    for point in space.enumerate():
        s = space.to_arch_string(point)
        assert space.from_arch_string(s) == point
        seen.add(s)
    assert len(seen) == 15625 == space.size()
    known = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert space.to_arch_string(space.from_arch_string(known)) == known


@pytest.mark.parametrize("bad", ["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|", "garbage"])
def test_bad_arch_strings(bad: str) -> None:
    with pytest.raises(BadInputError, match="arch string"):
        NasBench201Space.from_arch_string(bad)


def test_bad_spaces_and_points() -> None:
    with pytest.raises(BadInputError, match="unknown space 'nope'"):
        get_space("nope")
    with pytest.raises(BadInputError, match="bad option"):
        get_space("scaling", colour=1)
    with pytest.raises(BadInputError, match="unknown parameter"):
        get_space("nasbench201").check({"edge9": "none"})
    with pytest.raises(BadInputError, match="is not one of"):
        get_space("nasbench201").check({"edge0": "conv_9x9"})
    assert parse_options(["base=resnet18", "macs_max=2e8"]) == {"base": "resnet18", "macs_max": 2e8}


def test_user_space_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such space file"):
        get_space(f"user:{tmp_path / 'none.yaml'}")
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: [")
    with pytest.raises(BadInputError, match="not valid YAML"):
        get_space(f"user:{bad}")
    text = USER_YAML.read_text()
    p = tmp_path / "s.yaml"
    p.write_text(text.replace("tiny_user_models:build", "no_such_module:build"))
    (tmp_path / "tiny_user_models.py").write_text((USER_YAML.parent / "tiny_user_models.py").read_text())
    with pytest.raises(BadInputError, match="cannot import builder module 'no_such_module'"):
        get_space(f"user:{p}").build({})
    p.write_text(text.replace("tiny_user_models:build", "tiny_user_models:broken"))
    with pytest.raises(BadInputError, match="raised ValueError"):
        get_space(f"user:{p}").build({})
    p.write_text(text.replace("{type: int, low: 1, high: 3, default: 2}", "{type: int, low: 5, high: 3}"))
    with pytest.raises(BadInputError, match="low 5 > high 3"):
        get_space(f"user:{p}")


def test_scaling_grid_options() -> None:
    space = get_space(
        "scaling",
        base="digits_net",
        w_min=0.25,
        w_max=1.0,
        d_min=0.5,
        d_max=1.0,
        wd_step=0.25,
        r_min=8,
        r_max=32,
        r_step=8,
    )
    assert space.size() == 4 * 3 * 4
    assert space.params()[0].values() == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(BadInputError, match=r"must put 1\.0"):
        get_space("scaling", w_min=0.3, wd_step=0.25)
