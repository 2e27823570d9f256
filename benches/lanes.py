"""Blocks side by side against one block at a time on all threads, in the same process.

The local executor runs up to one block per thread at once (``LocalExecutor(lanes=None)``);
``lanes=1`` is how every release before it ran: one block after another, each on every thread.
Both give the same bits (``tests/test_lanes.py``); this measures the time. Runs alternate
between the two settings and the median of ``--rounds`` pairs is reported, so that load on a
shared machine falls on both alike.

    python benches/lanes.py                 # Fashion-MNIST, 1500 per class (Debian package)
    python benches/lanes.py --rounds 5 --threads 16
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from cgfast import engine
from cgfast.options import Options

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402


def seconds(X, y, options: Options, lanes: int | None) -> float:
    start = time.perf_counter()
    run = engine.prepare(X, y, options)
    engine.execute(run, engine.LocalExecutor(cache=False, lanes=lanes))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="n_jobs (default: every CPU)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    X, y = fashion_mnist(per_class=1500)
    y, _ = flip_labels(y, 0.1, seed=0)
    one = 2 * int(np.bincount(y).max())
    cases = [
        ("one block per class", dict(max_block=one, repeats=1)),
        ("max_block=2048, R=4", dict(max_block=2048, repeats=4)),
        ("max_block=1024, R=4", dict(max_block=1024, repeats=4)),
    ]
    print(f"# Fashion-MNIST {X.shape[0]} x {X.shape[1]}, n_jobs={args.threads}, no kernel cache")
    print("| plan | one at a time | side by side | speed-up |")
    print("|---|---|---|---|")
    for name, arguments in cases:
        options = Options(**arguments, n_jobs=args.threads)
        largest = max(block.size for block in engine.prepare(X, y, options).blocks)
        name = f"{name} (blocks of up to {largest} rows)"
        pairs = [
            (seconds(X, y, options, 1), seconds(X, y, options, None)) for _ in range(args.rounds)
        ]
        one_at_a_time = float(np.median([a for a, _ in pairs]))
        side_by_side = float(np.median([b for _, b in pairs]))
        ratio = float(np.median([a / b for a, b in pairs]))
        print(f"| {name} | {one_at_a_time:.2f} s | {side_by_side:.2f} s | {ratio:.2f}x |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
