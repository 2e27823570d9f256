"""The on-disk .npy cache that image folders and parquet shards are converted into once.

Caches live in a cache folder, never beside the data (a dataset may be read-only or shared):
``cache`` when given (``--cache DIR``), else ``$CGFAST_CACHE``, else ``$XDG_CACHE_HOME/cgfast``
or ``~/.cache/cgfast``. A cache file is named by a hash of where the data are and how they are
read (its origin) and of everything it was made from (the files, their sizes and modification
times, and the options), written to a temporary name and renamed when complete, so an
interrupted conversion leaves no cache that looks finished, and a changed source makes a new
one. Beside it a record (``.json``) holds the digest of its bytes: a cache that is damaged or was
changed after it was written is rebuilt, with a :class:`~cgfast.CacheWarning` naming it. It is
then opened as a memory map: blocks, checkpoints and Dask workers read it like any .npy X.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_file, remove_stale, write_atomic
from ._errors import CacheWarning
from ._npy import npy_shortfall

CACHE_PREFIX = ".cgfast-cache-"
# Bytes hashed at a time when a cache's digest is taken: bounds the memory it needs.
_HASH_BYTES = 16 << 20


def source_key(files: Iterable[Path], settings: dict[str, Any]) -> str:
    """A hash of the files' paths, sizes and modification times and of ``settings``."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        h.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def origin_key(source: str, settings: dict[str, Any]) -> str:
    """A hash of where the data come from and how they are read, not of what the files hold:
    caches of one origin are versions of one dataset, and only the newest is kept."""
    h = hashlib.blake2b(digest_size=6)
    h.update(json.dumps([source, settings], sort_keys=True).encode())
    return h.hexdigest()


def cache_folder(cache: str | os.PathLike | None = None) -> Path:
    """The folder caches go to (created): ``cache``, else ``$CGFAST_CACHE``, else the user's
    cache folder, ``$XDG_CACHE_HOME/cgfast`` or ``~/.cache/cgfast``."""
    if cache is not None:
        folder = Path(cache)
    elif os.environ.get("CGFAST_CACHE"):
        folder = Path(os.environ["CGFAST_CACHE"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cgfast"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(
            f"cannot create the cache folder {folder} ({err.strerror or err}): choose another "
            "with --cache DIR (cache=) or $CGFAST_CACHE"
        ) from err
    return folder


def cache_path(key: str, origin: str, cache: str | os.PathLike | None = None) -> Path:
    """Where the cache of origin ``origin`` (:func:`origin_key`) made from ``key``
    (:func:`source_key`) lives, in :func:`cache_folder`. The temporary files that conversions
    killed on this host left in the folder are removed on the way."""
    folder = cache_folder(cache)
    remove_stale(folder, re.escape(CACHE_PREFIX) + ".*")
    return folder / f"{CACHE_PREFIX}{origin}-{key}.npy"


def remove_older(path: Path) -> list[Path]:
    """Deletes the other caches of ``path``'s origin in its folder (with their .json records):
    versions made before the data changed. Returns them. A process that still has one open as
    a memory map keeps reading it; the file goes when the last map does."""
    stem = path.name[len(CACHE_PREFIX) : -len(".npy")]
    origin, dash, _ = stem.partition("-")
    if not path.name.startswith(CACHE_PREFIX) or not dash:
        return []
    removed = []
    for other in sorted(path.parent.glob(f"{CACHE_PREFIX}{origin}-*.npy")):
        if other != path:
            other.unlink(missing_ok=True)
            other.with_suffix(".json").unlink(missing_ok=True)
            removed.append(other)
    return removed


class RowWriter:
    """Writes blocks of rows into an .npy file with positioned writes, safe from several threads.

    Plain writes rather than a writable memory map, so the pages written do not count towards
    this process's resident memory: converting a dataset of any size takes bounded memory.
    """

    def __init__(self, fd: int, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self.fd, self.offset, self.dtype = fd, offset, np.dtype(dtype)
        self.row_bytes = int(np.prod(shape[1:])) * self.dtype.itemsize

    def write(self, start: int, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=self.dtype).data
        written = os.pwrite(self.fd, data, self.offset + start * self.row_bytes)
        if written != data.nbytes:
            raise OSError(f"short write to the cache ({written} of {data.nbytes} bytes)")


def build_cache(
    path: Path,
    shape: tuple[int, ...],
    dtype: np.dtype,
    fill: Callable[[RowWriter], None],
    record: dict[str, Any] | None = None,
) -> np.memmap:
    """Creates the .npy ``path`` of ``shape`` and ``dtype`` through ``fill(writer)`` and opens it
    read-only; the file appears only once ``fill`` has returned and it is flushed to disk. Its
    record, ``record`` and the digest of its bytes, is written beside it, and then the older
    versions of the same dataset are deleted (:func:`remove_older`)."""
    with atomic_file(path, ".npy") as (handle, _):
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                  "fortran_order": False, "shape": tuple(shape)}  # fmt: skip
        np.lib.format.write_array_header_1_0(handle, header)
        offset = handle.tell()
        handle.truncate(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
        handle.flush()
        fill(RowWriter(handle.fileno(), offset, shape, dtype))
        handle.flush()
        digest = _digest(handle.fileno())
    _write_record(path, {**(record or {}), "digest": digest})
    remove_older(path)
    return np.load(path, mmap_mode="r")


def _digest(fd: int) -> str:
    """The blake2b digest of the whole file ``fd``, read a slice at a time."""
    h = hashlib.blake2b(digest_size=16)
    offset = 0
    while chunk := os.pread(fd, _HASH_BYTES, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def _identity(path: Path) -> list[int]:
    """What changes whenever the file is written: its size, inode, and modification and status
    change times (a write sets the change time, which no user command can set back)."""
    stat = path.stat()
    return [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns]


def _write_record(path: Path, record: dict[str, Any]) -> None:
    """Writes the record of the cache ``path``, with the file's identity as it is now."""
    record = {**record, "identity": _identity(path)}
    text = json.dumps(record, sort_keys=True).encode()
    write_atomic(path.with_suffix(".json"), lambda handle: handle.write(text))


def _rebuilding(path: Path, why: str) -> None:
    warnings.warn(f"the cache {path} {why}; rebuilding it", CacheWarning, stacklevel=3)


def open_cache(path: Path) -> tuple[np.memmap, dict[str, Any]] | None:
    """The cache ``path`` as a read-only memory map, and its record; None when there is none
    to use, so that the caller builds it.

    A cache that cannot be used as it is (no record of its digest, a header that cannot be
    read, fewer bytes than its header says, or bytes that no longer match the digest) is
    reported with a :class:`~cgfast.CacheWarning` naming it, and None is returned. Its bytes
    are hashed only when the file's identity (size, inode, times) differs from the record's.
    """
    if not path.exists():
        return None
    try:
        record = json.loads(path.with_suffix(".json").read_text())
        digest = record["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        _rebuilding(path, "has no readable record of its digest (an older cgfast wrote it, or "
                    "it was cut short)")  # fmt: skip
        return None
    short = npy_shortfall(path)
    if short is not None:
        _rebuilding(path, short)
        return None
    try:
        X = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        _rebuilding(path, f"is damaged ({err})")
        return None
    if record.get("identity") != _identity(path):
        with open(path, "rb") as handle:
            found = _digest(handle.fileno())
        if found != digest:
            _rebuilding(path, "was changed after cgfast wrote it (its bytes no longer match the "
                        "digest in its record)")  # fmt: skip
            return None
        try:
            _write_record(path, {k: v for k, v in record.items() if k != "identity"})
        except OSError:
            pass  # a read-only cache: the digest is taken again next time
    return X, record


def check_cache_shape(path: Path, X: np.memmap, shape: tuple[int, ...]) -> bool:
    """Whether the cache holds ``shape``; reported with :class:`~cgfast.CacheWarning` if not."""
    if tuple(X.shape) == tuple(shape):
        return True
    _rebuilding(path, f"holds shape {tuple(X.shape)}, not the data's {tuple(shape)}")
    return False
