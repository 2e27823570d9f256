"""The on-disk .npy cache that image folders and parquet shards are converted into once.

A cache file is named by a hash of everything it was made from (the files, their sizes and
modification times, and the options), written to a temporary name and renamed when complete,
so an interrupted conversion leaves no cache that looks finished, and a changed source makes a
new one. It is then opened as a memory map: blocks, checkpoints and Dask workers read it like
any .npy X.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_file

CACHE_PREFIX = ".cgfast-cache-"


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


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def cache_path(
    near: Path, key: str, cache: str | os.PathLike | None = None, origin: str | None = None
) -> Path:
    """Where the cache for ``key`` lives: in ``cache`` when given, else next to the data
    (``near``, so that cluster workers on shared storage find it), else in the user's cache
    folder (``$XDG_CACHE_HOME/cgfast`` or ``~/.cache/cgfast``) when ``near`` is read-only.

    With ``origin`` (:func:`origin_key`) the name carries it, so that :func:`build_cache` can
    delete the older versions of the same dataset; a cache named by ``key`` alone (cgfast 0.1)
    is still found and used."""
    if cache is not None:
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
    elif _writable(near):
        folder = near
    else:
        home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(home) / "cgfast"
        folder.mkdir(parents=True, exist_ok=True)
    plain = folder / f"{CACHE_PREFIX}{key}.npy"
    if origin is None or plain.exists():
        return plain
    return folder / f"{CACHE_PREFIX}{origin}-{key}.npy"


def remove_older(path: Path) -> list[Path]:
    """Deletes the other caches of ``path``'s origin in its folder (with their .json sidecars):
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
    path: Path, shape: tuple[int, ...], dtype: np.dtype, fill: Callable[[RowWriter], None]
) -> np.memmap:
    """Creates the .npy ``path`` of ``shape`` and ``dtype`` through ``fill(writer)`` and opens it
    read-only; the file appears only once ``fill`` has returned and it is flushed to disk, and
    then the older versions of the same dataset are deleted (:func:`remove_older`)."""
    with atomic_file(path, ".npy") as (handle, _):
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                  "fortran_order": False, "shape": tuple(shape)}  # fmt: skip
        np.lib.format.write_array_header_1_0(handle, header)
        offset = handle.tell()
        handle.truncate(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
        handle.flush()
        fill(RowWriter(handle.fileno(), offset, shape, dtype))
    remove_older(path)
    return open_cache(path)


def open_cache(path: Path) -> np.memmap:
    return np.load(path, mmap_mode="r")
