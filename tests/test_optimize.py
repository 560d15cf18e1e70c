"""xc.optimize and xcel optimize: the user's own network, training and evaluation.

Pruning is checked on networks with residual adds, concatenations, depthwise convolutions and
a transformer block: the pruned network runs, exports, and its MACs (from the exported ONNX
graph) agree with torch-pruning's own count and fall as channels go. The end-to-end tests run
the example in ``examples/digits_resnet.py`` (a residual CNN with its own training loop on
scikit-learn's digits) through the API and the command line on ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

from tests.test_cli import xcel
from xcelerator.compress.evaluator import ConstraintHalvingPruner, rungs
from xcelerator.compress.prune import PruneSpace
from xcelerator.errors import BadInputError
from xcelerator.rounds.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits_resnet.py"
FAST = Plan(min_rounds=2, max_rounds=2, min_seconds=0.05, max_seconds=0.2, warmup_runs=2, timeout=60)


class Basic(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class ConvMix(nn.Module):
    """Residual adds, a depthwise-separable pair and a two-branch concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = nn.Sequential(Basic(16), Basic(16))
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 32, 1)
        self.a = nn.Conv2d(32, 16, 1)
        self.b = nn.Conv2d(32, 16, 3, padding=1)
        self.layer2 = nn.Sequential(Basic(32), Basic(32))
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(self.stem(x))
        x = torch.relu(self.pw(self.dw(self.down(x))))
        x = torch.cat([self.a(x), self.b(x)], 1)
        return self.fc(self.layer2(x).mean((2, 3)))


class EncoderLayer(nn.Module):
    def __init__(self, d: int = 32, heads: int = 4, hidden: int = 64) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class TinyViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, 32, 4, stride=4)
        self.blocks = nn.ModuleList([EncoderLayer(), EncoderLayer()])
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(1))


class HFLogits(nn.Module):
    """A Hugging Face image classifier as a plain module: pixels in, logits out."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(pixel_values=x).logits


def _onnx_macs(module: nn.Module, example: torch.Tensor, path: Path) -> int:
    from xcelerator.models.artifact import load_artifact
    from xcelerator.models.export import export_onnx

    export_onnx(module.eval(), (example,), path)
    art = load_artifact(path)
    assert art.stats is not None
    return int(art.stats.macs)


@pytest.mark.parametrize(
    "make,shape,at_most",
    # ConvMix: every group halved; TinyViT: only the MLP hidden layers (the embedding is tied to attention)
    [(ConvMix, (1, 3, 32, 32), 0.6), (TinyViT, (1, 1, 32, 32), 0.9)],
)
def test_pruned_network_runs_exports_and_its_macs_match_the_graph(make, shape, at_most, tmp_path: Path) -> None:
    import torch_pruning as tp

    torch.manual_seed(0)
    net, x = make().eval(), torch.randn(*shape)
    space = PruneSpace(net, x)
    assert space.groups, space.describe()
    names = [p.name for p in space.params()]
    assert len(set(names)) == len(names)
    base_macs = _onnx_macs(net, x, tmp_path / "base.onnx")
    point = {**space.default_point(), **{f"ratio:{g.name}": 0.5 for g in space.groups}}
    pruned = space.apply(point)
    with torch.no_grad():
        assert pruned(x).shape == net(x).shape
    macs = _onnx_macs(pruned, x, tmp_path / "pruned.onnx")
    tp_macs, _ = tp.utils.count_ops_and_params(pruned, x)
    assert macs < at_most * base_macs
    # two independent counters (our ONNX graph statistics, torch-pruning's module hooks) agree
    assert abs(macs - tp_macs) / tp_macs < 0.1, (macs, tp_macs)
    # the original network is untouched
    assert _onnx_macs(net, x, tmp_path / "again.onnx") == base_macs


def test_space_finds_coupled_groups_blocks_and_resolutions() -> None:
    net, x = ConvMix().eval(), torch.randn(1, 3, 32, 32)
    space = PruneSpace(net, x)
    d = space.describe()
    # the residual stream of layer1 (stem + both blocks' second convs) is one group, not three
    roots = [r for g in d["groups"] for r in g["roots"]]
    assert not {"layer1.0.c2", "layer1.1.c2"} <= set(roots)
    assert d["blocks"] == ["layer1.0", "layer1.1", "layer2.0", "layer2.1"]
    assert d["resolutions"][0] == 32 and len(d["resolutions"]) > 1
    # dropping a block and resizing: still takes the user's input and gives the same outputs
    pt = {**space.default_point(), "drop:layer1.0": 1, "resolution": d["resolutions"][-1]}
    m = space.apply(pt)
    assert not any(n.startswith("layer1.0.") for n, _ in m.named_modules() if "inner" not in n)
    with torch.no_grad():
        assert m(x).shape == (1, 10)
    # the classifier is never pruned
    assert all("fc" not in r for r in roots)


def test_many_groups_share_ratios_stage_by_stage() -> None:
    net, x = ConvMix().eval(), torch.randn(1, 3, 32, 32)
    space = PruneSpace(net, x, max_groups=2, blocks=False)
    assert len(space.groups) == 2
    assert sum(len(g.roots) for g in space.groups) >= 4


def test_transformer_mlp_is_pruned_attention_is_not() -> None:
    net, x = TinyViT().eval(), torch.randn(1, 1, 32, 32)
    space = PruneSpace(net, x)
    m = space.apply({**space.default_point(), **{f"ratio:{g.name}": 0.5 for g in space.groups}})
    hidden = [b.mlp[0].out_features for b in m.blocks]
    assert hidden == [32, 32]
    assert all(b.attn.embed_dim == net.blocks[0].attn.embed_dim for b in m.blocks)


def test_unprunable_or_broken_models_are_one_clear_error() -> None:
    with pytest.raises(BadInputError, match="does not run on the example inputs"):
        PruneSpace(ConvMix(), torch.randn(1, 1, 32, 32))
    with pytest.raises(BadInputError, match=r"torch\.nn\.Module"):
        PruneSpace(lambda x: x, torch.randn(1, 3, 8, 8))  # type: ignore[arg-type]


def test_settings_are_one_config_checked_on_entry(tmp_path: Path) -> None:
    """``xc.optimize``'s settings are ``OptimizeConfig``'s fields: a config object, keywords
    replacing its fields, every one checked before any work (nothing is trained or written)."""
    import xcelerator as xc

    net, x = ConvMix(), torch.randn(1, 1, 32, 32)

    def never(*_: object) -> float:
        raise AssertionError("a bad setting must be refused before the model is touched")

    kw = {"train": never, "evaluate": never, "out": tmp_path / "o"}
    with pytest.raises(BadInputError, match=r"unknown setting\(s\) \['budgett'\]; valid: .*'budget'"):
        xc.optimize(net, x, budgett=3, **kw)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="the setting 'budget' must be a number >= 1; got 0"):
        xc.optimize(net, x, config=xc.OptimizeConfig(budget=4), budget=0, **kw)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="the setting 'latency' must be one of"):
        xc.optimize(net, x, config=xc.OptimizeConfig(latency="guessed"), **kw)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match=r"holdout must be FILE\.py:FUNCTION or a function .* not float"):
        xc.optimize(net, x, holdout=0.9, **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()
    cfg = xc.OptimizeConfig(budget=4, precision=["fp32", "int8"])
    assert cfg.updated({"budget": 6}).budget == 6 and cfg.budget == 4  # a copy: the config is not changed


def test_rungs_and_the_constraint_aware_halving_pruner() -> None:
    assert rungs(1) == [1] and rungs(3) == [1, 2, 3] and rungs(8) == [1, 2, 4, 8]
    study = optuna.create_study(direction="maximize", pruner=ConstraintHalvingPruner(bound=0.9))
    # finished candidates: 0.80 after one epoch went on to 0.95 (a gain of 0.15)
    for a1 in (0.80, 0.85, 0.86):
        study.add_trial(
            optuna.trial.create_trial(
                value=a1 + 0.15, intermediate_values={1: a1}, state=optuna.trial.TrialState.COMPLETE
            )
        )
    low = study.ask()
    low.report(0.60, 1)  # worst at its rung and 0.60 + 0.15 < 0.9: stopped
    assert low.should_prune()
    study.tell(low, state=optuna.trial.TrialState.PRUNED)
    hope = study.ask()
    hope.report(0.79, 1)  # worst at its rung too, but 0.79 + 0.15 >= 0.9: goes on
    assert not hope.should_prune()


def _example():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import digits_resnet
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    return digits_resnet


def test_optimize_api_on_the_users_own_model(tmp_path: Path) -> None:
    import xcelerator as xc

    d = _example()
    net = d.build()
    res = xc.optimize(
        net,
        d.example_inputs(),
        train=d.train,
        evaluate=d.evaluate,
        budget=4,
        epochs=1,
        strategy="random",
        out=tmp_path / "o",
        plan=FAST,
        confirm=FAST,
        seed=3,
        holdout=lambda m: d.accuracy(m, "test"),
    )
    assert res.baseline.trial == 0 and res.baseline.point == PruneSpace(net, d.example_inputs()).default_point()
    assert res.baseline.latency_ms and res.baseline.accuracy == pytest.approx(d.evaluate(net))
    assert len(res.trials) == 4 and res.study.study_name == "optimize-random-s3"
    done = [c for c in res.trials if c.state == "COMPLETE"]
    for c in done:
        assert c.latency_ci and c.latency_ci[0] <= c.latency_ms <= c.latency_ci[1]
        assert c.macs and c.params and Path(c.onnx).exists()
    if res.best is not None:
        assert res.best.feasible and res.best.accuracy >= res.baseline.accuracy - 0.005 - 1e-9
        m = res.best.module  # the fine-tuned weights come back
        assert d.evaluate(m) == pytest.approx(res.best.accuracy, abs=1e-6)
        assert res.best in res.pareto
    doc = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert {"baseline", "best", "trials", "pareto", "speedup", "saved", "space", "holdout"} <= set(doc)
    # the held-out check: the shipped files scored on the test split, which the search never saw
    # (judged here with onnxruntime directly)
    h = res.holdout
    assert h is not None and h["scored"] == "deployed"
    assert h["baseline"] == pytest.approx(_test_accuracy(d, res.baseline.artifact), abs=1e-6)
    if res.best is not None and res.best.trial != res.baseline.trial:
        assert h["best"] == pytest.approx(_test_accuracy(d, res.best.artifact), abs=1e-6)
        assert h["drop"] == pytest.approx(h["baseline"] - h["best"])
        assert h["bound"] == pytest.approx(h["baseline"] - 0.005) and h["meets"] == (h["best"] >= h["bound"])
        assert res.speedup is not None
        assert (
            res.speedup["reference"] == f"trial {res.baseline.trial}"
            and res.speedup["model"] == f"trial {res.best.trial}"
        )


def _test_accuracy(d: object, onnx_file: str | None) -> float:
    import numpy as np
    import onnxruntime as ort

    assert onnx_file and onnx_file.endswith(".onnx")
    x, y = d.splits()["test"]  # type: ignore[attr-defined]
    s = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    pred = np.concatenate([s.run(None, {name: x[i : i + 1].numpy()})[0].argmax(1) for i in range(len(x))])
    return float((pred == y.numpy()).mean())


def test_xcel_optimize_end_to_end_resume_and_outputs(tmp_path: Path) -> None:
    cfg = tmp_path / "opt.yaml"
    cfg.write_text(
        f"model: {EXAMPLE}:build\ntrain: {EXAMPLE}:train\nevaluate: {EXAMPLE}:evaluate\n"
        "budget: 3\nepochs: 1\nstrategy: tpe\nconfirm: false\nconstraints: ['accuracy>=baseline-0.02']\n"
        f"holdout: {EXAMPLE}:evaluate\n"
    )
    r = xcel("--db", "x.db", "optimize", "--config", str(cfg), "--out", "out", "--json", cwd=tmp_path, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["trials"]) == 3 and doc["trials"][0]["trial"] == 0
    # the held-out function here is evaluate itself: it must give the scores the search recorded
    assert doc["holdout"]["baseline"] == pytest.approx(doc["baseline"]["accuracy"])
    if doc["best"] is not None and doc["best"]["trial"] != 0:
        assert doc["holdout"]["best"] == pytest.approx(doc["best"]["accuracy"])
    assert (tmp_path / "out" / "optimize.json").exists() and (tmp_path / "out" / "report.html").exists()
    if doc["best"] is not None:
        assert r.returncode == 0
        assert (tmp_path / "out" / "best.onnx").exists() and (tmp_path / "out" / "best.pt").exists()
    # --resume continues the same study up to the new budget; trial 0 stays the baseline
    r2 = xcel(
        "--db", "x.db", "optimize", "--config", str(cfg), "--budget", "5", "--resume", "--out", "out", "--json",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert r2.returncode in (0, 1), r2.stderr
    doc2 = json.loads(r2.stdout)
    assert len(doc2["trials"]) == 5
    assert doc2["baseline"]["accuracy"] == doc["baseline"]["accuracy"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "accuracy against measured latency" in html and "accuracy against MACs" in html


def test_xcel_optimize_resumes_after_kill_9(tmp_path: Path) -> None:
    args = [
        sys.executable, "-m", "xcelerator.cli.main", "--db", "k.db", "optimize",
        "--model", f"{EXAMPLE}:build", "--train", f"{EXAMPLE}:train", "--evaluate", f"{EXAMPLE}:evaluate",
        "--budget", "4", "--epochs", "1", "--study", "k", "--out", "out", "--no-confirm",
    ]  # fmt: skip
    env = {**os.environ, "XCEL_NO_PROGRESS": "1"}
    p = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    finished = 0
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.5)
        if (tmp_path / "k.db").exists():
            try:
                with sqlite3.connect(tmp_path / "k.db") as c:
                    finished = c.execute(
                        "SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL')"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if finished >= 2:
                break
    assert p.poll() is None, "the run ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    r = xcel("--db", "k.db", "optimize", *args[6:], "--resume", "--json", cwd=tmp_path, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    states = [t["state"] for t in doc["trials"]]
    assert len(states) == 4 and states[0] == "COMPLETE"
    assert "RUNNING" not in states


def _user_file(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "user.py"
    f.write_text(f"import sys\nsys.path.insert(0, {str(EXAMPLE.parent)!r})\nimport digits_resnet as d\n{body}\n")
    return f


@pytest.mark.parametrize(
    "body,flags,message",
    [
        ("", ["--model", "nope.py:build"], "no such file"),
        ("", ["--shape", "1,3,8,8"], "does not run on the example inputs (1, 3, 8, 8)"),
        ("raise ImportError('no module named foo')", ["--model", "USER:build"], "importing"),
        ("def build():\n    return 3", ["--model", "USER:build"], "not a torch.nn.Module"),
        ("def ev(m):\n    return 'good'", ["--evaluate", "USER:ev"], "must return a finite number"),
        (
            "import torch\nclass Z(torch.nn.Module):\n"
            "    def forward(self, x):\n        return torch.special.zeta(x, x)\n"
            "class N(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.conv = torch.nn.Conv2d(1, 4, 3)\n        self.odd = Z()\n"
            "    def forward(self, x):\n        return self.odd(self.conv(x)).mean((2, 3))\n"
            "def build():\n    return N()",
            ["--model", "USER:build", "--shape", "1,1,8,8"],
            "cannot be exported to ONNX: layer 'odd' (Z): operator",
        ),
    ],
)
def test_bad_user_code_is_one_line_exit_2_nothing_stored(
    tmp_path: Path, body: str, flags: list[str], message: str
) -> None:
    f = _user_file(tmp_path, body)
    base = {"--model": f"{EXAMPLE}:build", "--train": f"{EXAMPLE}:train", "--evaluate": f"{EXAMPLE}:evaluate"}
    given = dict(zip(flags[::2], flags[1::2], strict=True))
    merged = {**base, **{k: v.replace("USER", str(f)) for k, v in given.items()}}
    args = [x for kv in merged.items() for x in kv]
    r = xcel("--db", "b.db", "optimize", *args, "--budget", "2", "--out", "out", cwd=tmp_path, timeout=300)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert len([ln for ln in r.stderr.strip().splitlines() if ln.strip()]) == 1, r.stderr
    if (tmp_path / "b.db").exists():
        with sqlite3.connect(tmp_path / "b.db") as c:
            tables = {t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "studies" in tables:
                assert c.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 0


def test_a_train_that_raises_fails_that_trial_and_the_study_goes_on(tmp_path: Path) -> None:
    import xcelerator as xc

    d = _example()
    calls = {"n": 0}

    def train(m: nn.Module, epochs: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise MemoryError("CUDA out of memory (simulated by the user's train)")
        d.train(m, epochs)

    res = xc.optimize(
        d.build(), d.example_inputs(), train=train, evaluate=d.evaluate, budget=3, epochs=1,
        strategy="random", out=tmp_path / "o", plan=FAST, confirm=False, early_stop=False,
    )  # fmt: skip
    states = [c.state for c in res.trials]
    assert states[0] == "COMPLETE" and states[1] == "FAIL" and states[2] == "COMPLETE"
    assert "out of memory" in (res.trials[1].error or "")


def test_dqn_strategy_saves_its_policy_and_a_later_run_starts_from_it(tmp_path: Path) -> None:
    import xcelerator as xc
    from xcelerator.compress.policy import load_policy
    from xcelerator.nas.rl import DQNSampler

    d = _example()
    net = d.build()
    pol = tmp_path / "policy.pt"
    kw = dict(train=d.train, evaluate=d.evaluate, budget=3, epochs=1, strategy="dqn", plan=FAST, confirm=False)
    xc.optimize(net, d.example_inputs(), out=tmp_path / "a", policy=pol, **kw)
    assert pol.exists()
    space = PruneSpace(net, d.example_inputs())
    fresh = DQNSampler(space, seed=1)
    before = [p.clone() for p in fresh.q.parameters()]
    assert load_policy(fresh, pol)
    assert any(not torch.equal(a, b) for a, b in zip(before, fresh.q.parameters(), strict=True))
    # a network whose space has another layout does not take it
    other = DQNSampler(PruneSpace(ConvMix().eval(), torch.randn(1, 3, 32, 32)), seed=1)
    assert not load_policy(other, pol)


def test_dqn_pretrains_on_a_cost_models_predictions_before_the_device(tmp_path: Path) -> None:
    """The seed's policy: the agent first learns from predicted latencies (a gbm cost model fitted
    on real measurements of pruned variants) and accuracy before fine-tuning, then searches."""
    import xcelerator as xc
    from xcelerator.models.export import export_onnx
    from xcelerator.nas.rl import DQNSampler
    from xcelerator.store.db import Store

    d = _example()
    net, ex = d.build(), d.example_inputs()
    space = PruneSpace(net, ex)
    variants = []
    for i, r in enumerate((0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
        m = space.uniform(r)
        if i % 2:
            m = space._apply(
                {**space.default_point(), **{f"ratio:{g.name}": r for g in space.groups}, "drop:stage1.1": 1}
            )
        variants.append(str(export_onnx(m.eval(), (ex,), tmp_path / f"v{i}.onnx")))
    store = Store(str(tmp_path / "cm.db"))
    xc.compare(variants, ["onnxruntime?threads=1"], plan=FAST, db=store)
    cm = xc.CostModel.fit(store, "onnxruntime?threads=1", kind="gbm")
    pol = tmp_path / "dqn.pt"
    res = xc.optimize(
        net, ex, train=d.train, evaluate=d.evaluate, budget=2, epochs=1, strategy="dqn", cost_model=cm,
        pretrain_steps=20, policy=pol, out=tmp_path / "o", plan=FAST, confirm=False,
    )  # fmt: skip
    assert res.saved["pretrain_steps"] == 20 and res.saved["pretrain_predictions"] >= 2
    # a cost model makes the latency hybrid: the front's latencies are measured ones all the same
    from xcelerator.nas.study import confirmed_attrs

    assert res.latency is not None and res.latency["mode"] == "hybrid"
    conf = res.study.user_attrs.get("confirmed", {})
    for c in res.pareto:
        ua = confirmed_attrs(res.study.trials[c.trial].user_attrs, conf)
        assert ua.get("latency_source", "measured") == "measured" and c.latency_ms == ua["values_all"]["latency"]
    fresh = DQNSampler(space, seed=0)  # the same start: learning from 16 replayed steps on moved it
    learned = torch.load(pol, weights_only=True)["q"]
    assert any(not torch.equal(v, learned[k]) for k, v in fresh.q.state_dict().items())
    # a cost model of another target is refused before anything runs
    with pytest.raises(BadInputError, match="fitted for target"):
        xc.optimize(net, ex, train=d.train, evaluate=d.evaluate, budget=2, strategy="dqn", cost_model=cm,
                    target="onnxruntime?threads=2", out=tmp_path / "p")  # fmt: skip


def test_a_hugging_face_vit_keeps_its_attention_whole_and_prunes_its_mlp() -> None:
    """A network nobody here wrote (transformers' ViT, tiny config): its attention is plain
    Linear layers tied to a head count it keeps as a number, so their widths stay; the MLPs shrink."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=1, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=128, num_labels=10,
    )  # fmt: skip
    torch.manual_seed(0)
    net, x = HFLogits(transformers.ViTForImageClassification(cfg)).eval(), torch.rand(1, 1, 32, 32)
    space = PruneSpace(net, x)
    pruned = space.apply({**space.default_point(), **{f"ratio:{g.name}": 0.5 for g in space.groups}})
    widths = {n: m.out_features for n, m in pruned.named_modules() if isinstance(m, nn.Linear)}
    assert all(w == 64 for n, w in widths.items() if "attention" in n)
    assert all(w == 64 for n, w in widths.items() if n.endswith("mlp.fc1"))  # 128 halved
    with torch.no_grad():
        assert pruned(x).shape == (1, 10)
