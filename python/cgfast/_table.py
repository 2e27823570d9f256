"""Scores as a table: one row per example with its id, label, score, rank and label-issue flag.

:func:`table_columns` builds the columns from a run's terms (plain NumPy); :func:`to_table` and
:func:`score_table` return them as a pandas DataFrame; :func:`write_table` writes them as .csv or
.parquet, whole or not at all.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._labels import encode_labels, label_column
from ._pandas import pandas as load_pandas
from .engine import ScoreTerms
from .noise import margin

TABLE_FORMATS = (".csv", ".parquet")
COLUMNS = ("id", "label", "score", "rank_in_class", "label_issue", "stability")
# Added after label_issue when the run suggested labels (score(..., suggest=True)).
SUGGESTION_COLUMNS = ("suggested_label", "label_quality", "suggested_quality", "margin", "issue")


def table_columns(
    terms: ScoreTerms, y: Any, ids: Any = None, *, with_terms: bool = False
) -> dict[str, np.ndarray]:
    """The table's columns, in order, as NumPy arrays of equal length.

    ``rank_in_class`` is 1 for the highest score of each class (ties: lower index first);
    ``label_issue`` is :func:`cgfast.find_label_issues`' default rule (``"confusion"``) when
    ``terms`` carries suggestions, else the score's sign rule, ``ab > 0``; ``stability`` is
    the run's estimate, the same on every row (NaN after a single repeat). When ``terms``
    carries suggestions, ``suggested_label``, ``label_quality`` (the probability of the given
    label), ``suggested_quality`` (that of the suggested label), ``margin`` (the most probable
    other class's probability minus the given label's: the ranking of the issues) and ``issue``
    (the confusion rule's probability, flagged above 1/2) follow ``label_issue``.
    ``with_terms`` adds the columns ``a2``, ``ab`` and ``b2``. A regression run's table
    (``terms.residual`` set) has its own columns (:func:`cgfast.regression.table_columns`).
    """
    from .rank import _descending, _issues_from_terms

    if terms.residual is not None:
        from .regression import table_columns as target_columns

        columns = target_columns(terms, y, ids)
        if with_terms:
            for name in ("a2", "ab", "b2"):
                columns[name] = np.asarray(getattr(terms, name), dtype=np.float64)
        return columns

    scores = np.asarray(terms.score, dtype=np.float64)
    n = len(scores)
    labels = label_column(y)
    if labels.shape != (n,):
        raise ValueError(f"{n} scores but y has shape {labels.shape}")
    if ids is None:
        ids = np.arange(n)
    ids = np.asarray(ids)
    if ids.shape != (n,):
        raise ValueError(f"{n} scores but ids has shape {ids.shape}")
    _, codes = encode_labels(labels, n)
    order = _descending(scores)
    rank_in_class = np.empty(n, dtype=np.int64)
    ordered = codes[order]
    for c in range(int(codes.max()) + 1):
        members = order[ordered == c]
        rank_in_class[members] = np.arange(1, len(members) + 1)
    issue = np.zeros(n, dtype=bool)
    issue[_issues_from_terms(terms)] = True
    stability = math.nan if terms.stability is None else float(terms.stability)
    columns = {
        "id": ids,
        "label": labels,
        "score": scores,
        "rank_in_class": rank_in_class,
        "label_issue": issue,
    }
    if terms.suggested_label is not None and terms.label_quality is not None:
        columns["suggested_label"] = np.asarray(terms.suggested_label)
        columns["label_quality"] = np.asarray(terms.label_quality, dtype=np.float64)
    if terms.suggestions is not None:
        found = terms.suggestions
        columns["suggested_quality"] = found.probabilities.max(axis=1)
        columns["margin"] = margin(found.probabilities, found.codes)
        columns["issue"] = np.asarray(terms.suggestions.noise.issue, dtype=np.float64)
    columns["stability"] = np.full(n, stability)
    if with_terms:
        for name in ("a2", "ab", "b2"):
            columns[name] = np.asarray(getattr(terms, name), dtype=np.float64)
    return columns


def to_table(terms: ScoreTerms, y: Any, ids: Any = None, *, with_terms: bool = False) -> Any:
    """The scores of ``cgfast.score(X, y, return_terms=True)`` as a pandas DataFrame.

    One row per example, in X's order: ``id`` (``ids``, else the row index), ``label``,
    ``score``, ``rank_in_class`` (1 = highest score of its class), ``label_issue`` (flagged by
    :func:`cgfast.find_label_issues`' rule), ``suggested_label``, ``label_quality``,
    ``suggested_quality``, ``margin`` and ``issue`` (when the run suggested labels:
    ``score(..., suggest=True)``, which :func:`score_table` does) and
    ``stability`` (the run's, on every row; also in ``DataFrame.attrs["stability"]``). Needs
    pandas.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)); y = np.where(X[:, 0] > 0, "cat", "dog")
    >>> terms = cgfast.score(X, y, repeats=2, suggest=True)
    >>> table = cgfast.to_table(terms, y)
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['id', 'label', 'score', 'rank_in_class', 'label_issue', 'suggested_label', 'label_quality',
     'suggested_quality', 'margin', 'issue', 'stability']
    """
    pandas = load_pandas()
    frame = pandas.DataFrame(table_columns(terms, y, ids, with_terms=with_terms))
    frame.attrs["stability"] = terms.stability
    return frame


def score_table(X: Any, y: Any, *, ids: Any = None, **score_kwargs: Any) -> Any:
    """Scores X, suggests labels, and returns :func:`to_table`'s DataFrame (pandas needed); with
    ``task="regression"``, the regression table (no suggestions).

    ``score_kwargs`` go to :func:`cgfast.score` (``repeats``, ``seed``, ...).

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> X = np.random.default_rng(0).normal(size=(60, 3)); y = X[:, 0] > 0
    >>> table = cgfast.score_table(X, y, repeats=2)                # doctest: +SKIP
    >>> table.sort_values("score", ascending=False).head()         # doctest: +SKIP
    """
    from ._score import score

    load_pandas()
    for name in ("return_terms", "suggest"):
        if name in score_kwargs:
            raise TypeError(f"score_table sets {name} itself; do not pass it")
    if score_kwargs.get("task", "classification") == "regression":
        # A real-valued target has no labels to suggest: its table is the regression one.
        return to_table(score(X, y, return_terms=True, **score_kwargs), y, ids)
    terms = score(X, y, suggest=True, **score_kwargs)
    return to_table(terms, y, ids)


def check_table_path(path: Path) -> None:
    """Fails before any work when ``path`` is not a table cgfast can write."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ValueError(f"a table is written as {' or '.join(TABLE_FORMATS)}, not {path.name}")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError(f"writing {path.name} needs pyarrow: pip install pyarrow") from None


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def native(values: np.ndarray) -> np.ndarray:
    """The values in this machine's byte order (Arrow takes no byte-swapped arrays)."""
    return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))


def write_table(path: Path, columns: dict[str, np.ndarray], write: Any) -> None:
    """Writes the columns to ``path`` (.csv or .parquet by its extension) through ``write``,
    a function ``write(path, fill)`` that calls ``fill(handle)`` on a temporary file and renames
    it into place (the command line's atomic writer)."""
    names = list(columns)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {
            name: pa.array(values.tolist() if values.dtype.kind in "OUS" else native(values))
            for name, values in columns.items()
        }
        table = pa.table(arrays)
        write(path, lambda handle: pq.write_table(table, handle))
        return

    def fill(handle: Any) -> None:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(names)
        lists = [values.tolist() for values in columns.values()]
        for row in zip(*lists):
            writer.writerow([_cell(value) for value in row])
        text.flush()
        text.detach()

    write(path, fill)
