"""Pruning noisy labels: the share of wrong labels in the kept set, label issues left out or not.

Fashion-MNIST's 10,000 test images (a set nobody here made), a share of the labels flipped at
random or moved between confusable classes, scored once with ``cgfast score_table`` (the
default: confusion-rule flags, suggestions); then, for every fraction kept and every strategy,
the share of wrong labels among the kept rows with the label issues left out first (the
default of ``cgfast.prune`` on a table) and kept in play (``issues=False``, cgfast 0.2's
pruning). Run: ``python benches/prune_noisy.py [--rows 5000]``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from datasets import fashion_mnist_test, flip_labels

import cgfast

KEEPS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
STRATEGIES = ("coverage", "keep-hard", "keep-easy")
PAIRS = ((0, 6), (2, 4), (5, 7))  # T-shirt/Shirt, Pullover/Coat, Sandal/Sneaker


def pairwise(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for a, b in PAIRS:
        for source, target in ((a, b), (b, a)):
            rows = np.flatnonzero(y == source)
            noisy[rng.choice(rows, int(round(rate * len(rows))), replace=False)] = target
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="first rows of the test set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = fashion_mnist_test()
    X, y = X[: args.rows], y[: args.rows]
    settings = {
        "symmetric 10%": flip_labels(y, 0.1, seed=args.seed)[0],
        "pairwise 30%": pairwise(y, 0.3, seed=args.seed),
    }
    where = platform.processor() or platform.machine()
    print(f"# Pruning noisy labels: {args.rows} Fashion-MNIST test images, "
          f"{time.strftime('%Y-%m-%d')}, {where}\n")  # fmt: skip
    for name, noisy in settings.items():
        wrong = noisy != y
        start = time.perf_counter()
        table = cgfast.score_table(X, noisy, seed=args.seed)
        seconds = time.perf_counter() - start
        flagged = table["label_issue"].to_numpy()
        hits = (flagged & wrong).sum()
        print(f"## {name}: {wrong.mean():.1%} wrong; {flagged.sum()} flagged "
              f"({hits} of them wrong), scored in {seconds:.0f} s\n")  # fmt: skip
        print("| kept | " + " | ".join(f"{s}: issues out / in" for s in STRATEGIES) + " |")
        print("|---|" + "---|" * len(STRATEGIES))
        for keep in KEEPS:
            cells = []
            for strategy in STRATEGIES:
                shares = []
                for issues in (None, False):
                    kept = cgfast.prune(table, keep=keep, strategy=strategy, issues=issues)
                    shares.append(wrong[kept["index"].to_numpy()].mean())
                cells.append(f"{shares[0]:.1%} / {shares[1]:.1%}")
            print(f"| {keep:g} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
