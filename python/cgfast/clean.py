"""From noisy labels to a training set: drop the label issues, or relabel the confident ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._labels import class_codes, label_column
from ._pandas import pandas as load_pandas
from .options import check_choice
from .rank import (
    RULES,
    _table_columns,
    check_nothing_scored,
    find_label_issues,
    is_table,
    run_here,
)
from .suggest import LabelSuggestions

ACTIONS = ("drop", "relabel")

# A flagged row is relabelled when its suggested label has at least this probability (more
# likely than all other classes together); other flagged rows are dropped. Measured on
# Fashion-MNIST (benches/noise.py): 83% of such relabels are right under symmetric noise and
# 65% under confusions between similar classes, against 72% and 56% when every flagged row is
# relabelled.
RELABEL_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Cleaned:
    """A cleaned training set: which rows to keep and the label each keeps.

    ``keep`` holds the kept rows' indices in increasing order and ``labels`` their final
    labels (the given label, or the suggested one where ``changed``); ``dropped`` the indices
    of the rows left out. ``given`` is every row's given label and ``flagged`` the label
    issues the cleaning acted on. :meth:`summary` counts per class, :meth:`to_frame` is the
    table ``cgfast clean`` writes.
    """

    keep: np.ndarray
    labels: np.ndarray
    changed: np.ndarray  # bool, one per kept row
    dropped: np.ndarray
    given: np.ndarray
    flagged: np.ndarray
    action: str
    ids: np.ndarray | None = None

    @property
    def relabelled(self) -> np.ndarray:
        """Indices of the kept rows whose label changed."""
        return self.keep[self.changed]

    def summary(self) -> Any:
        """Per given class: ``rows``, ``flagged``, ``dropped``, ``relabelled`` (rows that left
        the class for another), ``relabelled_in`` (rows that came to it) and ``kept`` (its rows
        after cleaning), as a pandas DataFrame."""
        classes, codes = class_codes(self.given)  # one class is a summary too
        count = len(classes)
        lookup = {label: c for c, label in enumerate(classes.tolist())}
        final_codes = np.array([lookup[v] for v in self.labels.tolist()], dtype=np.int64)
        moved = self.keep[self.changed]
        frame = {
            "rows": np.bincount(codes, minlength=count),
            "flagged": np.bincount(codes[self.flagged], minlength=count),
            "dropped": np.bincount(codes[self.dropped], minlength=count),
            "relabelled": np.bincount(codes[moved], minlength=count),
            "relabelled_in": np.bincount(
                np.asarray(final_codes, dtype=np.int64)[self.changed], minlength=count
            ),
            "kept": np.bincount(np.asarray(final_codes, dtype=np.int64), minlength=count),
        }
        table = load_pandas().DataFrame(frame, index=[str(c) for c in classes.tolist()])
        table.index.name = "label"
        return table

    def columns(self) -> dict[str, np.ndarray]:
        """The kept rows as columns: ``index``, ``id`` (the index without ids), ``label``
        (final), ``given_label`` and ``changed``."""
        return {
            "index": self.keep.astype(np.int64),
            "id": self.keep if self.ids is None else np.asarray(self.ids)[self.keep],
            "label": self.labels,
            "given_label": self.given[self.keep],
            "changed": self.changed,
        }

    def to_frame(self) -> Any:
        """:meth:`columns` as a pandas DataFrame."""
        return load_pandas().DataFrame(self.columns())


def _decisions(
    flags: np.ndarray,
    given: np.ndarray,
    suggested: np.ndarray | None,
    confidence: np.ndarray | None,
    action: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows to keep (bool) and every row's final label."""
    final = given.copy()
    keep = ~flags
    if action == "relabel":
        assert suggested is not None and confidence is not None
        sure = flags & (confidence >= RELABEL_CONFIDENCE) & (suggested != given)
        if final.dtype != suggested.dtype:
            final = final.astype(object)
        final[sure] = suggested[sure]
        keep |= sure
    return keep, final


def clean(
    X: Any = None,
    y: npt.ArrayLike | None = None,
    *,
    terms: Any = None,
    suggestions: LabelSuggestions | None = None,
    action: str = "drop",
    rule: str = "confusion",
    ids: npt.ArrayLike | None = None,
    **score_kwargs: Any,
) -> Cleaned:
    """A training set from noisy labels: the label issues dropped, or relabelled where sure.

    The issues are :func:`cgfast.find_label_issues`' (``rule``, the confusion rule by
    default). ``action="drop"`` leaves every flagged row out. ``action="relabel"`` gives a
    flagged row its suggested label where the suggestion's probability is at least 1/2 (more
    likely than every other class together) and drops the other flagged rows; on
    Fashion-MNIST that keeps about 70% of the flagged rows, most of them now right (the
    user guide's "Label review" has the measurements).

    Parameters
    ----------
    X, y
        The examples and their given labels, scored here (as for
        :func:`cgfast.find_label_issues`); or leave out X and pass ``terms`` or
        ``suggestions``.
    terms : ScoreTerms or table, optional
        ``cgfast.score(..., suggest=True)``, or the table of ``cgfast score -o scores.csv``
        (its ``label_issue`` column, and for relabelling its ``suggested_label`` and
        ``suggested_quality``).
    suggestions : LabelSuggestions, optional
        The result of :func:`cgfast.suggest_labels`.
    action : {"drop", "relabel"}, default "drop"
    rule : {"confusion", "confident", "sign"}, default "confusion"
        Which rows are label issues (see :func:`cgfast.find_label_issues`).
    ids : array-like of shape (n,), optional
        The rows' ids (file paths, keys) for :meth:`Cleaned.to_frame`; a table's ``id``
        column by default.
    **score_kwargs
        Passed on when scoring here, as for :func:`cgfast.find_label_issues`.

    Returns
    -------
    Cleaned
        ``keep`` (indices), ``labels`` (their final labels), ``summary()`` per class and
        ``to_frame()``.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)); y = (X[:, 0] > 0).astype(int)
    >>> y[[3, 7]] = 1 - y[[3, 7]]                  # two flipped labels
    >>> cleaned = cgfast.clean(X, y)
    >>> bool(np.isin([3, 7], cleaned.keep).any())
    False
    >>> fixed = cgfast.clean(X, y, action="relabel")
    >>> bool(fixed.labels[np.searchsorted(fixed.keep, 3)] == 1 - y[3])   # relabelled
    True
    """
    check_choice("action", action, ACTIONS)
    check_choice("rule", rule, RULES)
    if is_table(terms):
        columns = _table_columns(terms)
        if y is not None:
            raise TypeError("a score table carries its labels in its 'label' column: leave out y")
        flags_table = find_label_issues(terms=terms)
        if "label" not in columns:
            raise ValueError(
                "the table has no 'label' column: pass the table cgfast.score_table, "
                "cgfast.to_table or `cgfast score -o scores.csv` made (its columns: "
                f"{list(columns)})"
            )
        given = label_column(columns["label"])
        flags = np.zeros(len(given), dtype=bool)
        flags[flags_table] = True
        suggested = columns.get("suggested_label")
        confidence = columns.get("suggested_quality")
        if action == "relabel" and (suggested is None or confidence is None):
            raise ValueError(
                "action='relabel' needs the table's suggested_label and suggested_quality "
                "columns: write it with `cgfast score ... -o scores.csv` (suggestions on)"
            )
        if ids is None:
            ids = columns.get("id")
        confidence = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    else:
        if terms is None and suggestions is None:
            if X is None or y is None:
                raise TypeError("pass X and y to score here, or terms= or suggestions=")
            needs_suggestions = rule != "sign" or action == "relabel"
            terms, suggestions = run_here(
                X, y, rule, rule == "sign", needs_suggestions, score_kwargs
            )
        else:
            check_nothing_scored("terms= or suggestions", X, score_kwargs)
        if suggestions is None and terms is not None:
            suggestions = terms.suggestions
        found = find_label_issues(terms=terms, suggestions=suggestions, rule=rule)
        if suggestions is None:
            if y is None:
                raise TypeError("terms scored without suggestions need y, the given labels")
            given = label_column(y)
            suggested = confidence = None
        else:
            given = suggestions.classes[suggestions.codes]
            suggested = np.asarray(suggestions.suggested_label)
            confidence = suggestions.probabilities.max(axis=1)
        flags = np.zeros(len(given), dtype=bool)
        flags[found] = True
    if action == "relabel" and suggested is None:
        raise ValueError("action='relabel' needs suggested labels: pass suggest=True terms")
    if ids is not None:
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
            raise TypeError(f"ids must be one name per row, got {type(ids).__name__}")
        ids = label_column(ids)
        if ids.shape != given.shape:
            raise ValueError(
                f"{len(given)} examples but ids has shape {ids.shape}: give one name per row"
            )
    suggested_array = None if suggested is None else label_column(suggested)
    if action == "relabel" and suggested_array is not None:
        if suggested_array.shape != given.shape:
            raise ValueError(f"{len(given)} examples but {len(suggested_array)} suggested labels")
        known = set(given.tolist())
        stranger = next((v for v in suggested_array.tolist() if v not in known), None)
        if stranger is not None:
            raise ValueError(
                f"suggested label {stranger!r} is none of the given labels: a suggestion is "
                "always one of the classes, so this table was edited or belongs to other data"
            )
    keep_mask, final = _decisions(flags, given, suggested_array, confidence, action)
    keep = np.flatnonzero(keep_mask)
    return Cleaned(
        keep=keep,
        labels=final[keep],
        changed=(final != given)[keep],
        dropped=np.flatnonzero(~keep_mask),
        given=given,
        flagged=np.flatnonzero(flags),
        action=action,
        ids=None if ids is None else np.asarray(ids),
    )
