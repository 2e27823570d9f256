"""Reading X, labels and scores from files: .npy, .npz, .csv, .parquet and Zarr stores.

The one place that knows file formats; ``score`` (through ``_data.open_rows``) and the command
line both read through it. A .npy X is memory-mapped and a Zarr store opened lazily, so neither
is loaded whole; tables and archives are read into memory. Errors are ``ValueError`` naming the
file and, where it helps, the option (``x_key`` / ``--x-key``) that chooses inside it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._dataset import Dataset, blank_rows, check_unique, flag_column, has_glob
from ._labels import label_shape_message
from ._npy import npy_shortfall

X_FORMATS = (
    ".npy, .npz, .csv or .parquet file, a Zarr array, a folder or glob of parquet files, "
    "or a folder of images in one subfolder per class"
)


def is_dataset(path: str | os.PathLike) -> bool:
    """True for what :func:`open_dataset` reads: parquet shards (a folder or a glob) or an
    image folder (a folder that is not a Zarr store)."""
    return has_glob(path) or (Path(path).is_dir() and not _is_zarr_store(Path(path)))


def open_dataset(
    path: str | os.PathLike,
    *,
    x_key: str | None = None,
    y_key: str | None = None,
    id_key: str | None = None,
    image_size: str | tuple[int, int] | None = None,
    skip_unreadable: bool = False,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> Dataset:
    """Opens a folder or glob of parquet shards, or a folder of images, as a :class:`Dataset`.

    Parquet (a glob, or a folder holding .parquet files): X is the ``x_key`` column(s), the
    labels column ``y_key`` and the ids column ``id_key`` (see ``_parquet.open_parquet``).
    Images (a folder with one subfolder per class): the label is the subfolder's name, the id
    the file's path relative to the folder (see ``_images.open_images``). Either is
    converted once into a float .npy cache that is reused while the files are unchanged; it is
    written in ``cache``, else ``$CGFAST_CACHE``, else ``~/.cache/cgfast`` (``$XDG_CACHE_HOME``),
    never in the data's folder.

    Examples
    --------
    >>> import cgfast
    >>> data = cgfast.open_dataset("digits/", image_size="28x28")     # doctest: +SKIP
    >>> table = cgfast.score_table(data.X, data.y, ids=data.ids)       # doctest: +SKIP
    """
    from ._parquet import open_parquet, parquet_files

    if has_glob(path) or parquet_files(path) is not None:
        if image_size is not None or skip_unreadable:
            raise ValueError("image_size and skip_unreadable apply to image folders, not parquet")
        return open_parquet(
            path, x_key=x_key, y_key=y_key, id_key=id_key, cache=cache, progress=progress
        )
    if not Path(path).is_dir():
        raise ValueError(f"{str(path)!r} is neither a folder nor a glob of parquet files")
    if x_key is not None or y_key is not None or id_key is not None:
        raise ValueError(
            f"{str(path)!r} holds no .parquet file; as an image folder it takes no "
            "x_key, y_key or id_key (labels are the subfolders' names)"
        )
    from ._images import open_images

    return open_images(
        path, image_size=image_size, skip_unreadable=skip_unreadable, cache=cache, progress=progress
    )


def _is_zarr_store(path: Path) -> bool:
    return path.suffix == ".zarr" or (path / ".zarray").exists() or (path / "zarr.json").exists()


def _existing(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; FileNotFoundError naming it when nothing is there, before any format
    is guessed from a name that may only be mistyped."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} path {os.fspath(path)!r} does not exist")
    return Path(path)


def _npy(path: Path, mmap: bool = False) -> np.ndarray:
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise ValueError(f"{path} is not a .npy file")
    short = npy_shortfall(path)
    if short is not None:
        raise ValueError(f"{path} {short}")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {str(path)!r}: {err}") from err


def _zarr(path: Path) -> Any:
    try:
        import zarr
    except ImportError as err:
        raise ImportError("reading a Zarr array needs zarr: pip install 'cgfast[dask]'") from err
    try:
        return zarr.open_array(str(path), mode="r")
    except Exception as err:  # zarr raises several unrelated types for a bad store
        raise ValueError(f"cannot read X from the Zarr store {str(path)!r}: {err}") from err


def _npz_member(path: Path, key: str | None, default: str, option: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if key is None:
            key = names[0] if len(names) == 1 else default
        if key not in names:
            raise ValueError(
                f"{path} has no array {key!r} (it has {', '.join(names)}): use {option}"
            )
        return archive[key]


def _is_sparse_npz(path: Path) -> bool:
    """True for the archive ``scipy.sparse.save_npz`` writes (a CSR/CSC/COO matrix)."""
    with np.load(path, allow_pickle=False) as archive:
        return {"format", "shape", "data"} <= set(archive.files)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _table(path: Path) -> tuple[list[str], dict[str, np.ndarray], list[int] | None]:
    """Columns of a .csv (first row is a header when any of its cells is not a number) or a
    .parquet file, in file order, as arrays of strings (csv) or of their parquet type, and the
    line of the file each row is on (csv; None for parquet). A UTF-8 byte-order mark is not
    part of the first name, and two columns of one name are refused."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow") from None
        check_unique(pq.read_schema(path).names, str(path))
        table = pq.read_table(path)
        columns = {
            name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names
        }
        return table.column_names, columns, None
    lines, numbers = [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for row in reader:
            if row:
                lines.append(row)
                numbers.append(reader.line_num)
    if not lines:
        raise ValueError(f"{path} is empty")
    width = len(lines[0])
    for number, row in zip(numbers, lines):
        if len(row) != width:
            raise ValueError(f"{path}, line {number}: {len(row)} cells, the first line has {width}")
    header = _header(lines[0])
    if header is not None:
        names, body, numbers = header, lines[1:], numbers[1:]
        check_unique(names, str(path))
    else:
        names, body = [str(j) for j in range(width)], lines
    cells = np.array(body, dtype=str).reshape(len(body), width)
    return names, {name: cells[:, j] for j, name in enumerate(names)}, numbers


def _header(row: list[str]) -> list[str] | None:
    """The column names a .csv's first row gives, stripped, when it is a header (any of its
    cells is not a number); None when it is a row of data."""
    if all(_is_number(cell) for cell in row):
        return None
    return [cell.strip() for cell in row]


def _numbers(values: np.ndarray, name: str, path: Path) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        bad = next(i for i, v in enumerate(values) if not _is_number(str(v)))
        raise ValueError(
            f"column {name!r} of {path} is not numeric ({str(values[bad])!r} in row {bad}): "
            "choose the feature columns with --x-key (x_key=)"
        ) from None


def open_x(
    path: str | Path,
    key: str | None = None,
    *,
    labels: tuple[str | Path, str | None] | None = None,
    exclude: str | None = None,
) -> Any:
    """X stored at ``path``: a memory-mapped .npy, a Zarr array, or an array read from a file.

    ``key`` chooses inside the file: the array of an .npz (default: the only one, else ``"X"``;
    an .npz written by ``scipy.sparse.save_npz`` is read as that sparse matrix),
    comma-separated feature columns of a .csv (default: every column but the label column), or
    the columns of a .parquet, chosen as those of parquet shards are (one list column or
    several numeric ones; default: the only list column, else every numeric column but the
    label column: see ``_parquet.read_parquet_x``). ``labels``, the (path, key) the labels come
    from, tells which column of a shared table is not a feature; ``exclude`` names one more
    (an id column).
    """
    path = Path(path) if has_glob(path) else _existing(path, "X")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".zarr":
        if _is_zarr_store(path):
            return _zarr(path)
    if is_dataset(path):
        label_key = None
        if labels is not None and Path(labels[0]).resolve() == path.resolve():
            label_key = labels[1]
        return open_dataset(path, x_key=key, y_key=label_key).X
    if suffix == ".npy":
        return _npy(path, mmap=True)
    if suffix == ".npz":
        if key is None and _is_sparse_npz(path):
            import scipy.sparse

            return scipy.sparse.load_npz(path)
        return _npz_member(path, key, "X", "--x-key (x_key=)")
    if suffix in (".csv", ".parquet"):
        others = _not_features(path, key, labels, exclude)
        if suffix == ".parquet":
            from ._parquet import read_parquet_x

            return read_parquet_x(path, key, others)
        names, columns, _ = _table(path)
        chosen = _csv_features(path, names, key, others)
        return np.column_stack([_numbers(columns[name], name, path) for name in chosen])
    raise ValueError(f"cannot read X from {path}: use a {X_FORMATS}")


def feature_names(
    path: str | Path,
    key: str | None = None,
    *,
    labels: tuple[str | Path, str | None] | None = None,
    exclude: str | None = None,
) -> list[str] | None:
    """The names of the feature columns :func:`open_x` reads from ``path`` (same arguments), in
    order: for a .csv, a .parquet or parquet shards, by reading their header or schema only.
    None where X has no named columns: an array file, an image folder, one list column (an
    embedding), a .csv without a header."""
    path = Path(path) if has_glob(path) else _existing(path, "X")
    suffix = path.suffix.lower()
    if is_dataset(path) or suffix == ".parquet":
        from ._parquet import parquet_files, x_column_names

        files = [path] if suffix == ".parquet" and path.is_file() else parquet_files(path)
        if files is None:  # an image folder
            return None
        return x_column_names(files, key, _not_features(path, key, labels, exclude), str(path))
    if suffix != ".csv":
        return None
    with open(path, newline="", encoding="utf-8-sig") as handle:
        names = _header(next((row for row in csv.reader(handle) if row), []))
    if names is None:
        return None
    return _csv_features(path, names, key, _not_features(path, key, labels, exclude))


def _not_features(
    path: Path, key: str | None, labels: tuple[str | Path, str | None] | None, exclude: str | None
) -> set[str]:
    """The columns of a table X that are not features: the label column, when the labels come
    from the same file, and ``exclude`` (an id column)."""
    label_key = None
    if labels is not None and Path(labels[0]).resolve() == path.resolve():
        label_key = labels[1]
        if label_key is None and key is None:
            raise ValueError(
                f"X and y are both {path}: name the label column with --y-key (y_key=)"
            )
    return {name for name in (label_key, exclude) if name is not None}


def _csv_features(path: Path, names: list[str], key: str | None, others: set[str]) -> list[str]:
    """The feature columns of a .csv whose columns are ``names``: ``key``'s, else all but
    ``others``."""
    if key is not None:
        chosen = [name.strip() for name in key.split(",")]
        missing = [name for name in chosen if name not in names]
        if missing:
            raise ValueError(f"{path} has no column {missing[0]!r} (it has {', '.join(names)})")
    else:
        chosen = [name for name in names if name not in others]
    if not chosen:
        raise ValueError(f"{path} has no feature columns left")
    return chosen


def _text_labels(values: np.ndarray) -> np.ndarray:
    """Labels read from text: integers when every label is one, else the strings."""
    if values.dtype.kind in "US":
        try:
            return values.astype(np.int64)
        except (ValueError, OverflowError):  # not all integers, or one beyond int64: text
            return values
    return values


def read_labels(path: str | Path, key: str | None = None) -> np.ndarray:
    """Labels from .npy, .npz (array ``key``, default the only one or ``"y"``), .csv or .parquet
    (the one column, or column ``key``)."""
    path = _existing(path, "y")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        labels = _npy(path)
    elif suffix == ".npz":
        labels = _npz_member(path, key, "y", "--y-key (y_key=)")
    elif suffix in (".csv", ".parquet"):
        names, columns, lines = _table(path)
        if key is None:
            if len(names) != 1:
                raise ValueError(
                    f"{path} has columns {', '.join(names)}: name the label column with "
                    "--y-key (y_key=)"
                )
            key = names[0]
        if key not in columns:
            raise ValueError(f"{path} has no column {key!r} (it has {', '.join(names)})")
        empty = blank_rows(columns[key])  # a blank label (an empty CSV cell) is a missing one
        if empty.size:
            row = int(empty[0])
            where = f"row {row}" + ("" if lines is None else f" (line {lines[row]})")
            raise ValueError(
                f"{path}: {where} has an empty {key!r} cell; every example needs one "
                f"(fill it in or drop the row; {empty.size} row(s) have none)"
            )
        labels = _text_labels(columns[key])
    else:
        raise ValueError(f"cannot read y from {path}: use a .npy, .npz, .csv or .parquet file")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"y in {path}: {label_shape_message(labels, len(labels))}")
    return labels


def _text_numbers(values: np.ndarray) -> np.ndarray:
    """Floats read back from a .csv, where an empty cell is NaN (a stability not estimated)."""
    if values.dtype.kind in "fiu":
        return values.astype(np.float64)
    return np.array([float(v) if str(v).strip() else np.nan for v in values], dtype=np.float64)


def read_score_table(path: str | Path) -> dict[str, np.ndarray]:
    """The ``score``, ``label`` and ``id`` columns of the .csv/.parquet that `cgfast score -o`
    writes; ``id`` is the row index when the table has no id column. Labels and ids read as
    integers when every one is. The ``label_issue``, ``suggested_label``, ``label_quality``,
    ``suggested_quality``, ``margin``, ``issue`` and ``stability`` columns come too when the
    table has them (booleans, labels, floats)."""
    path, columns = _score_table(path, ("score", "label"), "cgfast score ... -o scores.csv")
    values = columns["score"]
    if values.dtype.kind not in "fiu":
        bad = [i for i, v in enumerate(values) if not _is_number(str(v))]
        if bad:
            cell = str(values[bad[0]])
            raise ValueError(f"{path}: score {cell!r} in row {bad[0]} is not a number")
    ids = _text_labels(columns["id"]) if "id" in columns else np.arange(len(values))
    table = {
        "score": values.astype(np.float64),
        "label": _text_labels(columns["label"]),
        "id": ids,
    }
    if "label_issue" in columns:
        table["label_issue"] = flag_column(columns["label_issue"])
    if "suggested_label" in columns:
        table["suggested_label"] = _text_labels(columns["suggested_label"])
    for name in ("label_quality", "suggested_quality", "margin", "issue", "stability"):
        if name in columns:
            try:
                table[name] = _text_numbers(columns[name])
            except ValueError:
                raise ValueError(f"{path}: the {name} column is not numeric") from None
    return table


def read_target_table(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of the table `cgfast score --task regression -o` writes: ``score``,
    ``residual`` and ``target`` as floats, ``target_issue`` as booleans, ``stability`` (NaN
    where empty) and ``id`` (the row index when the table has none)."""
    path, columns = _score_table(
        path, ("score", "residual"), "cgfast score ... --task regression -o scores.csv"
    )
    table: dict[str, np.ndarray] = {}
    for name in ("score", "residual", "target", "stability"):
        if name in columns:
            table[name] = _text_numbers(columns[name])
    if "target_issue" in columns:
        table["target_issue"] = flag_column(np.asarray(columns["target_issue"]))
    n = len(table["score"])
    table["id"] = _text_labels(columns["id"]) if "id" in columns else np.arange(n)
    return table


def npz_has_residuals(path: str | Path) -> bool:
    """Whether the .npz ``path`` holds a ``residual`` array: a regression run's --terms file."""
    with np.load(_existing(path, "scores"), allow_pickle=False) as archive:
        return "residual" in archive.files


def read_target_terms(path: str | Path) -> dict[str, np.ndarray]:
    """The ``score`` and ``residual`` arrays of the .npz that `cgfast score --task regression
    --terms` writes, as the columns of a table (``id``: the row index)."""
    path = _existing(path, "scores")
    option = "`cgfast score --task regression --terms -o terms.npz`"
    table = {name: _npz_member(path, name, name, option) for name in ("score", "residual")}
    if table["score"].shape != table["residual"].shape:
        raise ValueError(
            f"{path}: its score {table['score'].shape} and residual "
            f"{table['residual'].shape} arrays differ in shape"
        )
    table["id"] = np.arange(len(table["score"]))
    return table


def _score_table(
    path: str | Path, required: tuple[str, ...], command: str
) -> tuple[Path, dict[str, np.ndarray]]:
    """The columns of a .csv/.parquet score table, refused when one of ``required`` is missing
    (the message names the ``command`` that writes the right table)."""
    path = _existing(path, "scores")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"cannot read a score table from {path}: use a .csv or .parquet")
    names, columns, _ = _table(path)
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(
            f"{path} has no {missing[0]!r} column (it has {', '.join(names)}): give the table "
            f"that `{command}` writes"
        )
    return path, columns


def read_scores(path: str | Path) -> np.ndarray:
    """Scores from the .npy that `cgfast score` writes, or the 'score' array of its --terms .npz."""
    path = _existing(path, "scores")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(path)
    if suffix == ".npz":
        return _npz_member(path, "score", "score", "`cgfast score --terms`")
    raise ValueError(f"cannot read scores from {path}: use the .npy or .npz of `cgfast score`")
