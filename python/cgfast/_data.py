"""The examples as rows: arrays, memory maps, Zarr and dask arrays, and files, read by blocks."""

from __future__ import annotations

import hashlib
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _native
from ._files import open_x
from ._memory import available_bytes
from ._tensors import detached
from ._threads import available_cpus

# Threads that read a block's rows from a file (a few suffice: the reads are copies out of the
# page cache, or waits on the disk).
READERS = min(4, available_cpus())

# A memory-mapped X of at most this many bytes, and at most 1 / LOAD_SHARE of the memory
# available, is read into memory once when the run opens it: reading a block's rows from the
# file again and again cost Fashion-MNIST's 20,000 images (63 MB) 8% of a run's time against
# reading them through the map (benches/mmap_reads.py), and in memory they cost nothing. Larger
# files are read a block at a time.
LOAD_BYTES = 256 << 20
LOAD_SHARE = 8

# Bytes checked at a time by the validation scan: bounds its memory for out-of-core input.
_SCAN_BYTES = 64 << 20


@dataclass(frozen=True)
class Rows:
    """The examples as an (n, d) matrix read a block of rows at a time, never loaded whole.

    ``array`` keeps its own shape (n, ...) and may be an in-memory array, a memory map or a Zarr
    array; ``path`` names the file or store it was opened from, so a worker process can open the
    same rows itself (a pickled ``Rows`` with a path reopens it when unpickled). Blocks are handed
    to the native core as float32 when X is float32 and as float64 otherwise.
    """

    array: Any
    path: str | None = None

    @property
    def n(self) -> int:
        return int(self.array.shape[0])

    @property
    def d(self) -> int:
        return int(np.prod(self.array.shape[1:]))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self.array.dtype == np.float32 else np.dtype(np.float64)

    @property
    def is_zarr(self) -> bool:
        return _is_zarr(self.array)

    def _as_matrix(self, part: np.ndarray, rows: int) -> np.ndarray:
        return np.ascontiguousarray(np.reshape(part, (rows, self.d)), dtype=self.dtype)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index``, in that order, as one C-contiguous (len(index), d) block."""
        index = np.asarray(index, dtype=np.intp)
        if self.is_zarr:
            order = np.argsort(index, kind="stable")
            rest = (slice(None),) * (len(self.array.shape) - 1)
            part = np.asarray(self.array.get_orthogonal_selection((index[order],) + rest))
            out = np.empty_like(part)
            out[order] = part
            return self._as_matrix(out, len(index))
        return self._as_matrix(self._read(index), len(index))

    def _read(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index`` in X's own dtype and shape. A memory-mapped file is read with
        positioned reads rather than through its mapping (:meth:`_reads_file`): a file cut
        short at any moment then gives a short read, refused with a ``ValueError``, where a
        read through the map would die of SIGBUS."""
        array = self.array
        if not self._reads_file():
            self._check_file()
            return np.asarray(array[index])
        if len(index) and (index.min() < 0 or index.max() >= self.n):
            raise IndexError(f"row index out of range for X of {self.n} rows")
        width = int(array.dtype.itemsize) * self.d
        try:
            raw = _native.read_rows(array.filename, int(array.offset), width, index, READERS)
        except EOFError as short:
            raise self._cut_short(int(short.args[0])) from None
        return raw.view(array.dtype).reshape((len(index),) + array.shape[1:])

    def _reads_file(self) -> bool:
        """Whether rows are read from X's file rather than through the array: a C-ordered
        memory map of a whole file's array (``np.load(..., mmap_mode="r")``, ``np.memmap``),
        not a view of one, whose ``offset`` would not be its rows' place in the file."""
        array = self.array
        return (
            isinstance(array, np.memmap)
            and array.filename is not None
            and isinstance(array.base, mmap.mmap)
            and array.flags.c_contiguous
        )

    def _cut_short(self, size: int) -> ValueError:
        needed = int(self.array.offset) + int(self.array.nbytes)
        return ValueError(
            f"X's file {self.array.filename} was cut short while this run read it: it holds "
            f"{size} bytes, {needed} are needed; do not truncate or rewrite a file a run is "
            "reading (rerun on a complete copy; a --checkpoint run resumes)"
        )

    def _check_file(self) -> None:
        """Refuses to read through a memory map (a view of one, or a Fortran-ordered one:
        :meth:`_reads_file` is False) whose file has been cut short since it was opened, with
        one ``stat`` before every block's read: touching a page past the file's end would kill
        the process with SIGBUS. A file cut short during the read still can. Rows read from the
        file need no such check: a read that comes back short says so."""
        if not isinstance(self.array, np.memmap) or self.array.filename is None:
            return
        needed = int(self.array.offset) + int(self.array.nbytes)
        try:
            size = os.path.getsize(self.array.filename)
        except OSError as err:
            raise ValueError(f"X's file {self.array.filename} cannot be read: {err}") from err
        if size < needed:
            raise self._cut_short(size)

    def whole(self) -> np.ndarray:
        """All rows as one (n, d) block: no copy when X is already C-contiguous float32/64."""
        if isinstance(self.array, np.ndarray) and not self._reads_file():
            return self._as_matrix(self.array, self.n)
        return self.take(np.arange(self.n))

    def between(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as an (m, d) array in X's own dtype (a view where possible)."""
        if self._reads_file():
            part = self._read(np.arange(start, stop))
        else:
            self._check_file()
            part = np.asarray(self.array[start:stop])
        return part.reshape(part.shape[0], self.d)

    def slices(self) -> Any:
        """Consecutive (start, rows) pairs of bounded size, for one pass over all of X."""
        step = max(1, _SCAN_BYTES // max(1, self.d * self.array.dtype.itemsize))
        for start in range(0, self.n, step):
            yield start, self.between(start, min(start + step, self.n))

    def __reduce__(self) -> Any:
        if self.path is None:
            return (Rows, (self.array, None))
        return (open_rows, (self.path,))


class SparseRows:
    """A ``scipy.sparse`` matrix as rows: indexing returns dense rows, a block at a time.

    CSC (and every other layout) is converted to CSR once, for row access. Scores equal the
    dense matrix's: a block is densified exactly (``toarray``) before the kernel sees it.
    """

    def __init__(self, matrix: Any) -> None:
        csr = matrix.tocsr()
        if csr.dtype.kind not in "fiub":
            raise TypeError(f"X must hold real numbers, got a sparse matrix of dtype {csr.dtype}")
        bad = np.flatnonzero(~np.isfinite(csr.data)) if csr.dtype.kind == "f" else []
        if len(bad):
            at = int(bad[0])
            row = int(np.searchsorted(csr.indptr, at, side="right") - 1)
            raise ValueError(
                f"X has a non-finite value ({csr.data[at]}) at row {row}, feature "
                f"{csr.indices[at]} (stored explicitly in the sparse matrix)"
            )
        self.matrix = csr
        self.shape = csr.shape
        self.dtype = csr.dtype

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.matrix[index].toarray()


def is_sparse(X: Any) -> bool:
    """True for a ``scipy.sparse`` matrix or array (checked without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "tocsr")


def open_rows(X: Any) -> Rows:
    """Wraps X: array-like, ``np.memmap``, Zarr or dask array, ``scipy.sparse`` matrix, or a
    path that ``_files`` reads. A tensor (torch's, even one that requires grad) is detached.

    Each example is flattened: X of shape (n, 8, 8) is read as (n, 64). A .npy path is memory
    mapped and a Zarr store opened lazily; a memory map of at most :data:`LOAD_BYTES` (and an
    eighth of the memory available) is read into memory at once, a larger one a block at a
    time. A sparse matrix is densified one block of rows at a time.
    """
    path = None
    X = detached(X)
    if isinstance(X, (str, os.PathLike)):
        path = str(X)
        array = open_x(X)
        if is_sparse(array):
            array = SparseRows(array)
    elif is_sparse(X):
        array = SparseRows(X)
    elif isinstance(X, np.ndarray) or _is_zarr(X) or is_dask_array(X):
        array = X
        path = _zarr_path(X)
    else:
        array = _as_array(X)
    dtype = np.dtype(array.dtype)
    if dtype.kind == "c":
        raise TypeError("X is complex; cgfast needs real numbers")
    if dtype.kind not in "fiub":
        raise TypeError(f"X must hold real numbers, got dtype {dtype}{_columns_not_numbers(X)}")
    shape = tuple(array.shape)
    if len(shape) == 0:
        raise ValueError("X is a scalar; it needs one row per example")
    if shape == (0,):
        raise ValueError("X is empty; it needs one row per example")
    if len(shape) == 1:
        raise ValueError(
            f"X is 1-D with {shape[0]} values; give one row per example "
            "(use X.reshape(-1, 1) for a single feature)"
        )
    if shape[0] == 0:
        raise ValueError("X has no rows")
    if int(np.prod(shape[1:])) == 0:
        raise ValueError(f"X of shape {shape} has no features")
    rows = Rows(array, path)
    if rows._reads_file() and array.nbytes <= min(LOAD_BYTES, available_bytes() // LOAD_SHARE):
        # Small enough to hold: one read now, and no block reads the file again.
        return Rows(rows._read(np.arange(rows.n)), path)
    return rows


def _columns_not_numbers(X: Any) -> str:
    """For a table (a pandas DataFrame), the columns that hold no real numbers, as a clause of
    the refusal: a label column left in X is the usual cause."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return ""
    bad = [str(name) for name, dtype in dtypes.items() if getattr(dtype, "kind", "O") not in "fiub"]
    if not bad:
        return ""
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    shown = ", ".join(repr(name) for name in bad[:5]) + more
    return (
        f": column(s) {shown} of the table are not numbers (a label column left in X? "
        "drop it, e.g. X.drop(columns=[...]), or encode it as numbers)"
    )


def _as_array(X: Any) -> np.ndarray:
    """``np.asarray(X)``, with a ragged X reported by its first row of another shape."""
    try:
        return np.asarray(X)
    except ValueError as err:
        try:
            shapes = [np.shape(row) for row in X]
        except (TypeError, ValueError):
            shapes = []  # a row that is itself ragged
        first = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
        if first is None:
            raise ValueError(
                "X is ragged: its rows (or the values inside a row) are nested to different "
                "depths or lengths; every example needs the same number of features"
            ) from err
        raise ValueError(
            f"X is ragged: row {first} has shape {shapes[first]} but row 0 has {shapes[0]}; "
            "every example needs the same number of features"
        ) from err


def _is_zarr(X: Any) -> bool:
    return type(X).__module__.split(".")[0] == "zarr"


def is_dask_array(X: Any) -> bool:
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def _zarr_path(X: Any) -> str | None:
    """The local path of a Zarr array's store, so workers can reopen it; None otherwise."""
    if not _is_zarr(X):
        return None
    store = getattr(X, "store", None)
    root = getattr(store, "root", None) or getattr(store, "path", None)
    if root is None:
        return None
    name = getattr(X, "path", "") or ""
    return str(Path(root) / name) if name else str(root)


def check_rows(rows: Rows, fingerprint: Any | None = None) -> None:
    """Raises ValueError naming the first row that is non-finite or all zeros.

    One pass over X in slices of bounded size. With ``fingerprint`` (a hashlib object), every
    row's bytes are fed to it on the way, so a checkpoint can tell whether X changed.
    """
    for start, part in rows.slices():
        if fingerprint is not None:
            fingerprint.update(np.ascontiguousarray(part).tobytes())
        if part.dtype.kind == "f":
            bad = ~np.isfinite(part)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ValueError(
                    f"X has a non-finite value ({part[r, c]}) at row {start + r}, feature {c}"
                )
        # Not the squared norm: the core scales each row by a power of two before squaring it,
        # so only a row of zeros has no direction (squares of 1e-170 underflow to zero).
        zero = np.flatnonzero(~part.any(axis=1))
        if zero.size:
            raise ValueError(
                f"row {start + int(zero[0])} of X is all zeros and cannot be normalised "
                "(drop it or add a constant feature)"
            )


def new_fingerprint(rows: Rows, codes: np.ndarray) -> Any:
    """A hash primed with X's shape and dtype and the labels; :func:`check_rows` adds the values."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(rows.array.shape), str(np.dtype(rows.array.dtype)))).encode())
    h.update(np.ascontiguousarray(codes, dtype=np.int64).tobytes())
    return h
