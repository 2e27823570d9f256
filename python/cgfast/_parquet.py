"""Parquet shards (a folder or a glob of files) read out of core into a .npy cache of X.

One pass over the shards with pyarrow's dataset API, one record batch at a time, validates the
columns and writes X (one list / fixed-size-list embedding column, or several numeric columns)
into a memory-mapped .npy cache (see ``_cache``); the labels and ids are small and read whole.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ._cache import (
    RowWriter,
    build_cache,
    cache_path,
    check_cache_shape,
    open_cache,
    origin_key,
    source_key,
)
from ._dataset import Dataset, blank_rows, check_unique, has_glob


def parquet_files(source: str | os.PathLike) -> list[Path] | None:
    """The parquet files of a folder (recursively) or a glob, sorted; None when ``source`` is
    neither a glob nor a folder holding .parquet files."""
    if has_glob(source):
        files = sorted(Path(p) for p in glob.glob(str(source), recursive=True))
        files = [p for p in files if p.is_file()]
        if not files:
            raise ValueError(f"no file matches {str(source)!r}")
        return files
    folder = Path(source)
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    return files or None


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
    except ImportError:
        raise ImportError("reading parquet shards needs pyarrow: pip install pyarrow") from None
    return pa, ds


def _is_numeric(pa: Any, kind: Any) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _is_list(pa: Any, kind: Any) -> bool:
    return (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


class _Columns:
    """Which columns hold X, and how a batch of them becomes an (m, d) block of numbers."""

    def __init__(self, pa: Any, schema: Any, x_key: str | None, exclude: set[str], where: str):
        names = list(schema.names)
        if x_key is not None:
            chosen = [name.strip() for name in x_key.split(",")]
            for name in chosen:
                if name not in names:
                    raise ValueError(
                        f"{where} has no column {name!r} (it has {', '.join(names)}): "
                        "choose X with --x-key (x_key=)"
                    )
        else:
            lists = [n for n in names if n not in exclude and _is_list(pa, schema.field(n).type)]
            if len(lists) == 1:
                chosen = lists
            elif lists:
                raise ValueError(
                    f"{where} has several list columns ({', '.join(lists)}): "
                    "name the embedding with --x-key (x_key=)"
                )
            else:
                chosen = [
                    n for n in names if n not in exclude and _is_numeric(pa, schema.field(n).type)
                ]
                if not chosen:
                    raise ValueError(f"{where} has no numeric column for X: use --x-key (x_key=)")
        kinds = [schema.field(name).type for name in chosen]
        if len(chosen) > 1 and any(_is_list(pa, kind) for kind in kinds):
            raise ValueError(
                f"--x-key names one list column or several numeric columns, not both: {x_key}"
            )
        values = [kind.value_type if _is_list(pa, kind) else kind for kind in kinds]
        for name, kind in zip(chosen, values):
            if not _is_numeric(pa, kind):
                raise ValueError(
                    f"column {name!r} of {where} is not numeric ({kind}): "
                    "choose the feature columns with --x-key (x_key=)"
                )
        self.pa = pa
        self.names = chosen
        self.embedding = _is_list(pa, kinds[0])
        self.fixed = kinds[0].list_size if pa.types.is_fixed_size_list(kinds[0]) else None
        single = all(pa.types.is_float32(kind) for kind in values)
        self.dtype = np.dtype(np.float32 if single else np.float64)
        self.where = where

    def block(self, batch: Any, start: int) -> np.ndarray:
        """The batch's X as an (m, d) array; ``start`` is its first row's index in the data."""
        if not self.embedding:
            parts = []
            for name in self.names:
                column = batch.column(name)
                if column.null_count:
                    row = start + int(np.flatnonzero(column.is_null().to_numpy(False))[0])
                    raise ValueError(f"column {name!r} of {self.where} is missing row {row}")
                parts.append(column.to_numpy(zero_copy_only=False).astype(self.dtype))
            return np.column_stack(parts)
        name = self.names[0]
        column = batch.column(name)
        if column.null_count:
            row = start + int(np.flatnonzero(column.is_null().to_numpy(False))[0])
            raise ValueError(f"column {name!r} of {self.where} has no value in row {row}")
        if self.fixed is not None:
            width = self.fixed
        else:
            lengths = column.value_lengths().to_numpy(zero_copy_only=False)
            width = int(lengths[0]) if len(lengths) else 0
            ragged = np.flatnonzero(lengths != width)
            if ragged.size:
                row = int(ragged[0])
                raise ValueError(
                    f"column {name!r} of {self.where} is ragged: row {start + row} has "
                    f"{lengths[row]} values, row {start} has {width}"
                )
        values = column.flatten()
        if values.null_count:
            raise ValueError(f"column {name!r} of {self.where} has missing values inside a list")
        flat = values.to_numpy(zero_copy_only=False).astype(self.dtype, copy=False)
        return flat.reshape(len(column), width)


def _blocks(columns: _Columns, batches: Iterator[Any], d: int | None = None) -> Iterator[Any]:
    """(start, block) for each non-empty batch in turn: its first row's index and its rows of
    X; every block has ``d`` features (by default the first block's)."""
    start = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        block = columns.block(batch, start)
        if d is None:
            d = block.shape[1]
        elif block.shape[1] != d:
            raise ValueError(
                f"column {columns.names[0]!r} of {columns.where} is ragged: row {start} has "
                f"{block.shape[1]} values, row 0 has {d}"
            )
        yield start, block
        start += len(block)


def read_parquet_x(path: Path, x_key: str | None, exclude: set[str]) -> np.ndarray:
    """X of one parquet file, read into memory, its columns chosen and converted as those of
    shards are (:func:`open_parquet`): ``x_key`` names one list column or several numeric
    columns; by default the only list column, else every numeric column not in ``exclude``."""
    pa, _ = _pyarrow()
    import pyarrow.parquet as pq

    where = str(path)
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(f"cannot read {where}: {err}") from err
    check_unique(schema.names, where)
    columns = _Columns(pa, schema, x_key, exclude, where)
    table = pq.read_table(path, columns=columns.names)
    blocks = [block for _, block in _blocks(columns, iter(table.to_batches()))]
    if not blocks:
        raise ValueError(f"{where} has no rows")
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def x_column_names(
    files: list[Path], x_key: str | None, exclude: set[str], where: str
) -> list[str] | None:
    """The names of the numeric columns X is read from in the parquet ``files`` (their schemas
    only), chosen as :func:`read_parquet_x` and :func:`open_parquet` choose them; None when X
    is one list column (an embedding has no column names)."""
    pa, ds = _pyarrow()
    try:
        schema = ds.dataset([str(p) for p in files], format="parquet").schema
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(f"cannot read the parquet schema of {where}: {err}") from err
    check_unique(list(schema.names), where)
    columns = _Columns(pa, schema, x_key, exclude, where)
    return None if columns.embedding else list(columns.names)


def _whole_column(dataset: Any, name: str, where: str, option: str) -> np.ndarray:
    if name not in dataset.schema.names:
        raise ValueError(
            f"{where} has no column {name!r} (it has {', '.join(dataset.schema.names)}): "
            f"use {option}"
        )
    column = dataset.to_table(columns=[name]).column(name)
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(False))[0])
        raise ValueError(f"column {name!r} of {where} has no value in row {row}")
    values = column.to_numpy()
    if values.dtype == object:
        values = np.asarray(values.tolist())
    blank = blank_rows(values)  # a blank value is a missing one, as an empty CSV cell is
    if blank.size:
        raise ValueError(
            f"column {name!r} of {where} is blank in row {int(blank[0])}; every example "
            f"needs a value (fill it in or drop the row; {blank.size} row(s) have none)"
        )
    return values


def _batches(dataset: Any, columns: list[str]) -> Iterator[Any]:
    """The record batches of every shard, in file order."""
    for fragment in dataset.get_fragments():
        yield from fragment.to_batches(columns=columns)


def _name_duplicates(files: list[Path]) -> None:
    """Refuses, by name, a column that a shard holds twice (pyarrow's schema check only says
    that some name is repeated)."""
    import pyarrow.parquet as pq

    for path in files:
        try:
            names = pq.read_schema(path).names
        except (OSError, ValueError):  # unreadable: the caller reports the dataset's own error
            continue
        check_unique(names, str(path))


def open_parquet(
    source: str | os.PathLike,
    *,
    x_key: str | None = None,
    y_key: str | None = None,
    id_key: str | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> Dataset:
    """Parquet shards as X (a memory-mapped .npy cache), labels and ids.

    ``source`` is a folder (its .parquet files, recursively, in sorted order) or a glob. X is
    ``x_key``: one list or fixed-size-list column (an embedding) or comma-separated numeric
    columns; by default the only list column, else every numeric column but ``y_key`` and
    ``id_key``. ``y`` is column ``y_key`` (None without it); ``ids`` column ``id_key``, else
    the row index. The cache is written once, in the cache folder (``cache``, else
    ``$CGFAST_CACHE``, else ``~/.cache/cgfast``: see ``_cache``), and reused while the shards
    are unchanged.
    """
    pa, ds = _pyarrow()
    files = parquet_files(source)
    if files is None:
        raise ValueError(f"{str(source)!r} holds no .parquet file")
    where = str(source)
    try:
        dataset = ds.dataset([str(p) for p in files], format="parquet")
    except (OSError, pa.ArrowInvalid) as err:
        _name_duplicates(files)
        raise ValueError(f"cannot read the parquet files of {where}: {err}") from err
    check_unique(list(dataset.schema.names), where)
    exclude = {key for key in (y_key, id_key) if key is not None}
    columns = _Columns(pa, dataset.schema, x_key, exclude, where)
    y = None if y_key is None else _whole_column(dataset, y_key, where, "--y-key (y_key=)")
    counts = [fragment.count_rows() for fragment in dataset.get_fragments()]
    n = int(sum(counts))
    if n == 0:
        raise ValueError(f"{where} has no rows")
    ids = np.arange(n) if id_key is None else _whole_column(dataset, id_key, where, "--id-key")
    if columns.embedding:
        first = next(b for b in _batches(dataset, columns.names) if b.num_rows)
        d = columns.block(first.slice(0, 1), 0).shape[1]
    else:
        d = len(columns.names)
    if d == 0:
        raise ValueError(f"column {columns.names[0]!r} of {where} holds empty lists")
    settings = {"format": "parquet", "columns": columns.names, "dtype": str(columns.dtype)}
    origin = origin_key(os.path.abspath(source), settings)
    path = cache_path(source_key(files, settings), origin, cache)
    found = open_cache(path)
    if found is not None and check_cache_shape(path, found[0], (n, d)):
        return Dataset(found[0], y, ids)

    def fill(out: RowWriter) -> None:
        with tqdm(total=n, desc="cgfast: reading parquet", unit="row", disable=not progress) as bar:
            for start, block in _blocks(columns, _batches(dataset, columns.names), d):
                out.write(start, block)
                bar.update(len(block))

    return Dataset(build_cache(path, (n, d), columns.dtype, fill), y, ids)
