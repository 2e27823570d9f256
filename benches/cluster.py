"""Dask on one machine: speedup of 2 local workers over 1, and the overhead of one task.

Workers run one task at a time with one arithmetic thread each (``n_jobs=1``), so two workers
on two cores should approach 2x. The overhead per task is the wall time per block of a plan of
tiny blocks on the cluster, minus the same blocks scored locally.

    python benches/cluster.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import cgfast

# Blocks of this many rows cost next to nothing, so their wall time on the cluster is overhead.
TINY = 32


def timed(fn, runs=3):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    from dask.distributed import Client, LocalCluster

    sys.path.insert(0, str(Path(__file__).parent))
    from synth import generate

    where = Path(tempfile.mkdtemp())
    xp, yp, _ = generate(where, n=40_000, d=256, classes=10, flip=0.1, seed=0)
    y = np.load(yp)
    args = dict(max_block=2048, n_jobs=1)
    local, ref = timed(lambda: cgfast.score(str(xp), y, **args), runs=1)
    blocks = len(cgfast._score.prepare(str(xp), y, max_block=2048).blocks)
    times = {}
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            cgfast.score(str(xp), y, client=client, max_block=64, n_jobs=1)  # warm the workers
            times[workers], out = timed(lambda: cgfast.score(str(xp), y, client=client, **args), 1)
            assert np.array_equal(out, ref)
            if workers == 1:
                count = len(cgfast._score.prepare(str(xp), y, max_block=TINY).blocks)
                on_cluster, _ = timed(
                    lambda: cgfast.score(str(xp), y, client=client, max_block=TINY, n_jobs=1), 1
                )
                in_process, _ = timed(lambda: cgfast.score(str(xp), y, max_block=TINY, n_jobs=1), 1)
    print(f"data: 40,000 x 256 float32, 10 classes, max_block=2048: {blocks} blocks")
    print(f"local, 1 thread:           {local:7.2f} s")
    print(f"Dask, 1 worker x 1 thread: {times[1]:7.2f} s")
    print(f"Dask, 2 workers x 1 thread:{times[2]:7.2f} s  speedup {times[1] / times[2]:.2f}x")
    print(
        f"overhead per task: {(on_cluster - in_process) / count * 1e3:.2f} ms "
        f"({count} tiny blocks: {on_cluster:.2f} s on 1 worker, {in_process:.2f} s in process)"
    )


if __name__ == "__main__":
    main()
