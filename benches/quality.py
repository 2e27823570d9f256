"""Finding flipped labels in Fashion-MNIST: cgfast against what users would pick instead.

10% of the labels flipped (``benches/datasets.py``). Methods, each timed from its input
(raw pixels, normalised by their own mean and standard deviation) with every model fit included:

- cgfast on the raw pixels (784 features) and on a 50-component PCA of them (PCA time included);
- cleanlab 2.x ``get_label_quality_scores`` (self-confidence) from 5-fold out-of-fold
  probabilities of a logistic regression, and of a 10-nearest-neighbour classifier, on the PCA;
- kNN label disagreement on the PCA: the fraction of an example's 10 nearest neighbours whose
  label differs from its own.

It prints a Markdown table of time, average precision (AP) and AUROC of the flipped labels.
cgfast runs with a fixed number of repeats (``--repeats``, default 8) so that its cost is stated.

    python benches/quality.py                    # 1500 images per class (15,000 rows)
    python benches/quality.py --per-class 6000   # the whole training set
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

import cgfast  # noqa: E402

NEIGHBOURS = 10


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def pca(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(50, random_state=seed).fit_transform(X).astype(np.float64)


def out_of_fold(model, Z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(model, Z, y, cv=folds, method="predict_proba", n_jobs=1)


def cleanlab_suspicion(model, Z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from cleanlab.rank import get_label_quality_scores

    probabilities = out_of_fold(model, Z, y, seed)
    return 1.0 - get_label_quality_scores(y, probabilities)  # high = suspicious


def knn_disagreement(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(Z).kneighbors(Z)
    return (y[index[:, 1:]] != y[:, None]).mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.neighbors import KNeighborsClassifier

    X, clean = fashion_mnist(per_class=args.per_class)
    y, flipped = flip_labels(clean, args.noise, seed=args.seed)
    Z, pca_seconds = timed(pca, X, args.seed)
    score = dict(repeats=args.repeats, seed=args.seed)

    def cg_raw():
        return cgfast.score(X, y, **score)

    def cg_pca():
        return cgfast.score(pca(X, args.seed), y, **score)

    def lr():
        model = LogisticRegression(max_iter=300)
        return cleanlab_suspicion(model, pca(X, args.seed), y, args.seed)

    def knn():
        model = KNeighborsClassifier(NEIGHBOURS)
        return cleanlab_suspicion(model, pca(X, args.seed), y, args.seed)

    def disagreement():
        return knn_disagreement(pca(X, args.seed), y)

    methods = [
        (f"cgfast, raw pixels (784), repeats={args.repeats}", cg_raw),
        (f"cgfast, PCA-50, repeats={args.repeats}", cg_pca),
        ("cleanlab, logistic regression on PCA-50, 5-fold", lr),
        (f"cleanlab, {NEIGHBOURS}-NN on PCA-50, 5-fold", knn),
        (f"{NEIGHBOURS}-NN label disagreement on PCA-50", disagreement),
    ]
    print(f"Fashion-MNIST, {len(y)} images, {int(flipped.sum())} labels flipped; "
          f"PCA-50 alone {pca_seconds:.1f} s", file=sys.stderr)  # fmt: skip
    print("| method | time (s) | AP | AUROC |")
    print("|---|---|---|---|")
    for name, method in methods:
        suspicion, seconds = timed(method)
        ap = average_precision_score(flipped, suspicion)
        auroc = roc_auc_score(flipped, suspicion)
        print(f"| {name} | {seconds:.1f} | {ap:.3f} | {auroc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
