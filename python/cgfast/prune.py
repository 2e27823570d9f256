"""Per-class pruning: which examples of each class to keep, given their scores."""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from ._labels import encode_labels
from .rank import _check_scores, _descending

DROPS = ("easy", "hard")


def prune(
    scores: npt.ArrayLike, y: npt.ArrayLike, *, keep: float, drop: str = "easy"
) -> np.ndarray:
    """Per-class pruning, as in the paper's experiment: the indices of the examples to keep.

    Each class is sorted by score on its own. ``drop="easy"`` keeps the highest-scored
    ``keep`` fraction of every class (low scores are easy, redundant examples);
    ``drop="hard"`` keeps the lowest-scored fraction instead.

    A class of ``m`` examples keeps ``floor(keep * m + 1/2)`` of them (rounding half up), and at
    least one. Among equal scores the example with the lower index is kept first, whichever
    end is dropped.

    Parameters
    ----------
    scores : array-like of shape (n,)
        One finite score per example.
    y : array-like of shape (n,)
        Labels.
    keep : float
        Fraction of each class to keep, in (0, 1].
    drop : {"easy", "hard"}, default "easy"
        Which end of each class's ranking to remove.

    Returns
    -------
    numpy.ndarray of int
        Indices of the kept examples, in increasing order (ready for ``X[kept]``).

    Examples
    --------
    >>> import cgfast
    >>> scores = [0.1, 0.9, 0.5, 0.2, 0.8, 0.7]
    >>> cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3).tolist()
    [1, 2, 4, 5]
    >>> cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3, drop="hard").tolist()
    [0, 2, 3, 5]
    """
    values = _check_scores(scores)
    if isinstance(keep, bool) or not isinstance(keep, numbers.Real):
        raise TypeError(f"keep must be a fraction in (0, 1], got {keep!r}")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep!r}")
    if drop not in DROPS:
        raise ValueError(f"drop must be one of {DROPS}, got {drop!r}")
    _, codes = encode_labels(y, len(values))
    order = _descending(values if drop == "easy" else -values)
    ordered_codes = codes[order]
    kept = []
    for c in range(int(codes.max()) + 1):
        members = order[ordered_codes == c]
        count = max(1, int(np.floor(keep * len(members) + 0.5)))
        kept.append(members[:count])
    return np.sort(np.concatenate(kept))
