"""Deterministic synthetic data for the scale benchmarks: a class-structured Gaussian mixture.

Each class has a few cluster centres (norm about 2); an example is a centre plus noise of norm
about ``noise``; a fraction of labels is
flipped to another class at random. Written chunk by chunk into a .npy memory map, so n = 10⁶ and
more never has to fit in memory. Same arguments, same bytes.

    python benches/synth.py OUT_DIR --n 1000000 --d 256 --classes 10 --flip 0.1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CHUNK = 50_000


def generate(
    out: Path,
    n: int,
    d: int,
    classes: int = 10,
    flip: float = 0.1,
    seed: int = 0,
    modes: int = 4,
    noise: float = 1.0,
    dtype: str = "float32",
) -> tuple[Path, Path, Path]:
    """Writes X.npy (n x d), y.npy (noisy labels) and flipped.npy (bool) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    centres = rng.normal(size=(classes, modes, d)) * (2.0 / np.sqrt(d))
    X = np.lib.format.open_memmap(out / "X.npy", mode="w+", dtype=dtype, shape=(n, d))
    y = np.empty(n, dtype=np.int64)
    flipped = np.zeros(n, dtype=bool)
    for c, start in enumerate(range(0, n, CHUNK)):
        stop = min(start + CHUNK, n)
        r = np.random.default_rng([seed, 1, c])
        m = stop - start
        label = r.integers(0, classes, m)
        mode = r.integers(0, modes, m)
        X[start:stop] = centres[label, mode] + r.normal(size=(m, d)) * (noise / np.sqrt(d))
        flip_here = r.random(m) < flip
        shift = r.integers(1, classes, m)
        y[start:stop] = np.where(flip_here, (label + shift) % classes, label)
        flipped[start:stop] = flip_here
    X.flush()
    del X
    np.save(out / "y.npy", y)
    np.save(out / "flipped.npy", flipped)
    return out / "X.npy", out / "y.npy", out / "flipped.npy"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--flip", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    for path in generate(a.out, a.n, a.d, a.classes, a.flip, a.seed):
        print(path)


if __name__ == "__main__":
    main()
