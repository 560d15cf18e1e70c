"""Issue 18: the ``mixed`` corpus, ``characterize --strategy active`` and ``--latency
predicted|measured|hybrid`` in search, on real exports, real ONNX Runtime measurements and a real
fitted cost model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import one_line_error, xcel
from tests.test_search import FAST

SPACE_OPTS = ["--opt", "resolution=64", "--opt", "macs_min=3e6", "--opt", "macs_max=3e7"]
CHAR_FAST = ["--rounds", "1", "--min-time", "0.05", "--rel-ci", "0.1"]


def test_mixed_extra_families_are_what_their_names_say(tmp_path: Path) -> None:
    """``mixed_extra``: flat maps (a text line or a waveform), activations written out as
    elementwise nodes, elementwise-heavy blocks; ONNX Runtime agrees with torch on each, and
    ``mixed`` draws the same networks as before the extra families existed."""
    import onnxruntime as ort
    import torch

    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import export_onnx
    from xcelerator.models.mixed import EXTRA_FAMILIES, FAMILIES
    from xcelerator.models.spaces import get_space

    extra = get_space("mixed_extra")
    assert extra.name == "mixed_extra" and get_space("mixed").families == FAMILIES
    first: dict[str, list[int]] = {}
    for i in range(60):
        first.setdefault(extra.family({"index": i}), []).append(i)
    assert set(first) == set(EXTRA_FAMILIES)
    shapes = set()
    for fam, idx in sorted(first.items()):
        for i in idx[:2] if fam != "flat" else idx[:6]:
            module, example = extra.build({"index": i}, seed=1)
            with torch.no_grad():
                ref = module(*example)
            path = export_onnx(module, example, tmp_path / f"{fam}{i}.onnx")
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            (out,) = sess.run(None, {sess.get_inputs()[0].name: example[0].numpy()})
            np.testing.assert_allclose(out, ref.numpy(), rtol=1e-3, atol=1e-3, err_msg=f"{fam} {i}")
            ops = load_artifact(path).stats.op_histogram
            x = example[0]
            if fam == "flat":  # a wide text line (height 32-48) or a 1-D waveform
                shapes.add(x.dim())
                line = x.dim() == 4 and x.shape[2] in (32, 48) and x.shape[3] > x.shape[2]
                assert (x.dim() == 3 and x.shape[1] == 1) or line
            elif fam == "hswish":  # hard-swish / gates written out, no fused activation op
                assert ops.get("Clip", 0) + ops.get("Sigmoid", 0) + ops.get("Tanh", 0) >= 5, ops
                assert not {"HardSwish", "HardSigmoid", "Gelu"} & set(ops), ops
            else:  # eltwise: the layer norm written out
                assert ops.get("ReduceMean", 0) >= 2 and ops.get("Sqrt", 0) >= 1 and ops.get("Div", 0) >= 1, ops
    assert shapes == {3, 4}, "both kinds of flat network are drawn"


def test_mixed_space_builds_every_family_and_onnx_runtime_agrees(tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    from xcelerator.models.export import export_onnx
    from xcelerator.models.mixed import FAMILIES, MixedSpace
    from xcelerator.models.spaces import get_space

    space = get_space("mixed")
    assert isinstance(space, MixedSpace)
    first: dict[str, int] = {}
    for i in range(400):
        first.setdefault(space.family({"index": i}), i)
    assert set(first) == set(FAMILIES)
    for fam, i in sorted(first.items()):
        point = {"index": i}
        assert space.arch_id(point) == space.arch_id(dict(point))  # the same index, the same network
        module, example = space.build(point, seed=1)
        with torch.no_grad():
            ref = module(*example)
        refs = ref if isinstance(ref, tuple) else (ref,)
        path = export_onnx(module, example, tmp_path / f"{fam}.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {inp.name: x.numpy() for inp, x in zip(sess.get_inputs(), example, strict=True)}
        outs = sess.run(None, feeds)
        assert len(outs) == len(refs), fam
        for o, r in zip(outs, refs, strict=True):
            np.testing.assert_allclose(o, r.numpy(), rtol=1e-3, atol=1e-3, err_msg=fam)
        if fam == "detect":
            assert len(outs) == 4  # class and box maps at two scales
        if fam == "segment":
            assert outs[0].shape[-2:] == example[0].shape[-2:]  # per pixel, at input size
        if fam == "text":
            assert example[0].dtype == torch.int64
    # the smallest fire networks (64 px, 4 stages) pool a 1x1 map no further: they used to fail
    # to export in the middle of a 500-network corpus
    for i in range(2000):
        fam, k = space._draw(i)
        if fam == "fire" and k["res"] == 64:
            module, example = space.build({"index": i})
            if sum(type(x).__name__ == "_Fire" for x in module.modules()) == 8:
                with torch.no_grad():
                    assert module(*example).shape == (1, 1000)
                break
    else:
        pytest.fail("no 64 px fire network with 4 stages in the first 2000 indices")
    # a narrowed space draws only what it was given, and a wrong name is one clear error
    assert {get_space("mixed", families="fire,text").family({"index": i}) for i in range(30)} == {"fire", "text"}
    from xcelerator.errors import BadInputError

    with pytest.raises(BadInputError, match="unknown families"):
        get_space("mixed", families="lstm")


def test_characterize_with_a_reference_labels_each_network_on_its_scale(tmp_path: Path) -> None:
    """--reference: every network timed side by side with the reference; its label is the paired
    ratio times the reference's median over the corpus; the reference is never a sample."""
    import statistics

    from tests.conftest import make_conv_model
    from xcelerator.costmodel.samples import from_store, labels_of
    from xcelerator.store.db import Store

    ref = make_conv_model(tmp_path / "ref.onnx", cout=16, hw=32)
    args = ["--db", "r.db", "characterize", "--space", "mobilegen", *SPACE_OPTS, "-t", "onnxruntime?threads=1"]
    r = xcel(*args, "--count", "3", "--rounds", "3", "--min-time", "0.05", "--rel-ci", "0.1", "--reference",
             str(ref), "--json", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    store = Store(str(tmp_path / "r.db"))
    assert store.count() == 3  # the reference's measurements are not stored as samples
    rows = store.samples("onnxruntime?threads=1")
    infos = [row["env"]["reference"] for row in rows]
    assert all(x["name"] == "ref" and x["pairs"] == 2 and x["pairing"] == "one process" for x in infos)
    assert all(x["ratio_low"] <= x["ratio"] <= x["ratio_high"] and x["median_ms"] > 0 for x in infos)
    s = from_store(store, "onnxruntime?threads=1")
    typical = statistics.median(x["median_ms"] for x in infos)
    by_name = {row["name"]: x["ratio"] * typical for row, x in zip(rows, infos, strict=True)}
    assert dict(zip(s.names, s.y_ms.tolist(), strict=True)) == pytest.approx(by_name)
    assert s.conditions["labels_relative"] == 3 and s.conditions["labels_reference"] == "ref"
    # a measurement without the ratio keeps its own median; without any, labels are own medians
    plain = {**rows[0], "env": {}, "median_ms": 1.5}
    y, how = labels_of([*rows[1:], plain])
    assert y[-1] == 1.5 and how["labels_own_median"] == 1 and how["labels_relative"] == 2
    y, how = labels_of([plain])
    assert y.tolist() == [1.5] and how == {"labels": "own median"}


def test_characterize_goes_on_past_a_network_that_cannot_be_exported(tmp_path: Path) -> None:
    """A designer's space whose deeper points pool a 16 px input to nothing: those networks are
    reported with the exporter's cause and counted as failed (exit 1); the rest are measured."""
    (tmp_path / "pools.py").write_text(
        "import torch.nn as nn\n"
        "def build(depth):\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *[nn.MaxPool2d(2) for _ in range(depth)],\n"
        "                         nn.Flatten(), nn.Linear(8 * (16 >> depth) ** 2, 4))\n"
    )
    (tmp_path / "pools.yaml").write_text(
        "name: pools\nbuilder: pools:build\ninput: {shape: [1, 3, 16, 16]}\n"
        "params:\n  depth: {type: int, low: 1, high: 6}\n"
    )
    args = ["--db", "u.db", "characterize", "--space", "user:pools.yaml", "-t", "onnxruntime?threads=1"]
    r = xcel(*args, "--count", "6", *CHAR_FAST, "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["failed"] == 2 and len(doc["unbuilt"]) == 2  # depth 5 and 6: 16 px pooled below 1 px
    assert "could not be exported" in r.stderr and all(name in r.stderr for name in doc["unbuilt"])
    assert doc["measured"] == 4
    from xcelerator.store.db import Store

    assert Store(str(tmp_path / "u.db")).count() == 4


@pytest.mark.timeout(600)
def test_active_characterize_picks_beyond_the_random_prefix(tmp_path: Path) -> None:
    base = ["--db", "a.db", "characterize", "--space", "mobilegen", *SPACE_OPTS, "-t", "onnxruntime?threads=1"]
    r = xcel(
        *base,
        "--count",
        "20",
        "--strategy",
        "active",
        "--pool",
        "2",
        "--batch",
        "5",
        *CHAR_FAST,
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["strategy"] == "active" and doc["measured"] == 20 and doc["batches"] == [10, 5, 5]
    ids = [int(n.rsplit("/", 1)[1]) for n in doc["order"]]
    assert len(set(ids)) == 20 and ids[:10] == list(range(10))  # a random start: the corpus prefix
    assert max(ids) >= 20  # then picks from the whole pool of 40, not the next in line
    from xcelerator.store.db import Store

    assert Store(str(tmp_path / "a.db")).count() == 20
    r = xcel(*base, "--count", "20", "--strategy", "clever", cwd=tmp_path)
    assert r.returncode == 2 and "strategy 'clever'" in one_line_error(r)


@pytest.fixture(scope="module")
def scaling_cost_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GBM cost model of ONNX Runtime on 16 networks of the search test's space."""
    d = tmp_path_factory.mktemp("cm")
    opts = [a for a in FAST[FAST.index("-o") : FAST.index("--epochs")] if a != "-o"]
    args = ["--db", "cm.db", "characterize", "--space", "scaling", "--count", "16", "-t", "onnxruntime?threads=1"]
    for o in opts:
        args += ["--opt", o]
    r = xcel(*args, *CHAR_FAST, cwd=d)
    assert r.returncode == 0, r.stderr
    r = xcel(
        "--db", "cm.db", "costmodel", "fit", "-t", "onnxruntime?threads=1", "--kind", "gbm", "-o", "cm.json", cwd=d
    )
    assert r.returncode == 0, r.stderr
    return d / "cm.json"


@pytest.mark.timeout(900)
def test_hybrid_search_measures_the_front_and_predicts_the_rest(tmp_path: Path, scaling_cost_model: Path) -> None:
    r = xcel(
        "--db", "s.db", "search", *FAST, "--budget", "8", "--out", "o", "--seed", "1",
        "--cost-model", str(scaling_cost_model), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    lat = doc["latency"]
    done = [t for t in doc["trials"] if t["state"] == "COMPLETE"]
    assert lat["mode"] == "hybrid" and lat["measured"] + lat["predicted"] + lat["repeats"] == len(done)
    sources = {t["number"]: t["user_attrs"]["latency_source"] for t in done}
    assert set(sources.values()) <= {"measured", "predicted"}
    for t in done:  # a predicted trial says why it was not measured, and stored no measurement
        ua = t["user_attrs"]
        if ua["latency_source"] == "predicted":
            assert ua["latency_reason"] and "measurement_id" not in ua
        else:
            assert "measurement_id" in ua
    assert all(sources[n] == "measured" for n in doc["pareto"])  # the front carries measured latencies
    # a point deferred during the run and still on the front was measured at the end, once
    from xcelerator.nas.study import CONFIRMED, SETTLED

    firsts = [t["user_attrs"] for t in done if t["user_attrs"].get("repeat_of") is None]
    assert lat["confirmed"] == sum(ua.get("latency_reason") in (CONFIRMED, SETTLED) for ua in firsts)
    for t in done:
        ua = t["user_attrs"]
        if ua.get("latency_reason") in (CONFIRMED, SETTLED):
            lat_value = t["values"][[o["name"] for o in doc["objectives"]].index("latency")]
            assert ua["predicted_ms"] > 0 and lat_value == ua["values_all"]["latency"]
    from xcelerator.store.db import Store

    assert Store(str(tmp_path / "s.db")).count() == lat["measured"]


@pytest.mark.timeout(900)
def test_predicted_search_measures_nothing_and_bad_latency_input(tmp_path: Path, scaling_cost_model: Path) -> None:
    r = xcel(
        "--db", "p.db", "search", *FAST, "--budget", "3", "--out", "o", "--latency", "predicted",
        "--cost-model", str(scaling_cost_model), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["latency"]["measured"] == 0 and doc["latency"]["predicted"] == 3
    from xcelerator.store.db import Store

    assert Store(str(tmp_path / "p.db")).count() == 0
    r = xcel("--db", "p.db", "search", *FAST, "--budget", "3", "--study", "x", "--latency", "hybrid", cwd=tmp_path)
    assert r.returncode == 2 and "needs a cost model" in one_line_error(r)
    r = xcel("--db", "p.db", "search", *FAST, "--budget", "3", "--study", "y", "--latency", "guess",
             "--cost-model", str(scaling_cost_model), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "--latency 'guess'" in one_line_error(r)


def test_oracle_decisions_and_bias_from_the_runs_measurements(tmp_path: Path, scaling_cost_model: Path) -> None:
    from tests.conftest import make_conv_model
    from xcelerator.costmodel.model import CostModel
    from xcelerator.nas.hybrid import DEFERRED, FIRST, UNSETTLED, LatencyOracle

    cm = CostModel.load(scaling_cost_model)
    onnx = make_conv_model(tmp_path / "m.onnx", cout=16, hw=16)
    o = LatencyOracle("hybrid", cm)
    ms, lo, hi, raw = o.predict(onnx)
    assert lo < ms < hi and ms == pytest.approx(raw)
    # two measurements at twice the prediction: later predictions are shifted by that bias
    o.record(0.5, 2 * raw, True, raw)
    o.record(0.4, 2 * raw, True, raw)
    assert o.predict(onnx)[0] == pytest.approx(2 * raw) and o.summary()["bias"] == pytest.approx(2.0)
    # the first candidate (the baseline) is always measured
    d = LatencyOracle("hybrid", cm, bound=lo / 2).decide(onnx, 0.9)
    assert d.measure and d.reason == FIRST

    def after_baseline(bound: float, defer: bool = False) -> LatencyOracle:
        o = LatencyOracle("hybrid", cm, bound=bound, defer=defer)
        o.record(0.1, 1e6, True)  # a slow, inaccurate baseline
        return o

    # the latency constraint: an interval wholly above it is infeasible unmeasured; one across it
    # is measured at once, or (by default) left unsettled for the end of the run
    assert not after_baseline(lo / 2).decide(onnx, 0.9).measure
    d = after_baseline(ms).decide(onnx, 0.9)
    assert d.measure and "straddles" in d.reason
    d = after_baseline(ms, defer=True).decide(onnx, 0.9)
    assert not d.measure and d.reason.startswith(UNSETTLED) and "straddles" in d.reason
    # the front: dominated even at its low latency → not measured; more accurate than every point
    # → on the front whatever its latency, measured at the end only if still there; a point as
    # accurate whose latency lies inside the interval → undecided, measured now
    o4 = after_baseline(hi * 2)
    o4.record(0.95, lo / 2, True)
    d = o4.decide(onnx, 0.9)
    assert not d.measure and "dominated" in d.reason
    d = o4.decide(onnx, 0.99)
    assert not d.measure and d.reason == DEFERRED
    o4.record(0.97, ms, True)
    d = o4.decide(onnx, 0.96)
    assert d.measure and "may enter" in d.reason
    o4.defer = True
    d = o4.decide(onnx, 0.96)
    assert not d.measure and d.reason.startswith(UNSETTLED)
    # a point across the latency bound may be infeasible: it dominates nothing
    o8 = after_baseline(ms)
    o8.record(0.95, lo / 2, False, low_ms=lo / 4, high_ms=ms * 2)
    assert "dominated" not in o8.decide(onnx, 0.9).reason
    # a point over the latency bound never joins the front: it dominates nothing
    o7 = after_baseline(lo / 2)
    o7.record(0.95, lo, True)
    assert len(o7.front) == 0
    # a predicted front point dominates only at its pessimistic latency
    o6 = after_baseline(hi * 2)
    o6.record(0.95, lo / 2, False, low_ms=lo / 4, high_ms=hi)
    assert o6.decide(onnx, 0.9).measure
    # with more objectives than accuracy and latency the front rule is off
    o5 = LatencyOracle("hybrid", cm, bound=hi * 2, front_rule=False)
    o5.record(0.1, 1e6, True)
    o5.record(0.95, lo / 2, True)
    assert o5.decide(onnx, 0.9).measure


def test_unsettled_candidates_at_the_end_of_a_run(tmp_path: Path, scaling_cost_model: Path) -> None:
    """What is left to measure at the end: predicted candidates neither surely over the bound
    nor surely dominated, most accurate first; residuals relearned from the measured ones."""
    from tests.conftest import make_conv_model
    from xcelerator.costmodel.model import CostModel
    from xcelerator.nas.hybrid import Candidate, LatencyOracle

    cm = CostModel.load(scaling_cost_model)
    o = LatencyOracle("hybrid", cm, bound=10.0)
    measured = Candidate("m", 0.90, 2.0, 2.0, True)
    c_dominated = Candidate("d", 0.85, 2.5, 4.0, False)  # slower than m even at its low latency
    c_faster = Candidate("f", 0.85, 1.0, 3.0, False)  # may be faster than m
    c_better = Candidate("b", 0.95, 5.0, 8.0, False)  # more accurate than anything measured
    c_over = Candidate("o", 0.99, 11.0, 20.0, False)  # surely over the bound
    c_across = Candidate("a", 0.97, 6.0, 12.0, False)  # across the bound: may be infeasible
    c_under_across = Candidate("u", 0.96, 9.0, 9.5, False)  # dominated by nothing surely feasible
    left = o.unsettled([measured, c_dominated, c_faster, c_better, c_over, c_across, c_under_across])
    assert [c.key for c in left] == ["a", "u", "b", "f"]
    # once a measured point dominates them, nothing is left
    fast = Candidate("fast", 0.99, 0.5, 0.5, True)
    assert o.unsettled([fast, c_dominated, c_faster, c_better, c_across]) == []
    # relearning: two measurements at 3x the cost model's own prediction give a bias of 3
    onnx = make_conv_model(tmp_path / "m.onnx", cout=16, hw=16)
    raw = float(cm.predict(str(onnx))["latency_ms"])
    o.relearn([(onnx, 3 * raw), (onnx, 3 * raw)])
    assert o.summary()["bias"] == pytest.approx(3.0) and o.predict(onnx)[0] == pytest.approx(3 * raw)


def test_xc_search_and_pareto_stay_callable_after_their_packages_are_imported(tmp_path: Path) -> None:
    """``xc.search`` and ``xc.pareto`` are the plain functions of ``xcelerator.api`` whatever was
    imported before: their packages (``nas``, ``fronts``) no longer share their names (once they
    did, and importing ``xcelerator.search.problem`` replaced the function; found by
    benchmarks/hybrid.py)."""
    import subprocess
    import sys

    code = (
        "import xcelerator as xc\n"
        "import xcelerator.nas.problem, xcelerator.fronts.core\n"
        "from xcelerator.errors import BadInputError\n"
        "for call in (lambda: xc.search('scaling', budget=0, db=r'%s'), lambda: xc.pareto('no_such_model')):\n"
        "    try:\n"
        "        call()\n"
        "    except BadInputError as e:\n"
        "        print('bad input:', e)\n"
    ) % (tmp_path / "s.db")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("bad input:") for ln in lines), r.stdout


def test_a_network_the_converter_refuses_is_recorded_and_the_corpus_goes_on(tmp_path: Path, fast_plan) -> None:  # type: ignore[no-untyped-def]
    """ncnn's converter (pnnx) refuses silero-vad (a state, a scalar rate, an ``If``): measuring
    a corpus that holds it on ncnn records that network's failure with pnnx's words and
    measures the others; a second pass counts the failure as stored, not as work to redo."""
    from tests import realmodels
    from xcelerator.costmodel.characterize import CharacterizeResult, _measure_indices, _Run
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import resolve_model
    from xcelerator.store.db import Store
    from xcelerator.targets.registry import parse_target

    try:
        refused = load_artifact(realmodels.path("silero_vad"))
    except realmodels.Unreachable as e:
        pytest.skip(str(e))
    good = resolve_model("mobilenet_v2_0.35_96", "onnx")
    store = Store(str(tmp_path / "c.db"))
    t = parse_target("ncnn?threads=1")
    res = CharacterizeResult()

    def run(res: CharacterizeResult) -> _Run:
        return _Run([t], store, fast_plan, res, None, None, {}, lambda art, _: art)

    _measure_indices([0, 1], [refused, good], run(res), False)
    assert (res.measured, res.failed, res.skipped) == (2, 1, 0)
    [(_, bad)] = store.measurements(status="failed")
    assert bad.model == refused.name and "pnnx could not convert" in bad.error
    assert [r["name"] for r in store.samples(t.uri)] == [good.name]
    again = CharacterizeResult()
    _measure_indices([0, 1], [refused, good], run(again), True)
    assert (again.measured, again.failed, again.skipped) == (0, 0, 2)


def test_conversion_with_a_relative_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``XCEL_CACHE=.xcel/cache`` (relative, as the benchmarks set it): pnnx runs in its output
    directory, and handed relative paths it converted nothing, so every network of a corpus
    failed on ncnn. And the copy pnnx writes beside its input does not stay in the user's
    directory."""
    import shutil

    from xcelerator.measure.session import for_target
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import resolve_model
    from xcelerator.targets.registry import parse_target

    mine = tmp_path / "models"
    mine.mkdir()
    art = load_artifact(shutil.copy(resolve_model("mobilenet_v2_0.35_96", "onnx").path, mine))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XCEL_CACHE", "rel/cache")
    got = for_target(art, parse_target("ncnn?threads=1"))
    assert got.format == "ncnn" and Path(got.path).is_absolute() and Path(got.path).exists()
    assert Path(got.path).is_relative_to(tmp_path / "rel" / "cache")
    # and nothing of pnnx's is left beside the model it converted
    assert sorted(p.name for p in mine.iterdir()) == ["mobilenet_v2_0.35_96.onnx"]


def test_resize_mode_is_kept_and_old_statistics_are_brought_up_to_date(tmp_path: Path, fast_plan) -> None:  # type: ignore[no-untyped-def]
    """A detection head upsamples by nearest neighbour and a segmentation decoder bilinearly: the
    statistics keep each Resize's mode and the layer split gives it a column. Statistics stored
    before the mode was kept are brought up to date from the file (``Store.refresh_stats``,
    which ``characterize`` calls on the networks it loads), measurements untouched."""
    import dataclasses

    from xcelerator.costmodel.features import DETAIL_COLUMNS, KERNEL_COLUMNS, kernel_matrix
    from xcelerator.costmodel.samples import from_store
    from xcelerator.measure.core import measure
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import export_onnx
    from xcelerator.models.spaces import get_space
    from xcelerator.store.db import Store
    from xcelerator.targets.registry import parse_target

    arts = {}
    for fam in ("detect", "segment"):
        module, example = get_space("mixed", families=fam).build({"index": 0})
        arts[fam] = load_artifact(export_onnx(module, example, tmp_path / f"{fam}.onnx"))
    modes = {fam: {n.mode for n in a.stats.nodes if n.op_type == "Resize"} for fam, a in arts.items()}  # type: ignore[union-attr]
    assert modes == {"detect": {"nearest"}, "segment": {"linear"}}
    col = len(KERNEL_COLUMNS) + DETAIL_COLUMNS.index("resize_mode")
    seg = arts["segment"]
    assert seg.stats is not None
    mat, ks, _ = kernel_matrix(seg.stats, fuse=2)
    assert {mat[i, col] for i, k in enumerate(ks) if k.op_type == "Resize"} == {2.0}
    # stored as an older version would have: no mode
    old = dataclasses.replace(
        seg, stats=dataclasses.replace(seg.stats, nodes=tuple(dataclasses.replace(n, mode="") for n in seg.stats.nodes))
    )
    store = Store(str(tmp_path / "s.db"))
    t = parse_target("onnxruntime?threads=1")
    store.add(measure(old, t, fast_plan.replace(layers=True)), old, t)
    before = from_store(store, t.uri)
    assert not any(n.mode for n in before.stats[0].nodes)
    assert store.refresh_stats([seg]) == 1 and store.refresh_stats([seg]) == 0
    after = from_store(store, t.uri)
    assert {n.mode for n in after.stats[0].nodes if n.op_type == "Resize"} == {"linear"}
    assert after.y_ms[0] == before.y_ms[0] and store.count() == 1
