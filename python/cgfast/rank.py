"""Scores to decisions: rankings and the label-issue finder."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from ._dataset import flag_column
from ._labels import encode_labels, label_column
from ._pandas import pandas as load_pandas
from ._score import score, suggest_labels
from .engine import ScoreTerms
from .noise import NoiseMatrix, margin, prune_by_noise_rate
from .options import check_choice, check_flag
from .suggest import LabelSuggestions


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


@overload
def rank(scores: npt.ArrayLike, y: None = None) -> np.ndarray: ...
@overload
def rank(scores: npt.ArrayLike, y: npt.ArrayLike) -> dict[Any, np.ndarray]: ...
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


RULES = ("confusion", "confident", "sign")


def _rule_flags(rule: str, terms: Any, suggestions: LabelSuggestions | None) -> np.ndarray:
    """The flags (bool, n) of ``rule``, from the score's terms or the suggestion pass."""
    if rule == "sign":
        return np.asarray(terms.ab) > 0
    assert suggestions is not None
    noise = suggestions.noise
    if rule == "confusion":
        return noise.flags
    return prune_by_noise_rate(noise.probabilities, suggestions.codes, noise.matrix.counts)


def _rule_order(rank_by: str, terms: Any, suggestions: LabelSuggestions | None) -> np.ndarray:
    """All indices, most suspicious first by ``rank_by``; ties: lower index first."""
    if rank_by == "score":
        return _descending(np.asarray(terms.score, dtype=np.float64))
    assert suggestions is not None
    if rank_by == "issue":
        return _descending(suggestions.noise.issue)
    if rank_by == "margin":
        return _descending(margin(suggestions.probabilities, suggestions.codes))
    return _descending(-np.asarray(suggestions.label_quality, dtype=np.float64))


def _issues_from_terms(terms: ScoreTerms, top: int | None = None) -> np.ndarray:
    """The suspects of a run, most suspicious first: the confusion rule where the run suggested
    labels, else the score's sign rule (see :func:`find_label_issues`)."""
    found = terms.suggestions
    rule = "confusion" if found is not None else "sign"
    rank_by = RULE_RANKING[rule]
    order = _rule_order(rank_by, terms, found)
    if top is not None:
        return order[: _check_top(top)]
    return order[_rule_flags(rule, terms, found)[order]]


RANK_BY = ("margin", "issue", "score", "label_quality")
# The ranking each rule orders its issues by unless rank_by says otherwise.
RULE_RANKING = {"confusion": "margin", "confident": "margin", "sign": "score"}
# The options of a scoring run that the suggestion pass also takes.
SUGGEST_OPTIONS = ("repeats", "seed", "max_block", "n_jobs", "progress", "checkpoint", "client")


# The columns of cgfast's score tables that hold one finite number a row (``stability`` is NaN
# where it was not estimated), and those that hold one label a row.
NUMBER_COLUMNS = (
    "score", "label_quality", "suggested_quality", "margin", "issue", "a2", "ab", "b2", "residual"
)  # fmt: skip
LABEL_COLUMNS = ("label", "suggested_label", "id")


def _table_columns(table: Any) -> dict[str, np.ndarray]:
    """The columns of a score table (a pandas or polars DataFrame, a pyarrow Table, or a mapping
    of column names to arrays) as NumPy arrays, checked: one value a row in every column, as
    many rows in each, finite numbers in :data:`NUMBER_COLUMNS`, no missing label or id."""
    if hasattr(table, "to_pydict") and not hasattr(table, "to_numpy"):  # pyarrow
        table = table.to_pydict()
    names = list(table.keys() if hasattr(table, "keys") else table.columns)
    columns = {str(name): np.asarray(table[name]) for name in names}
    rows = {name: values.shape[0] if values.ndim else None for name, values in columns.items()}
    first = "score" if "score" in columns else next(iter(columns), None)
    for name, values in columns.items():
        if values.ndim != 1:
            raise ValueError(
                f"column {name!r} of the table must hold one value a row, got shape {values.shape}"
            )
        if rows[name] != rows[first]:
            raise ValueError(
                f"column {name!r} of the table has {rows[name]} rows but {first!r} has "
                f"{rows[first]}: every column needs one value a row"
            )
    for name in NUMBER_COLUMNS:
        if name in columns:
            columns[name] = _number_column(name, columns[name])
    for name in LABEL_COLUMNS:
        if name in columns:
            values = label_column(columns[name])
            missing = [i for i, v in enumerate(values.tolist()) if v is None or v != v]
            if missing:
                raise ValueError(
                    f"column {name!r} of the table has no value in row {missing[0]}"
                    + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                )
            columns[name] = values
    return columns


def _number_column(name: str, values: np.ndarray) -> np.ndarray:
    """A table's column of numbers as float64, refused if a value is not a finite number."""
    try:
        numbers_ = values.astype(np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in values.tolist() if not _is_number(v))
        raise TypeError(
            f"column {name!r} of the table must hold numbers, it holds {bad!r}"
        ) from None
    bad_rows = np.flatnonzero(~np.isfinite(numbers_))
    if bad_rows.size:
        raise ValueError(
            f"column {name!r} of the table has a non-finite value ({numbers_[bad_rows[0]]}) in "
            f"row {bad_rows[0]}"
        )
    return numbers_


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


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
    return scores, flag_column(columns["label_issue"]), columns


def find_label_issues(
    X: Any = None,
    y: npt.ArrayLike | None = None,
    *,
    terms: Any = None,
    suggestions: LabelSuggestions | None = None,
    rule: str = "confusion",
    top: int | None = None,
    rank_by: str | None = None,
    return_table: bool = False,
    **score_kwargs: Any,
) -> Any:
    """Indices of the examples whose labels look wrong, most suspicious first.

    Three rules, each without a tuned cut-off:

    - ``"confusion"`` (the default) reads the suggestion pass (:func:`cgfast.suggest_labels`):
      every row's out-of-sample class probabilities from the score's own kernel, blocks of all
      classes. From them it estimates the noise matrix (which classes the wrong labels of each
      class truly belong to, as :func:`cgfast.noise_matrix` reports) and flags a row when, in a
      balanced comparison, it resembles those classes more than its given one: its ``issue``
      probability is above 1/2. Against the score's per-class test below, whose negatives are
      all other classes pooled, it sees the errors people make between similar classes.
    - ``"sign"`` is the paper's per-class block, the rule of cgfast 0.2: flag ``i`` when the
      kernel regressor fitted without it predicts the other classes, ``ab_i > 0`` (the CG
      score is ``b2_i * (1 - f_i)**2`` with ``f_i = -ab_i / b2_i`` that prediction). It finds
      labels flipped at random with the highest precision measured, and misses most
      confusions between similar classes.
    - ``"confident"`` is confident learning's ``prune_by_noise_rate`` (Northcutt et al., 2021)
      on the suggestion pass's probabilities: for each cell of the noise matrix, that many rows
      with the largest margin for the other class.

    The user guide's "Label review" page has the measurements behind the default
    (``benches/noise.py``).

    A flagged example whose suggested label is its own label is *irregular* (an outlier of its
    class, an ambiguous example) rather than mislabelled; with ``return_table=True`` the
    ``kind`` column says which.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, or path to a .npy file, optional
        The examples, as for :func:`cgfast.score`; leave out when passing ``terms`` or
        ``suggestions``.
    y : array-like of shape (n,), optional
        The given (possibly noisy) labels; needed when scoring here, and for
        ``return_table`` with a :class:`ScoreTerms`.
    terms : ScoreTerms or table, optional
        The result of an earlier run, reused instead of scoring again:
        ``cgfast.score(..., suggest=True)`` (or ``return_terms=True`` for ``rule="sign"``), or
        the table of :func:`cgfast.score_table` / :func:`cgfast.to_table` / ``cgfast score -o
        scores.csv`` (a DataFrame, a pyarrow Table or a mapping of columns), whose
        ``label_issue`` column holds the flags it was written with.
    suggestions : LabelSuggestions, optional
        The result of :func:`cgfast.suggest_labels`, for the rules that read it.
    rule : {"confusion", "confident", "sign"}, default "confusion"
        Which examples are flagged (above).
    top : int, optional
        Return exactly the ``top`` most suspicious examples (fewer if ``n < top``) in the
        ``rank_by`` order instead of applying the rule.
    rank_by : {"margin", "issue", "score", "label_quality"}, optional
        Order of the issues: the largest ``margin`` first (the probability of the most probable
        other class minus that of the given label; the confusion and confident rules'
        ranking, as cleanlab's ``"normalized_margin"``), the highest ``issue`` probability,
        the highest CG score (the sign rule's), or the lowest label quality (cleanlab's
        ``"self_confidence"``). Default: the rule's own. Ties: lower index first.
    return_table : bool, default False
        Return a pandas DataFrame of the issues instead of their indices: ``index``, ``id``
        (with a table that has one), ``label``, ``suggested_label``, ``label_quality``,
        ``margin``, ``issue`` and ``score`` (where known) and ``kind`` ("mislabelled" when the
        suggested label differs from the given one, else "irregular").
    **score_kwargs
        When scoring here: for the confusion and confident rules, the options of
        :func:`cgfast.suggest_labels` (``repeats``, ``seed``, ``max_block``, ``n_jobs``,
        ``progress``, ``checkpoint``, ``client``), which is all they run; for the sign rule,
        those of :func:`cgfast.score`.

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
    >>> issues = cgfast.find_label_issues(terms=terms, y=y, return_table=True)
    >>> sorted(issues.loc[issues["index"].isin([3, 7]), "kind"].tolist())
    ['mislabelled', 'mislabelled']
    >>> bool({3, 7} <= set(cgfast.find_label_issues(terms=terms, rule="sign").tolist()))
    True
    """
    if "return_terms" in score_kwargs or "suggest" in score_kwargs:
        raise TypeError("find_label_issues sets return_terms and suggest itself; do not pass them")
    check_choice("rule", rule, RULES)
    if rank_by is None:
        rank_by = RULE_RANKING[rule]
    check_choice("rank_by", rank_by, RANK_BY)
    if top is not None:
        _check_top(top)
    if check_flag("return_table", return_table):
        load_pandas()
    needs_score = rule == "sign" or rank_by == "score"
    needs_suggestions = rule != "sign" or rank_by != "score" or return_table
    columns: dict[str, np.ndarray] = {}
    flags: np.ndarray | None = None
    given = [
        name
        for name, value in (("terms", terms), ("suggestions", suggestions))
        if value is not None
    ]
    if not given:
        if X is None or y is None:
            raise TypeError("pass X and y to score here, or terms= or suggestions= from earlier")
        terms, suggestions = run_here(X, y, rule, needs_score, needs_suggestions, score_kwargs)
    else:
        check_nothing_scored(given[0], X, score_kwargs)
        if isinstance(terms, ScoreTerms):
            if suggestions is None:
                suggestions = terms.suggestions
        elif terms is not None:
            scores, flags, columns = _from_table(terms)
            terms = None
            if y is None:
                y = columns.get("label")
            rank_by = rank_by if rank_by in columns else "score"
    n = _length(terms, suggestions, columns)
    if flags is None:
        _check_sources(rule, rank_by, terms, suggestions)
        flags = _rule_flags(rule, terms, suggestions)
        order = _rule_order(rank_by, terms, suggestions)
    else:
        values = np.asarray(columns[rank_by], dtype=np.float64)
        order = _descending(-values if rank_by == "label_quality" else values)
    picked = order[: int(top)] if top is not None else order[flags[order]]
    if not return_table:
        return picked
    if y is None:
        if suggestions is None:
            raise TypeError("return_table with terms= needs y, the given labels")
        y = suggestions.classes[suggestions.codes]
    labels = label_column(y)
    if labels.shape != (n,):
        raise ValueError(f"{n} examples but y has shape {labels.shape}")
    if suggestions is not None:
        columns.update(
            suggested_label=np.asarray(suggestions.suggested_label),
            label_quality=suggestions.label_quality,
            margin=margin(suggestions.probabilities, suggestions.codes),
            issue=suggestions.noise.issue,
        )
    if terms is not None:
        columns["score"] = np.asarray(terms.score, dtype=np.float64)
    if "suggested_label" not in columns or "label_quality" not in columns:
        raise ValueError(
            "return_table needs suggested labels: pass terms from cgfast.score(..., suggest=True), "
            "suggestions from cgfast.suggest_labels, or the table of `cgfast score -o scores.csv`"
        )
    proposed = np.asarray(columns["suggested_label"])[picked]
    table: dict[str, Any] = {"index": picked}
    if "id" in columns:
        table["id"] = columns["id"][picked]
    table.update(label=labels[picked], suggested_label=proposed)
    for name in ("label_quality", "margin", "issue", "score"):
        if name in columns:
            table[name] = np.asarray(columns[name], dtype=np.float64)[picked]
    table["kind"] = np.where(labels[picked] != proposed, "mislabelled", "irregular")
    return load_pandas().DataFrame(table)


def check_nothing_scored(source: str, X: Any, options: dict[str, Any]) -> None:
    """A TypeError when X or scoring options come with an earlier result (``source``)."""
    if X is not None or options:
        extra = ["X"] * (X is not None) + sorted(options)
        raise TypeError(f"with {source}= nothing is scored; do not pass {', '.join(extra)}")


def run_here(
    X: Any,
    y: Any,
    rule: str,
    needs_score: bool,
    needs_suggestions: bool,
    options: dict[str, Any],
) -> tuple[ScoreTerms | None, LabelSuggestions | None]:
    """Scores X here for a rule: the CG score (with the suggestion pass when needed) or the
    suggestion pass alone, whose options are checked first."""
    if needs_score:
        terms = score(X, y, return_terms=True, suggest=needs_suggestions, **options)
        return terms, terms.suggestions
    other = sorted(set(options) - set(SUGGEST_OPTIONS))
    if other:
        raise TypeError(
            f"rule={rule!r} runs only the suggestion pass, which takes no "
            f"{', '.join(other)}: those are options of the score (rule='sign')"
        )
    return None, suggest_labels(X, y, **options)


def _length(terms: Any, suggestions: LabelSuggestions | None, columns: dict[str, Any]) -> int:
    if terms is not None:
        return len(terms.score)
    if suggestions is not None:
        return len(suggestions.codes)
    return len(columns["score"])


def _check_sources(
    rule: str, rank_by: str, terms: Any, suggestions: LabelSuggestions | None
) -> None:
    """A clear error when the rule or the ranking needs what the caller's result lacks."""
    if (rule == "sign" or rank_by == "score") and terms is None:
        what = "rule='sign'" if rule == "sign" else "rank_by='score'"
        raise ValueError(
            f"{what} needs the CG score: pass X and y, or terms= from cgfast.score(...)"
        )
    if (rule != "sign" or rank_by != "score") and suggestions is None:
        what = f"rule={rule!r}" if rule != "sign" else f"rank_by={rank_by!r}"
        raise ValueError(
            f"{what} needs the suggestion pass: pass terms from cgfast.score(..., suggest=True) "
            "or suggestions= from cgfast.suggest_labels, or choose rule='sign' for terms "
            "scored without suggestions"
        )


def noise_matrix(
    X: Any = None,
    y: npt.ArrayLike | None = None,
    *,
    terms: ScoreTerms | None = None,
    suggestions: LabelSuggestions | None = None,
    **options: Any,
) -> NoiseMatrix:
    """The estimated label noise: for each given class, how many of its rows truly belong to
    each class, and the share of it that is wrong.

    Confident learning's joint (Northcutt, Jiang & Chuang, JAIR 2021) on the suggestion pass's
    calibrated out-of-sample probabilities: a row labelled ``i`` counts towards class ``j``
    when its probability of ``j`` reaches the mean probability of ``j`` over the rows labelled
    ``j``; each given class's counts are then rescaled to its size. The off-diagonal cells
    say *which* classes are confused and how much; the confusion rule of
    :func:`find_label_issues` weighs each class against them.

    Parameters
    ----------
    X, y
        The examples and their given labels, for a suggestion pass here (options as for
        :func:`cgfast.suggest_labels`); or leave out X and pass ``terms`` or ``suggestions``.
    terms : ScoreTerms, optional
        ``cgfast.score(..., suggest=True)``.
    suggestions : LabelSuggestions, optional
        The result of :func:`cgfast.suggest_labels`.

    Returns
    -------
    NoiseMatrix
        ``counts`` (given × true, float64), ``classes``, ``error_share`` per given class,
        ``errors`` in all, ``confusions()`` (the largest cells) and ``to_frame()``.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); y = np.where(X[:, 0] > 0, "right", "left")
    >>> y[np.flatnonzero(y == "right")[:20]] = "left"   # 20 of "right" labelled "left"
    >>> matrix = cgfast.noise_matrix(X, y)
    >>> matrix.classes.tolist()
    ['left', 'right']
    >>> round(matrix.counts[0, 1])                 # rows labelled "left" that are "right"
    16
    >>> matrix.to_frame().columns.tolist()
    ['left', 'right', 'rows', 'error_share']
    """
    if terms is not None and suggestions is None:
        suggestions = terms.suggestions
        if suggestions is None:
            raise ValueError(
                "the noise matrix needs the suggestion pass: cgfast.score(..., suggest=True)"
            )
    if suggestions is None:
        if X is None or y is None:
            raise TypeError("pass X and y to estimate here, or terms= or suggestions= from earlier")
        _, suggestions = run_here(X, y, "confusion", False, True, options)
    else:
        check_nothing_scored("terms= or suggestions", X, options)
    return suggestions.noise.matrix
