"""How chunking changes the scores: Spearman to the unchunked score, AUROC of flipped labels.

Two datasets small enough for one block per class: the synthetic mixture (2 classes x 4000,
d = 256, 10% of labels flipped) and scikit-learn's digits (10 classes, 10% flipped). For each
max_block and repeats, random chunks (cgfast's plan) and, as a candidate, chunks made by k-means
with the nearest other-class examples as negatives, at equal cost.

    python benches/chunking.py            # prints a markdown table, writes benches/CHUNKING.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import cgfast
from cgfast import _core

sys.path.insert(0, str(Path(__file__).parent))
from synth import generate  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a flipped example outscores a clean one (ties count half)."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    # average ranks of ties
    _, inv, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    p, q = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - p * (p + 1) / 2) / (p * q))


def datasets():
    tmp = Path("/tmp/cgfast-chunking")
    xp, yp, fp = generate(tmp, n=8000, d=256, classes=2, flip=0.1, seed=1, noise=12.0)
    yield "mixture 2x4000 d=256 noise 12", np.load(xp), np.load(yp), np.load(fp)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    flip = rng.random(len(y)) < 0.1
    noisy = np.where(flip, (y + rng.integers(1, 10, len(y))) % 10, y)
    yield "digits 1797 d=64", X, noisy, flip


def clustered_scores(X, y, max_block, repeats, seed=0):
    """Candidate: chunks of positives by k-means, negatives = other-class rows nearest the chunk."""
    from sklearn.cluster import KMeans

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sums = np.zeros(len(y))
    classes = np.unique(y)
    for r in range(repeats):
        for c in classes:
            pos = np.flatnonzero(y == c)
            pool = np.flatnonzero(y != c)
            chunks = cgfast.plan.chunk_count(len(pos), len(pool), 1.0, max_block)
            if chunks == 1:
                parts = [pos]
            else:
                km = KMeans(chunks, n_init=1, random_state=seed + r).fit(Xn[pos])
                parts = [pos[km.labels_ == j] for j in range(chunks)]
            for part in parts:
                if len(part) == 0:
                    continue
                part = part[: max_block // 2]
                want = min(len(part), len(pool), max_block - len(part))
                centre = Xn[part].mean(axis=0)
                near = pool[np.argsort(-(Xn[pool] @ centre))[:want]]
                block = np.concatenate([near, part])
                fn = _core.score_block_f32 if X.dtype == np.float32 else _core.score_block_f64
                s = fn(np.ascontiguousarray(X[block]), len(part), 0)[0]
                sums[part] += s
    return sums / repeats


def main() -> None:
    rows = []
    for name, X, y, flipped in datasets():
        t = time.perf_counter()
        full = cgfast.score(X, y, max_block=20_000)
        t_full = time.perf_counter() - t
        rows.append((name, "unchunked", "-", 1, 1.0, auroc(full, flipped), t_full))
        for max_block in (256, 512, 1024, 2048, 4096):
            if max_block >= 2 * np.bincount(np.unique(y, return_inverse=True)[1]).max():
                continue
            for repeats in (1, 3, 10):
                t = time.perf_counter()
                s = cgfast.score(X, y, max_block=max_block, repeats=repeats)
                dt = time.perf_counter() - t
                rows.append(
                    (name, "random", max_block, repeats, spearman(s, full), auroc(s, flipped), dt)
                )
                if repeats in (1, 3):
                    t = time.perf_counter()
                    s = clustered_scores(X, y, max_block, repeats)
                    dt = time.perf_counter() - t
                    rows.append(
                        (
                            name,
                            "k-means",
                            max_block,
                            repeats,
                            spearman(s, full),
                            auroc(s, flipped),
                            dt,
                        )
                    )
    head = (
        "| data | chunks | max_block | repeats | Spearman to unchunked | AUROC flipped | time (s) |"
    )
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        lines.append(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    (Path(__file__).parent / "CHUNKING.md").write_text(
        "# Chunking quality\n\nMeasured by `python benches/chunking.py`.\n\n" + text + "\n"
    )


if __name__ == "__main__":
    main()
