"""How a memory-mapped `.npy` X is read: held in memory, read with positioned reads, or through
the map.

cgfast never reads rows through a memory map, so that a file cut short mid-run is an error
rather than a SIGBUS: a small file is read into memory when the run opens it ("held", the
default up to ``cgfast._data.LOAD_BYTES``), a larger one a block at a time with `pread` in the
native core ("pread"). This times `cgfast.score(path, y)` in those two ways and through the map
("map", as before), in alternation in one process, and reports the ratios of the medians.

Sets: Fashion-MNIST's first 2000 training images per class (784 float32 features, as
``benches/noise.py`` loads them) and seeded random rows with few features, where a block's
arithmetic is cheapest against its reads (``--rows`` x 16 float32, 10 classes). Every run has
``--repeats`` fixed repeats, so both ways do the same work.

    python benches/mmap_reads.py               # 5 rounds, 4 repeats a run
    python benches/mmap_reads.py --rounds 9
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import cgfast  # noqa: E402
from cgfast import _data  # noqa: E402
from cgfast._data import Rows  # noqa: E402


def sets(rows: int):
    import noise

    data = noise.fmnist("pixels")
    yield "fmnist-pixels 20000 x 784", data.X.astype(np.float32), data.y
    rng = np.random.default_rng(0)
    yield (
        f"random {rows} x 16",
        rng.normal(size=(rows, 16)).astype(np.float32),
        rng.integers(0, 10, rows),
    )


WAYS = ("held", "pread", "map")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=4, help="fixed repeats (default 4)")
    args = parser.parse_args()
    reads_file, load_bytes = Rows._reads_file, _data.LOAD_BYTES
    print(f"load average at the start {os.getloadavg()[0]:.2f}")
    print("| set | held s | pread s | map s | held / map | pread / map | same scores |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, X, y in sets(args.rows):
            path = os.path.join(folder, "X.npy")
            np.save(path, X)
            seconds: dict[str, list[float]] = {way: [] for way in WAYS}
            scores = {}
            for round_ in range(args.rounds):
                for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
                    Rows._reads_file = reads_file if way != "map" else lambda self: False
                    _data.LOAD_BYTES = load_bytes if way == "held" else 0
                    start = time.perf_counter()
                    scores[way] = cgfast.score(path, y, seed=0, repeats=args.repeats)
                    seconds[way].append(time.perf_counter() - start)
            Rows._reads_file, _data.LOAD_BYTES = reads_file, load_bytes
            held, pread, mapped = (float(np.median(seconds[way])) for way in WAYS)
            same = all(np.array_equal(scores[way], scores["map"]) for way in WAYS)
            print(
                f"| {name} | {held:.2f} | {pread:.2f} | {mapped:.2f} | {held / mapped:.3f} | "
                f"{pread / mapped:.3f} | {same} |",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
