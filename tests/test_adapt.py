"""A new device from a few measurements: the shipped multi-runtime table (real measurements of
this project's machine), adapting to a runtime left out of it (measured here, for real), the
leave-one-runtime-out evaluation, and the commands. Nothing here asserts a timing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from xcelerator.cli.main import main
from xcelerator.costmodel import table as TB
from xcelerator.costmodel.adapt import ADAPT_MODES, adapt, corpus_network, leave_device_out, leave_runtime_out
from xcelerator.costmodel.characterize import CORPUS_PLAN
from xcelerator.costmodel.crossdevice import load_phone_dataset
from xcelerator.errors import BadInputError
from xcelerator.store.db import Store

# a short plan: these tests check what adapt does, not how well it times
QUICK = CORPUS_PLAN.replace(min_runs=5, min_seconds=0.02, max_seconds=0.5, min_rounds=2, max_rounds=2, profile_runs=3)


@pytest.fixture(scope="module")
def shipped() -> TB.SourceTable:
    return TB.shipped()


@pytest.fixture(scope="module")
def small(shipped: TB.SourceTable) -> TB.SourceTable:
    """The shipped table's first 40 complete corpus networks and its zoo rows (its columns that
    cover the table: those measured on a prefix of the corpus left out)."""
    full = shipped.widest()
    corpus = full.corpus_rows()[:40]
    outside = [i for i in range(len(full.names)) if i not in set(full.corpus_rows())]
    return full.take_rows(corpus + outside)


def test_shipped_table_is_whole_and_rebuilds(shipped: TB.SourceTable, tmp_path: Path) -> None:
    assert len(shipped.runtimes()) >= 3
    assert len(shipped.widest().corpus_rows()) >= 100
    for c in shipped.columns:  # every column says what it is
        assert c.runtime and c.runtime_version and c.machine and c.labels
    # a row is rebuilt from its corpus point on this machine: the same graph as the table's
    i = shipped.corpus_rows()[3]
    o = shipped.origins[i]
    art = corpus_network(o["space"], o["seed"], o["index"], root=tmp_path)
    assert art.name == shipped.names[i]
    assert art.stats.macs == shipped.stats[i].macs
    assert art.stats.node_count == shipped.stats[i].node_count
    # save and load keep every value
    p = shipped.take_rows(range(10)).save(tmp_path / "t.json.gz", with_layers=True)
    back = TB.SourceTable.load(p)
    assert back.names == shipped.names[:10]
    np.testing.assert_allclose(back.latency, shipped.latency[:10], rtol=1e-6)
    with pytest.raises(BadInputError, match="not a runtime of this table"):
        shipped.without(["nosuchruntime"])


def test_merged_replaces_a_column_and_joins_rows_by_name(shipped: TB.SourceTable) -> None:
    """Columns measured in a new store join the shipped ones: the same target is replaced, rows
    meet by network name, a network only the new part has is added."""
    t0, t1 = shipped.targets[:2]
    old = shipped.take_rows(range(20))
    new = shipped.take_rows([*range(10, 20), 30, 31]).ordered([t1])
    new = TB.SourceTable(new.names, new.origins, new.stats, new.columns, new.latency * 2.0, {})
    m = old.merged(new)
    assert m.targets == [t for t in old.targets if t != t1] + [t1]
    assert m.names == old.names + shipped.names[30:32]
    j = m.targets.index(t1)
    np.testing.assert_allclose(m.latency[10:20, j], shipped.latency[10:20, 1] * 2.0)
    assert np.isnan(m.latency[:10, j]).all()  # not in the new part: unmeasured there, not carried
    assert np.isnan(m.latency[20:, m.targets.index(t0)]).all()  # new rows: unmeasured on the old columns
    assert t1 not in m.layers and t0 in m.layers
    assert m.ordered(old.targets).targets == old.targets
    with pytest.raises(BadInputError, match="no column nosuch"):
        m.ordered(["nosuch"])


def test_outside_models_a_source_cannot_run_are_still_predicted_from_their_graphs(shipped: TB.SourceTable) -> None:
    """The real models ship as ONNX only, so LiteRT has no row for them: the cross-device route
    (which reads every source's latency of a model) cannot predict them, the predictor file can."""
    cols = ["onnxruntime?threads=1", "openvino?threads=1", "litert?threads=1"]
    t = shipped.ordered(cols)
    lite = t.targets.index("litert?threads=1")
    corpus = [i for i in t.corpus_rows() if np.isfinite(t.latency[i]).all()][:40]
    outside = [i for i in range(len(t.names)) if "space" not in t.origins[i]]
    gaps = [t.names[i] for i in outside if np.isnan(t.latency[i, lite])]
    assert gaps, "the shipped table has outside models LiteRT did not run"
    h = leave_runtime_out(
        t.take_rows(corpus + outside), sizes=(10,), columns=[cols[0]], modes=("neighbours", "blend"), distil_sizes=(10,)
    )[0]
    assert "litert" in {c.runtime for c in t.columns} and h.sources == 2
    assert not set(gaps) & set(h.outside_cross)  # no LiteRT latency: not through the sources
    assert set(gaps) <= set(h.outside_file)  # from the graph: predicted all the same
    assert set(h.outside_cross) < set(h.outside_file)
    assert all(np.isfinite(v) for v in h.outside_file.values())


def test_leave_one_runtime_out_scores_every_mode(small: TB.SourceTable) -> None:
    col = small.columns[0]
    res = leave_runtime_out(small, sizes=(10,), columns=[col.target], distil_sizes=(10,))
    assert len(res) == 1
    h = res[0]
    # every column of the held-out runtime left the sources
    assert h.sources == sum(1 for c in small.columns if c.runtime != col.runtime)
    assert "auto" in h.metrics and len(h.metrics) >= 4
    kept = h.kept
    assert h.metrics["auto"] == h.metrics[kept]
    # 30 corpus networks scored (40 less the 10 of the signature)
    assert all(m["n"] == 30 for m in h.metrics.values())
    # outside the corpus (zoo, real models): predicted both ways, never in a signature
    assert set(h.outside_cross) == set(h.outside_file) and h.outside_cross
    assert all(np.isfinite(v) for v in h.outside_file.values())
    # the cross-device route ranks the held-out runtime's networks as it measured them
    assert h.metrics["auto"]["spearman"] > 0.8


def test_columns_on_a_prefix_of_the_corpus(small: TB.SourceTable) -> None:
    """A column measured on fewer networks (a runtime added later, on a prefix of the corpus) is
    judged on the networks it has, with every column that has them as a source, and does not
    cut the other columns' evaluation (or a user's adapt sources) down to its networks."""
    short = small.columns[-1]
    lat = small.latency.copy()
    corpus = small.corpus_rows()
    lat[corpus[25:], -1] = np.nan  # the last column has 25 of the 40 corpus networks
    ragged = TB.SourceTable(small.names, small.origins, small.stats, small.columns, lat, small.layers)
    on_short = ragged.around(short.target)
    assert on_short.targets[-1] == short.target and len(on_short.corpus_rows()) == 25
    assert len(on_short.columns) == 1 + sum(c.runtime != short.runtime for c in small.columns)
    other = small.columns[0]
    on_other = ragged.around(other.target)
    assert short.target not in on_other.targets and len(on_other.corpus_rows()) == 40
    assert short.target not in ragged.widest().targets and len(ragged.widest().corpus_rows()) == 40
    res = leave_runtime_out(ragged, sizes=(10,), columns=[short.target, other.target], distil_sizes=())
    n = {h.column: h.metrics["auto"]["n"] for h in res}
    assert n == {short.target: 15, other.target: 30}
    assert {h.column: h.sources for h in res} == {
        short.target: len(on_short.columns) - 1,
        other.target: len(on_other.columns) - 1,
    }


def test_phones_through_the_same_code() -> None:
    lt = load_phone_dataset()
    res = leave_device_out(lt, [0], sizes=(10,), modes=("neighbours", "sources", "meta"))
    (h,) = res
    assert h.sources == sum(1 for g in lt.groups if g != lt.groups[0])
    assert set(h.metrics) == {"neighbours", "sources", "meta", "auto"}
    assert all(m["n"] == len(lt.networks) - 10 for m in h.metrics.values())


def test_adapt_to_a_runtime_left_out_measures_and_writes_a_predictor(small: TB.SourceTable, tmp_path: Path) -> None:
    # onnxruntime as the "new device": its columns are left out; 6 networks measured for real
    db = tmp_path / "a.db"
    store = Store(str(db))
    res = adapt(
        "onnxruntime?threads=1",
        budget=6,
        exclude=["onnxruntime"],
        table=small,
        store=store,
        plan=QUICK,
        modes=("neighbours", "sources", "kernel"),
    )
    assert not any(t.startswith("onnxruntime") for t in res.sources)
    assert len(res.signature) == 6 and set(res.signature) <= set(small.names)
    # the signature measurements are stored, each side by side with the table's reference
    rows = store.samples("onnxruntime?threads=1")
    assert {r["name"] for r in rows} >= set(res.signature)
    assert all((r["env"].get("reference") or {}).get("ratio") for r in rows)
    # the kept mode is the one with the smallest cross-validated error on the signature;
    # onnxruntime profiles per node, so the kernel-level mode was tried
    assert "kernel" in res.fits
    assert res.mode == min(res.fits, key=lambda k: res.fits[k]["cv_rms_log"])
    # the written predictor predicts any model from its graph, like any other predictor
    path = res.estimator.save(tmp_path / "p.json")
    doc = json.loads(path.read_text())
    assert doc["conditions"]["target"] == "onnxruntime?threads=1"
    assert doc["conditions"]["adapt"]["mode"] == res.mode
    assert main(["costmodel", "predict", "mobilenet_v2_0.5_160", "-p", str(path), "--json"]) == 0
    # and it ranks the table's other networks as the table's own onnxruntime column measured them
    full = small.complete()
    j = next(k for k, c in enumerate(full.columns) if c.target == "onnxruntime?threads=1")
    rest = [i for i in full.corpus_rows() if full.names[i] not in set(res.signature)]
    pred = res.estimator.predict([full.stats[i] for i in rest])
    assert spearmanr(pred, full.latency[rest, j]).statistic > 0.8


def test_commands_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costmodel", "sources", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["networks"] >= 100 and len(doc["columns"]) >= 3
    assert {c["runtime"] for c in doc["columns"]} == set(doc["runtimes"])
    db = tmp_path / "x.db"
    for args, msg in [
        (["--exclude", "nosuch"], "not a runtime of this table"),
        (["--budget", "2"], "--budget 2"),
        (["--modes", "magic"], "unknown mode"),
    ]:
        out = str(tmp_path / "p.json")
        rc = main(["--db", str(db), "costmodel", "adapt", "-t", "onnxruntime?threads=1", "-o", out, *args])
        assert rc == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    assert set(ADAPT_MODES) >= {"kernel", "meta", "sources", "stacked"}


def test_characterize_hands_runtimes_without_onnx_their_own_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyTorch, ExecuTorch and LiteRT take no ONNX: the corpus network is exported for them from
    the same seeded module (.pt2, lowered to .pte by ExecuTorch; .tflite), and each column's
    labels join the ONNX column's row by name, with the ONNX graph's statistics."""
    from xcelerator.costmodel.characterize import characterize, corpus
    from xcelerator.costmodel.samples import from_store

    monkeypatch.setenv("XCEL_CACHE", str(tmp_path / "cache"))
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    tgts = ["onnxruntime?threads=1", "torch?threads=1", "executorch?threads=1", "litert?threads=1"]
    # three rounds: the first of each model runs alone, the next two side by side with the reference
    plan = QUICK.replace(min_rounds=3, max_rounds=3)
    r = characterize("mixed_extra", 2, tgts, store, plan=plan, reference="mobilenet_v1_0.25_96")
    assert (r.measured, r.failed) == (8, 0), r
    # every pair was timed side by side with the reference (torch too: two adapters in a process)
    for _, m in store.measurements():
        assert m.env["reference"]["pairing"] == "one process", (m.target, m.env["reference"])
    onnx = corpus("mixed_extra", 2, root=tmp_path / "cache")
    by_target = {uri: from_store(store, uri) for uri in tgts}
    for uri, s in by_target.items():
        assert sorted(s.names) == sorted(a.name for a in onnx), uri
        assert all(np.isfinite(s.y_ms)) and all(y > 0 for y in s.y_ms)
    fmts = {
        m.target: next(a.format for a in store.artifacts() if a.sha256 == m.artifact_sha256)
        for _, m in store.measurements()
    }
    assert sorted(fmts.values()) == ["executorch", "onnx", "tflite", "torch"]
    # the graph statistics of every column are the ONNX file's
    macs = {a.name: a.stats.macs for a in onnx}
    for s in by_target.values():
        assert {n: st.macs for n, st in zip(s.names, s.stats, strict=True)} == macs
    tab = TB.from_store(store, tgts)
    assert tab.latency.shape == (2, 4) and np.isfinite(tab.latency).all()
    # a vendor binary that takes a format the corpus cannot make is refused with one line
    import yaml

    f = tmp_path / "xcel-targets.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "commands": {
                    "vendor": {"command": ["/bin/true", "{model}"], "parser": "benchmark_app", "format": "openvino"}
                }
            }
        )
    )
    monkeypatch.setenv("XCEL_TARGETS", str(f))
    n = store.count()
    with pytest.raises(BadInputError, match="a corpus is exported as onnx, torch, tflite; this target takes openvino"):
        characterize("mixed_extra", 2, ["cmd:vendor"], store)
    assert store.count() == n
