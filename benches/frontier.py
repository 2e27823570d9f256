"""What the default stability target costs at each block size: the frontier behind ``max_block``.

For each set and each ``max_block``, two runs of the default ``repeats="auto"`` (target 0.95)
with different seeds give the time to reach the target (the mean of the two), the repeats it
took, the stability cgfast estimated, the seed-to-seed Spearman a user would see, and the
average precision (AP) of the flipped labels (10% of them, the mean of the two runs); all
times are measured in this process, so compare them within a set (the ratio to the run with
blocks of 2048 rows is printed beside each).

    python benches/frontier.py                          # Fashion-MNIST 10k and 15k, mixture
    python benches/frontier.py --sets full --sizes 1024,2048,4096

Writes benches/results/frontier-SET.json and prints a Markdown table per set.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

import cgfast
from cgfast.stability import spearman

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, labels with 10% flipped (seed 0), as the stability bench uses them, and which."""
    if name == "mixture":
        from synth import generate

        paths = generate(RESULTS / "mixture-20000", n=20000, d=256, classes=10, flip=0.1, noise=1.5)
        return np.load(paths[0]), np.load(paths[1]), np.load(paths[2])
    per_class = {"fmnist10k": 1000, "fmnist15k": 1500, "full": None}[name]
    X, y = fashion_mnist(per_class=per_class)
    return (X, *flip_labels(y, 0.1, seed=0))


NOTES = "## What it says, and the default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="fmnist10k,fmnist15k,mixture")
    parser.add_argument("--sizes", default="512,768,1024,1536,2048,whole")
    parser.add_argument("--precision", default=None, help="the runs' precision (default: cgfast's)")
    parser.add_argument("--report", type=Path, help="write the Markdown of every set measured")
    parser.add_argument("--plot", type=Path, help="draw time and AP against max_block (a .png)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in [] if args.sets == "none" else args.sets.split(","):
        X, y, flipped = load(name)
        whole = 2 * int(np.bincount(y).max())
        sizes = [whole if s == "whole" else int(s) for s in args.sizes.split(",")]
        rows = []
        print(f"# {name}: {X.shape[0]} x {X.shape[1]}, a whole class's block = {whole} rows")
        for size in sizes:
            runs = []
            for seed in (1, 2):
                extra = {} if args.precision is None else {"precision": args.precision}
                start = time.perf_counter()
                terms = cgfast.score(X, y, max_block=size, seed=seed, return_terms=True, **extra)
                runs.append((terms, time.perf_counter() - start))
            (a, ta), (b, tb) = runs
            row = dict(
                max_block=size,
                whole=size >= whole,
                seconds=(ta + tb) / 2,
                repeats=(a.repeats, b.repeats),
                stability=(a.stability, b.stability),
                seed_to_seed=spearman(a.score, b.score),
                ap=(
                    average_precision_score(flipped, a.score),
                    average_precision_score(flipped, b.score),
                ),
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
        data = dict(rows=rows, n=int(X.shape[0]), d=int(X.shape[1]), date=date.today().isoformat())
        (RESULTS / f"frontier-{name}.json").write_text(json.dumps(data, indent=1))
        print("\n".join(table(name, data)), flush=True)
    if args.report is not None:
        lines = [HEADER.format(machine=machine()), ""]
        for name in ("fmnist10k", "fmnist15k", "full", "mixture"):
            path = RESULTS / f"frontier-{name}.json"
            if path.exists():
                lines += table(name, json.loads(path.read_text())) + [""]
        # The conclusions below the tables are written by hand: keep them.
        kept = args.report.read_text().partition(NOTES)[2] if args.report.exists() else ""
        args.report.write_text("\n".join(lines) + ("\n" + NOTES + kept if kept else ""))
        print(f"wrote {args.report}")
    if args.plot is not None:
        plot(args.plot)
        print(f"wrote {args.plot}")


NAMES = {
    "fmnist10k": "Fashion-MNIST 10k",
    "fmnist15k": "Fashion-MNIST 15k",
    "full": "Fashion-MNIST 60k",
    "mixture": "mixture 20k x 256",
}


def plot(path: Path) -> None:
    """Two panels per measured set: time against max_block (relative to 2048) and the AP of
    the flipped labels, the whole-class block marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in ("fmnist10k", "fmnist15k", "full", "mixture"):
        source = RESULTS / f"frontier-{name}.json"
        if not source.exists():
            continue
        rows = sorted(json.loads(source.read_text())["rows"], key=lambda r: r["max_block"])
        rows = [
            r for i, r in enumerate(rows) if i == 0 or r["max_block"] != rows[i - 1]["max_block"]
        ]
        base = next((r["seconds"] for r in rows if r["max_block"] == 2048), rows[-1]["seconds"])
        sizes = [r["max_block"] for r in rows]
        label = NAMES[name]
        (line,) = left.plot(sizes, [r["seconds"] / base for r in rows], "o-", label=label)
        if name != "mixture":  # its flipped labels are all found at every size (AP 1.000)
            right.plot(sizes, [np.mean(r["ap"]) for r in rows], "o-", color=line.get_color(),
                       label=label)  # fmt: skip
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xlabel("max_block (rows)")
        axes.grid(alpha=0.3)
        axes.legend()
    left.set_ylabel("time to the stability target / time at 2048")
    right.set_ylabel("AP of the flipped labels")
    figure.suptitle(
        "Default repeats='auto' (target 0.95) at each block size; 10% of labels flipped"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


HEADER = """# Block size against the cost of the stability target

Command: `python benches/frontier.py` (Fashion-MNIST 10k and 15k, the mixture) and `python
benches/frontier.py --sets full --sizes 1024,2048`, then `--sets none --report` to write this file;
{machine}. Each row: two runs of `cgfast.score(X, y, max_block=B, seed=1 or 2)` with the
default `repeats="auto"` (target stability 0.95, at most 32 repeats), 10% of labels flipped;
time is the mean of the two, measured in one process, so compare within a set."""


def table(name: str, data: dict) -> list[str]:
    rows = data["rows"]
    base = next((r["seconds"] for r in rows if r["max_block"] == 2048), rows[0]["seconds"])
    lines = [
        f"## {name}: {data['n']} x {data['d']} ({data['date']})",
        "",
        "| max_block | repeats (seed 1 / 2) | time | vs 2048 | reported stability "
        "| seed-to-seed | AP of flipped labels |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        label = f"{r['max_block']}" + (" (whole class)" if r["whole"] else "")
        st = " / ".join("–" if s is None else f"{s:.3f}" for s in r["stability"])
        lines.append(
            f"| {label} | {r['repeats'][0]} / {r['repeats'][1]} | {r['seconds']:.1f} s | "
            f"{r['seconds'] / base:.2f}x | {st} | {r['seed_to_seed']:.3f} | "
            f"{np.mean(r['ap']):.3f} |"
        )
    return lines


def machine() -> str:
    fields = {}
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return f"{fields.get('Model name', '?')}, {fields.get('CPU(s)', '?')} CPUs (lscpu)"


if __name__ == "__main__":
    main()
