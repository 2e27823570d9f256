"""precision="single" against "double": per-block speed, and the ranking criterion on real sets.

    python benches/precision.py                  # both; writes benches/RESULTS-precision.md
    python benches/precision.py --part blocks    # per-block speed only (a few minutes)
    python benches/precision.py --part sets --sets digits,photos,fmnist10k
    python benches/precision.py --sets ...,fmnist60k     # all 60,000 too (about 10 more minutes)

Per block: real blocks of k rows (p = k/2) of Fashion-MNIST (class 0 against a sample of the
rest, d = 784) and of 32x32x3 patches of scikit-learn's two sample photos (one photo's patches
against the other's, d = 3072), at each of --sizes; every precision timed alternately in one
process, best of --repeats, with the ratio of each to float64 and the agreement of its scores.

Per set: ``cgfast.score`` with its defaults (``repeats="auto"``), the same seed, once in each
precision, 10% of the labels flipped. The criterion (issue 23): Spearman of single to double
≥ 0.9999; the flagged set (``ab > 0``) and the top 10% ≥ 99.5% identical (Jaccard for the
flagged set, overlap for the top 10%); average precision (AP) of the flipped labels within
0.002 of double's. The seconds of each run sit beside it (one run each on the large sets).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

import cgfast
from cgfast import _core

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

PHASES = ("gram", "transform", "cholesky", "solve", "inverse")
SETS = ("digits", "photos", "fmnist10k", "fmnist15k", "mixture", "fmnist60k")


def photo_patches(step: int) -> list[np.ndarray]:
    """32x32x3 patches of each of scikit-learn's two sample photos, every ``step`` pixels."""
    from sklearn.datasets import load_sample_images

    out = []
    for image in load_sample_images().images:
        img = image.astype(np.float64) / 255.0
        out.append(
            np.array(
                [
                    img[r : r + 32, c : c + 32].ravel()
                    for r in range(0, img.shape[0] - 31, step)
                    for c in range(0, img.shape[1] - 31, step)
                ]
            )
        )
    return out


def blocks(k: int) -> list[tuple[str, np.ndarray, int]]:
    """The two real blocks of ``k`` rows, negatives first, p = k/2 positives last."""
    X, y = fashion_mnist()
    rng = np.random.default_rng(0)
    pos = np.flatnonzero(y == 0)[: k // 2]
    neg = rng.choice(np.flatnonzero(y != 0), k - len(pos), replace=False)
    fm = np.ascontiguousarray(np.concatenate([X[neg], X[pos]]))
    photos = photo_patches(7)
    rng = np.random.default_rng(1)
    neg = photos[0][rng.choice(len(photos[0]), k // 2, replace=False)]
    pos = photos[1][rng.choice(len(photos[1]), k // 2, replace=False)]
    ph = np.ascontiguousarray(np.concatenate([neg, pos]))
    return [("Fashion-MNIST", fm, k // 2), ("photo patches", ph, k // 2)]


def profile(x: np.ndarray, p: int, threads: int, precision: str):
    entry = _core.profile_block_f32 if x.dtype == np.float32 else _core.profile_block_f64
    terms, _, fallback, times = entry(x, p, threads, precision)
    return terms, fallback, times


def blocks_part(args, out: list[str]) -> None:
    out.append("## Per block: seconds, ratio to float64, agreement\n")
    out.append(
        f"p = k/2; best of {args.repeats}, the precisions alternating; speedup = float64 s / s. "
        "Spearman and normwise error (max |Δscore| / max |score|) against float64.\n"
    )
    head = "| data (d) | k | float64 s | " + " | ".join(
        f"{p} s | {p} speedup | {p} Spearman | {p} normwise" for p in args.others
    )
    out.append(head + " | single gram / cholesky / inverse s | float64 same |")
    out.append("|" + "---|" * (4 + 4 * len(args.others) + 1))
    print("\n".join(out[-4:]), flush=True)
    for k in args.sizes:
        for name, x, p in blocks(k):
            precisions = ("double", *args.others)
            best = {q: None for q in precisions}
            terms = {}
            for _ in range(args.repeats):
                for q in precisions:
                    t, fallback, times = profile(x, p, args.threads, q)
                    if best[q] is None or times["total"] < best[q]["total"]:
                        best[q] = times
                    terms[q] = (t[0], fallback)
            d = terms["double"][0]
            cells = []
            for q in args.others:
                s, fallback = terms[q]
                ratio = best["double"]["total"] / best[q]["total"]
                err = np.max(np.abs(s - d)) / np.max(np.abs(d))
                flag = " (fallback)" if fallback else ""
                cells.append(
                    f"{best[q]['total']:.3f}{flag} | **{ratio:.2f}x** "
                    f"| {spearmanr(s, d).statistic:.7f} | {err:.1e}"
                )
            sb, db = best.get("single"), best["double"]
            phases = f"{sb['gram']:.3f} / {sb['cholesky']:.3f} / {sb['inverse']:.3f}" if sb else "–"
            same = f"{db['gram']:.3f} / {db['cholesky']:.3f} / {db['inverse']:.3f}"
            out.append(
                f"| {name} ({x.shape[1]}) | {k} | {db['total']:.3f} | "
                + " | ".join(cells)
                + f" | {phases} | {same} |"
            )
            print(out[-1], flush=True)
    out.append(
        "\nLast two columns: seconds in the Gram, the Cholesky factorisation and the trailing "
        "inverse, single then float64, from the best run of each.\n"
    )


def load_set(name: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(description, X, noisy labels, flipped) with 10% of the labels flipped."""
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        label = "digits (1797 x 64, 10 classes)"
    elif name == "photos":
        photos = photo_patches(12)
        X = np.concatenate(photos)
        y = np.concatenate([np.full(len(p), i) for i, p in enumerate(photos)])
        label = f"photo patches ({len(X)} x 3072, 2 classes)"
    elif name == "mixture":
        from synth import generate

        folder = Path(os.environ.get("CGFAST_DATA", Path.home() / ".cache" / "cgfast"))
        paths = generate(folder / "mixture-20000", n=20_000, d=256, classes=10, flip=0.1)
        X, y, flipped = (np.load(p) for p in paths)
        return "Gaussian mixture (20000 x 256, 10 classes, benches/synth.py)", X, y, flipped
    else:
        per = {"fmnist10k": 1000, "fmnist15k": 1500, "fmnist60k": None}[name]
        X, y = fashion_mnist(per_class=per)
        label = f"Fashion-MNIST ({len(X)} x 784)"
    noisy, flipped = flip_labels(y, 0.1, seed=0)
    return label, X, noisy, flipped


def criterion(single, double, flipped: np.ndarray) -> dict[str, float]:
    """The issue's four measures of single against double on one set."""
    s, d = single.score, double.score
    n = len(s)
    top = max(1, n // 10)
    top_s, top_d = set(np.argsort(-s)[:top]), set(np.argsort(-d)[:top])
    flag_s, flag_d = set(np.flatnonzero(single.ab > 0)), set(np.flatnonzero(double.ab > 0))
    union = flag_s | flag_d
    return {
        "spearman": spearmanr(s, d).statistic,
        "flagged": len(flag_s & flag_d) / max(1, len(union)),
        "n_flagged": len(flag_d),
        "top": len(top_s & top_d) / top,
        "ap": average_precision_score(flipped, s),
        "ap_double": average_precision_score(flipped, d),
    }


def sets_part(args, out: list[str]) -> None:
    out.append("## Per set: the ranking criterion, cgfast.score defaults, same seed\n")
    out.append(
        "Spearman ≥ 0.9999, flagged (ab > 0, Jaccard) and top 10% (overlap) ≥ 0.995, |ΔAP| ≤ "
        "0.002 of the flipped labels (10%), each precision against double. Seconds of one run "
        f"each (sets of 20,000 rows or more) or the best of {args.set_repeats}, the precisions "
        "alternating; speedup = double s / s; repeats the run chose.\n"
    )
    others = [q for q in args.others if q != "double"]
    out.append(
        "| set | precision | Spearman | flagged | top 10% | AP | AP double | repeats "
        "| s | double s | speedup | met |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(out[-2:]), flush=True)
    for name in args.sets:
        label, X, y, flipped = load_set(name)
        runs = 1 if len(X) >= 20_000 else args.set_repeats
        precisions = ("double", *others)
        seconds = {q: float("inf") for q in precisions}
        terms = {}
        for _ in range(runs):
            for precision in precisions:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    terms[precision] = cgfast.score(
                        X, y, precision=precision, return_terms=True, n_jobs=args.threads or None
                    )
                seconds[precision] = min(seconds[precision], time.perf_counter() - start)
        for q in others:
            c = criterion(terms[q], terms["double"], flipped)
            met = (
                c["spearman"] >= 0.9999
                and c["flagged"] >= 0.995
                and c["top"] >= 0.995
                and abs(c["ap"] - c["ap_double"]) <= 0.002
            )
            out.append(
                f"| {label} | {q} | {c['spearman']:.6f} | {c['flagged']:.4f} ({c['n_flagged']}) "
                f"| {c['top']:.4f} | {c['ap']:.4f} | {c['ap_double']:.4f} "
                f"| {terms[q].repeats} / {terms['double'].repeats} "
                f"| {seconds[q]:.1f} | {seconds['double']:.1f} "
                f"| **{seconds['double'] / seconds[q]:.2f}x** | {'yes' if met else 'NO'} |"
            )
            print(out[-1], flush=True)
    out.append("\nflagged: Jaccard of the two flagged sets (in brackets: how many double flags).\n")


def machine() -> list[str]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(
            line.split(":", 1) for line in lscpu.splitlines() if ":" in line and line[0] != " "
        )
        cpu = f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs"
        flags = info.get("Flags", "")
        simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "baseline"
        caches = f"L2 {info.get('L2 cache', '?').strip()}, L3 {info.get('L3 cache', '?').strip()}"
        cpu += f" ({simd}; {caches})"
    except (OSError, subprocess.CalledProcessError):
        cpu = platform.processor() or platform.machine()
    return [
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine (lscpu): {cpu}; {len(os.sched_getaffinity(0))} CPUs usable; load average "
        f"at start {os.getloadavg()[0]:.2f} (shared with other jobs)",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, "
        f"cgfast {cgfast.__version__}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    names = lambda s: s.split(",")  # noqa: E731
    parser.add_argument("--part", choices=("blocks", "sets", "both"), default="both")
    parser.add_argument("--sizes", type=ints, default=[2048, 4096, 8192])
    parser.add_argument("--others", type=names, default=["single"])
    parser.add_argument("--sets", type=names, default=list(SETS[:-1]))
    parser.add_argument("--repeats", type=int, default=3, help="best of this many, per block")
    parser.add_argument("--set-repeats", type=int, default=2, help="best of, sets < 20000 rows")
    parser.add_argument("--threads", type=int, default=0, help="0 = every CPU this process may use")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("RESULTS-precision.md")
    )
    args = parser.parse_args()
    unknown = set(args.sets) - set(SETS)
    if unknown:
        parser.error(f"unknown sets {sorted(unknown)}; choose from {SETS}")
    out = ["# precision: single against double", "", "Command: `python " + " ".join(sys.argv) + "`"]
    out += [""] + machine() + [""]
    print("\n".join(out), flush=True)
    if args.part in ("blocks", "both"):
        blocks_part(args, out)
    if args.part in ("sets", "both"):
        sets_part(args, out)
    args.output.write_text("\n".join(out) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
