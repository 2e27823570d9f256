"""Labels to class codes: any hashable labels, checked, mapped to 0..C-1 in sorted order."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np


def encode_labels(y: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(classes, codes)``: the distinct labels and each example's index into them.

    Classes are sorted when the labels can be ordered, otherwise kept in order of first
    appearance, so the codes are a function of the labels alone.
    """
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise TypeError(f"y must be a sequence of labels, got {type(y).__name__}")
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} labels")
    if isinstance(y, np.ndarray):
        labels = y
    else:
        try:
            labels = np.asarray(y)
        except ValueError:  # ragged: some labels are sequences, checked one by one below
            labels = np.empty(0, dtype=object)
        text = {"U": str, "S": bytes}.get(labels.dtype.kind)
        if text is not None and not all(isinstance(v, text) for v in y):
            # NumPy turned other labels into text (1 into "1", NaN into "nan"): keep them as given.
            labels = np.empty(0, dtype=object)
    if labels.ndim != 1 or len(labels) != n or labels.dtype == object:
        labels = np.empty(n, dtype=object)
        for i, value in enumerate(y):
            if not isinstance(value, Hashable):
                raise TypeError(f"label {i} ({value!r}) is not hashable")
            labels[i] = value
    if labels.dtype.kind in "fc":
        bad = np.flatnonzero(~np.isfinite(labels))
        if bad.size:
            raise ValueError(f"y has a non-finite label ({labels[bad[0]]}) at index {bad[0]}")
    elif labels.dtype == object:
        for i, value in enumerate(labels):
            if _is_nan(value):
                raise ValueError(f"y has a NaN label ({value!r}) at index {i}")
    try:
        classes, codes = np.unique(labels, return_inverse=True)
    except TypeError:
        first: dict[Any, int] = {}
        codes = np.fromiter(
            (first.setdefault(v, len(first)) for v in labels), dtype=np.intp, count=n
        )
        classes = np.empty(len(first), dtype=object)
        classes[:] = list(first)
    codes = np.asarray(codes, dtype=np.intp).reshape(n)
    if len(classes) < 2:
        raise ValueError(
            f"y has {len(classes)} distinct label(s); the score compares a class with the others, "
            "so it needs at least two"
        )
    return classes, codes


def _is_nan(value: Any) -> bool:
    """True for a NaN of any type (float, np.float32, Decimal): a value unequal to itself."""
    try:
        unequal = value != value
        return isinstance(unequal, (bool, np.bool_)) and bool(unequal)
    except Exception:
        return False
