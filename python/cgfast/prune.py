"""Per-class pruning: which examples of each class to keep, given their scores."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from ._labels import encode_labels
from ._pandas import pandas as load_pandas
from .options import Seed, check_choice, check_count, check_seed
from .rank import _check_scores, _descending, _table_columns, flag_column, is_table

STRATEGIES = ("coverage", "keep-hard", "keep-easy")
BINS = 50
# The most equal-width bins a score range can be cut into: float64 has 53 bits of mantissa.
MAX_BINS = 2**53
DROPS = {"easy": "keep-hard", "hard": "keep-easy"}  # the old ``drop=`` keyword, onto strategy


def _check_fraction(name: str, value: object, *, low_open: bool) -> float:
    interval = "(0, 1]" if low_open else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a fraction in {interval}, got {value!r}")
    inside = 0 < value <= 1 if low_open else 0 <= value < 1
    if not inside:
        raise ValueError(f"{name} must be a fraction in {interval}, got {value!r}")
    return float(value)


def _strategy(strategy: str | None, drop: str | None) -> str:
    if drop is not None:
        if strategy is not None:
            raise TypeError("pass strategy or the older drop, not both")
        check_choice("drop", drop, tuple(DROPS))
        warnings.warn(
            f'prune(drop="{drop}") is strategy="{DROPS[drop]}"; drop will be removed',
            DeprecationWarning,
            stacklevel=3,
        )
        return DROPS[drop]
    if strategy is None:
        return "coverage"
    return check_choice("strategy", strategy, STRATEGIES)


# The default cut, by fraction kept: the best beta of the Fashion-MNIST sweep at each fraction
# (``benches/pruning.py --sweep``, chosen on held-out validation images, 3 seeds each), linear
# in between. Cutting costs accuracy when much is kept (the highest scores are informative) and
# helps only when a tenth is kept (+0.5 points over beta = 0.1 and over random).
CUT_KEEPS = (0.1, 0.3, 0.5)
CUT_BETAS = (0.2, 0.05, 0.0)


def _coverage_cut(keep: float) -> float:
    """The default ``beta`` of coverage: the fraction of each class cut from the top."""
    return float(np.interp(keep, CUT_KEEPS, CUT_BETAS))


def _budgets(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Splits ``total`` over bins holding ``counts`` as evenly as the counts allow.

    Water-filling: every bin gets ``min(count, level)`` for the highest level that fits, and
    the few left over go one each to bins that still have room, drawn at random.
    """
    low, high = 0, int(counts.max())
    while low < high:  # the largest level whose capped sum fits in total
        mid = (low + high + 1) // 2
        if np.minimum(counts, mid).sum() <= total:
            low = mid
        else:
            high = mid - 1
    level = low
    budgets = np.minimum(counts, level)
    left = total - int(budgets.sum())
    if left:
        room = np.flatnonzero(counts > level)
        budgets[rng.choice(room, size=left, replace=False)] += 1
    return budgets


def _coverage(
    members: np.ndarray, values: np.ndarray, count: int, beta: float, bins: int, rng
) -> np.ndarray:
    """Coverage-centric selection within one class: ``members`` sorted highest score first."""
    cut = min(int(np.floor(beta * len(members) + 0.5)), len(members) - count)
    pool = members[cut:]
    lows = values[pool]
    low, high = lows.min(), lows.max()
    if high > low:
        strata = np.minimum(((lows - low) / (high - low) * bins).astype(np.int64), bins - 1)
    else:
        strata = np.zeros(len(pool), dtype=np.int64)
    # Only the occupied bins, in order: an empty bin's budget is 0, so this is the split over
    # all bins (and the same draws), in memory that grows with the rows rather than with bins.
    _, strata, counts = np.unique(strata, return_inverse=True, return_counts=True)
    strata = strata.reshape(-1)
    budgets = _budgets(counts, count, rng)
    kept = [
        rng.choice(pool[strata == b], size=budgets[b], replace=False)
        for b in np.flatnonzero(budgets)
    ]
    return np.concatenate(kept)


def _issue_mask(issues: Any, flags: np.ndarray | None, n: int) -> np.ndarray:
    """The rows to leave out before pruning, as a mask of ``n`` booleans."""
    if issues is None:
        return np.zeros(n, dtype=bool) if flags is None else flags
    if issues is False:
        return np.zeros(n, dtype=bool)
    if isinstance(issues, bool):
        raise TypeError("issues must be indices, a mask of booleans, False or None, not True")
    values = np.asarray(issues)
    if values.dtype == bool:
        if values.shape != (n,):
            raise ValueError(f"{n} scores but the issues mask has shape {values.shape}")
        return values
    if values.size == 0:
        return np.zeros(n, dtype=bool)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(f"issues must be integer indices or a boolean mask, got {values.dtype}")
    if values.min() < 0 or values.max() >= n:
        bad = values[(values < 0) | (values >= n)][0]
        raise ValueError(f"issues holds index {bad}, outside the {n} scores")
    mask = np.zeros(n, dtype=bool)
    mask[values] = True
    return mask


def _from_table(
    table: Any, y: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The score, label, id and label-issue columns (None when absent) of a score table."""
    if y is not None:
        raise TypeError("a score table carries its labels in its 'label' column: leave out y")
    columns = _table_columns(table)
    missing = [name for name in ("score", "label") if name not in columns]
    if missing:
        raise ValueError(
            f"the score table has no {missing[0]!r} column (it has {', '.join(columns)}): give "
            "the table of cgfast.to_table / cgfast.score_table or `cgfast score -o scores.csv`"
        )
    flags = columns.get("label_issue")
    issues = None if flags is None else flag_column(flags)
    return columns["score"], columns["label"], columns.get("id"), issues


def kept_columns(
    kept: np.ndarray, scores: np.ndarray, y: np.ndarray, ids: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The table of the kept examples: ``index``, ``id`` (the index when there are no ids),
    ``label`` and ``score``, what :func:`prune` returns for a table and `cgfast prune` writes."""
    index = np.asarray(kept, dtype=np.int64)
    return {
        "index": index,
        "id": index if ids is None else np.asarray(ids)[index],
        "label": np.asarray(y)[index],
        "score": np.asarray(scores, dtype=np.float64)[index],
    }


def prune(
    scores: npt.ArrayLike | Any,
    y: npt.ArrayLike | None = None,
    *,
    keep: float,
    strategy: str | None = None,
    beta: float | None = None,
    bins: int | None = None,
    seed: Seed = 0,
    drop: str | None = None,
    issues: npt.ArrayLike | bool | None = None,
) -> np.ndarray | Any:
    """Per-class pruning: the indices of the examples to keep, or the rows of a score table.

    Each class is pruned on its own, and a class of ``m`` examples keeps
    ``floor(keep * m + 1/2)`` of them (rounding half up), and at least one.

    Label issues go first: a score table's flagged rows (its ``label_issue`` column, see
    :func:`cgfast.find_label_issues`), or the rows given as ``issues``, are never kept, and
    each class's budget is filled from its other rows. Every strategy keeps the highest scores
    or spreads over them, and mislabelled rows score high, so pruning noisy data without this
    step keeps them and raises the share of wrong labels (on 5000 Fashion-MNIST images with
    10% flipped, keeping half kept 490 of the 500 flips). A class with fewer rows left than its
    budget keeps all of them.

    Strategies:

    - ``"coverage"`` (the default): coverage-centric selection (Zheng et al., ICLR 2023). Cut
      the ``beta`` fraction of the class with the highest scores (the likely label errors and
      outliers), split the range of the remaining scores into ``bins`` bins of equal width,
      give each bin an equal share of the budget (a bin with fewer examples than its share
      keeps them all and passes the rest on), and draw each bin's share at random (``seed``).
      The kept set covers easy and hard examples alike, so it does not lose to random pruning
      when little is kept, as ``"keep-hard"`` does.
    - ``"keep-hard"``: keep the highest-scored examples (drop the easy, redundant ones), as in
      the paper's pruning experiment. Good when most is kept; it falls behind random pruning
      when under about half is kept.
    - ``"keep-easy"``: keep the lowest-scored examples.

    Parameters
    ----------
    scores : array-like of shape (n,), or a score table
        One finite score per example, high = hard, e.g. from :func:`cgfast.score`. Or a table
        with ``score`` and ``label`` columns, and ``id`` when the examples have ids: the
        DataFrame of :func:`cgfast.to_table` or :func:`cgfast.score_table`, or the table that
        ``cgfast score ... -o scores.csv`` writes, read back (a pandas or polars DataFrame, a
        pyarrow Table or a mapping of column names to arrays).
    y : array-like of shape (n,)
        Labels; left out with a score table, which has them.
    keep : float
        Fraction of each class to keep, in (0, 1].
    strategy : {"coverage", "keep-hard", "keep-easy"}, default "coverage"
        Which examples of each class to keep.
    beta : float, optional
        Coverage only: the fraction of each class cut from the top before sampling, in
        [0, 1). Never more than ``1 - keep`` is cut. Default, measured on Fashion-MNIST: 0
        when at least half is kept, 0.05 at ``keep=0.3``, 0.2 at ``keep=0.1`` and below,
        linear in between.
    bins : int, optional
        Coverage only: the number of equal-width score bins, default 50.
    seed : int, None, numpy Generator or RandomState, default 0
        Coverage only: seeds the draw within bins, as :func:`cgfast.score`'s ``seed``; the same
        int gives the same indices, ``None`` a fresh draw. The other strategies do not draw.
    drop : {"easy", "hard"}, optional
        The older spelling, deprecated: ``drop="easy"`` is ``strategy="keep-hard"``,
        ``drop="hard"`` is ``strategy="keep-easy"``.
    issues : array-like of int or bool, or False, optional
        The label issues to leave out before pruning: their indices, or a mask of ``n``
        booleans. Default: a score table's ``label_issue`` column, none for plain scores.
        ``False`` keeps them in play (the pruning of cgfast 0.2).

    Returns
    -------
    numpy.ndarray of int, or a pandas DataFrame
        Indices of the kept examples, in increasing order (ready for ``X[kept]``). Given a
        score table: a DataFrame of the kept examples, one row each in the same order, with
        columns ``index`` (their rows in the table), ``id`` (the table's ids, e.g. an image
        folder's paths; the index when it has none), ``label`` and ``score``; this is the
        table `cgfast prune ... -o keep.csv` writes.

    Raises
    ------
    ValueError, TypeError
        For a bad argument, before any work. ``beta`` or ``bins`` with a strategy other than
        ``"coverage"`` is a TypeError.

    Examples
    --------
    >>> import cgfast
    >>> scores = [0.1, 0.9, 0.5, 0.2, 0.8, 0.7]
    >>> cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3, strategy="keep-hard").tolist()
    [1, 2, 4, 5]
    >>> cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3, strategy="keep-easy").tolist()
    [0, 2, 3, 5]
    >>> len(cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3))  # coverage: 2 of each class
    4
    >>> table = {"id": ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png"],
    ...          "label": [0, 0, 0, 1, 1, 1], "score": scores}
    >>> cgfast.prune(table, keep=2 / 3, strategy="keep-hard")["id"].tolist()
    ['b.png', 'c.png', 'e.png', 'f.png']
    >>> cgfast.prune(scores, [0, 0, 0, 1, 1, 1], keep=2 / 3, strategy="keep-hard",
    ...              issues=[1]).tolist()                # row 1 is a label issue
    [0, 2, 4, 5]
    """
    table, ids, flags = is_table(scores), None, None
    if table:
        scores, y, ids, flags = _from_table(scores, y)
    elif y is None:
        raise TypeError("prune needs y, the labels, unless scores is a score table")
    values = _check_scores(scores)
    keep = _check_fraction("keep", keep, low_open=True)
    strategy = _strategy(strategy, drop)
    if strategy != "coverage" and (beta is not None or bins is not None):
        raise TypeError(f"beta and bins are for the coverage strategy only, not {strategy!r}")
    beta = _coverage_cut(keep) if beta is None else _check_fraction("beta", beta, low_open=False)
    bins = BINS if bins is None else check_count("bins", bins, 1)
    if bins > MAX_BINS:
        raise ValueError(
            f"bins={bins} is more than float64 scores can be told apart by (at most 2**53 = "
            f"{MAX_BINS}); a few dozen bins are usual"
        )
    seed = check_seed(seed)
    _, codes = encode_labels(y, len(values))
    dropped = _issue_mask(issues, flags, len(values))
    order = _descending(values if strategy != "keep-easy" else -values)
    ordered_codes = codes[order]
    kept = []
    for c in range(int(codes.max()) + 1):
        members = order[ordered_codes == c]
        count = max(1, int(np.floor(keep * len(members) + 0.5)))
        members = members[~dropped[members]]
        count = min(count, len(members))
        if count == 0:
            continue
        if strategy == "coverage":
            rng = np.random.default_rng([seed, c])
            kept.append(_coverage(members, values, count, beta, bins, rng))
        else:
            kept.append(members[:count])
    kept = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    if not table:
        return kept
    return load_pandas().DataFrame(kept_columns(kept, values, y, ids))
