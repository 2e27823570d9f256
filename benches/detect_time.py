"""Detection time: cgfast's default label-issue rule against cleanlab with a 5-fold logistic
regression, on the same data, in one process, in alternation.

Fashion-MNIST (the first 2000 training images per class) with the labels of ``benches/noise.py``'s
noise models. One round times, in turn:

- ``cgfast``: ``cgfast.suggest_labels(X, y)`` then ``cgfast.find_label_issues(suggestions=s,
  y=y)`` (the default rule), on the pixels;
- ``cgfast PCA-50``: the same on the 50-component PCA that cleanlab's regression sees (the PCA's
  fit counted in the time);
- ``cgfast, blocks of 1024``: the default rule on the pixels with
  ``suggest_labels(max_block=1024)``: regressors fitted to chunks half the default's size (a
  factorisation an eighth of the default's, each prediction's kernel values half);
- ``cleanlab LR``: the PCA-50 (fit counted), 5-fold out-of-fold ``predict_proba`` of
  ``LogisticRegression(max_iter=1000)``, ``cleanlab.filter.find_label_issues`` and
  ``cleanlab.rank.get_label_quality_scores``, as in ``benches/noise.py`` (one BLAS thread);
- ``cleanlab LR, all cores``: the same with the five folds fitted in parallel;
- with ``--pixels``, ``cleanlab LR on the pixels, all cores``: the same on the 784 pixels that
  ``cgfast`` reads, without the PCA (the logistic regression reaches its 1000 iterations).

Rounds alternate the order of the methods, so a change of load on a shared machine falls on
both. The figure is the median over rounds of each method's seconds, and the ratio of the
medians; precision and recall of each method's flags come with it (they do not change between
rounds: every method is deterministic).

    python benches/detect_time.py                      # 3 rounds, symmetric and pairwise noise
    python benches/detect_time.py --rounds 5 --noise pairwise
    python benches/detect_time.py --pixels             # and cleanlab LR on the pixels themselves
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import noise  # noqa: E402

import cgfast  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "detect_time.json"


def cgfast_default(
    X: np.ndarray, y: np.ndarray, reduce: bool, max_block: int | None = None
) -> np.ndarray:
    features = noise.pca(X, noise.NOISE_SEED) if reduce else X
    suggestions = cgfast.suggest_labels(features, y, seed=0, max_block=max_block)
    return np.asarray(cgfast.find_label_issues(suggestions=suggestions, y=y))


def cleanlab_lr(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """As ``benches/noise.py`` runs it: one fold at a time, on one BLAS thread."""
    detection, _ = noise.cleanlab_detect("LR", X, y, noise.NOISE_SEED, reduce=True)
    return np.asarray(detection.flags)


def cleanlab_lr_all_cores(X: np.ndarray, y: np.ndarray, reduce: bool = True) -> np.ndarray:
    """The same, with the folds fitted in parallel on every core (joblib processes) and the
    PCA on every BLAS thread: cleanlab at its fastest on this machine. Without ``reduce``, on
    the pixels themselves, the data cgfast's first method reads."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    Z = PCA(noise.COMPONENTS, random_state=noise.NOISE_SEED).fit_transform(X) if reduce else X
    folds = StratifiedKFold(noise.FOLDS, shuffle=True, random_state=noise.NOISE_SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probabilities = cross_val_predict(
            LogisticRegression(max_iter=1000), Z, y, cv=folds, method="predict_proba", n_jobs=-1
        )
    flags = np.flatnonzero(find_label_issues(y, probabilities))
    get_label_quality_scores(y, probabilities)  # the ranking, as the other runs compute it
    return flags


METHODS = {
    "cgfast": lambda X, y: cgfast_default(X, y, reduce=False),
    "cgfast PCA-50": lambda X, y: cgfast_default(X, y, reduce=True),
    "cgfast, blocks of 1024": lambda X, y: cgfast_default(X, y, reduce=False, max_block=1024),
    "cleanlab LR": cleanlab_lr,
    "cleanlab LR, all cores": cleanlab_lr_all_cores,
}
# With --pixels: cleanlab on the very data of "cgfast" (a minute a round on this machine).
PIXELS = "cleanlab LR on the pixels, all cores"


def precision_recall(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = int(truth[flags].sum())
    return hits / max(len(flags), 1), hits / int(truth.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--noise", choices=["symmetric", "pairwise", "instance"], action="append")
    parser.add_argument("--pixels", action="store_true", help=f"time {PIXELS!r} too")
    args = parser.parse_args()
    methods = dict(METHODS)
    if args.pixels:
        methods[PIXELS] = lambda X, y: cleanlab_lr_all_cores(X, y, reduce=False)
    kinds = args.noise or ["symmetric", "pairwise"]
    data = noise.fmnist("pixels")
    X, y = data.X, data.y
    results = {}
    for kind in kinds:
        noisy, _ = getattr(noise, kind)(y, noise.RATES[kind], noise.NOISE_SEED, data.Z_noise)
        truth = noisy != y
        seconds: dict[str, list[float]] = {name: [] for name in methods}
        quality = {}
        for round_ in range(args.rounds):
            names = list(methods) if round_ % 2 == 0 else list(reversed(methods))
            for name in names:
                start = time.perf_counter()
                flags = methods[name](X, noisy)
                seconds[name].append(time.perf_counter() - start)
                quality[name] = precision_recall(flags, truth)
                print(f"{kind} round {round_}: {name} {seconds[name][-1]:.1f} s", flush=True)
        medians = {name: float(np.median(values)) for name, values in seconds.items()}
        results[kind] = {
            "seconds": seconds,
            "median": medians,
            "ratio to the faster cleanlab LR": {
                name: medians[name] / min(medians["cleanlab LR"], medians["cleanlab LR, all cores"])
                for name in methods
            },
            "precision, recall": quality,
        }
        if args.pixels:
            results[kind]["ratio of cgfast to cleanlab LR on the pixels"] = (
                medians["cgfast"] / medians[PIXELS]
            )
    record = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load average at the end": os.getloadavg(),
        "rounds": args.rounds,
        "results": results,
    }
    OUTPUT.write_text(json.dumps(record, indent=1) + "\n")
    print()
    print("| noise | method | median s | x the faster cleanlab LR | precision / recall |")
    print("|---|---|---|---|---|")
    for kind, result in results.items():
        for name in methods:
            p, r = result["precision, recall"][name]
            print(
                f"| {kind} | {name} | {result['median'][name]:.1f} | "
                f"{result['ratio to the faster cleanlab LR'][name]:.2f} | {p:.2f} / {r:.2f} |"
            )
    for kind, result in results.items():
        if args.pixels:
            ratio = result["ratio of cgfast to cleanlab LR on the pixels"]
            print(f"\n{kind}: cgfast / cleanlab LR, both on the pixels: {ratio:.2f}x")


if __name__ == "__main__":
    main()
