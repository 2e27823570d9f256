"""Best-of-N time of one fixed cgfast.score call, to compare two builds of the same version.

Run it with each build's interpreter, e.g. the editable build and an installed wheel:

    .venv/bin/python benches/wheel_speed.py
    /tmp/wheel-venv/bin/python benches/wheel_speed.py

It prints one JSON line: the seconds of the fastest of `--repeat` calls, where the imported
cgfast lives, its version and the CPU count. The data are seeded random rows (two classes,
`--rows` each, `--dim` features) scored with one repeat, so every build does the same work.
`.ci/wheels` runs it against both the caller's editable build and the wheel and reports the
ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import cgfast


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500, help="rows per class (default 1500)")
    parser.add_argument("--dim", type=int, default=784, help="features per row (default 784)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls (default 5)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    n = 2 * args.rows
    X = rng.normal(size=(n, args.dim))
    y = np.arange(n) % 2
    cgfast.score(X[:200], y[:200], repeats=1)  # warm up: thread pool, first-touch of the code
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        cgfast.score(X, y, ratio="all", repeats=1)  # one fixed workload, no auto repeats
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "best_s": round(min(times), 4),
                "median_s": round(float(np.median(times)), 4),
                "rows": n,
                "dim": args.dim,
                "repeat": args.repeat,
                "cpus": os.cpu_count(),
                "version": cgfast.__version__,
                "module": cgfast.__file__,
            }
        )
    )


if __name__ == "__main__":
    main()
