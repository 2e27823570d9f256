"""Where the examples come from: in-memory arrays, memory maps and .npy paths, read block by block."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import numpy.typing as npt

ArrayLike = Union[npt.ArrayLike, "os.PathLike[str]", str]

# Rows checked at a time by the validation scan: bounds its memory for memory-mapped input.
_SCAN_BYTES = 64 << 20


@dataclass(frozen=True)
class Rows:
    """The examples as an (n, d) matrix that is read a block of rows at a time.

    ``array`` is never copied whole: it may be a memory map. ``dtype`` is what blocks are handed to
    the native core in (float32 stays float32, everything else numeric becomes float64).
    """

    array: np.ndarray
    source: str

    @property
    def n(self) -> int:
        return int(self.array.shape[0])

    @property
    def d(self) -> int:
        return int(self.array.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self.array.dtype == np.float32 else np.dtype(np.float64)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index`` as one C-contiguous block in :attr:`dtype`."""
        block = self.array[np.asarray(index, dtype=np.intp)]
        return np.ascontiguousarray(block, dtype=self.dtype)


def open_rows(X: Any) -> Rows:
    """Wraps X (array-like, ``np.memmap`` or a path to a ``.npy`` file) as :class:`Rows`.

    Each example is flattened: X of shape (n, 8, 8) becomes (n, 64). Nothing is loaded that is
    not already in memory.
    """
    if isinstance(X, (str, os.PathLike)):
        path = Path(X)
        if path.suffix != ".npy":
            raise ValueError(f"X as a path must name a .npy file, got {str(path)!r}")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read X from {str(path)!r}: {err}") from err
        source = str(path)
    else:
        array = X if isinstance(X, np.ndarray) else np.asarray(X)
        source = "array"
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError("X is complex; cgfast needs real numbers")
    if kind not in "fiub":
        raise TypeError(f"X must hold real numbers, got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError("X is a scalar; it needs one row per example")
    if array.ndim == 1:
        raise ValueError(
            f"X is 1-D with {array.shape[0]} values; give one row per example "
            "(use X.reshape(-1, 1) for a single feature)"
        )
    n = array.shape[0]
    d = int(np.prod(array.shape[1:]))
    if n == 0:
        raise ValueError("X has no rows")
    if d == 0:
        raise ValueError(f"X of shape {array.shape} has no features")
    return Rows(array.reshape(n, d), source)


def check_rows(rows: Rows) -> None:
    """Raises ValueError naming the first row that is non-finite or has zero norm.

    Scans in slices of bounded size, so a memory-mapped X is read once and never held whole.
    """
    step = max(1, _SCAN_BYTES // max(1, rows.d * rows.array.dtype.itemsize))
    for start in range(0, rows.n, step):
        part = np.asarray(rows.array[start : start + step])
        if part.dtype.kind == "f":
            bad = ~np.isfinite(part)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ValueError(
                    f"X has a non-finite value ({part[r, c]}) at row {start + r}, feature {c}"
                )
        norms = np.einsum("ij,ij->i", part, part, dtype=np.float64)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise ValueError(
                f"row {start + zero[0]} of X is all zeros and cannot be normalised "
                "(drop it or add a constant feature)"
            )
        if not np.isfinite(norms).all():
            r = int(np.flatnonzero(~np.isfinite(norms))[0])
            raise ValueError(f"row {start + r} of X overflows when squared; rescale X")
