"""Suggested labels: the out-of-sample prediction of the score's own kernel regressor, per class.

The CG score analyses kernel regression with the arc-cosine kernel H (the infinitely wide
two-layer ReLU network). Fitted to one-vs-rest targets ``Y`` (``+1`` for the example's class,
``-1`` for every other, one column per class) on the rows of one chunk, ``A = H⁻¹ Y`` from one
factorisation, it predicts any other row ``x`` as ``H(x, chunk) A``: one factorisation and one
product give the prediction of every class for every row outside the chunk.

The plan (:func:`plan_suggestions`) deals the examples, class by class in a random order, into
near-equal chunks of at most ``max_block`` rows (every chunk holds each class in proportion).
Each chunk's block fits the regressor to its rows and predicts the rows of the chunks after it,
so that every row is predicted ``repeats`` times (9 by default) by regressors that never saw it;
the predictions are averaged. When all of X is one chunk, its rows are predicted leave-one-out,
``Y_i − (G Y)_i / G_ii``, by kernel ridge regression: ``G = (H + λ·mean(diag H)·I)⁻¹``, with
``λ`` the one of :data:`RIDGES` whose leave-one-out predictions are closest to the targets
(:func:`choose_ridge`).

Why a ridge there and not for the chunks: one regressor that interpolates its noisy ±1 targets
(``λ = 0``) predicts a row from its nearest neighbours' labels, wrong ones included; with 20% of
the labels flipped the ridge chosen on the benchmark's small sets was 0.3 to 10 and raised the
mean AP of the wrong labels over its 12 cells from 0.781 to 0.917 (penguins, symmetric noise:
0.84 to 1.00). A row outside the chunks is predicted by the average of 9 regressors fitted to
different rows, which already smooths: on Fashion-MNIST the error of the averaged predictions
was least at ``λ = 0`` and the flags' precision fell as ``λ`` grew (0.82 to 0.79 at ``λ = 1``,
symmetric noise), so the chunks keep ``λ = 0``.

Measured on Fashion-MNIST (20,000 rows, blocks of 2048, the confusion rule's precision / recall;
``benches/noise.py``), these predictions against 0.2's (each row predicted leave-one-out inside
its own block, averaged over 9 random plans): 0.82 / 0.96 against 0.81 / 0.95 under symmetric
noise, 0.66 / 0.85 against 0.63 / 0.84 under confusions between similar classes, for an
eighteenth of the factorisation flops (one Cholesky of each chunk, k³/3, against nine of a
Cholesky and the diagonal of H⁻¹, 2k³/3 each).

The predictions are least-squares fits to ±1 targets; ``softmax(f / T)``, with the one
temperature ``T`` that makes the given labels most likely (:mod:`cgfast.noise`), turns them into
class probabilities. The suggested label is the class of the largest prediction;
``label_quality`` is the probability of the given label (cleanlab's "self-confidence"): near 1
when the rest of the data agrees with the label, near 0 when it places the example in another
class. :mod:`cgfast.noise` also estimates the noise matrix from them and flags label issues.

The plan is a pure function of (labels, repeats, max_block, seed), like the score's, and runs
through the same executors and checkpoints (``engine.run_suggestions``); when the local executor
keeps the n x n kernel for scoring, these blocks copy their kernel values out of it too (the same
bits). ``cgfast.suggest_labels`` is the public door.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .checkpoint import BlockResult
from .noise import LabelNoise, analyse
from .plan import _SUGGEST, Block, _rng

# Predictions averaged a row by default. Measured on Fashion-MNIST (20,000 rows, blocks of 2048,
# seed 0; the confusion rule's precision / recall under symmetric, then pairwise noise): 3 give
# 0.79 / 0.95 and 0.58 / 0.79, 6 give 0.81 / 0.96 and 0.64 / 0.83, 9 give 0.82 / 0.96 and
# 0.66 / 0.85, 18 and 27 no more (0.82 / 0.96 and 0.67 / 0.85).
DEFAULT_REPEATS = 9

# Most chunks one suggestion block predicts: its rows in memory are at most this many chunks
# and its own. Nine predictions a row come from one partition once there are ten chunks.
MAX_PREDICTED = 9

# The version of the suggestion plan, recorded in a checkpoint's manifest: 3 since a block of
# all rows chooses its kernel ridge (cgfast 0.3); 2 when blocks began to fit one chunk and predict
# others; 0.2's blocks predicted their own rows leave-one-out.
SUGGEST_PLAN_VERSION = 3

# The kernel ridges λ a leave-one-out block tries, relative to mean(diag H): 0 (the score's own
# regressor, which interpolates) and 0.01 to 100 in steps of about √10. The measured choices on
# the benchmark's small sets were 0.3 to 10.
RIDGES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

T = TypeVar("T")

# Subdirectory of a scoring run's checkpoint that holds its suggestion blocks.
CHECKPOINT_DIR = "suggestions"


@dataclass(frozen=True)
class LabelSuggestions:
    """A suggested label and a label-quality score for every example.

    ``suggested_label[i]`` is the class whose one-vs-rest kernel regressor, fitted without
    example ``i``, predicts the highest value for it, in the labels' own type.
    ``label_quality[i]`` in [0, 1] is the estimated probability of the given label: low means
    the rest of the data places the example in another class (likely wrong). ``probabilities``
    (n, C) holds the estimate for every class, columns in the order of ``classes``;
    ``predictions`` (n, C) the leave-one-out predictions they are calibrated from. ``noise``
    is their analysis (:mod:`cgfast.noise`): the estimated noise matrix and each row's
    ``issue`` probability, from which :func:`cgfast.find_label_issues` flags. ``ridge`` is the
    kernel ridge λ (relative to mean(diag H)) of the regressor when all rows were one block, as
    :func:`choose_ridge` chose it; 0 when chunks predicted one another.
    """

    suggested_label: np.ndarray
    label_quality: np.ndarray
    probabilities: np.ndarray
    classes: np.ndarray
    repeats: int
    predictions: np.ndarray
    codes: np.ndarray
    noise: LabelNoise
    ridge: float = 0.0


def plan_suggestions(codes: np.ndarray, *, repeats: int, max_block: int, seed: int) -> list[Block]:
    """The suggestion plan: blocks of all classes, each fitted once and predicting other blocks.

    A partition orders the examples class by class, randomly within a class, and deals them in
    turn into ``per = ceil(n / max_block)`` chunks, so every chunk holds each class in
    proportion and chunks differ in size by at most one. Chunk ``c``'s block fits the regressor
    to its rows (``negatives``) and predicts the rows (``positives``, in increasing order) of the
    ``q`` chunks after it, cyclically: each row is then predicted by ``q`` regressors that never
    saw it. ``q = min(per - 1, repeats, MAX_PREDICTED)``, and partitions follow one another, each
    drawn anew, until every row has ``repeats`` predictions (the last partition's blocks predict
    fewer chunks where fewer are missing). ``label`` is -1 (all classes); ``repeat`` is the
    partition.

    When one chunk holds every example (``n <= max_block``) there is nothing outside it: the plan
    is one block of all of them, ``negatives`` empty, whose rows are predicted leave-one-out.
    """
    n = len(codes)
    per = -(-n // max_block)
    index_type = np.int32 if n <= np.iinfo(np.int32).max else np.int64
    if per == 1:
        rows = np.arange(n, dtype=index_type)
        return [Block(0, -1, 0, rows[:0], rows)]
    each = min(per - 1, repeats, MAX_PREDICTED)
    blocks = []
    left, partition = repeats, 0
    while left > 0:
        q = min(each, left)
        order = _rng(seed, partition, 0, 0, _SUGGEST).permutation(n)
        order = order[np.argsort(codes[order], kind="stable")]
        chunks = [np.sort(order[c::per]).astype(index_type) for c in range(per)]
        for c in range(per):
            predicted = np.sort(np.concatenate([chunks[(c + j) % per] for j in range(1, q + 1)]))
            blocks.append(Block(partition, -1, c, chunks[c], predicted))
        left -= q
        partition += 1
    return blocks


def targets(codes: np.ndarray, classes: int) -> np.ndarray:
    """One-vs-rest targets of rows with class ``codes``: (k, classes), +1 own class, -1 others."""
    out = np.full((len(codes), classes), -1.0)
    out[np.arange(len(codes)), codes] = 1.0
    return out


def predictions(results: list[BlockResult | None], n: int, classes: int) -> tuple[np.ndarray, int]:
    """The predictions (n, classes) averaged over the regressors that predicted each row, in plan
    order, and how many there were a row (the plan gives every row as many)."""
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise ValueError(
            f"{len(missing)} suggestion block(s) are not finished yet, the first is {missing[0]}"
        )
    sums = np.zeros((classes, n))
    counts = np.zeros(n)
    for result in results:
        assert result is not None
        sums[:, result.positives] += result.terms
        counts[result.positives] += 1
    return (sums / counts).T, int(counts.min())


def choose_ridge(
    candidates: Iterable[T], codes: np.ndarray, predictions: Callable[[T], np.ndarray]
) -> T:
    """The candidate (one per ridge of :data:`RIDGES`, in order) whose leave-one-out predictions
    ``predictions(candidate)`` (n, C) are closest to the one-vs-rest targets of the given labels
    ``codes``: the least mean squared error, the regressor's own loss (Allen's PRESS, the
    classical choice of a ridge). Ties, and predictions that are not finite: the earlier, smaller
    ridge. The candidates are drawn one at a time and only the best so far is kept, so that ten
    sets of predictions of many classes are never held at once.

    Squared error, not the likelihood that sets the temperature: a wrong label costs a
    prediction at most ``(1 + |f|)²`` here, but ``-log p`` without bound there, so the
    likelihood favours regressors smooth enough never to be sure, and chose ridges that found
    fewer wrong labels (a planted set in ``tests/test_noise.py``: ``λ = 10``, the AP of the
    interpolating regressor's; the penguins' swapped pair: ``λ = 100``, AP 0.974 where
    ``λ = 3`` gives 0.994).
    """
    best, least, y = None, np.inf, None
    for candidate in candidates:
        f = predictions(candidate)
        y = targets(codes, f.shape[1]) if y is None else y
        value = float(np.mean((f - y) ** 2))
        if best is None or value < least:
            best, least = candidate, value if np.isfinite(value) else np.inf
    if best is None:
        raise ValueError("no candidate predictions to choose a ridge from")
    return best


def suggestions(
    predicted: np.ndarray,
    classes: np.ndarray,
    codes: np.ndarray,
    repeats: int,
    ridge: float = 0.0,
) -> LabelSuggestions:
    """Suggested labels, label quality and the noise analysis from averaged predictions (n, C);
    ties: first class."""
    noise = analyse(predicted, codes, classes)
    probabilities = noise.probabilities
    best = np.argmax(predicted, axis=1)
    quality = probabilities[np.arange(len(codes)), codes]
    return LabelSuggestions(
        classes[best], quality, probabilities, classes, repeats, predicted, codes, noise, ridge
    )


def checkpoint_dir(checkpoint: str | os.PathLike | None) -> Path | None:
    """Where a scoring checkpoint keeps its suggestion blocks."""
    return None if checkpoint is None else Path(checkpoint) / CHECKPOINT_DIR
