"""The command line's files: reading X and Y, checking where outputs go, writing them whole."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from .._atomic import atomic_file, write_atomic
from .._files import has_glob, is_dataset, open_dataset, open_x, read_labels
from .._table import TABLE_FORMATS, check_table_path, table_columns, write_table
from ._errors import USER_ERRORS, InputError, library, one_line


def read(reader: Callable[..., Any], path: Path, *args: Any, **kwargs: Any) -> Any:
    """Reads ``path`` with one of ``_files``' readers; its errors become one line naming it."""
    try:
        return reader(path, *args, **kwargs)
    except (*USER_ERRORS, ImportError) as err:
        message = one_line(err)
        if str(path) not in message:
            message = f"cannot read {path}: {message}"
        raise InputError(message) from err


def check_output(path: Path) -> None:
    """Fails before any work when the output's folder does not exist."""
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")


def check_not_an_input(output: Path, *inputs: Path | None) -> None:
    """Fails before any work when writing ``output`` would replace or add to an input: the same
    file under any name (another spelling, a symbolic or hard link), a path inside an input
    folder (parquet shards, images, a Zarr store), or one an input's glob matches."""
    target = Path(os.path.abspath(output))
    for source in inputs:
        if source is None:
            continue
        if has_glob(source):
            pattern = os.path.abspath(source)
            inside = fnmatch.fnmatch(str(target), pattern)
        elif source.is_dir():
            inside = target.resolve().is_relative_to(source.resolve())
        else:
            inside = _same_file(target, source)
        if inside:
            raise click.UsageError(
                f"-o {output} is also an input ({source}): writing it would "
                f"{'add to' if source.is_dir() or has_glob(source) else 'replace'} the data; "
                "give another output"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): then they are one file only if named so
        return a.resolve() == b.resolve()


def write(path: Path, fill: Callable[[Any], None]) -> None:
    """Writes ``path`` whole or not at all: a temporary file in its folder, fsynced, renamed."""
    try:
        write_atomic(path, fill)
    except OSError as err:
        raise InputError(f"cannot write {path}: {one_line(err)}") from err


def write_by_name(path: Path, fill: Callable[[Path], Any]) -> None:
    """Like :func:`write` for writers that take a file name: ``fill`` fills a temporary file
    in ``path``'s folder, which becomes ``path`` only once it is complete."""
    with atomic_file(path, path.suffix) as (_, temporary):
        fill(temporary)


def prepared(data: Any, x: Path, unscaled: Any = None) -> np.ndarray:
    """``--tabular``: X (read from ``x``) as :func:`cgfast.prepare_tabular` prepares it (columns
    standardised but the 0/1 ones or those ``--unscaled`` names, the constant column
    appended), in memory."""
    from ..tabular import INDICATORS, prepare_tabular

    if hasattr(data, "tocsr"):
        raise click.UsageError("--tabular needs dense features; X is a sparse matrix")
    columns = INDICATORS if unscaled is None else unscaled
    return read(lambda _: prepare_tabular(np.asarray(data), unscaled=columns), x)


def unscaled_positions(
    tabular: bool,
    unscaled: Any,
    x: Path,
    x_key: str | None,
    y: Path | None,
    y_key: str | None,
    id_key: str | None,
) -> Any:
    """``--unscaled`` checked before any work, its column names (if any) turned into positions
    among X's feature columns, read from X's header or schema: ``--tabular`` needs it, and X
    must name the columns."""
    if unscaled is not None and not tabular:
        raise click.UsageError("--unscaled applies with --tabular")
    named = [] if isinstance(unscaled, str) else [c for c in unscaled or () if isinstance(c, str)]
    if not named:
        return unscaled
    from .._files import feature_names

    labels = (x if y is None else y, y_key)
    names = read(lambda path: feature_names(path, x_key, labels=labels, exclude=id_key), x)
    if names is None:
        raise click.BadParameter(
            f"names column {named[0]!r}, but X has no column names (only a .csv with a header, "
            "a .parquet or parquet shards of numeric columns have): give positions from 0",
            param_hint="'--unscaled'",
        )
    missing = [name for name in named if name not in names]
    if missing:
        raise click.BadParameter(
            f"X has no feature column {missing[0]!r} (its feature columns: {', '.join(names)})",
            param_hint="'--unscaled'",
        )
    return [names.index(c) if isinstance(c, str) else c for c in unscaled]


def read_data(
    x: Path,
    y: Path | None,
    x_key: str | None,
    y_key: str | None,
    id_key: str | None,
    image_size: str | None,
    skip_unreadable: bool,
    cache: Path | None,
    progress: bool,
) -> tuple[Any, np.ndarray, Any]:
    """X, the labels and the ids (None: the row index) from the command's arguments.

    X may be a file, a Zarr store, parquet shards (a folder or glob) or an image folder; Y may
    be left out when X names its labels (an image folder's subfolders, a label column of X).
    """
    if is_dataset(x):
        from .._parquet import parquet_files

        shards = read(parquet_files, x) is not None
        if shards and y is None and y_key is None:
            raise click.UsageError(f"{x} has no labels: name their column with --y-key, or give Y")
        data = read(
            lambda path: open_dataset(
                path,
                x_key=x_key,
                y_key=y_key if y is None else None,
                id_key=id_key,
                image_size=image_size,
                skip_unreadable=skip_unreadable,
                cache=cache,
                progress=progress,
            ),
            x,
        )
        labels = data.y if y is None else read(read_labels, y, y_key)
        if labels is None:
            raise click.UsageError(f"{x} has no labels: name their column with --y-key, or give Y")
        return data.X, labels, data.ids
    if image_size is not None or skip_unreadable:
        raise click.UsageError("--image-size and --skip-unreadable apply to an image folder X")
    if y is None:
        if x.suffix.lower() not in (".npz", ".csv", ".parquet"):
            raise click.UsageError("Missing argument 'Y' (the labels).")
        y = x
    labels = read(read_labels, y, y_key)
    ids = None
    if id_key is not None:
        if x.suffix.lower() not in (".csv", ".parquet"):
            raise click.UsageError("--id-key names a column of a .csv/.parquet X or parquet shards")
        ids = read(read_labels, x, id_key)
    data = read(open_x, x, x_key, labels=(y, y_key), exclude=id_key)
    return data, labels, ids


def check_score_output(output: Path, terms: bool, *, table: bool = True) -> None:
    """Fails before any work when ``output``'s extension is not one this command writes."""
    suffix = output.suffix.lower()
    if table and suffix in TABLE_FORMATS:
        read(lambda path: check_table_path(path), output)
    elif suffix in (".npy", ".npz"):
        wanted = ".npz" if terms else ".npy"
        if suffix != wanted:
            raise click.BadParameter(
                f"{'--terms writes an .npz archive' if terms else 'scores are written as .npy'}"
                f"{' (or a .csv/.parquet table)' if table else ''}: give a name ending in {wanted}",
                param_hint="'-o'",
            )
    else:
        kinds = ".npy (scores), .npz (with --terms)" + (
            ", .csv or .parquet (a table)" if table else ""
        )
        hint = (
            "; a table needs the labels and ids, so run `cgfast score X Y --checkpoint DIR "
            f"-o {output.name}` with the array's arguments: it reads the finished blocks"
            if not table and suffix in TABLE_FORMATS
            else ""
        )
        raise click.BadParameter(
            f"cannot tell what to write from the extension of {output.name!r}: use {kinds}{hint}",
            param_hint="'-o'",
        )
    check_output(output)


def save_scores(result: Any, output: Path, terms: bool) -> None:
    """Writes the scores as .npy, or with ``terms`` the score and its three terms as .npz (and
    a regression run's residual)."""
    if terms:
        parts = {name: getattr(result, name) for name in ("score", "a2", "ab", "b2")}
        if result.residual is not None:
            parts["residual"] = result.residual
        write(output, lambda handle: np.savez(handle, **parts))
    else:
        write(output, lambda handle: np.save(handle, result))


def save_table(result: Any, labels: np.ndarray, ids: Any, output: Path, terms: bool) -> None:
    """Writes a .csv or .parquet table with one row per example."""
    columns = library(table_columns, result, labels, ids, with_terms=terms)
    write_table(output, columns, write)
