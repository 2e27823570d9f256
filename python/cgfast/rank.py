"""Scores to decisions: rankings and the label-issue finder."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ._labels import encode_labels
from ._pandas import pandas as load_pandas
from ._score import score
from .engine import ScoreTerms
from .options import check_choice


def _check_scores(scores: npt.ArrayLike) -> np.ndarray:
    values = np.asarray(scores)
    if values.ndim != 1:
        raise ValueError(f"scores must be 1-D (one per example), got shape {values.shape}")
    if values.dtype.kind not in "fiu":
        raise TypeError(f"scores must be real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"scores has a non-finite value ({values[bad[0]]}) at index {bad[0]}")
    return values


def _descending(values: np.ndarray) -> np.ndarray:
    """Indices of ``values`` highest first; equal values in increasing index order."""
    return np.lexsort((np.arange(len(values)), -values))


def rank(
    scores: npt.ArrayLike, y: npt.ArrayLike | None = None
) -> np.ndarray | dict[Any, np.ndarray]:
    """Indices of the examples from the highest score to the lowest.

    Equal scores are ranked by index, lower first, so the ranking is deterministic.

    Parameters
    ----------
    scores : array-like of shape (n,)
        One finite score per example, e.g. from :func:`cgfast.score`.
    y : array-like of shape (n,), optional
        Labels. When given, each class is ranked on its own.

    Returns
    -------
    numpy.ndarray of shape (n,), or dict
        Without ``y``: all indices, highest score first. With ``y``: a dict mapping each class
        (in sorted order) to the indices of its examples, highest score first.

    Examples
    --------
    >>> import cgfast
    >>> cgfast.rank([0.1, 3.0, 0.5, 3.0]).tolist()
    [1, 3, 2, 0]
    >>> {c: i.tolist() for c, i in cgfast.rank([0.1, 3.0, 0.5, 2.0], ["a", "b", "a", "b"]).items()}
    {'a': [2, 0], 'b': [1, 3]}
    """
    values = _check_scores(scores)
    order = _descending(values)
    if y is None:
        return order
    classes, codes = encode_labels(y, len(values))
    ordered_codes = codes[order]
    return {label: order[ordered_codes == c] for c, label in enumerate(classes.tolist())}


def _check_top(top: object) -> int:
    if isinstance(top, bool) or not isinstance(top, numbers.Integral):
        raise TypeError(f"top must be a non-negative integer, got {top!r}")
    if top < 0:
        raise ValueError(f"top must be a non-negative integer, got {top}")
    return int(top)


def _issues_from_terms(terms: ScoreTerms, top: int | None = None) -> np.ndarray:
    """The suspects among scored examples: see :func:`find_label_issues` for the rule."""
    order = _descending(np.asarray(terms.score, dtype=np.float64))
    if top is not None:
        return order[: _check_top(top)]
    wrong_sign = np.asarray(terms.ab) > 0
    return order[wrong_sign[order]]


RANK_BY = ("score", "label_quality")


def _table_columns(table: Any) -> dict[str, np.ndarray]:
    """The columns of a score table (a pandas or polars DataFrame, a pyarrow Table, or a mapping
    of column names to arrays) as NumPy arrays."""
    if hasattr(table, "to_pydict") and not hasattr(table, "to_numpy"):  # pyarrow
        table = table.to_pydict()
    names = list(table.keys() if hasattr(table, "keys") else table.columns)
    return {str(name): np.asarray(table[name]) for name in names}


def is_table(scores: object) -> bool:
    """A score table: a pandas or polars DataFrame, a pyarrow Table, or a mapping of columns."""
    return isinstance(scores, Mapping) or hasattr(scores, "columns") or hasattr(scores, "to_pydict")


def _from_table(table: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Scores, the label-issue flags and all columns of a table that :func:`cgfast.to_table` or
    ``cgfast score -o`` made."""
    columns = _table_columns(table)
    missing = [name for name in ("score", "label_issue") if name not in columns]
    if missing:
        raise ValueError(
            f"the table has no {' or '.join(missing)} column: pass the table cgfast.score_table, "
            f"cgfast.to_table or `cgfast score -o scores.csv` made (its columns: {list(columns)})"
        )
    scores = _check_scores(columns["score"])
    flags = columns["label_issue"]
    if flags.dtype.kind in "OUS":  # read back from text
        flags = np.isin(np.char.lower(flags.astype(str)), ["true", "1"])
    return scores, flags.astype(bool), columns


def find_label_issues(
    X: Any = None,
    y: npt.ArrayLike | None = None,
    *,
    terms: Any = None,
    top: int | None = None,
    rank_by: str = "score",
    return_table: bool = False,
    **score_kwargs: Any,
) -> Any:
    """Indices of the examples whose labels look wrong, most suspicious first.

    The rule. Within the block that scores example ``i`` (its class against a sample of the
    others), the kernel regressor fitted without ``i`` predicts ``f_i = -ab_i / b2_i`` for it,
    where its own label is +1; the CG score is ``b2_i * (1 - f_i)**2``. Example ``i`` is a
    suspect when that leave-one-out prediction has the wrong sign, ``f_i < 0``, i.e. when
    ``ab_i > 0``: the rest of the data, without ``i``, places it among the other classes. This
    is cleanlab's "out-of-sample prediction disagrees with the given label", with the kernel
    regressor the score already fits; it needs no tuned cut-off and adapts to each class and
    to the noise level. With ``repeats > 1`` the terms are averaged first, so the vote is the
    ``b2``-weighted mean of the predictions.

    On scikit-learn's digits with 10% of the labels flipped it flags about as many examples
    as were flipped, over 90% of them truly flipped; on the clean labels it flags under 1%.

    A flagged example whose suggested label (:func:`cgfast.suggest_labels`) is its own label
    is *irregular* (an outlier of its class, an ambiguous example) rather than mislabelled;
    with ``return_table=True`` the ``kind`` column says which.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, or path to a .npy file, optional
        The examples, as for :func:`cgfast.score`; leave out when passing ``terms``.
    y : array-like of shape (n,), optional
        The given (possibly noisy) labels; needed when scoring here, and for
        ``return_table`` with a :class:`ScoreTerms`.
    terms : ScoreTerms or table, optional
        The result of an earlier run, reused instead of scoring again:
        ``cgfast.score(..., return_terms=True)`` (or ``suggest=True``), or the table of
        :func:`cgfast.score_table` / :func:`cgfast.to_table` / ``cgfast score -o scores.csv``
        (a DataFrame, a pyarrow Table or a mapping of columns).
    top : int, optional
        Return exactly the ``top`` most suspicious examples (fewer if ``n < top``) in the
        ``rank_by`` order instead of applying the rule.
    rank_by : {"score", "label_quality"}, default "score"
        Order of the issues: highest CG score first, or lowest label quality first (as
        cleanlab's ``return_indices_ranked_by="self_confidence"``; needs suggested labels,
        which are computed here when scoring). Ties: lower index first.
    return_table : bool, default False
        Return a pandas DataFrame of the issues instead of their indices: ``index``, ``id``
        (with a table that has one), ``label``, ``suggested_label``, ``label_quality``,
        ``score`` and ``kind`` ("mislabelled" when the suggested label differs from the given
        one, else "irregular"). Needs suggested labels.
    **score_kwargs
        Passed to :func:`cgfast.score` (``ratio``, ``repeats``, ``seed``, ``max_block``,
        ``n_jobs``, ``progress``, ...) when scoring here.

    Returns
    -------
    numpy.ndarray of int, or pandas.DataFrame
        Suspect indices in the ``rank_by`` order, or their table.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
    >>> y[[3, 7]] = 1 - y[[3, 7]]                  # two flipped labels
    >>> suspects = cgfast.find_label_issues(X, y)
    >>> bool({3, 7} <= set(suspects.tolist()))
    True
    >>> cgfast.find_label_issues(X, y, top=5).shape
    (5,)
    >>> terms = cgfast.score(X, y, suggest=True)   # score once, then ask in several ways
    >>> issues = cgfast.find_label_issues(terms=terms, y=y, rank_by="label_quality",
    ...                                   return_table=True)
    >>> sorted(issues.loc[issues["index"].isin([3, 7]), "kind"].tolist())
    ['mislabelled', 'mislabelled']
    """
    if "return_terms" in score_kwargs or "suggest" in score_kwargs:
        raise TypeError("find_label_issues sets return_terms and suggest itself; do not pass them")
    check_choice("rank_by", rank_by, RANK_BY)
    if top is not None:
        _check_top(top)
    needs_suggestions = rank_by == "label_quality" or return_table
    if return_table:
        load_pandas()
    columns: dict[str, np.ndarray] = {}
    if terms is None:
        if X is None or y is None:
            raise TypeError("pass X and y to score here, or terms= from an earlier run")
        found = score(X, y, return_terms=True, suggest=needs_suggestions, **score_kwargs)
        scores, flags = found.score, np.asarray(found.ab) > 0
        suggested, quality = found.suggested_label, found.label_quality
    else:
        if X is not None or score_kwargs:
            extra = ["X"] * (X is not None) + sorted(score_kwargs)
            raise TypeError(f"with terms= nothing is scored; do not pass {', '.join(extra)}")
        if isinstance(terms, ScoreTerms):
            scores = _check_scores(terms.score)
            flags = np.asarray(terms.ab) > 0
            suggested, quality = terms.suggested_label, terms.label_quality
        else:
            scores, flags, columns = _from_table(terms)
            suggested, quality = columns.get("suggested_label"), columns.get("label_quality")
            if y is None:
                y = columns.get("label")
    if needs_suggestions and (suggested is None or quality is None):
        asked = "rank_by='label_quality'" if rank_by == "label_quality" else "return_table"
        raise ValueError(
            f"{asked} needs suggested labels: pass terms from cgfast.score(..., suggest=True) or "
            "the table of cgfast.score_table / `cgfast score -o scores.csv`"
        )
    if rank_by == "label_quality":
        assert quality is not None
        order = _descending(-np.asarray(quality, dtype=np.float64))
    else:
        order = _descending(scores)
    picked = order[: int(top)] if top is not None else order[flags[order]]
    if not return_table:
        return picked
    if y is None:
        raise TypeError("return_table with terms= needs y, the given labels")
    labels = np.asarray(y)
    if labels.shape != scores.shape:
        raise ValueError(f"{len(scores)} scores but y has shape {labels.shape}")
    assert suggested is not None and quality is not None
    given, proposed = labels[picked], np.asarray(suggested)[picked]
    table: dict[str, Any] = {"index": picked}
    if "id" in columns:
        table["id"] = columns["id"][picked]
    table.update(
        label=given,
        suggested_label=proposed,
        label_quality=np.asarray(quality, dtype=np.float64)[picked],
        score=scores[picked],
        kind=np.where(given != proposed, "mislabelled", "irregular"),
    )
    return load_pandas().DataFrame(table)
