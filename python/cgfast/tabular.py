"""Tabular features prepared for the kernel: columns standardised, a constant column appended.

The kernel sees each row scaled to unit length, so only its direction counts. For images and
embeddings that is what one wants. For a table it loses how far a row lies from the centre of
the data: a row of typical values and a row of extreme values in the same proportions look
alike. A constant column keeps that distance. Its size also sets how smooth the kernel is: the
larger it is, the nearer all rows lie to one direction and the more alike the kernel values of
neighbouring rows.

:func:`prepare_tabular` centres and scales every column but the 0/1 ones (or those named
``unscaled``), and appends a column of ``constant`` times the prepared rows' root-mean-square
norm: ``2·√d`` for ``d`` standardised columns at the default of 2. The default was measured
(``benches/regression.py --choices`` and ``--held-out``, ``benches/noise.py``); the user guide's
"Preparing X" section gives the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._targets import ROUNDING_SPREAD

# The constant column's default size, in units of the prepared rows' root-mean-square norm.
CONSTANT = 2.0

# The default of ``unscaled``: the columns whose values are 0 and 1 stay 0 and 1. Measured
# against scaling them too (5 seeds each): the wrong labels' AP on anes96, 67 one-hot columns
# of 69, 0.846 to 0.862 (benches/noise.py's sets, the suggestion pass's ranking); the corrupted
# targets' AP on the regression bench's held-out sets 0.515 to 0.520, higher on 3 of 4
# (``benches/regression.py --held-out``). Sets without such columns are unchanged.
INDICATORS = "indicators"


def prepare_tabular(
    X: Any,
    *,
    constant: float | None = CONSTANT,
    unscaled: Sequence[int | str] | str | None = INDICATORS,
) -> np.ndarray:
    """Tabular features as the kernel should see them: each column centred and scaled to unit
    variance (but the 0/1 columns, by default), and a constant column appended.

    Parameters
    ----------
    X : array-like of shape (n, d)
        Numeric features, one row per example (a NumPy array, a pandas DataFrame of numbers, a
        list of rows). One-hot encode categorical columns first (``pandas.get_dummies``).
    constant : float or None, default 2.0
        The appended column's value, in units of the prepared rows' root-mean-square norm
        (``√d`` for ``d`` standardised columns). None appends no column.
    unscaled : "indicators", sequence of int or str, or None, default "indicators"
        Columns left as they are. ``"indicators"``: every column whose values are 0 and 1 (one-hot
        and yes/no columns), kept at 0 and 1. A sequence names the columns by position (an int,
        from 0; negative counts from the end) or, when X is a pandas DataFrame, by name (a
        str); None (or ``[]``) scales every column. A scaled column whose values are all equal,
        or differ only by rounding (a spread of at most 64 ulps of their mean), becomes 0.

    Returns
    -------
    numpy.ndarray of float64, shape (n, d + 1), or (n, d) with ``constant=None``

    Raises
    ------
    ValueError
        If ``X`` is not a non-empty 2-D array of finite numbers, ``constant`` is not a positive
        finite number, ``unscaled`` is another string or names a column ``X`` does not have
        (by name: X is not a DataFrame, or has no column or two columns of that name), or the
        ``unscaled`` columns hold values so large that the constant column overflows.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> X = np.array([[1.0, 200.0], [2.0, 100.0], [3.0, 300.0], [2.0, 200.0]])
    >>> cgfast.prepare_tabular(X).round(3)  # the rows' rms norm is √2: the column is 2√2
    array([[-1.414,  0.   ,  2.828],
           [ 0.   , -1.414,  2.828],
           [ 1.414,  1.414,  2.828],
           [ 0.   ,  0.   ,  2.828]])
    >>> onehot = np.c_[X[:, :1], [0.0, 1.0, 0.0, 1.0]]  # a 0/1 column stays 0/1
    >>> cgfast.prepare_tabular(onehot, constant=None)
    array([[-1.41421356,  0.        ],
           [ 0.        ,  1.        ],
           [ 1.41421356,  0.        ],
           [ 0.        ,  1.        ]])
    """
    names = _column_names(X)
    if constant is not None:
        if (
            isinstance(constant, bool)
            or not isinstance(constant, (int, float, np.integer, np.floating))
            or not math.isfinite(constant)
            or constant <= 0
        ):
            raise ValueError(f"constant must be a positive finite number or None, got {constant!r}")
    try:
        values = np.array(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "X must hold numbers only: one-hot encode categorical columns first "
            f"(pandas.get_dummies) ({error})"
        ) from None
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D table (rows x columns), got shape {values.shape}"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"X holds a NaN or infinite value (row {row}, column {column}): impute or drop it first"
        )
    d = values.shape[1]
    if isinstance(unscaled, str):
        if unscaled != INDICATORS:
            raise ValueError(
                f"unscaled must be {INDICATORS!r}, column indices or None, got {unscaled!r}"
            )
        zero, one = values == 0.0, values == 1.0
        keep = (zero | one).all(axis=0) & zero.any(axis=0) & one.any(axis=0)
        unscaled = None
    else:
        keep = np.zeros(d, dtype=bool)
    for column in [] if unscaled is None else unscaled:
        if isinstance(column, str):
            column = _position(column, names)
        if isinstance(column, bool) or not isinstance(column, (int, np.integer)):
            raise ValueError(f"unscaled must hold column positions or names, got {column!r}")
        if not -d <= column < d:
            raise ValueError(f"unscaled names column {column}, but X has {d} columns")
        keep[column] = True
    scaled = ~keep
    # Each column divided by its largest magnitude first, so that the squares of values near
    # the largest float64 do not overflow; standardising undoes the division.
    columns = values[:, scaled]
    size = np.abs(columns).max(axis=0)
    columns /= np.where(size > 0, size, 1.0)
    centre = columns.mean(axis=0)
    spread = columns.std(axis=0)
    # A column that varies only in its last bits (0.3 and 0.1 * 3) becomes 0, not rounding noise
    # blown up to unit variance.
    flat = spread <= ROUNDING_SPREAD * np.abs(centre)
    columns -= centre
    columns[:, flat] = 0.0
    values[:, scaled] = columns / np.where(flat, 1.0, spread)
    if constant is None:
        return values
    with np.errstate(over="ignore"):
        norm = math.sqrt(float(np.mean(np.einsum("ij,ij->i", values, values))))
    if not math.isfinite(constant * norm):
        raise ValueError(
            "the unscaled columns' values are too large for the constant column (their squares "
            "overflow float64): rescale them, or leave them out of unscaled"
        )
    column = np.full((len(values), 1), constant * (norm if norm > 0 else 1.0))
    return np.hstack([values, column])


def _column_names(X: Any) -> list[Any] | None:
    """A pandas DataFrame's column names, in order; None for anything else."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "iloc"):
        return None
    return list(columns)


def _position(name: str, names: list[Any] | None) -> int:
    """The position of the column ``name`` among ``names`` (a DataFrame's columns)."""
    if names is None:
        raise ValueError(
            f"unscaled names column {name!r}, but X has no column names (only a pandas "
            "DataFrame has): give its position"
        )
    found = [j for j, other in enumerate(names) if other == name]
    if len(found) != 1:
        shown = ", ".join(map(str, names[:20])) + (", ..." if len(names) > 20 else "")
        count = "no such column" if not found else f"{len(found)} columns of that name"
        raise ValueError(f"unscaled names column {name!r}, but X has {count} (it has {shown})")
    return found[0]
