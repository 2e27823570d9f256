"""Target issues: the rows of a regression set whose real-valued target looks wrong.

``cgfast.score(X, y, task="regression")`` gives every row's leave-one-out residual
``y_i − f_i``, ``f_i`` the prediction of the score's kernel regressor fitted to the other rows of
each block, averaged over the repeats. A row is a *target issue* when its residual is an
outlier among all residuals by the modified z-score of Iglewicz and Hoaglin:

    z_i = |r_i − median(r)| / (1.4826 · MAD(r)) > 3.5

MAD the median absolute deviation, 1.4826 · MAD the standard deviation of normal residuals,
estimated without the outliers' pull. The bound is the textbook one, not tuned: under normal
residuals it flags about 5 rows in 10,000 clean ones. Measured by ``benches/regression.py
--choices`` (4 sets, 3 kinds of corruption, 2 seeds) against a Bonferroni bound (the normal
quantile at 0.05 / 2n, 3.7 to 4.3 on those sets) it traded a little precision (0.73 against
0.79) for more recall: mean F1 0.58 against 0.55. Ranking by the residual found the corrupted
targets better than ranking by the score (mean AP 0.65 against 0.55), which also weighs a row
by how densely the others surround it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._pandas import pandas as load_pandas
from .engine import ScoreTerms

# The modified z-score above which a residual is a target issue (Iglewicz and Hoaglin, 1993).
BOUND = 3.5
# 1.4826 · MAD estimates the standard deviation of normal values; 1.2533 · mean absolute
# deviation does too, and stands in where more than half of the residuals are equal (MAD = 0).
MAD_TO_STD = 1.482602218505602
MEAN_ABS_TO_STD = math.sqrt(math.pi / 2)

# The columns of a regression run's score table.
COLUMNS = ("id", "target", "score", "residual", "target_issue", "stability")


def robust_z(residual: Any) -> np.ndarray:
    """The modified z-score ``|r_i − median(r)| / (1.4826 · MAD(r))`` of every residual.

    Where more than half of the residuals are equal (MAD = 0), the scale is 1.2533 times the
    mean absolute deviation from the median; where every residual is equal, every z is 0.

    Examples
    --------
    >>> robust_z([0.0, 1.0, -1.0, 0.5, 20.0]).round(2).tolist()
    [0.67, 0.67, 2.02, 0.0, 26.31]
    """
    r = np.asarray(residual, dtype=np.float64)
    deviation = np.abs(r - np.median(r))
    scale = MAD_TO_STD * np.median(deviation)
    if scale == 0:
        scale = MEAN_ABS_TO_STD * deviation.mean()
    if scale == 0:
        return np.zeros_like(r)
    return deviation / scale


def target_issues(residual: Any) -> np.ndarray:
    """Whether each row's residual is a target issue: its :func:`robust_z` is above 3.5."""
    return robust_z(residual) > BOUND


def _check_terms(terms: Any) -> ScoreTerms:
    if not isinstance(terms, ScoreTerms) or terms.residual is None:
        raise TypeError(
            "terms must be the result of cgfast.score(X, y, task='regression', "
            f"return_terms=True), got {type(terms).__name__}"
        )
    return terms


def find_target_issues(
    X: Any = None,
    y: Any = None,
    *,
    terms: ScoreTerms | None = None,
    top: int | None = None,
    return_table: bool = False,
    **score_kwargs: Any,
) -> Any:
    """Indices of the rows whose real-valued target looks wrong, most suspicious first.

    Scores the rows as :func:`cgfast.score` does with ``task="regression"`` (or reads the
    ``terms`` of such a run) and flags a row when its leave-one-out residual ``y_i − f_i``
    is an outlier among all residuals: its modified z-score ``|r_i − median(r)| / (1.4826 ·
    MAD(r))`` is above 3.5 (Iglewicz and Hoaglin), a textbook bound, not tuned. No model is
    trained: ``f_i`` is the prediction of the score's kernel regressor (the infinitely wide
    two-layer ReLU network) fitted to the other rows of each random block, averaged over the
    repeats. The user guide's "Regression targets" has the algebra and the measurements.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, or path, optional
        The examples, as for :func:`cgfast.score`; leave out when passing ``terms``.
    y : array-like of n real numbers, optional
        The targets; needed when scoring here, and for ``return_table``.
    terms : ScoreTerms, optional
        The result of ``cgfast.score(X, y, task="regression", return_terms=True)``, reused
        instead of scoring again.
    top : int, optional
        Return exactly the ``top`` rows of largest z (fewer if ``n < top``) instead of those
        above the bound.
    return_table : bool, default False
        Return a pandas DataFrame of the issues instead of their indices: ``index``,
        ``target``, ``residual`` (in the target's units), ``prediction`` (``target −
        residual``), ``z`` and ``score``.
    **score_kwargs
        When scoring here: the options of :func:`cgfast.score` (``repeats``, ``seed``,
        ``max_block``, ``n_jobs``, ``precision``, ``checkpoint``, ``client``, ...).

    Returns
    -------
    numpy.ndarray of int, or pandas.DataFrame
        The flagged rows, largest z first (ties: lower index first), or their table.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = X[:, 0] - 2 * X[:, 1] ** 2
    >>> y[[4, 40]] += [15, -15]                       # two corrupted targets
    >>> cgfast.find_target_issues(X, y)[:2].tolist()
    [40, 4]
    >>> terms = cgfast.score(X, y, task="regression", return_terms=True)
    >>> table = cgfast.find_target_issues(y=y, terms=terms, top=2, return_table=True)
    >>> table["index"].tolist(), bool((table["residual"].abs() > 10).all())
    ([40, 4], True)
    """
    for name in ("return_terms", "task", "suggest"):
        if name in score_kwargs:
            raise TypeError(f"find_target_issues sets {name} itself; do not pass it")
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer))):
        raise TypeError(f"top must be an integer, got {top!r}")
    if top is not None and top < 0:
        raise ValueError(f"top must not be negative, got {top}")
    if return_table:
        load_pandas()
    if terms is None:
        if X is None or y is None:
            raise TypeError("pass X and y to score here, or terms= from an earlier run")
        from ._score import score

        terms = score(X, y, task="regression", return_terms=True, **score_kwargs)
    elif X is not None or score_kwargs:
        extra = ["X"] * (X is not None) + sorted(score_kwargs)
        raise TypeError(f"with terms= nothing is scored; do not pass {', '.join(extra)}")
    terms = _check_terms(terms)
    assert terms.residual is not None
    z = robust_z(terms.residual)
    order = np.lexsort((np.arange(len(z)), -z))
    picked = order[: int(top)] if top is not None else order[z[order] > BOUND]
    if not return_table:
        return picked
    if y is None:
        raise TypeError("return_table needs y, the targets")
    target = np.asarray(y, dtype=np.float64).reshape(-1)
    if target.shape != z.shape:
        raise ValueError(f"{len(z)} rows scored but y has {target.size} targets")
    residual = np.asarray(terms.residual)[picked]
    return load_pandas().DataFrame(
        {
            "index": picked,
            "target": target[picked],
            "residual": residual,
            "prediction": target[picked] - residual,
            "z": z[picked],
            "score": np.asarray(terms.score)[picked],
        }
    )


def table_columns(terms: ScoreTerms, y: Any, ids: Any = None) -> dict[str, np.ndarray]:
    """The score table of a regression run, one row per example in X's order: ``id`` (``ids``,
    else the row index), ``target``, ``score``, ``residual`` (``y_i − f_i`` in the target's
    units), ``target_issue`` (:func:`find_target_issues`' rule) and ``stability`` (the run's,
    NaN after a single repeat)."""
    terms = _check_terms(terms)
    assert terms.residual is not None
    scores = np.asarray(terms.score, dtype=np.float64)
    n = len(scores)
    target = np.asarray(y, dtype=np.float64)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != (n,):
        raise ValueError(f"{n} scores but y has shape {target.shape}")
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if ids.shape != (n,):
        raise ValueError(f"{n} scores but ids has shape {ids.shape}")
    stability = math.nan if terms.stability is None else float(terms.stability)
    return {
        "id": ids,
        "target": target,
        "score": scores,
        "residual": np.asarray(terms.residual, dtype=np.float64),
        "target_issue": target_issues(terms.residual),
        "stability": np.full(n, stability),
    }
