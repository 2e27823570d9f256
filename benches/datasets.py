"""Real data sets for the benchmarks: Fashion-MNIST from its Debian package, with flipped labels.

Fashion-MNIST ships as the Debian package ``dataset-fashion-mnist``. It is read from
/usr/share/datasets/fashion-mnist when the package is installed; otherwise the package is
fetched with ``apt-get download`` and unpacked (``dpkg-deb -x``) into a cache folder
(``$CGFAST_DATA``, default ~/.cache/cgfast). Pixels are normalised as cgfast normalises an image
folder: scaled to [0, 1], then centred and scaled by the mean and standard deviation of every
pixel of the 60000 training images (Fashion-MNIST's own statistics, not MNIST's 0.1307 / 0.3081);
the test images with the same two numbers.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np

PACKAGE = "dataset-fashion-mnist"
INSTALLED = Path("/usr/share/datasets/fashion-mnist")


def _cache() -> Path:
    return Path(os.environ.get("CGFAST_DATA", Path.home() / ".cache" / "cgfast"))


def fashion_mnist_dir() -> Path:
    """The folder of Fashion-MNIST's idx files, unpacking the Debian package if needed."""
    if INSTALLED.is_dir():
        return INSTALLED
    root = _cache() / PACKAGE
    folder = root / "usr/share/datasets/fashion-mnist"
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=root, check=True,
                       capture_output=True)  # fmt: skip
        (deb,) = root.glob(f"{PACKAGE}_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    except (OSError, subprocess.CalledProcessError, ValueError) as err:
        raise SystemExit(
            f"Fashion-MNIST is not installed and could not be fetched ({err}). Install it with "
            f"`apt-get install {PACKAGE}` (after `apt-get update`), or run `apt-get download "
            f"{PACKAGE} && dpkg-deb -x {PACKAGE}_*.deb DIR` and set CGFAST_DATA=DIR's parent."
        ) from err
    return folder


def _idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _split(part: str) -> tuple[np.ndarray, np.ndarray]:
    """One of the idx pairs, ``part`` "train" or "t10k": raw uint8 images and int64 labels."""
    folder = fashion_mnist_dir()
    name = {p.name.split("-idx")[0]: p for p in folder.iterdir() if "-idx" in p.name}
    X = _idx(name[f"{part}-images"]).reshape(-1, 784)
    return X, _idx(name[f"{part}-labels"]).astype(np.int64)


def _statistics() -> tuple[float, float]:
    """Mean and standard deviation of the training pixels scaled to [0, 1] (float64)."""
    pixels = _split("train")[0].astype(np.float64) / 255.0
    return float(pixels.mean()), float(pixels.std())


def _normalise(X: np.ndarray) -> np.ndarray:
    mean, std = _statistics()
    return ((X.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)


def fashion_mnist(per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 60000 training images as (n, 784) float32, normalised, and their labels.

    ``per_class``: keep only the first that many examples of each class (in file order).
    """
    X, y = _split("train")
    if per_class is not None:
        keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)]))
        X, y = X[keep], y[keep]
    return _normalise(X), y


def fashion_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The 10000 test images as (10000, 784) float32, normalised as for training, and labels."""
    X, y = _split("t10k")
    return _normalise(X), y


def flip_labels(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with ``fraction`` of the labels moved to another class at random, and which ones."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)] = True
    noisy = y.copy()
    for i in np.flatnonzero(flipped):
        noisy[i] = rng.choice(classes[classes != y[i]])
    return noisy, flipped
