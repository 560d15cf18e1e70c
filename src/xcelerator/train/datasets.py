"""Datasets for accuracy objectives, all read from disk or from packages (nothing downloaded).

``digits``            scikit-learn's handwritten digits (1797 8×8 images, 10 classes; built in)
``mnist:DIR``         MNIST from its standard IDX files (``train-images-idx3-ubyte[.gz]`` ...)
``cifar10:DIR``       CIFAR-10 from the standard python pickles (``data_batch_1..5``, ``test_batch``)
``cifar100:DIR``      CIFAR-100 from the standard python pickles (``train``, ``test``)
``npz:FILE``          arrays ``x_train, y_train, x_val, y_val`` (or ``x, y``: a seeded 80/20 split);
                      images N×C×H×W or N×H×W, float or uint8
``folder:DIR``        an image folder: ``DIR/CLASS/*.png|jpg`` (or ``DIR/train/CLASS/...`` and
                      ``DIR/val/CLASS/...``); images resized to the first one's size, RGB or grey

Images come out as float32 N×C×H×W in [0, 1]; ``resized`` scales them to a resolution.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xcelerator.errors import BadInputError


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int
    x_test: np.ndarray | None = None  # held out: never used to train or select (fashion-mnist)
    y_test: np.ndarray | None = None

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.x_train.shape[2])

    def resized(self, resolution: int) -> Dataset:
        if resolution == self.resolution:
            return self
        import torch
        import torch.nn.functional as F

        def rs(x: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(x)
            return F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False).numpy()

        return Dataset(
            f"{self.name}@{resolution}", rs(self.x_train), self.y_train, rs(self.x_val), self.y_val, self.classes
        )

    def subset(self, n_train: int | None = None, n_val: int | None = None) -> Dataset:
        return Dataset(
            self.name,
            self.x_train[:n_train],
            self.y_train[:n_train],
            self.x_val[:n_val],
            self.y_val[:n_val],
            self.classes,
        )


def _split(x: np.ndarray, y: np.ndarray, seed: int, name: str) -> Dataset:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_val = max(1, len(x) // 5)
    v, t = idx[:n_val], idx[n_val:]
    return Dataset(name, x[t], y[t], x[v], y[v], int(y.max()) + 1)


def _images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise BadInputError(f"{where}: images must be N×H×W or N×C×H×W, got shape {x.shape}")
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):  # N×H×W×C
        x = x.transpose(0, 3, 1, 2)
    x = x.astype(np.float32)
    if x.max() > 1.0:
        x = x / 255.0
    return np.ascontiguousarray(x)


def digits(seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return _split(x, d.target.astype(np.int64), seed, "digits")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("bad magic number")
        dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
        return arr.reshape(dims)
    except (OSError, ValueError, struct.error) as e:
        raise BadInputError(f"{path}: not an IDX file ({e})") from None


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if cand.exists():
            return cand
    raise BadInputError(f"{folder}: missing {stem}[.gz] (MNIST needs train/t10k images and labels IDX files)")


def mnist(folder: Path) -> Dataset:
    xt = _read_idx(_find(folder, "train-images-idx3-ubyte"))
    yt = _read_idx(_find(folder, "train-labels-idx1-ubyte"))
    xv = _read_idx(_find(folder, "t10k-images-idx3-ubyte"))
    yv = _read_idx(_find(folder, "t10k-labels-idx1-ubyte"))
    if len(xt) != len(yt) or len(xv) != len(yv):
        raise BadInputError(f"{folder}: image and label counts differ")
    return Dataset(
        "mnist", _images(xt, str(folder)), yt.astype(np.int64), _images(xv, str(folder)), yv.astype(np.int64), 10
    )


FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def find_fashion_mnist(folder: str | Path | None = None) -> Path | None:
    """The folder holding Fashion-MNIST's four IDX files: ``folder`` if given, else
    ``$XCEL_DATA`` (or ``$XCEL_DATA/fashion-mnist``), else where Debian's
    ``dataset-fashion-mnist`` puts them; None when none has them."""
    import os

    cands = [Path(folder)] if folder else []
    if not folder and os.environ.get("XCEL_DATA"):
        base = Path(os.environ["XCEL_DATA"])
        cands += [base, base / "fashion-mnist"]
    if not folder:
        cands.append(FASHION_DEBIAN)
    for c in cands:
        try:
            if all(_find(c, f) for f in FASHION_FILES):
                return c
        except BadInputError:
            continue
    return None


def fashion_mnist(folder: str | Path | None = None, seed: int = 0, n_val: int = 5000) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017, MIT license): 60,000 training and 10,000 test images,
    28×28 grey, 10 classes. A validation split of ``n_val`` images is carved from the training
    set (seeded) for selection; the 10,000 test images stay apart (``x_test``)."""
    where = find_fashion_mnist(folder)
    if where is None:
        raise BadInputError(
            f"fashion-mnist: the four IDX files are not in {folder or 'XCEL_DATA or ' + str(FASHION_DEBIAN)}; "
            "install the Debian package dataset-fashion-mnist or point XCEL_DATA at a folder with them"
        )
    xt = _images(_read_idx(_find(where, FASHION_FILES[0])), str(where))
    yt = _read_idx(_find(where, FASHION_FILES[1])).astype(np.int64)
    xs = _images(_read_idx(_find(where, FASHION_FILES[2])), str(where))
    ys = _read_idx(_find(where, FASHION_FILES[3])).astype(np.int64)
    if len(xt) != len(yt) or len(xs) != len(ys):
        raise BadInputError(f"{where}: image and label counts differ")
    idx = np.random.default_rng(seed).permutation(len(xt))
    v, t = idx[:n_val], idx[n_val:]
    return Dataset("fashion-mnist", xt[t], yt[t], xt[v], yt[v], 10, xs, ys)


class _CifarUnpickler(pickle.Unpickler):
    """A pickle reader that builds nothing but what the CIFAR batches hold: dicts, lists, bytes,
    strings, numbers and numpy arrays. A crafted file that names any other class (``os.system``,
    ``builtins.eval``...) is refused instead of run."""

    ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not a type CIFAR batches use")


def _unpickle(path: Path) -> dict:
    if not path.exists():
        raise BadInputError(f"{path}: missing (CIFAR needs the standard python-pickle batch files)")
    try:
        with open(path, "rb") as f:
            doc = _CifarUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        if str(e).startswith("refusing"):
            raise BadInputError(f"{path}: not a CIFAR batch: {e}") from None
        raise BadInputError(f"{path}: not a CIFAR pickle ({e})") from None
    except Exception as e:
        raise BadInputError(f"{path}: not a CIFAR pickle ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: not a CIFAR batch (a {type(doc).__name__}, not a dict)")
    return doc


def cifar(folder: Path, classes: int) -> Dataset:
    def arrays(d: dict, key: bytes) -> tuple[np.ndarray, np.ndarray]:
        if b"data" not in d or key not in d:
            raise BadInputError(f"{folder}: batch lacks 'data' or '{key.decode()}'")
        return np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32), np.asarray(d[key], np.int64)

    if classes == 10:
        parts = [
            arrays(_unpickle(folder / f"data_batch_{i}"), b"labels")
            for i in range(1, 6)
            if (folder / f"data_batch_{i}").exists()
        ]
        if not parts:
            raise BadInputError(f"{folder}: no data_batch_1..5 files (CIFAR-10 python version)")
        xt = np.concatenate([p[0] for p in parts])
        yt = np.concatenate([p[1] for p in parts])
        xv, yv = arrays(_unpickle(folder / "test_batch"), b"labels")
    else:
        xt, yt = arrays(_unpickle(folder / "train"), b"fine_labels")
        xv, yv = arrays(_unpickle(folder / "test"), b"fine_labels")
    return Dataset(f"cifar{classes}", _images(xt, str(folder)), yt, _images(xv, str(folder)), yv, classes)


def npz(path: Path, seed: int) -> Dataset:
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    try:
        d = np.load(path)
    except Exception as e:
        raise BadInputError(f"{path}: not a .npz file ({type(e).__name__})") from None
    keys = set(d.files)
    if {"x_train", "y_train", "x_val", "y_val"} <= keys:
        yt, yv = d["y_train"].astype(np.int64), d["y_val"].astype(np.int64)
        return Dataset(
            path.stem,
            _images(d["x_train"], str(path)),
            yt,
            _images(d["x_val"], str(path)),
            yv,
            int(max(yt.max(), yv.max())) + 1,
        )
    if {"x", "y"} <= keys:
        return _split(_images(d["x"], str(path)), d["y"].astype(np.int64), seed, path.stem)
    raise BadInputError(f"{path}: needs arrays x_train, y_train, x_val, y_val (or x, y); has {sorted(keys)}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _read_folder(
    root: Path, classes: list[str], size: tuple[int, int] | None, mode: str | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], str]:
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow is a dependency
        raise BadInputError("image folders need pillow: pip install pillow") from e
    xs, ys = [], []
    for label, cls in enumerate(classes):
        files = (
            sorted(p for p in (root / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if (root / cls).is_dir()
            else []
        )
        for f in files:
            try:
                with Image.open(f) as im:
                    mode = mode or ("L" if im.mode in ("L", "1", "I;16") else "RGB")
                    rgb = im.convert(mode)
                    size = size or rgb.size
                    xs.append(np.asarray(rgb.resize(size), dtype=np.uint8))
            except OSError as e:
                raise BadInputError(f"{f}: not a readable image ({e})") from None
            ys.append(label)
    if not xs:
        raise BadInputError(f"{root}: no images under its class folders ({', '.join(IMAGE_SUFFIXES)})")
    assert size is not None and mode is not None
    x = np.stack(xs)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x.astype(np.float32) / 255.0), np.asarray(ys, np.int64), size, mode


def image_folder(root: Path, seed: int) -> Dataset:
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        xt, yt, size, mode = _read_folder(root / "train", classes, None, None)
        xv, yv, _, _ = _read_folder(root / "val", classes, size, mode)
        return Dataset(root.name, xt, yt, xv, yv, len(classes))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise BadInputError(f"{root}: expected one folder per class (or train/ and val/ with class folders)")
    x, y, _, _ = _read_folder(root, classes, None, None)
    d = _split(x, y, seed, root.name)
    return Dataset(d.name, d.x_train, d.y_train, d.x_val, d.y_val, len(classes))


def load_dataset(ref: str, seed: int = 0) -> Dataset:
    """A dataset by reference (see the module docstring)."""
    kind, _, arg = ref.partition(":")
    if kind == "digits" and not arg:
        return digits(seed)
    if kind == "fashion-mnist":
        return fashion_mnist(arg or None, seed)
    if kind in ("mnist", "cifar10", "cifar100") and arg:
        folder = Path(arg)
        if not folder.is_dir():
            raise BadInputError(f"dataset {ref}: {folder} is not a folder")
        return mnist(folder) if kind == "mnist" else cifar(folder, 10 if kind == "cifar10" else 100)
    if kind == "npz" and arg:
        return npz(Path(arg), seed)
    if kind == "folder" and arg:
        if not Path(arg).is_dir():
            raise BadInputError(f"dataset {ref}: {arg} is not a folder")
        return image_folder(Path(arg), seed)
    if ref.endswith(".npz"):
        return npz(Path(ref), seed)
    raise BadInputError(
        f"unknown dataset '{ref}'; use digits, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, "
        "npz:FILE or folder:DIR"
    )
