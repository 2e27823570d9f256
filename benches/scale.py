"""Scale benchmark: time, peak RSS and time per example for n up to 10⁶ on one node.

Data come from synth.py (10 classes, 10% of labels flipped, float32 .npy read as a memory map).
Each size runs in a fresh process, so its peak RSS is its own.

    python benches/scale.py                       # n = 1e5, 3e5, 1e6 at d = 256; 1e5 at d = 3072
    python benches/scale.py --sizes 100000x256    # one size
    python benches/scale.py --table-only          # the table again from benches/scale.json
    python benches/scale.py --plot docs/img/scale.png   # time and memory against n, from the json

Time per example depends on the block size the class sizes lead to (a block of k rows costs
about k²/3 flops per scored example), so the table also gives the arithmetic rate, which is
what stays flat when the code scales linearly.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DEFAULT_SIZES = ["100000x256", "300000x256", "1000000x256", "100000x3072"]

CHILD = """
import json, resource, sys, time
import numpy as np, cgfast
from cgfast import engine
from cgfast.options import Options
X, y = sys.argv[1], np.load(sys.argv[2])
job = engine.prepare(X, y, Options())
t = time.perf_counter()
terms = cgfast.score(X, y, progress=True, return_terms=True)
dt = time.perf_counter() - t
used = job.blocks[: terms.repeats * job.per_repeat]
print(json.dumps({
    "seconds": dt,
    "flops": sum(job.work(b) for b in used),
    "blocks": len(used),
    "repeats": terms.repeats,
    "stability": terms.stability,
    "max_block": job.options.max_block,
    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "finite": bool(np.isfinite(terms.score).all()),
    "scores": sys.argv[3],
}))
np.save(sys.argv[3], terms.score)
"""


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    p, q = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - p * (p + 1) / 2) / (p * q))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", default=DEFAULT_SIZES, help="NxD, e.g. 100000x256")
    p.add_argument("--data", type=Path, default=Path("/tmp/cgfast-scale"))
    p.add_argument("--table-only", action="store_true", help="render benches/scale.json again")
    p.add_argument("--json", type=Path, default=HERE / "scale.json", help="where the rows go")
    p.add_argument("--plot", type=Path, help="draw the rows of --json into this PNG (no run)")
    a = p.parse_args()
    if a.plot:
        plot(json.loads(a.json.read_text()), a.plot)
        return
    if a.table_only:
        render(json.loads(a.json.read_text()))
        return
    sys.path.insert(0, str(HERE))
    from synth import generate

    rows = []
    for size in a.sizes:
        n, d = (int(v) for v in size.split("x"))
        where = a.data / f"n{n}_d{d}"
        if not (where / "flipped.npy").exists():
            generate(where, n=n, d=d, classes=10, flip=0.1, seed=0, noise=4.0)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(where / "X.npy"),
                str(where / "y.npy"),
                str(where / "scores.npy"),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["auroc"] = auroc(np.load(where / "scores.npy"), np.load(where / "flipped.npy"))
        r.update(n=n, d=d)
        rows.append(r)
        print(json.dumps(r), flush=True)
    a.json.write_text(json.dumps(rows, indent=1) + "\n")
    render(rows)


def plot(rows: list[dict], path: Path) -> None:
    """Time and peak RSS against n, one line per d, log-log, with the linear-cost guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for d in sorted({r["d"] for r in rows}):
        mine = sorted((r for r in rows if r["d"] == d), key=lambda r: r["n"])
        n = np.array([r["n"] for r in mine], dtype=float)
        seconds = np.array([r["seconds"] for r in mine])
        time_ax.plot(n, seconds, "o-", label=f"d = {d}")
        rss_ax.plot(n, [r["peak_rss"] / 2**30 for r in mine], "o-", label=f"d = {d}")
        if len(mine) > 1:
            time_ax.plot(n, seconds[0] * n / n[0], ":", color="grey", label="linear in n")
    time_ax.set(xscale="log", yscale="log", xlabel="examples n", ylabel="time (s)")
    rss_ax.set(xscale="log", xlabel="examples n", ylabel="peak RSS (GiB)", ylim=(0, None))
    for ax in (time_ax, rss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("cgfast.score on one node: synthetic mixture, 10 classes, .npy memory map")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def render(rows: list[dict]) -> None:
    """Prints the table as markdown; SCALE.md is written by hand from it, since it keeps the
    dated rows of earlier rounds beside the new ones."""
    base = rows[0]["seconds"] / rows[0]["n"]
    lines = [
        "| n | d | blocks | repeats | stability | time (s) | µs / example | vs first row | TFLOP "
        "| GFLOP/s | peak RSS (GiB) | AUROC flipped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per = r["seconds"] / r["n"]
        lines.append(
            f"| {r['n']:,} | {r['d']} | {r['blocks']} | {r.get('repeats', 1)} "
            f"| {'–' if r.get('stability') is None else format(r['stability'], '.3f')} "
            f"| {r['seconds']:.0f} | {per * 1e6:.0f} | "
            f"{per / base:.2f}x | {r['flops'] / 1e12:.1f} | {r['flops'] / r['seconds'] / 1e9:.1f} "
            f"| {r['peak_rss'] / 2**30:.2f} | {r['auroc']:.3f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
