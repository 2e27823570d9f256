"""Decode-and-cache throughput and peak memory of an image folder, at two sizes.

Writes N random 32x32x3 PNGs in 10 class folders (once per size), then, in a fresh process
each, converts the folder with ``cgfast.open_dataset`` and reports images per second and the
process's peak RSS. Peak RSS should not grow with N.

    python benches/images.py --sizes 20000,100000 --folder /tmp/cgfast-images
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import cgfast
start = time.perf_counter()
data = cgfast.open_dataset(sys.argv[1], cache=sys.argv[2])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"n": len(data.ids), "seconds": seconds, "peak_gib": peak,
                  "cache_gib": data.X.nbytes / 2**30}))
"""


def write_folder(folder: Path, n: int) -> None:
    from PIL import Image

    if (folder / "done").exists():
        return
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (10, 32, 32, 3))
    for i in range(n):
        label = i % 10
        pixels = np.clip(base[label] + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / str(label) / f"{i:07d}.png")
    (folder / "done").write_text("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--folder", default="/tmp/cgfast-images")
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        folder = Path(args.folder) / str(n)
        start = time.perf_counter()
        write_folder(folder, n)
        cache = Path(args.folder) / f"cache-{n}"  # a fresh cache folder: the conversion is timed
        shutil.rmtree(cache, ignore_errors=True)
        print(f"{n} images ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(cache)], check=True,
                             capture_output=True, text=True)  # fmt: skip
        rows.append(json.loads(out.stdout))
    print("| images | decode + cache (s) | images / s | cache (GiB) | peak RSS (GiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['seconds']:.1f} | {r['n'] / r['seconds']:,.0f} | "
              f"{r['cache_gib']:.2f} | {r['peak_gib']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
