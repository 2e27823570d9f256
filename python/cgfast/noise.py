"""Label noise from the out-of-sample predictions: calibration, the noise matrix, the issue rules.

The suggestion pass (:mod:`cgfast.suggest`) predicts every row, for every class at once, by
regressors fitted to chunks of the data that do not hold it. This module turns those
predictions into decisions about the labels:

1. **Calibration.** The predictions are least-squares fits to ±1 targets, not probabilities.
   ``softmax(f / T)`` with one temperature ``T``, fitted by maximising the likelihood of the
   given labels (a one-dimensional convex problem in ``1/T``), gives class probabilities whose
   scale is the data's own.
2. **The noise matrix.** Confident learning (Northcutt, Jiang & Chuang, JAIR 2021): a row of
   given class ``i`` counts towards true class ``j`` when its probability of ``j`` reaches ``j``'s
   threshold, the mean probability of ``j`` over the rows labelled ``j`` (the most probable such
   ``j`` when several do). Each given class's counts are rescaled to its size: ``counts[i, j]``
   estimates how many rows labelled ``i`` truly belong to ``j``.
3. **The confusion rule.** The paper's per-class block scores class ``i`` against negatives
   drawn from all other classes pooled, which in probabilities flags row ``x`` when
   ``p_i(x) / π_i < Σ_j w_j p_j(x) / π_j`` with ``w`` the pooled shares of the other classes
   (``π`` the classes' shares of the data): a flipped row is flagged only when its true class is
   far from its given one. The confusion rule makes the same test with the negatives a
   label-error of class ``i`` comes from, ``w_ij ∝ counts[i, j]`` off the diagonal, so a row
   of class ``i`` is weighed against the classes ``i`` is confused with. A row's ``issue`` is
   the larger of the two tests' posteriors ``rhs / (lhs + rhs)``, pooled and
   confusion-weighted; rows above 1/2 are flagged. Keeping the pooled test means a row that
   sits plainly in another class is flagged even where the noise matrix missed that class (a
   small class, an error of its own kind); on Fashion-MNIST it changes no figure by more than
   0.01. Where no error is estimated for a class, its confusion-weighted negatives are the
   pooled ones. Both tests balance the classes as the paper's blocks do at ratio 1: half
   positives, half negatives, unless a class holds more than half of the data (then its block
   holds all of the rest and the class keeps its share).
4. **The ranking.** The flagged rows are ordered by their ``margin``: the probability of the
   most probable other class minus that of the given label. Across the benchmark's sets it
   ranks wrong labels best on average (``benches/noise.py``): ahead of ``1 - label_quality``
   on confusions between similar classes, level with it elsewhere.

Everything here is a pure function of the predictions and the labels: the same inputs give the
same bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._pandas import pandas as load_pandas

# The temperature fit: Newton steps on 1/T (the likelihood is convex in it), kept inside this
# bracket of log(1/T), until a step moves 1/T by less than the tolerance (relative).
_LOG_INVERSE_T = (-3.0, 7.0)
_FIT_STEPS = 50
_FIT_TOLERANCE = 1e-12
# Most predictions (rows x classes) the fit reads: above it, every k-th row, so that a set with
# many classes fits in a few seconds; one scalar is well determined by millions of entries.
_FIT_ENTRIES = 4_000_000


def _softmax(predictions: np.ndarray, inverse_t: float) -> np.ndarray:
    z = predictions * inverse_t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(predictions: np.ndarray, codes: np.ndarray, inverse_t: float) -> float:
    z = predictions * inverse_t
    top = z.max(axis=1)
    logsum = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float((logsum - z[np.arange(len(codes)), codes]).mean())


def temperature(predictions: np.ndarray, codes: np.ndarray) -> float:
    """The temperature ``T`` that maximises the likelihood of the given labels under
    ``softmax(predictions / T)``.

    The mean negative log likelihood is convex in ``b = 1/T``, with gradient
    ``mean(E_p[f] − f_label)`` and curvature ``mean(Var_p[f])``; Newton steps from ``b = 1``,
    halved while they do not lower it and kept inside ``[e^-3, e^7]``, converge in a few
    passes over the predictions (each one softmax of ``n × C``). Where ``n × C`` exceeds four
    million, every ``k``-th row is read (rows ``0, k, 2k, ...``), so many classes stay cheap.
    """
    stride = -(-predictions.size // _FIT_ENTRIES)
    if stride > 1:
        predictions, codes = predictions[::stride], codes[::stride]
    rows = np.arange(len(codes))
    low, high = np.exp(_LOG_INVERSE_T[0]), np.exp(_LOG_INVERSE_T[1])
    b = 1.0
    current = _nll(predictions, codes, b)
    for _ in range(_FIT_STEPS):
        p = _softmax(predictions, b)
        mean = np.einsum("ij,ij->i", p, predictions)
        spread = np.einsum("ij,ij->i", p, predictions * predictions) - mean * mean
        gradient = float((mean - predictions[rows, codes]).mean())
        curvature = float(np.maximum(spread, 0.0).mean())
        if curvature <= 0.0:
            break
        step = gradient / curvature
        for _ in range(60):  # halve until the likelihood does not fall
            trial = min(max(b - step, low), high)
            value = _nll(predictions, codes, trial)
            if value <= current:
                break
            step /= 2.0
        else:
            break
        moved = abs(trial - b)
        b, current = trial, value
        if moved <= _FIT_TOLERANCE * b:
            break
    return float(1.0 / b)


def calibrated(predictions: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Class probabilities (n, C) from leave-one-out predictions: ``softmax(f / T)``, ``T`` fitted
    to the given labels (:func:`temperature`)."""
    return _softmax(predictions, 1.0 / temperature(predictions, codes))


def confident_joint(
    probabilities: np.ndarray, codes: np.ndarray, thresholds: np.ndarray | None = None
) -> np.ndarray:
    """Estimated counts (C, C) of rows with given label ``i`` (row) and true label ``j`` (column).

    Confident learning's joint, calibrated: each row of counts sums to the size of its given
    class. A given class none of whose rows reach any threshold keeps its size on the diagonal.
    ``thresholds`` (C,) replaces the per-class thresholds (by default the mean probability of
    each class over the rows labelled with it; ``benches/noise_rules.py`` measures another).
    """
    n, classes = probabilities.shape
    sizes = np.bincount(codes, minlength=classes).astype(np.float64)
    if thresholds is None:
        sums = np.zeros(classes)
        np.add.at(sums, codes, probabilities[np.arange(n), codes])
        thresholds = sums / np.maximum(sizes, 1.0)
    above = probabilities >= thresholds
    counted = above.any(axis=1)
    true = np.argmax(np.where(above, probabilities, -np.inf), axis=1)
    joint = np.zeros((classes, classes))
    np.add.at(joint, (codes[counted], true[counted]), 1.0)
    totals = joint.sum(axis=1)
    empty = totals == 0
    joint[empty, np.flatnonzero(empty)] = 1.0
    totals[empty] = 1.0
    return joint * (sizes / totals)[:, None]


def confusion_weights(counts: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Per given class (row), the weights of the other classes as its negatives: the estimated
    sources of its label errors, ``counts[i, j]`` off the diagonal, normalised; where a class
    has no estimated errors, the other classes pooled by their ``shares`` (the paper's draw)."""
    classes = len(shares)
    off = counts * (1.0 - np.eye(classes))
    pooled = np.tile(shares, (classes, 1)) * (1.0 - np.eye(classes))
    totals = off.sum(axis=1, keepdims=True)
    weights = np.where(totals > 0, off, pooled)
    return weights / weights.sum(axis=1, keepdims=True)


def block_shares(sizes: np.ndarray) -> np.ndarray:
    """Each class's share of its own block in the paper's protocol at ratio 1: its rows against
    as many negatives as the other classes have, up to all of them. One half, unless the
    class holds more than half of the data."""
    n = sizes.sum()
    return sizes / (sizes + np.minimum(sizes, n - sizes))


def issue_probability(
    probabilities: np.ndarray, codes: np.ndarray, weights: np.ndarray, shares: np.ndarray
) -> np.ndarray:
    """Each row's posterior of the negatives of its class, weighted by ``weights``, in a block
    balanced as the paper's (:func:`block_shares`; module docstring, step 3): above 1/2, the
    row resembles them more than its own class."""
    rows = np.arange(len(codes))
    density = probabilities / shares
    own_share = block_shares(shares * len(codes))[codes]
    own = own_share * density[rows, codes]
    other = (1.0 - own_share) * np.einsum("ij,ij->i", weights[codes], density)
    return other / (own + other)


def margin(probabilities: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The most probable other class's probability minus the given label's, in [-1, 1]: the
    ranking of the confusion rule's issues (highest first)."""
    rows = np.arange(len(codes))
    others = probabilities.copy()
    others[rows, codes] = -np.inf
    return others.max(axis=1) - probabilities[rows, codes]


def prune_by_noise_rate(
    probabilities: np.ndarray, codes: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Confident learning's ``prune_by_noise_rate`` flags (bool, n): for every off-diagonal cell
    ``(i, j)``, the ``round(counts[i, j])`` rows labelled ``i`` with the largest margin
    ``p_j − p_i``; rows whose most probable class is their label are never flagged."""
    flags = np.zeros(len(codes), dtype=bool)
    takes = np.rint(counts * (1.0 - np.eye(counts.shape[0]))).astype(np.int64)
    for i in np.flatnonzero(takes.sum(axis=1)):  # only the cells that prune: C may be large
        members = np.flatnonzero(codes == i)
        for j in np.flatnonzero(takes[i]):
            margin = probabilities[members, j] - probabilities[members, i]
            order = np.lexsort((members, -margin))
            flags[members[order[: takes[i, j]]]] = True
    return flags & (np.argmax(probabilities, axis=1) != codes)


@dataclass(frozen=True)
class NoiseMatrix:
    """The estimated label noise: how many rows of each given class truly belong to each class.

    ``counts[i, j]`` (float64, C x C) estimates the rows labelled ``classes[i]`` whose true class
    is ``classes[j]``; each row of ``counts`` sums to the size of its given class, so the
    diagonal holds the rows estimated right. ``error_share[i]`` is the estimated share of class
    ``i``'s rows that are wrong. :meth:`to_frame` gives both as a pandas DataFrame.
    """

    classes: np.ndarray
    counts: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """The number of rows of each given class."""
        return self.counts.sum(axis=1)

    @property
    def error_share(self) -> np.ndarray:
        """Estimated share of each given class's rows whose label is wrong."""
        sizes = self.sizes
        return 1.0 - np.diag(self.counts) / np.where(sizes > 0, sizes, 1.0)

    @property
    def errors(self) -> float:
        """Estimated number of wrong labels in all."""
        return float(self.counts.sum() - np.trace(self.counts))

    def confusions(self, top: int = 5) -> list[tuple[Any, Any, float]]:
        """The ``top`` largest off-diagonal cells as ``(given, true, estimated rows)``, largest
        first (ties: the earlier given class, then the earlier true class)."""
        off = self.counts * (1.0 - np.eye(len(self.classes)))
        flat = off.ravel()
        cells = np.flatnonzero(flat > 0)
        # largest first; ties: the earlier given class, then the earlier true class (row-major)
        cells = cells[np.lexsort((cells, -flat[cells]))][: max(int(top), 0)]
        rows, columns = np.divmod(cells, off.shape[1])
        return [
            (self.classes[i], self.classes[j], float(self.counts[i, j]))
            for i, j in zip(rows.tolist(), columns.tolist())
        ]

    def to_frame(self) -> Any:
        """The counts as a pandas DataFrame (given label × true label, rounded to whole rows),
        with the columns ``rows`` and ``error_share`` after the true labels."""
        pandas = load_pandas()
        names = [str(c) for c in self.classes.tolist()]
        frame = pandas.DataFrame(np.rint(self.counts).astype(np.int64), index=names, columns=names)
        frame.index.name, frame.columns.name = "given", "true"
        frame["rows"] = np.rint(self.sizes).astype(np.int64)
        frame["error_share"] = self.error_share
        return frame


@dataclass(frozen=True)
class LabelNoise:
    """The analysis of one set of leave-one-out predictions (see the module docstring)."""

    probabilities: np.ndarray  # calibrated, (n, C)
    matrix: NoiseMatrix
    issue: np.ndarray  # the larger of the pooled and the confusion-weighted posterior, (n,)
    temperature: float

    @property
    def flags(self) -> np.ndarray:
        """The confusion rule's flags: ``issue > 1/2``."""
        return self.issue > 0.5


def analyse(predictions: np.ndarray, codes: np.ndarray, classes: np.ndarray) -> LabelNoise:
    """Calibrated probabilities, the noise matrix and every row's issue probability."""
    t = temperature(predictions, codes)
    probabilities = _softmax(predictions, 1.0 / t)
    counts = confident_joint(probabilities, codes)
    shares = np.bincount(codes, minlength=len(classes)) / len(codes)
    pooled = confusion_weights(np.diag(np.diag(counts)), shares)
    confused = confusion_weights(counts, shares)
    issue = np.maximum(
        issue_probability(probabilities, codes, pooled, shares),
        issue_probability(probabilities, codes, confused, shares),
    )
    return LabelNoise(probabilities, NoiseMatrix(np.asarray(classes), counts), issue, t)
