"""Labels to class codes: any hashable labels, checked, mapped to 0..C-1 in sorted order."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Hashable, Mapping, Set
from typing import Any

import numpy as np

from ._errors import SingleExampleWarning
from ._tensors import detached


def class_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)`` of a 1-D array of checked labels, any number of classes: sorted when
    the labels can be ordered, otherwise in order of first appearance."""
    n = len(labels)
    try:
        classes, codes = np.unique(labels, return_inverse=True)
    except TypeError:
        first: dict[Any, int] = {}
        codes = np.fromiter(
            (first.setdefault(v, len(first)) for v in labels), dtype=np.intp, count=n
        )
        classes = np.empty(len(first), dtype=object)
        classes[:] = list(first)
    return classes, np.asarray(codes, dtype=np.intp).reshape(n)


def check_ordered(y: Any, what: str) -> None:
    """Refuses a dict or a set as y: iterating it gives keys or members, in no row order."""
    if isinstance(y, (Mapping, Set)):
        kind = "keys" if isinstance(y, Mapping) else "members"
        hint = " (list(y.values()) if its values are them)" if isinstance(y, Mapping) else ""
        raise TypeError(
            f"y must be a sequence of {what}, got a {type(y).__name__}, whose {kind} have no "
            f"row order: pass a list or array in X's row order{hint}"
        )


def encode_labels(y: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(classes, codes)``: the distinct labels and each example's index into them.

    Classes are sorted when the labels can be ordered, otherwise kept in order of first
    appearance, so the codes are a function of the labels alone. ``y`` may be a column
    vector (n, 1) or a tensor (detached first). One-hot rows (n, C) are refused rather than
    decoded: which label each column stands for is not in the array, so decoding them would
    put column numbers where the user's labels belong (in tables, suggestions, class names);
    ``y.argmax(1)`` says it in one call. A missing label (None, NaN) is refused with its
    index, and so is a float ``y`` with values that are not whole numbers, which is a
    real-valued target rather than classes.

    Examples
    --------
    >>> classes, codes = encode_labels(np.array([[3], [1], [3]]), 3)
    >>> classes.tolist(), codes.tolist()
    ([1, 3], [1, 0, 1])
    >>> encode_labels(np.eye(3)[[0, 2, 1]], 3)
    Traceback (most recent call last):
    ...
    ValueError: y looks one-hot (shape (3, 3), a single 1 in each row): pass y.argmax(1)
    """
    y = detached(y)
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise TypeError(f"y must be a sequence of labels, got {type(y).__name__}")
    check_ordered(y, "labels")
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} labels")
    labels = _as_labels(y, n)
    if labels.dtype.kind in "fc":
        bad = np.flatnonzero(~np.isfinite(labels))
        if bad.size:
            raise ValueError(
                f"y has a non-finite label ({labels[bad[0]]}) at index {bad[0]}; "
                "every example needs a label (drop the unlabelled ones)"
            )
        _check_classes(labels)
    elif labels.dtype == object:
        for i, value in enumerate(labels):
            if value is None or _is_missing(value):
                kind = "NaN" if _is_nan(value) else "missing"
                raise ValueError(
                    f"y has a {kind} label ({value!r}) at index {i}; "
                    "every example needs a label (drop the unlabelled ones)"
                )
    classes, codes = class_codes(labels)
    if len(classes) < 2:
        raise ValueError(
            f"y has {len(classes)} distinct label(s); the score compares a class with the others, "
            "so it needs at least two"
        )
    return classes, codes


def _as_labels(y: Any, n: int) -> np.ndarray:
    """``y`` as a 1-D array of ``n`` labels: an (n, 1) column flattened, labels that are
    sequences (tuples) or of mixed types kept as given in an object array; other shapes refused.
    """
    if isinstance(y, np.ndarray):
        labels = y
    else:
        try:
            labels = np.asarray(y)
        except ValueError:  # ragged: some labels are sequences, checked one by one below
            labels = np.empty(0, dtype=object)
        text = {"U": str, "S": bytes}.get(labels.dtype.kind)
        if text is not None and labels.ndim == 1 and not all(isinstance(v, text) for v in y):
            # NumPy turned other labels into text (1 into "1", NaN into "nan"): keep them as given.
            labels = np.empty(0, dtype=object)
    if labels.ndim == 2 and labels.shape == (n, 1):
        labels = labels[:, 0]
    elif labels.ndim >= 2 and labels.dtype != object and not _tuples(y):
        raise ValueError(label_shape_message(labels, n))
    if labels.ndim != 1 or len(labels) != n or labels.dtype == object:
        given = labels if labels.ndim == 1 and len(labels) == n else y
        labels = np.empty(n, dtype=object)
        for i, value in enumerate(given):
            if not isinstance(value, Hashable):
                raise TypeError(f"label {i} ({value!r}) is not hashable")
            labels[i] = value
    return labels


def label_column(y: Any) -> np.ndarray:
    """The labels as one 1-D array, as a table shows them: a column (n, 1) flattened, a tensor
    detached; other shapes are left for :func:`encode_labels` to refuse."""
    y = detached(y)
    try:
        return _as_labels(y, len(y))
    except (TypeError, ValueError):  # a shape or a value encode_labels refuses with its reason
        labels = np.asarray(y)
        return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels


def warn_single_examples(classes: np.ndarray, codes: np.ndarray, stacklevel: int) -> None:
    """Warns (:class:`SingleExampleWarning`) when a class has a single example.

    Such an example is scored with no other example of its class in its block, so its score
    measures only how far it sits from the other classes.
    """
    counts = np.bincount(codes, minlength=len(classes))
    single = np.flatnonzero(counts == 1)
    if not single.size:
        return
    where = [f"{_plain(classes[c])!r} (index {np.flatnonzero(codes == c)[0]})" for c in single]
    if single.size == 1:
        message = f"class {where[0]} has a single example; with no other example of its class"
    else:
        more = f" and {single.size - 3} more" if single.size > 3 else ""
        message = (
            f"{single.size} classes have a single example: {', '.join(where[:3])}{more}; "
            "with no other example of its class"
        )
    warnings.warn(
        f"{message} to compare with, such an example's score means little",
        SingleExampleWarning,
        stacklevel=stacklevel + 1,
    )


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds, so messages show 7, not np.int64(7)."""
    return value.item() if isinstance(value, np.generic) else value


def _tuples(y: Any) -> bool:
    """True for a list or tuple of hashable sequences, such as tuples: each is one label."""
    return isinstance(y, (list, tuple)) and all(isinstance(v, Hashable) for v in y)


def label_shape_message(labels: np.ndarray, n: int) -> str:
    """Why a numeric y of more than one dimension is refused, one-hot rows named as such."""
    shape = labels.shape
    if labels.ndim == 2 and labels.dtype.kind in "biuf" and shape[1] >= 2:
        if np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all():
            return f"y looks one-hot (shape {shape}, a single 1 in each row): pass y.argmax(1)"
    return f"y must hold one label per example, shape ({n},) or ({n}, 1); got shape {shape}"


def _check_classes(labels: np.ndarray) -> None:
    """Refuses a float y whose values are not all whole numbers: a real-valued target."""
    if labels.dtype.kind != "f":
        return
    fractional = labels[labels != np.round(labels)]
    if fractional.size:
        distinct, first = np.unique(fractional, return_index=True)
        shown = ", ".join(f"{v:.4g}" for v in fractional[np.sort(first)[:3]])
        raise ValueError(
            f"y has {np.unique(labels).size} distinct float values, {distinct.size} of them not "
            f"whole numbers (e.g. {shown}{', ...' if distinct.size > 3 else ''}): it looks like a "
            "real-valued target, and task='classification' needs class labels (to score a "
            "real-valued target pass task='regression'; if these floats are classes, pass "
            "y.astype(str))"
        )


def _is_missing(value: Any) -> bool:
    """True for a NaN of any type and for pandas' ``NA``."""
    pandas = sys.modules.get("pandas")
    return _is_nan(value) or (pandas is not None and value is getattr(pandas, "NA", None))


def _is_nan(value: Any) -> bool:
    """True for a NaN of any type (float, np.float32, Decimal): a value unequal to itself."""
    try:
        unequal = value != value
        return isinstance(unequal, (bool, np.bool_)) and bool(unequal)
    except Exception:
        return False
