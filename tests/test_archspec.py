from __future__ import annotations

import json

import pytest

from xcelerator.errors import BadInputError
from xcelerator.models.archspec import ArchSpec, BlockSpec, HeadSpec, InputSpec, StageSpec, StemSpec, describe
from xcelerator.models.basespecs import BASES, base_spec
from xcelerator.models.builder import build, example_inputs


def _spec(**block: object) -> dict:
    b = {"type": "mbconv", "out": 16, "kernel": 3, "stride": 1, "expansion": 1.0}
    blocks = [dict(b) for _ in range(3)]
    blocks[1].update(block)
    return {
        "name": "t",
        "input": {"resolution": 32},
        "stem": {"out": 16},
        "stages": [{"blocks": [b]}] * 2 + [{"blocks": blocks}],
        "head": {"classes": 10},
    }


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"kernel": 4}, "stage 3 block 2: kernel 4 must be odd"),
        ({"stride": 3}, "stage 3 block 2: stride 3 must be 1 or 2"),
        ({"type": "lstm"}, "stage 3 block 2: type 'lstm' must be one of"),
        ({"act": "tanhh"}, "stage 3 block 2: act 'tanhh' must be one of"),
        ({"expansion": 0.5}, "stage 3 block 2: expansion 0.5 must be >= 1"),
        ({"se": 1.5}, "stage 3 block 2: se 1.5 must be in [0, 1)"),
        ({"type": "transformer", "heads": 3}, "stage 3 block 2: heads 3 must be >= 1 and divide out 16"),
        ({"type": "nb201_cell", "ops": ["none"] * 5}, "stage 3 block 2: ops must be 6 of"),
        ({"colour": "red"}, "stage 3 block 2: unknown field(s) ['colour']"),
    ],
)
def test_validation_names_the_bad_field(block: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        ArchSpec.from_dict(_spec(**block))


def test_spec_json_round_trip_and_hash() -> None:
    s = base_spec("mobilenet_v2")
    again = ArchSpec.from_json(s.to_json())
    assert again == s and again.hash == s.hash
    other = ArchSpec.from_dict({**s.to_dict(), "name": "renamed"})
    assert other.hash == s.hash  # the name is not part of the architecture
    with pytest.raises(BadInputError, match="not valid JSON"):
        ArchSpec.from_json("{")
    with pytest.raises(BadInputError, match="missing field 'stages'"):
        ArchSpec.from_dict({"input": {}, "stem": {}})


def test_mobilenet_v2_spec_matches_published_counts() -> None:
    d = describe(base_spec("mobilenet_v2"))
    assert d.macs / 1e6 == pytest.approx(300, rel=0.02)
    m = build(base_spec("mobilenet_v2"))
    assert d.params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", list(BASES))
def test_analytic_params_equal_torch_params(name: str) -> None:
    spec = base_spec(name).with_resolution(32)
    assert describe(spec).params == sum(p.numel() for p in build(spec).parameters())


def test_every_block_type_builds_and_counts_like_onnx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import onnxruntime as ort

    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import export_onnx

    ops = ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1", "nor_conv_3x3")
    blocks = (
        BlockSpec("conv", 16, 3, 1, act="hswish"),
        BlockSpec("dwsep", 24, 5, 2, act="relu"),
        BlockSpec("mbconv", 24, 3, 1, 4.0, 0.25, "swish"),
        BlockSpec("fused_mbconv", 32, 3, 2, 4.0, 0.25),
        BlockSpec("fused_mbconv", 32, 3, 1, 1.0),
        BlockSpec("basic", 48, 3, 2, act="relu"),
        BlockSpec("bottleneck", 64, 3, 1, 4.0, act="relu"),
        BlockSpec("transformer", 64, heads=4, expansion=2.0, act="gelu"),
        BlockSpec("nb201_cell", 64, ops=ops),
    )
    spec = ArchSpec("all", InputSpec(resolution=32), StemSpec(16), (StageSpec(blocks),), HeadSpec(96, classes=7))
    text = ArchSpec(
        "txt",
        InputSpec("text", seq_len=16, vocab=500),
        StemSpec(32),
        (StageSpec((BlockSpec("transformer", 32, heads=2, expansion=4.0, act="gelu"),) * 2),),
        HeadSpec(16, "gelu", classes=3),
    )
    for sp in (spec, text):
        m = build(sp)
        x = example_inputs(sp)
        p = export_onnx(m, x, tmp_path / f"{sp.name}.onnx")
        a = load_artifact(p)
        assert a.stats is not None and a.stats.macs == describe(sp).macs
        out = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x[0].numpy()})[0]
        assert out.shape == sp.output_shape() and np.isfinite(out).all()


def test_spec_files_are_json_serialisable() -> None:
    for name in BASES:
        assert json.loads(base_spec(name).to_json())["name"] == name
