"""Dataset loaders on files written here in the real on-disk formats (IDX, CIFAR python pickles, npz)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from xcelerator.errors import BadInputError
from xcelerator.train.datasets import load_dataset


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> None:
    data = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data += arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)  # type: ignore[operator]


def test_digits_is_built_in_and_split() -> None:
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and d.classes == 10
    assert len(d.x_train) + len(d.x_val) == 1797 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    r = d.resized(16)
    assert r.x_train.shape[1:] == (1, 16, 16) and (r.y_train == d.y_train).all()


def test_mnist_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)), gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 20), gz=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (5, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 5))
    d = load_dataset(f"mnist:{tmp_path}")
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_val.shape == (5, 1, 28, 28) and d.x_train.max() <= 1.0
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02garbage")
    with pytest.raises(BadInputError, match="not an IDX file"):
        load_dataset(f"mnist:{tmp_path}")
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(BadInputError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset(f"mnist:{tmp_path}")


def test_cifar10_python_pickles(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        with open(tmp_path / name, "wb") as f:
            pickle.dump(
                {b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 8))}, f
            )
    d = load_dataset(f"cifar10:{tmp_path}")
    assert d.x_train.shape == (16, 3, 32, 32) and d.x_val.shape == (8, 3, 32, 32) and d.classes == 10
    (tmp_path / "test_batch").write_text("not a pickle")
    with pytest.raises(BadInputError, match="not a CIFAR pickle"):
        load_dataset(f"cifar10:{tmp_path}")


def test_npz_and_bad_references(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (50, 12, 12, 3)), y=rng.integers(0, 4, 50))
    d = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert d.x_train.shape[1:] == (3, 12, 12) and len(d.x_train) == 40 and d.classes <= 4
    np.savez(tmp_path / "bad.npz", images=np.zeros(3))
    with pytest.raises(BadInputError, match="needs arrays"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    with pytest.raises(BadInputError, match="unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(BadInputError, match="no such file"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")


def test_image_folders(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    d = load_dataset(f"folder:{tmp_path}")
    assert d.classes == 2 and d.x_train.shape[1:] == (3, 10, 12) and len(d.x_train) + len(d.x_val) == 10
    (tmp_path / "dog" / "broken.png").write_text("no image")
    with pytest.raises(BadInputError, match="not a readable image"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(BadInputError, match="expected one folder per class"):
        load_dataset(f"folder:{tmp_path / 'cat'}")


def test_a_crafted_cifar_pickle_is_refused_not_run(tmp_path: Path) -> None:
    """CIFAR batches are pickles: one that names any class beyond what the format uses is data
    that would run code, and is refused (BadInputError: exit 2) without running it."""
    import os

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    with pytest.raises(BadInputError, match=r"refusing to load posix\.system") as e:
        load_dataset(f"cifar10:{tmp_path}")
    assert e.value.exit_code == 2 and not marker.exists()
