"""What opening data as users keep it (parquet shards, image folders) gives: X, labels, ids."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Examples as users keep them, opened: ``X`` (rows cgfast reads: a memory-mapped .npy
    cache), ``y`` (labels; None when the source names none) and ``ids`` (one per example: a
    path relative to an image folder, an id column, else the row index)."""

    X: Any
    y: np.ndarray | None
    ids: np.ndarray


def has_glob(path: str | os.PathLike) -> bool:
    return any(c in str(path) for c in "*?[")


def check_unique(names: list[str], where: str) -> None:
    """Refuses a table with two columns of one name: a column chosen by name would be either."""
    first: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in first:
            raise ValueError(
                f"{where} has the column name {name!r} twice (columns {first[name] + 1} and "
                f"{j + 1}): rename one so that every column has its own name"
            )
        first[name] = j


def blank_rows(values: np.ndarray) -> np.ndarray:
    """The rows whose value is a string of nothing but whitespace (text or object column)."""
    if values.dtype.kind in "US":
        return np.flatnonzero(np.char.strip(values) == ("" if values.dtype.kind == "U" else b""))
    if values.dtype == object:
        return np.flatnonzero([isinstance(v, (str, bytes)) and not v.strip() for v in values])
    return np.empty(0, dtype=np.int64)


def flag_column(flags: np.ndarray) -> np.ndarray:
    """A table's column of flags (``label_issue``, ``target_issue``) as booleans, also when
    read back from text."""
    if flags.dtype.kind in "OUS":
        return np.isin(np.char.lower(flags.astype(str)), ["true", "1"])
    return flags.astype(bool)
