"""The default call's time as a multiple of one quick run, timed in alternation.

The unit is one R=1, one-block-per-class, float64 run of 0.1.0's sampler (issue 23's yardstick).
A shared machine moves a time of a few seconds by 10-20% from one minute to the next, so each
pair times the unit and then the default back to back, and the ratio reported is the median of
the pairs' ratios. Same data as benches/stability.py (10% of labels flipped).

    python benches/cost.py                      # Fashion-MNIST 10k and 15k, 5 pairs each
    python benches/cost.py --sets fmnist15k --pairs 9
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

import cgfast

sys.path.insert(0, str(Path(__file__).parent))
from stability import load, quick_config  # noqa: E402


def seconds(call) -> tuple[float, object]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=["fmnist10k", "fmnist15k"])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", cgfast.StabilityWarning)
    print(
        "| set | unit (s, median) | default (s, median) | repeats "
        "| default / unit (median, range) |"
    )
    print("|---|---|---|---|---|")
    for name in args.sets:
        X, y, _ = load(name)
        quick = quick_config(y)
        cgfast.score(X[:2000], y[:2000], repeats=2)  # thread pool and pages warm
        units, defaults, repeats = [], [], []
        for seed in range(args.pairs):
            once, _ = seconds(partial(cgfast.score, X, y, seed=seed, **quick))
            default, terms = seconds(partial(cgfast.score, X, y, seed=seed, return_terms=True))
            units.append(once)
            defaults.append(default)
            repeats.append(terms.repeats)
        ratio = np.array(defaults) / np.array(units)
        print(
            f"| {name} | {np.median(units):.2f} | {np.median(defaults):.2f} "
            f"| {min(repeats)}–{max(repeats)} | {np.median(ratio):.2f}x "
            f"({ratio.min():.2f}–{ratio.max():.2f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
