"""INT8 by each runtime's own quantizer, the deployed file as a module, channels snapped to the
runtime's block, and the joint search of pruning × precision × runtime in ``xc.optimize``.

Every model here is written for the test with its own training loop (scikit-learn's digits),
or is a ``transformers`` tiny config; nothing is tuned until it passes. The quantized files are
checked by reading them back (QDQ nodes in the ONNX graph, FakeQuantize in the OpenVINO IR) and
by running them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from tests.test_cli import xcel
from xcelerator.compress.deploy import Calibration, deploy_file, deployed
from xcelerator.compress.prune import PruneSpace, snap
from xcelerator.compress.sensitivity import Sensitivity, measure_sensitivity, schedule
from xcelerator.errors import BadInputError
from xcelerator.models.export import export_onnx, export_pt2
from xcelerator.rounds.plan import Plan
from xcelerator.targets.registry import parse_target, runtimes

FAST = Plan(min_rounds=2, max_rounds=2, min_seconds=0.05, max_seconds=0.2, warmup_runs=2, timeout=60)
ORT = "onnxruntime?threads=1"
OV = "openvino?threads=1"


def _digits(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    if size != 8:
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x, torch.tensor(d.target, dtype=torch.long)


class SENet(nn.Module):
    """Depthwise-separable blocks with squeeze-excitation and a residual add."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.pw = nn.Conv2d(c, c, 1)
        self.se1, self.se2 = nn.Conv2d(c, 8, 1), nn.Conv2d(8, c, 1)
        self.up = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.head = nn.Linear(2 * c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        h = torch.relu(self.pw(self.dw(x)))
        h = h * torch.sigmoid(self.se2(torch.relu(self.se1(h.mean((2, 3), keepdim=True)))))
        x = torch.relu(self.up(x + h))
        return self.head(x.mean((2, 3)))


def _user(net: nn.Module, seed: int = 0, size: int = 8):  # type: ignore[no-untyped-def]
    """A user's own loop: Adam on 1,200 digits, validation accuracy on 300 others."""
    x, y = _digits(size)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[:1200], perm[1200:1500]

    def train(m: nn.Module, epochs: int) -> nn.Module:
        opt = torch.optim.Adam(m.parameters(), 2e-3)
        g = torch.Generator().manual_seed(seed + epochs)
        m.train()
        for _ in range(epochs):
            for b in tr[torch.randperm(len(tr), generator=g)].split(64):
                opt.zero_grad()
                nn.functional.cross_entropy(m(x[b]), y[b]).backward()
                opt.step()
        return m

    def evaluate(m: nn.Module) -> float:
        m.eval()
        with torch.no_grad():
            return float((m(x[va]).argmax(1) == y[va]).float().mean())

    torch.manual_seed(seed)
    return train(net, 4).eval(), x, tr, train, evaluate


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_by_each_runtimes_own_quantizer_and_the_deployed_module(tmp_path: Path) -> None:
    net, x, tr, _, _ = _user(SENet())
    fp32 = export_onnx(net, (x[:1],), tmp_path / "senet.onnx")
    cal = Calibration.make(x[tr[:200]], (x[:1],))
    with torch.no_grad():
        ref = net(x[:50])
    # the FP32 file, deployed: the same numbers as the torch module, 50 samples through a batch-1 file
    m = deployed(fp32, ORT)
    assert next(m.parameters()).device.type == "cpu"
    with torch.no_grad():
        out = m(x[:50])
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-4)
    # ONNX Runtime: QDQ, weights per channel (a scale per output channel of each Conv)
    q = deploy_file(fp32, parse_target(ORT), "int8", cal, tmp_path / "q")
    model = onnx.load(str(q))
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= _ops(q)
    inits = {i.name: i for i in model.graph.initializer}
    conv_w = [n.input[1] for n in model.graph.node if n.op_type == "Conv"]
    producers = {o: n for n in model.graph.node for o in n.output}
    per_channel = [producers[w] for w in conv_w if w in producers and producers[w].op_type == "DequantizeLinear"]
    assert per_channel, "no Conv reads a dequantized weight"
    scales = [onnx.numpy_helper.to_array(inits[d.input[1]]).size for d in per_channel if d.input[1] in inits]
    assert max(scales) > 1  # one scale per output channel, not one per tensor
    with torch.no_grad():
        qout = deployed(q, ORT)(x[:50])
    # INT8 changes the numbers a little, the decisions hardly at all
    assert not torch.equal(qout, out)
    assert (qout.argmax(1) == ref.argmax(1)).float().mean() >= 0.9
    # OpenVINO: NNCF's FakeQuantize ops in the IR, run by OpenVINO
    import openvino as ov

    qx = deploy_file(fp32, parse_target(OV), "int8", cal, tmp_path / "qv")
    assert qx.suffix == ".xml" and qx.with_suffix(".bin").exists()
    types = {op.get_type_name() for op in ov.Core().read_model(str(qx)).get_ops()}
    assert "FakeQuantize" in types
    with torch.no_grad():
        vout = deployed(qx, OV)(x[:50])
    assert (vout.argmax(1) == ref.argmax(1)).float().mean() >= 0.9
    # ExecuTorch: from the torch program exported beside the ONNX, FP32 lowered to XNNPACK and
    # INT8 by its XNNPACK PT2E quantizer; both run by ExecuTorch, batch-1 programs sample by sample
    export_pt2(net, (x[:1],), fp32.with_suffix(".pt2"))
    et = parse_target("executorch?threads=1")
    fe = deploy_file(fp32, et, "fp32", None, tmp_path / "e")
    qe = deploy_file(fp32, et, "int8", cal, tmp_path / "e")
    assert fe.suffix == qe.suffix == ".pte" and fe != qe
    with torch.no_grad():
        eout, qeout = deployed(fe, et)(x[:50]), deployed(qe, et)(x[:50])
    assert torch.allclose(eout, ref, atol=1e-4)
    assert not torch.allclose(qeout, ref, atol=1e-4)  # quantized: the numbers moved
    assert (qeout.argmax(1) == ref.argmax(1)).float().mean() >= 0.9


def test_runtimes_say_whether_they_quantize_and_calibration_is_checked() -> None:
    have = {n for n, r in runtimes().items() if r.int8}
    assert {"onnxruntime", "openvino", "executorch"} <= have
    with pytest.raises(BadInputError, match="int8 is available on: onnxruntime, openvino, executorch"):
        runtimes()["ncnn"].quantize("x.onnx", Path("."), [])
    ex = (torch.zeros(1, 1, 8, 8),)
    with pytest.raises(BadInputError, match=r"the input has shape \(300, 1, 4, 8\); expected N x 1 x 8 x 8"):
        Calibration.make(torch.zeros(300, 1, 4, 8), ex)
    with pytest.raises(BadInputError, match="dtype float64; expected float32"):
        Calibration.make(torch.zeros(300, 1, 8, 8, dtype=torch.float64), ex)
    with pytest.raises(BadInputError, match="3 samples given; expected at least 16"):
        Calibration.make(torch.zeros(3, 1, 8, 8), ex)
    # a DataLoader-style iterable of (inputs, labels) batches
    batches = [(torch.rand(32, 1, 8, 8), torch.zeros(32)) for _ in range(3)]
    cal = Calibration.make(batches, ex)
    assert cal.count == 96 and len(cal.feeds(["input"], limit=50)) == 50
    assert cal.feeds(["input"])[0]["input"].shape == (1, 1, 8, 8)


def test_channels_snap_to_the_runtimes_block_and_equal_networks_are_one_candidate() -> None:
    assert snap(96, 0.125, 16) == 80 and snap(96, 0.0625, 16) == 96  # nearest multiple
    assert snap(24, 0.5, 16) == 16  # narrower than two blocks: multiples of 8
    assert snap(12, 0.5, 16) == 8 and snap(6, 0.5, 16) == 4  # never pruned away whole
    assert runtimes()["onnxruntime"].channel_multiple() in (8, 16)
    torch.manual_seed(0)
    net, x = SENet(48).eval(), torch.rand(1, 1, 8, 8)
    space = PruneSpace(net, x, round_to=16, precisions=("fp32", "int8"), targets=(ORT, OV))
    names = {p.name for p in space.params()}
    assert {"precision", "target"} <= names
    g = space.groups[0].name
    for r in (0.125, 0.25, 0.375):
        widths = space.widths({**space.default_point(), f"ratio:{g}": r})
        assert all(w % 16 == 0 for n, w in widths.items() if n != "resolution" and w >= 32), widths
    base = space.default_point()
    a = {**base, f"ratio:{g}": 0.125}  # 48 -> 42 rounds back to 48: the unchanged network
    assert space.structure_id(a) == space.structure_id(base)
    assert space.arch_id(a) == space.arch_id(base)
    assert space.arch_id({**base, "precision": "int8"}) != space.arch_id(base)
    assert space.structure_id({**base, "precision": "int8", "target": OV}) == space.structure_id(base)
    assert space.is_default({**base, "precision": "int8"})
    # several multiples: a search dimension
    both = PruneSpace(net, x, round_to=(8, 16))
    assert next(p for p in both.params() if p.name == "round_channels").choices == (8, 16)


def test_sensitivity_prunes_robust_groups_further_from_small_to_large() -> None:
    net, x, _, _, evaluate = _user(SENet())
    space = PruneSpace(net, x[:1], blocks=False)
    sens = measure_sensitivity(space, evaluate)
    assert set(sens.scores) == {g.name for g in space.groups}
    assert all(set(s) == {0.25, 0.5} for s in sens.scores.values())
    assert sens.baseline == pytest.approx(evaluate(net))
    # the schedule on scores given by hand: group a barely moves, group b collapses
    g = [gr.name for gr in space.groups]
    fake = Sensitivity(0.9, {g[0]: {0.25: 0.9, 0.5: 0.89}, **{n: {0.25: 0.5, 0.5: 0.2} for n in g[1:]}}, 0.0)
    pts = schedule(space, fake, (0.25, 0.5))
    assert pts
    first = pts[0]
    assert all(first[f"ratio:{g[0]}"] >= first[f"ratio:{n}"] for n in g[1:])
    means = [np.mean(list(p.values())) for p in pts]
    assert means == sorted(means)


def _check_candidates(res, evaluate) -> None:  # type: ignore[no-untyped-def]
    done = [c for c in res.trials if c.state == "COMPLETE"]
    firsts = [c for c in done if c.reused is None or c.precision != "fp32" or c.target != res.baseline.target]
    archs = [res.study.trials[c.trial].user_attrs.get("arch") for c in done]
    repeats = [res.study.trials[c.trial].user_attrs.get("repeat_of") for c in done]
    # no network measured twice in the same precision on the same target
    measured = [a for a, r in zip(archs, repeats, strict=True) if r is None]
    assert len(measured) == len(set(measured))
    assert firsts
    for c in done:
        assert c.artifact and Path(c.artifact).exists() and c.torch_accuracy is not None
        if c.precision == "int8" and c.runtime == "onnxruntime":
            assert "QuantizeLinear" in _ops(Path(c.artifact))
        if c.runtime == "openvino" and c.precision == "int8":
            assert c.artifact.endswith(".xml")
    best = res.best
    if best is not None:
        # the accuracy it was judged by is the deployed file's, scored again here
        assert evaluate(deployed(best.artifact, best.target)) == pytest.approx(best.accuracy, abs=1e-6)
        assert best.accuracy >= res.baseline.accuracy - 0.02 - 1e-9


def test_joint_search_of_pruning_precision_and_runtime(tmp_path: Path) -> None:
    import xcelerator as xc

    net, x, tr, train, evaluate = _user(SENet(), seed=1)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, targets=[ORT, OV], precision=("fp32", "int8"),
        calibration=x[tr[:200]], budget=7, epochs=1, constraints=["accuracy>=baseline-0.02"],
        out=tmp_path / "o", plan=FAST, confirm=FAST, seed=0,
    )  # fmt: skip
    b = res.baseline
    assert b.trial == 0 and b.precision == "fp32" and b.runtime == "onnxruntime" and b.reused is None
    # the one-step alternatives are in the study: the unpruned network in every precision on every runtime
    starts = {(c.precision, c.runtime) for c in res.trials if c.point == {**c.point, **_unpruned(res)}}
    assert starts >= {("fp32", "onnxruntime"), ("int8", "onnxruntime"), ("fp32", "openvino"), ("int8", "openvino")}
    # the unpruned network was trained (here: taken as given) once; the others reuse it
    assert all(c.reused == "0000" for c in res.trials[1:4])
    _check_candidates(res, evaluate)
    assert set(res.per_runtime) <= {ORT, OV} and ORT in res.per_runtime
    assert res.sensitivity is not None and set(res.sensitivity["groups"]) == {
        g.name for g in res.trials[0].space.groups
    }  # type: ignore[union-attr]
    json.dumps(res.to_dict(), allow_nan=False)


def test_a_mobile_runtime_in_the_search_ships_its_own_program(tmp_path: Path) -> None:
    """ExecuTorch (XNNPACK) searched in FP32 and INT8: its candidates start from the torch
    program, are scored by ExecuTorch itself, and the file written out is the ``.pte``."""
    import xcelerator as xc
    from xcelerator.compress.config import write_outputs

    et = "executorch?threads=1"
    net, x, tr, train, evaluate = _user(SENet(), seed=2)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, targets=[et], precision=("fp32", "int8"),
        calibration=x[tr[:200]], budget=3, epochs=1, constraints=["accuracy>=baseline-0.02"],
        out=tmp_path / "o", plan=FAST, confirm=FAST, seed=0,
    )  # fmt: skip
    done = [c for c in res.trials if c.state == "COMPLETE"]
    assert {c.precision for c in done} == {"fp32", "int8"} and {c.runtime for c in done} == {"executorch"}
    for c in done:
        assert c.artifact is not None and c.artifact.endswith(f".{c.precision}.pte")
        assert c.accuracy == pytest.approx(evaluate(deployed(c.artifact, et)))  # the file's own score
    assert res.trials[1].precision == "int8" and res.trials[1].reused == "0000"  # the unpruned network, quantized
    assert res.best is not None
    written = write_outputs(res, tmp_path / "out")
    assert Path(written["artifact"]).name == "best.pte" and Path(written["onnx"]).name == "best.onnx"


def _unpruned(res) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {k: v for k, v in res.trials[0].point.items() if k.startswith(("ratio:", "drop:", "resolution"))}


def test_a_hugging_face_vit_comes_out_int8_scored_on_its_file(tmp_path: Path) -> None:
    """transformers' ViT (tiny config), written by nobody here: its ONNX export goes through ONNX
    Runtime's quantizer (pre-processing may fail on its Reshapes; then the raw graph is quantized)."""
    transformers = pytest.importorskip("transformers")
    import xcelerator as xc
    from tests.test_optimize import HFLogits

    cfg = transformers.ViTConfig(
        image_size=16, patch_size=4, num_channels=1, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, num_labels=10,
    )  # fmt: skip
    torch.manual_seed(0)
    net, x, tr, train, evaluate = _user(HFLogits(transformers.ViTForImageClassification(cfg)), size=16)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, precision=("fp32", "int8"), calibration=x[tr[:100]],
        budget=3, epochs=1, constraints=["accuracy>=baseline-0.05"], out=tmp_path / "v", plan=FAST, confirm=False,
    )  # fmt: skip
    int8 = [c for c in res.trials if c.precision == "int8"]
    assert int8 and all(c.state == "COMPLETE" for c in int8), [(c.state, c.error) for c in int8]
    _check_candidates(res, evaluate)


def _write_user(tmp_path: Path) -> Path:
    f = tmp_path / "user.py"
    f.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from tests.test_deploy import SENet, _user\n"
        "_net, _x, _tr, train, evaluate = _user(SENet(24), seed=2)\n"
        "def build():\n    return _net, _x[:1]\n"
    )
    x, _ = _digits()
    np.savez(tmp_path / "calib.npz", input=x[:128].numpy())
    np.savez(tmp_path / "bad.npz", input=x[:128, :, :4].numpy())
    return f


def test_xcel_optimize_int8_writes_the_file_to_deploy(tmp_path: Path) -> None:
    f = _write_user(tmp_path)
    base = ["--model", f"{f}:build", "--train", f"{f}:train", "--evaluate", f"{f}:evaluate", "-t", ORT]
    r = xcel(
        "--db", "x.db", "optimize", *base, "--precision", "fp32,int8", "--calibration", "calib.npz",
        "--budget", "4", "--epochs", "1", "--no-confirm", "-c", "accuracy>=baseline-0.02", "--out", "out", "--json",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert [t["precision"] for t in doc["trials"][:2]] == ["fp32", "int8"]
    assert all("torch_accuracy" in t and "artifact" in t for t in doc["trials"])
    if doc["best"] is not None:
        shipped = tmp_path / doc["written"]["artifact"]
        assert shipped.exists() and shipped.name == "best.onnx"
        assert ("QuantizeLinear" in _ops(shipped)) == (doc["best"]["precision"] == "int8")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "int8 on onnxruntime" in html


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--precision", "int8", "--calibration", "calib.npz", "-t", "ncnn?threads=1"],
         "runtime ncnn has no INT8 quantizer here; int8 is available on: onnxruntime, openvino, executorch"),
        (["--precision", "int8", "--calibration", "bad.npz"],
         "the input has shape (128, 1, 4, 8); expected N x 1 x 8 x 8"),
        (["--precision", "int8"], "precision int8: needs calibration data"),
        (["--precision", "fp16"], "precision fp16: expected some of fp32, int8"),
        (["--round-channels", "eight"], "--round-channels 'eight'"),
    ],
)  # fmt: skip
def test_bad_precision_input_is_one_line_exit_2_nothing_stored(tmp_path: Path, flags: list[str], message: str) -> None:
    f = _write_user(tmp_path)
    base = ["--model", f"{f}:build", "--train", f"{f}:train", "--evaluate", f"{f}:evaluate"]
    r = xcel("--db", "b.db", "optimize", *base, *flags, "--budget", "2", "--out", "out", cwd=tmp_path, timeout=300)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert len([ln for ln in r.stderr.strip().splitlines() if ln.strip()]) == 1, r.stderr
    if (tmp_path / "b.db").exists():
        with sqlite3.connect(tmp_path / "b.db") as c:
            tables = {t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "studies" in tables:
                assert c.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 0


def test_a_quantizer_that_fails_fails_that_trial_and_the_search_goes_on(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import xcelerator as xc
    from xcelerator.targets.runtimes import onnxruntime as ort_rt

    def broken(path: str, out_dir: str, calibration: list, exclude: list) -> str:  # type: ignore[type-arg]
        raise ValueError("Unsupported model IR version (simulated quantizer failure)")

    monkeypatch.setattr(ort_rt, "quantize", broken)
    net, x, tr, train, evaluate = _user(SENet(24), seed=3)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, precision=("fp32", "int8"), calibration=x[tr[:64]],
        budget=3, epochs=1, out=tmp_path / "f", plan=FAST, confirm=False, sensitivity=False, warm_start=(0.5,),
        strategy="random",
    )  # fmt: skip
    states = {c.trial: (c.state, c.precision, c.error) for c in res.trials}
    assert states[0][0] == "COMPLETE"
    failed = [s for s in states.values() if s[1] == "int8"]
    assert failed and all(s[0] == "FAIL" and "int8 on onnxruntime failed: ValueError" in (s[2] or "") for s in failed)
    assert "Unsupported model IR version" in (failed[0][2] or "")


class Outlier(nn.Module):
    """A plain CNN; ``spike()`` then scales one channel between the first two convolutions by
    1000 and the second convolution's weights back, which leaves the function as it is and ruins
    a per-tensor INT8 activation range (a known way INT8 loses accuracy)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.c2, self.c3 = nn.Conv2d(16, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c2(torch.relu(self.b1(self.c1(x)))))
        return self.fc(torch.relu(self.c3(h)).mean((2, 3)))

    def spike(self) -> Outlier:
        with torch.no_grad():
            self.b1.weight[0] *= 1000
            self.b1.bias[0] *= 1000
            self.c2.weight[:, 0] /= 1000
        return self


def test_int8_that_breaks_accuracy_keeps_the_ops_that_need_fp32(tmp_path: Path) -> None:
    import xcelerator as xc
    from xcelerator.compress.deploy import quantized_ops

    torch.manual_seed(5)
    net, x, tr, train, evaluate = _user(Outlier(), seed=5)
    before = evaluate(net)
    net.spike()
    assert evaluate(net) == pytest.approx(before, abs=1e-6)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, precision=("fp32", "int8"), calibration=x[tr[:200]], budget=2,
        epochs=1, constraints=["accuracy>=baseline-0.02"], out=tmp_path / "s", plan=FAST, confirm=False,
        sensitivity=False, warm_start=(),
    )  # fmt: skip
    q = res.trials[1]
    assert q.precision == "int8" and q.state == "COMPLETE", q.error
    ua = res.study.trials[1].user_attrs
    # INT8 of everything lost accuracy; the file kept a few ops in FP32 and meets the bound
    assert ua["int8_accuracy"] < res.baseline.accuracy - 0.02
    assert q.fp32_ops and q.feasible and q.accuracy >= res.baseline.accuracy - 0.02
    assert set(q.fp32_ops) == set(q.fp32_cost) and all(0 <= c["macs_share"] <= 1 for c in q.fp32_cost.values())
    # read back from the file: the ops it names are not quantized, the others are
    left = quantized_ops(Path(q.artifact or ""))
    assert not set(q.fp32_ops) & set(left) and left
    assert evaluate(deployed(q.artifact, ORT)) == pytest.approx(q.accuracy, abs=1e-6)


def test_distillation_hands_the_users_train_a_teacher(tmp_path: Path) -> None:
    import xcelerator as xc
    from xcelerator.compress.distill import Teacher

    net, x, tr, train, evaluate = _user(SENet(24), seed=6)
    with torch.no_grad():
        ref = net(x[:8])
    seen: list[Any] = []

    def train_kd(m: nn.Module, epochs: int, teacher: Teacher) -> nn.Module:
        seen.append(teacher)
        opt = torch.optim.Adam(m.parameters(), 1e-3)
        m.train()
        for _ in range(epochs):
            for b in tr[:256].split(64):
                opt.zero_grad()
                teacher.loss(m(x[b]), x[b], None).backward()  # the user's loop, their loss replaced
                opt.step()
        return m

    res = xc.optimize(
        net, x[:1], train=train_kd, evaluate=evaluate, distill=True, budget=2, epochs=1, out=tmp_path / "k",
        plan=FAST, confirm=False, sensitivity=False, warm_start=(0.5,), constraints=[],
    )  # fmt: skip
    assert res.trials[1].state == "COMPLETE" and seen and all(isinstance(t, Teacher) for t in seen)
    with torch.no_grad():
        assert torch.allclose(seen[0](x[:8]), ref)  # the teacher is the baseline, frozen
    logits = torch.zeros(8, 10, requires_grad=True)
    kd = seen[0].loss(logits, x[:8], None)
    kd.backward()
    assert kd.item() > 0 and logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(BadInputError, match="train must take a third argument"):
        xc.optimize(net, x[:1], train=train, evaluate=evaluate, distill=True, budget=2, out=tmp_path / "n")


def test_when_nothing_beats_the_baseline_the_result_says_why(tmp_path: Path) -> None:
    import xcelerator as xc

    net, x, tr, train, evaluate = _user(SENet(24), seed=8)
    res = xc.optimize(
        net, x[:1], train=train, evaluate=evaluate, precision=("fp32", "int8"), calibration=x[tr[:64]], budget=4,
        epochs=1, constraints=["latency<=0.000001"], out=tmp_path / "w", plan=FAST, confirm=False,
    )  # fmt: skip
    assert res.best is None or res.best.trial == res.baseline.trial
    assert res.closest and len(res.closest) <= 5
    ran = [r for r in res.closest if r["state"] == "COMPLETE"]
    assert ran and all("misses a constraint" in r["why"] or "not faster" in r["why"] for r in ran)
    lat = [r["latency_ms"] for r in res.closest if r["latency_ms"] is not None]
    assert lat == sorted(lat)
    assert {r["precision"] for r in res.closest} <= {"fp32", "int8"}
