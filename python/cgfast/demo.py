"""The demo: find labels flipped at random in scikit-learn's digits (needs the demo extra)."""

from __future__ import annotations

import os
import time
from typing import Callable

import matplotlib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from ._score import score
from .rank import _issues_from_terms, rank
from .report import write_report


def flip_labels(y: np.ndarray, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flips ``round(noise * n)`` labels, chosen at random, each to another class at random.

    Returns the noisy labels and the indices that were flipped (sorted).

    Examples
    --------
    >>> noisy, flipped = flip_labels(np.arange(20) % 4, 0.1, seed=0)
    >>> len(flipped), bool((noisy[flipped] != (np.arange(20) % 4)[flipped]).all())
    (2, True)
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    classes = np.unique(y)
    flipped = np.sort(rng.choice(len(y), size=int(round(noise * len(y))), replace=False))
    codes = np.searchsorted(classes, y[flipped])
    shift = rng.integers(1, len(classes), size=len(flipped))
    noisy = y.copy()
    noisy[flipped] = classes[(codes + shift) % len(classes)]
    return noisy, flipped


def run_demo(
    *,
    noise: float = 0.1,
    seed: int = 0,
    output: str | os.PathLike[str] = "cgfast-demo.html",
    echo: Callable[[str], None] = print,
) -> dict[str, float]:
    """Flips a fraction of the digits labels, scores them, reports how well the score finds them.

    Prints, next to random guessing: the AUROC of the score for "this label was flipped", and
    the precision among the ``k`` highest scores, ``k`` the number flipped; then what
    :func:`cgfast.find_label_issues` flags. Writes the HTML report to ``output``.

    Parameters
    ----------
    noise : float, default 0.1
        Fraction of the 1797 labels flipped.
    seed : int, default 0
        Seed of the flips and of the scores.
    output : path, default "cgfast-demo.html"
        Where the report goes.
    echo : callable, default print
        Receives each line of the summary.

    Returns
    -------
    dict
        ``auroc``, ``precision_at_k``, ``k``, ``flagged``, ``flagged_precision``,
        ``flagged_recall`` and ``restored`` (the share of flipped examples whose suggested
        label is the true one).

    Examples
    --------
    >>> metrics = run_demo(output="demo.html")  # doctest: +SKIP
    >>> metrics["auroc"] > 0.98  # doctest: +SKIP
    True
    """
    matplotlib.use("Agg")
    if not 0 < noise < 1:
        raise ValueError(f"noise must be a fraction in (0, 1), got {noise!r}")
    X, y = load_digits(return_X_y=True)
    noisy, flipped = flip_labels(y, noise, seed)
    truth = np.zeros(len(y), dtype=bool)
    truth[flipped] = True
    k = len(flipped)

    start = time.perf_counter()
    terms = score(X, noisy, seed=seed, suggest=True)
    seconds = time.perf_counter() - start
    scores = terms.score
    auroc = float(roc_auc_score(truth, scores))
    precision_at_k = float(truth[rank(scores)[:k]].mean())
    suspects = _issues_from_terms(terms)
    hits = int(truth[suspects].sum())
    restored = int((np.asarray(terms.suggested_label)[flipped] == y[flipped]).sum())

    write_report(
        output,
        X,
        noisy,
        terms,
        shape=(8, 8),
        run={"seed": seed, "repeats": terms.repeats, "stability": terms.stability},
        arguments={
            "data": "scikit-learn digits (8x8 greyscale)",
            "labels flipped": f"{k} of {len(y)} ({noise:.0%}), seed {seed}",
            "seed": seed,
            "AUROC (flipped vs not)": f"{auroc:.3f} (random: 0.500)",
            f"precision among top {k}": f"{precision_at_k:.3f} (random: {k / len(y):.3f})",
        },
    )
    echo(
        f"cgfast demo: scikit-learn digits, {len(y)} images of 8x8, {k} labels "
        f"({noise:.0%}) flipped at random (seed {seed})"
    )
    echo(f"scored every example and suggested its label in {seconds:.2f} s, no model trained")
    if terms.stability is not None:
        echo(
            f"{terms.repeats} repeats; estimated stability of the ranking {terms.stability:.3f} "
            "(the Spearman expected between two runs with different seeds)"
        )
    echo(f"{'':28}{'cgfast':>8}{'random':>8}")
    echo(f"{'AUROC':28}{auroc:8.3f}{0.5:8.3f}")
    echo(f"{f'precision among top {k}':28}{precision_at_k:8.3f}{k / len(y):8.3f}")
    echo(
        f"find_label_issues flags {len(suspects)}: {hits} of them flipped "
        f"(precision {hits / max(1, len(suspects)):.2f}, recall {hits / max(1, k):.2f})"
    )
    echo(
        f"the suggested label is the true one for {restored} of the {k} flipped examples "
        f"({restored / max(1, k):.0%})"
    )
    echo(f"report: {output}")
    return {
        "auroc": auroc,
        "precision_at_k": precision_at_k,
        "k": float(k),
        "flagged": float(len(suspects)),
        "flagged_precision": hits / max(1, len(suspects)),
        "restored": restored / max(1, k),
        "flagged_recall": hits / max(1, k),
    }
