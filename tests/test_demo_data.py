"""The demo's data and statistics: Fashion-MNIST from its IDX files (a small set written here, and
Debian's package when installed), the fallback to digits, test accuracy CIs and the paired drop."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from xcelerator.demo.data import DigitsCNN, TFConvNet, load, paired_drop, wilson
from xcelerator.demo.tour import demo_dataset
from xcelerator.errors import BadInputError
from xcelerator.train.datasets import FASHION_DEBIAN, fashion_mnist, find_fashion_mnist


def _idx(path: Path, arr: np.ndarray) -> None:
    head = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def _fake_fashion(folder: Path, n_train: int = 300, n_test: int = 50) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    _idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    _idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train))
    _idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28)))
    _idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test))


def test_fashion_mnist_splits_validation_from_training_and_keeps_test_apart(tmp_path: Path) -> None:
    _fake_fashion(tmp_path / "fm")
    d = fashion_mnist(tmp_path / "fm", seed=0, n_val=60)
    assert d.x_train.shape == (240, 1, 28, 28) and d.x_val.shape == (60, 1, 28, 28)
    assert d.x_test is not None and d.x_test.shape == (50, 1, 28, 28)
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    # no training image is also a validation image (the split is a partition of the training file)
    rows = {r.tobytes() for r in d.x_train}
    assert not any(r.tobytes() in rows for r in d.x_val)


def test_fashion_mnist_is_found_through_xcel_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_fashion(tmp_path / "data" / "fashion-mnist")
    monkeypatch.setenv("XCEL_DATA", str(tmp_path / "data"))
    assert find_fashion_mnist() == tmp_path / "data" / "fashion-mnist"


def test_missing_files_say_what_to_install_and_the_demo_falls_back_to_digits(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="dataset-fashion-mnist"):
        fashion_mnist(tmp_path)
    name, folder, note = demo_dataset(f"fashion-mnist:{tmp_path}", quick=False)
    assert name == "digits" and folder is None and note and "running on digits" in note
    assert demo_dataset(None, quick=True)[0] == "digits"
    with pytest.raises(BadInputError, match="--dataset"):
        demo_dataset("imagenet", quick=False)


@pytest.mark.skipif(
    not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed"
)
def test_debians_fashion_mnist_has_the_published_sizes() -> None:
    d = load("fashion-mnist")
    assert len(d.y_train) + len(d.y_val) == 60_000 and len(d.y_test) == 10_000
    assert sorted(torch.unique(d.y_test).tolist()) == list(range(10))


def test_baselines_take_the_raw_image_and_normalize_inside() -> None:
    for net, shape in ((TFConvNet(), (2, 1, 28, 28)), (DigitsCNN(), (2, 1, 8, 8))):
        x = torch.rand(*shape)
        assert net.eval()(x).shape == (2, 10)
        assert any(type(m).__name__ == "Normalize" for m in net.modules())


def test_wilson_interval_and_paired_drop() -> None:
    lo, hi = wilson(9000, 10000)
    assert lo < 0.9 < hi and hi - lo == pytest.approx(2 * 1.96 * (0.9 * 0.1 / 10000) ** 0.5, rel=0.02)
    same = np.ones(1000, dtype=bool)
    assert paired_drop(same, same) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(0)
    a = rng.random(10000) < 0.90
    b = a.copy()
    flip = rng.choice(10000, 100, replace=False)  # B gets 100 of A's right answers wrong: a 1-point drop
    b[flip] = False
    d, dlo, dhi = paired_drop(a, b)
    assert d == pytest.approx(float(a.mean() - b.mean()))
    assert dlo < d < dhi and dlo > 0  # a paired drop of ~1 point on 10,000 images is detected
