"""Real-valued targets (``task="regression"``): checked, then standardised by their mean and std.

Why standardised. The score is quadratic in y: ``CG(i) = α_i² / G_ii`` with ``α = H⁻¹ y``, so
multiplying y by c multiplies every score by c² (the ranking does not change, the numbers do);
dividing by y's std makes scores comparable between targets in different units. An offset is
not so harmless: the kernel regressor has no intercept (its prediction far from the data falls to
0), so ``y + c`` adds ``c · (H⁻¹ 1)_i`` to ``α_i``, and rows where a constant is poorly fitted
(rows far from the others) gain score for a reason that has nothing to do with their target.
Centring on y's mean makes the score the same for y and ``y + c``, and makes the regressor
predict each row's deviation from the mean. Mean and std are those of the whole target (not of
each block), so the standardisation is one affine map for all blocks and the plan does not
depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._labels import check_ordered
from ._tensors import detached


@dataclass(frozen=True)
class Targets:
    """A real-valued target as the blocks see it: ``values = (y − mean) / scale``."""

    values: np.ndarray  # (n,) float64, mean 0, std 1
    mean: float
    scale: float  # y's standard deviation (ddof 0)

    def in_target_units(self, residual: np.ndarray) -> np.ndarray:
        """A residual of the standardised target in the target's own units (times ``scale``)."""
        return np.asarray(residual, dtype=np.float64) * self.scale


def target_column(y: Any, n: int) -> np.ndarray:
    """y as n float64 values: a sequence of n numbers, or an (n, 1) column; checked, not scaled.

    Raises TypeError for values that are not numbers, ValueError for a wrong length or shape
    and for a NaN or infinite target (with its index).
    """
    y = detached(y)
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise TypeError(f"y must be a sequence of numbers, got {type(y).__name__}")
    check_ordered(y, "numbers")
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} targets")
    try:
        values = np.asarray(y)
    except ValueError as err:  # ragged: targets that are sequences of unequal lengths
        raise TypeError(
            "task='regression' needs one real number per example; y holds sequences"
        ) from err
    if values.dtype.kind == "c":
        raise TypeError(
            "task='regression' needs real-valued targets, y is complex; pass y.real or "
            "abs(y), whichever is the target"
        )
    if values.ndim == 2 and values.shape == (n, 1):
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"task='regression' takes one target per example, shape ({n},) or ({n}, 1); "
            f"got shape {values.shape}"
        )
    if values.dtype.kind not in "biuf":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            first = next((v for v in values.tolist() if not _number(v)), values[0])
            raise TypeError(
                f"task='regression' needs real-valued targets, y holds {first!r} "
                f"(dtype {values.dtype}); for class labels leave task='classification'"
            ) from None
    values = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"y has a non-finite target ({float(values[bad[0]])}) at index {bad[0]}"
            + (f" and {bad.size - 1} more" if bad.size > 1 else "")
            + "; every example needs a finite target (drop or impute the others)"
        )
    return values


# A spread of at most this share of the mean's magnitude is rounding, not data: values that
# differ only in their last bits (0.3 and 0.1 * 3, say). 64 ulps bounds a few ulps of noise in
# the values and the rounding of their mean over any number of rows float64 can sum.
ROUNDING_SPREAD = 64 * float(np.finfo(np.float64).eps)


def standardise(y: Any, n: int) -> Targets:
    """y checked (:func:`target_column`), centred on its mean and divided by its std.

    Raises ValueError for a constant target, which leaves nothing to score, and for one that
    varies only by rounding (a standard deviation of at most :data:`ROUNDING_SPREAD` times the
    mean's magnitude).

    Examples
    --------
    >>> t = standardise([1.0, 2.0, 3.0], 3)
    >>> t.values.tolist(), t.mean, round(t.scale, 6)
    ([-1.224744871391589, 0.0, 1.224744871391589], 2.0, 0.816497)
    >>> standardise([4, 4, 4], 3)
    Traceback (most recent call last):
    ...
    ValueError: y is constant (every target is 4.0): a regression target must vary to be scored
    """
    values = target_column(y, n)
    mean = float(values.mean())
    scale = float(values.std())
    centred = values - mean
    if scale == 0 or not np.any(centred):
        raise ValueError(
            f"y is constant (every target is {float(values[0])!r}): a regression target must "
            "vary to be scored"
        )
    if not np.isfinite(scale):
        raise ValueError(
            "y's standard deviation overflows float64; rescale the target (divide it by a "
            "power of ten) first"
        )
    if scale <= ROUNDING_SPREAD * abs(mean):
        raise ValueError(
            f"y is constant to within rounding (mean {mean!r}, standard deviation {scale:.3g}): "
            "a regression target must vary to be scored"
        )
    return Targets(centred / scale, mean, scale)


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
