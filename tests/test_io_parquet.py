"""Parquet shards (a folder or a glob): read out of core into a cache, scores equal to the dense
rows', labels and ids from columns, bad columns named."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

import cgfast
from cgfast import cli
from cgfast._files import open_dataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


def embedding(X, fixed):
    values = pa.array(X.ravel())
    if fixed:
        return pa.FixedSizeListArray.from_arrays(values, X.shape[1])
    offsets = pa.array(np.arange(0, X.size + 1, X.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def write_shards(folder, X, y, *, fixed=True, columns=False, sizes=(70, 50, 60)):
    folder.mkdir(exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        part = slice(start, start + size)
        start += size
        if columns:
            table = {f"f{j}": X[part, j] for j in range(X.shape[1])}
        else:
            table = {"emb": embedding(X[part], fixed)}
        table.update(label=y[part], name=[f"ex{k:03d}" for k in range(part.start, part.stop)])
        pq.write_table(pa.table(table), folder / f"part-{i:02d}.parquet", row_group_size=23)
    return folder


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(180, 6)) + np.repeat(np.eye(3, 6), 60, axis=0) * 2
    y = np.repeat(["a", "b", "c"], 60)
    return X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["fixed", "list", "columns"])
def test_shards_score_like_the_dense_rows(tmp_path, data, dtype, layout):
    X, y = data
    X = X.astype(dtype)
    folder = write_shards(tmp_path / "shards", X, y, fixed=layout == "fixed",
                          columns=layout == "columns")  # fmt: skip
    dataset = open_dataset(folder, y_key="label", id_key="name")
    assert dataset.X.dtype == dtype and dataset.X.shape == X.shape
    np.testing.assert_array_equal(dataset.X, X)
    assert dataset.y.tolist() == y.tolist()
    assert dataset.ids.tolist() == [f"ex{k:03d}" for k in range(180)]
    kwargs = dict(repeats=2, max_block=50)
    expected = cgfast.score(X, y, **kwargs)
    np.testing.assert_array_equal(cgfast.score(dataset.X, dataset.y, **kwargs), expected)
    if layout != "columns":  # a path: the only list column is X
        np.testing.assert_array_equal(cgfast.score(str(folder), y, **kwargs), expected)


def test_a_glob_and_the_cache_reused_until_a_shard_changes(tmp_path, data, cache_folder):
    X, y = data
    folder = write_shards(tmp_path / "shards", X, y)
    first = open_dataset(str(folder / "part-*.parquet"), y_key="label")
    assert not list(folder.glob(".cgfast-cache-*"))  # never beside the data
    caches = list(cache_folder.glob(".cgfast-cache-*.npy"))
    assert len(caches) == 1
    stamp = caches[0].stat().st_mtime_ns
    again = open_dataset(str(folder / "part-*.parquet"), y_key="label")
    assert again.X.filename == first.X.filename and caches[0].stat().st_mtime_ns == stamp
    fewer = open_dataset(str(folder / "part-0[01].parquet"), y_key="label")
    assert fewer.X.shape == (120, 6) and fewer.X.filename != first.X.filename
    np.testing.assert_array_equal(fewer.X, X[:120])
    assert len(list(cache_folder.glob(".cgfast-cache-*.npy"))) == 2  # two globs, two datasets


def test_a_changed_shard_replaces_its_cache(tmp_path, data, cache_folder):
    X, y = data
    folder = write_shards(tmp_path / "shards", X, y)
    first = open_dataset(folder, y_key="label")
    # Rewriting a shard makes a new version; the previous one is deleted.
    shard = sorted(folder.glob("part-*.parquet"))[0]
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    changed = open_dataset(folder, y_key="label")
    assert changed.X.filename != first.X.filename
    caches = [p.name for p in cache_folder.glob(".cgfast-cache-*.npy")]
    assert caches == [Path(changed.X.filename).name]
    np.testing.assert_array_equal(changed.X, X)


def test_the_cache_option_chooses_the_cache_folder(tmp_path, data, cache_folder):
    X, y = data
    folder = write_shards(tmp_path / "shards", X, y)
    dataset = open_dataset(folder, y_key="label", cache=tmp_path / "elsewhere")
    assert str(dataset.X.filename).startswith(str(tmp_path / "elsewhere"))
    assert not list(folder.glob(".cgfast-cache-*")) and not list(cache_folder.iterdir())


def test_cli_table_has_the_id_column(tmp_path, data):
    X, y = data
    folder = write_shards(tmp_path / "shards", X, y)
    status = run_cli("score", folder, "--y-key", "label", "--id-key", "name", "--repeats", "1",
                     "--no-progress", "-o", tmp_path / "s.csv")  # fmt: skip
    assert status == 0
    with open(tmp_path / "s.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [f"ex{k:03d}" for k in range(180)]
    assert [r["label"] for r in rows] == y.tolist()
    expected = cgfast.score(X, y, repeats=1)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], expected)


def test_cli_glob_with_labels_from_a_file(tmp_path, data):
    X, y = data
    folder = write_shards(tmp_path / "shards", X, y)
    np.save(tmp_path / "y.npy", y)
    status = run_cli("score", folder / "*.parquet", tmp_path / "y.npy", "--x-key", "emb",
                     "--repeats", "1", "--no-progress", "-o", tmp_path / "s.npy")  # fmt: skip
    assert status == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), cgfast.score(X, y, repeats=1))


def test_single_table_without_y_and_with_an_id_column(tmp_path, data):
    X, y = data
    columns = {f"f{j}": X[:, j] for j in range(6)}
    names = [f"ex{k}" for k in range(180)]
    pq.write_table(pa.table({**columns, "label": y, "name": names}), tmp_path / "t.parquet")
    status = run_cli("score", tmp_path / "t.parquet", "--y-key", "label", "--id-key", "name",
                     "--repeats", "1", "--no-progress", "-o", tmp_path / "s.parquet")  # fmt: skip
    assert status == 0
    table = pq.read_table(tmp_path / "s.parquet").to_pydict()
    assert table["id"] == names
    np.testing.assert_array_equal(table["score"], cgfast.score(X, y, repeats=1))


def bad_shards(tmp_path, data, case):
    X, y = data
    folder = tmp_path / "bad"
    folder.mkdir()
    if case == "ragged":
        values = pa.array(np.ones(6 * 40 - 1))
        offsets = np.arange(0, 6 * 40 + 1, 6, dtype=np.int32)
        offsets[13:] -= 1  # row 12 has 5 values
        emb = pa.ListArray.from_arrays(pa.array(offsets), values)
        pq.write_table(pa.table({"emb": emb, "label": y[:40]}), folder / "p.parquet")
    elif case == "text":
        pq.write_table(pa.table({"emb": ["x"] * 10, "label": y[:10]}), folder / "p.parquet")
    elif case == "two lists":
        emb = embedding(X[:10], True)
        pq.write_table(pa.table({"a": emb, "b": emb, "label": y[:10]}), folder / "p.parquet")
    elif case == "null label":
        labels = pa.array(["a"] * 5 + [None] + ["b"] * 4)
        pq.write_table(pa.table({"emb": embedding(X[:10], True), "label": labels}),
                       folder / "p.parquet")  # fmt: skip
    else:
        write_shards(folder, X, y)
    return folder


@pytest.mark.parametrize(
    "case, args, message",
    [
        ("ok", ["--x-key", "vector", "--y-key", "label"], "no column 'vector' (it has emb,"),
        ("ok", ["--y-key", "class"], "no column 'class'"),
        ("ok", ["--y-key", "label", "--id-key", "key"], "no column 'key'"),
        ("ok", [], "has no labels: name their column with --y-key"),
        ("ragged", ["--y-key", "label"], "is ragged: row 12 has 5 values"),
        ("text", ["--x-key", "emb", "--y-key", "label"], "column 'emb' of"),
        ("two lists", ["--y-key", "label"], "several list columns (a, b)"),
        ("null label", ["--y-key", "label"], "column 'label' of"),
        ("ok", ["--y-key", "label", "--image-size", "8x8"], "image folders, not parquet"),
    ],
)
def test_bad_columns_are_named(tmp_path, data, capsys, cache_folder, case, args, message):
    folder = bad_shards(tmp_path, data, case)
    status = run_cli(
        "score", folder, *args, "--repeats", "1", "--no-progress", "-o", tmp_path / "s.csv"
    )
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.csv").exists()
    assert not list(folder.glob(".cgfast-cache-*")) and not list(cache_folder.iterdir())


def test_a_glob_matching_nothing(tmp_path, capsys):
    assert run_cli("score", tmp_path / "*.parquet", "-o", tmp_path / "s.csv") == 2
    assert "no file matches" in capsys.readouterr().err
