"""Every registered runtime through the same checks (scikit-learn's estimator checks, timm's
registry tests): probes never raise, options are validated with the valid choices named, and each
runtime usable here profiles a small zoo model (converted for it when it runs its own format),
gives layer times when it has a profiler, and has a crash and a timeout contained as results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from xcelerator.errors import BadInputError
from xcelerator.measure.core import measure
from xcelerator.measure.session import artifact_for
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target, runtimes

ALL = sorted(runtimes())
USABLE = [n for n in ALL if runtimes()[n].probe()[0]]
MODEL = "mobilenet_v2_0.35_96"
PLAN = Plan(min_rounds=1, max_rounds=1, min_runs=10, min_seconds=0.1, max_seconds=0.5, warmup_runs=2, timeout=300)


def test_the_mobile_runtimes_are_registered_and_at_least_two_run_here() -> None:
    assert {"ncnn", "mnn", "executorch"} <= set(ALL)
    assert len({"ncnn", "mnn", "executorch"} & set(USABLE)) >= 2, {n: runtimes()[n].probe() for n in ALL}


@pytest.mark.parametrize("name", ALL)
def test_probe_never_raises(name: str) -> None:
    spec = runtimes()[name]
    for opts in ({}, {"device": "quantum", "provider": "abacus"}, {"threads": "-1"}):
        ok, detail = spec.probe(opts)
        assert isinstance(ok, bool) and detail


@pytest.mark.parametrize("name", ALL)
def test_options_are_validated_naming_the_valid_ones(name: str) -> None:
    spec = runtimes()[name]
    with pytest.raises(BadInputError) as e:
        parse_target(f"{name}?no_such_option=1")
    for k in spec.options:
        assert k in str(e.value)
    for k, o in spec.options.items():
        if o.choices:
            with pytest.raises(BadInputError, match="must be one of " + ", ".join(o.choices)):
                parse_target(f"{name}?{k}=not-a-choice")
            assert parse_target(f"{name}?{k}={o.choices[-1]}").opts[k] == o.choices[-1]
        if o.integer:
            with pytest.raises(BadInputError, match="non-negative integer"):
                parse_target(f"{name}?{k}=many")


@pytest.mark.parametrize("name", USABLE)
def test_profiles_a_small_model_with_layer_times_when_offered(name: str) -> None:
    target = parse_target(f"{name}?threads=1")
    art = artifact_for(MODEL, target)
    assert art.format in runtimes()[name].formats
    m = measure(art, target, PLAN.replace(layers=True))
    assert m.status == "ok", m.error
    assert m.stats is not None and 0 < m.stats.ci_low_ms <= m.stats.median_ms <= m.stats.ci_high_ms
    assert m.env["runtime"] == name and m.env["runtime_version"]
    if m.layers:
        total = sum(x.share for x in m.layers)
        # kernels cover most of the run and are not counted twice (that would give about 2); the
        # runtimes' own per-kernel clocks can add up to a little more than the wall time of the
        # same runs (microsecond rounding, a preemption inside a kernel), hence not <= 1
        assert 0.2 < total <= 1.5, total
        assert m.unattributed_share is not None and abs(m.unattributed_share - max(0.0, 1 - total)) < 1e-9
    else:
        assert m.layers_note, "a runtime without layer times says why"


@pytest.mark.parametrize("name", USABLE)
def test_a_crash_and_a_timeout_are_contained(name: str, tmp_path: Path) -> None:
    target = parse_target(f"{name}?threads=1")
    good = artifact_for(MODEL, target)
    junk = tmp_path / ("junk" + Path(good.path).suffix)
    junk.write_bytes(b"\x00garbage, not a model\xff" * 64)
    if junk.suffix == ".param":
        junk.with_suffix(".bin").write_bytes(b"\x00" * 64)
    bad = replace(good, path=str(junk), sha256="0" * 64)
    m = measure(bad, target, PLAN)
    assert m.status in ("failed", "crashed") and m.error and m.stats is None
    slow = measure(good, target, PLAN.replace(min_seconds=30.0, max_seconds=60.0, timeout=3.0))
    assert slow.status == "timeout" and "timeout of 3 s" in slow.error
