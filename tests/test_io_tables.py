"""Single .csv and .parquet tables read as written: empty labels and duplicate column names
refused by row and name, a byte-order mark stripped, and a single parquet file's columns chosen
as a folder of shards' are (no timestamps among the features, a list column as an embedding)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import cgfast
from cgfast import cli
from cgfast._files import open_x, read_labels

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) + np.repeat(np.eye(2, 3), 30, axis=0) * 2
    y = np.repeat([0, 1], 30)
    return X, y


def write_csv(path, header, rows, encoding="utf-8"):
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_an_empty_label_cell_is_refused_naming_its_row(tmp_path, data, capsys):
    X, y = data
    rows = [[*x, "" if i == 5 else label] for i, (x, label) in enumerate(zip(X, y))]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "label"], rows)
    with pytest.raises(ValueError, match=r"row 5 \(line 7\).*empty 'label'"):
        read_labels(path, "label")
    status = run_cli("score", path, "--y-key", "label", "--no-progress", "-o", tmp_path / "s.npy")
    err = capsys.readouterr().err
    assert status == 2 and "row 5 (line 7)" in err, err
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("layout", ["file", "shards"])
def test_a_blank_parquet_label_is_refused_naming_its_row(tmp_path, data, capsys, blank, layout):
    # A CSV's empty label cell was refused but a Parquet "" became a class of its own.
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["label"] = np.array(["cat", "dog"])[y]
    frame.loc[7, "label"] = blank
    if layout == "file":
        path = tmp_path / "t.parquet"
        frame.to_parquet(path)
        with pytest.raises(ValueError, match=r"row 7 has an empty 'label' cell"):
            read_labels(path, "label")
    else:
        path = tmp_path / "shards"
        path.mkdir()
        frame.iloc[:30].to_parquet(path / "0.parquet")
        frame.iloc[30:].to_parquet(path / "1.parquet")
    status = run_cli("score", path, "--y-key", "label", "--no-progress", "-o", tmp_path / "s.npy")
    err = capsys.readouterr().err
    assert status == 2 and "row 7" in err and "'label'" in err, err
    assert not (tmp_path / "s.npy").exists()


def test_a_blank_label_of_spaces_is_refused_in_a_one_column_file(tmp_path, data):
    _, y = data
    path = write_csv(tmp_path / "y.csv", ["label"], [[v] for v in y[:3]] + [["  "]])
    with pytest.raises(ValueError, match=r"row 3 \(line 5\)"):
        read_labels(path)


@pytest.mark.parametrize(
    "header, where",
    [(["a", "a", "label"], "columns 1 and 2"), (["a", "b ", " b"], "columns 2 and 3")],
)
def test_duplicate_csv_column_names_are_refused_naming_them(tmp_path, data, capsys, header, where):
    X, y = data
    path = write_csv(tmp_path / "t.csv", header, [[*x[:2], v] for x, v in zip(X, y)])
    name = header[1].strip()
    with pytest.raises(ValueError, match=f"column name {name!r} twice"):
        open_x(path, labels=(path, "label"))
    with pytest.raises(ValueError, match=f"column name {name!r} twice"):
        read_labels(path, "label" if "label" in header else "a")
    status = run_cli("score", path, "--y-key", "label", "--no-progress", "-o", tmp_path / "s.npy")
    assert status == 2 and where in capsys.readouterr().err


def test_duplicate_parquet_column_names_are_refused_naming_them(tmp_path, data, capsys):
    X, y = data
    table = pa.Table.from_arrays([pa.array(X[:, 0]), pa.array(X[:, 1]), pa.array(y)],
                                 names=["a", "a", "label"])  # fmt: skip
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    with pytest.raises(ValueError, match="column name 'a' twice"):
        open_x(path, labels=(path, "label"))
    folder = tmp_path / "shards"
    folder.mkdir()
    pq.write_table(table, folder / "p.parquet")
    for source in (path, folder):
        status = run_cli("score", source, "--y-key", "label", "--no-progress",
                         "-o", tmp_path / "s.npy")  # fmt: skip
        err = capsys.readouterr().err
        assert status == 2 and "column name 'a' twice" in err, err


@pytest.mark.parametrize("first", ["label", "a"])
def test_a_byte_order_mark_is_stripped(tmp_path, data, first):
    X, y = data
    header = ["label", "a", "b", "c"] if first == "label" else ["a", "b", "c", "label"]
    rows = [[v, *x] if first == "label" else [*x, v] for x, v in zip(X, y)]
    path = write_csv(tmp_path / "t.csv", header, rows, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    np.testing.assert_array_equal(read_labels(path, "label"), y)
    np.testing.assert_array_equal(open_x(path, "a,b,c"), X)
    status = run_cli("score", path, "--y-key", "label", "--repeats", "1", "--no-progress",
                     "-o", tmp_path / "s.npy")  # fmt: skip
    assert status == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), cgfast.score(X, y, repeats=1))


def test_a_headerless_csv_with_a_byte_order_mark_is_numbers(tmp_path, data):
    X, _ = data
    path = write_csv(tmp_path / "x.csv", [str(v) for v in X[0]], X[1:], encoding="utf-8-sig")
    np.testing.assert_array_equal(open_x(path), X)


def stamped(X, y):
    start = datetime.datetime(2020, 1, 1)
    stamps = [start + datetime.timedelta(days=i) for i in range(len(y))]
    return pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "when": stamps, "label": y})


def test_a_single_parquet_file_leaves_out_a_timestamp_as_shards_do(tmp_path, data):
    X, y = data
    table = stamped(X, y)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    folder = tmp_path / "shards"
    folder.mkdir()
    pq.write_table(table, folder / "p.parquet")
    single = open_x(path, labels=(path, "label"))
    np.testing.assert_array_equal(single, X)
    np.testing.assert_array_equal(open_x(folder, labels=(folder, "label")), X)
    for source in (path, folder):
        status = run_cli("score", source, "--y-key", "label", "--repeats", "1", "--no-progress",
                         "-o", tmp_path / "s.npy")  # fmt: skip
        assert status == 0
        np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), cgfast.score(X, y, repeats=1))


def test_a_timestamp_named_by_x_key_is_refused_in_a_single_file(tmp_path, data):
    X, y = data
    path = tmp_path / "t.parquet"
    pq.write_table(stamped(X, y), path)
    with pytest.raises(ValueError, match="column 'when' of .* is not numeric"):
        open_x(path, "a,when")


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_list_column_of_a_single_parquet_file_is_an_embedding(tmp_path, data, fixed, dtype):
    X, y = data
    X = X.astype(dtype)
    values = pa.array(X.ravel())
    if fixed:
        emb = pa.FixedSizeListArray.from_arrays(values, X.shape[1])
    else:
        offsets = pa.array(np.arange(0, X.size + 1, X.shape[1], dtype=np.int32))
        emb = pa.ListArray.from_arrays(offsets, values)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"emb": emb, "label": y}), path, row_group_size=17)
    for key in ("emb", None):
        got = open_x(path, key, labels=(path, "label"))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, X)
    status = run_cli("score", path, "--x-key", "emb", "--y-key", "label", "--repeats", "1",
                     "--no-progress", "-o", tmp_path / "s.npy")  # fmt: skip
    assert status == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), cgfast.score(X, y, repeats=1))


def test_a_ragged_list_column_of_a_single_file_names_the_row(tmp_path, data):
    _, y = data
    offsets = np.arange(0, 3 * 60 + 1, 3, dtype=np.int32)
    offsets[41:] -= 1  # row 40 has 2 values
    emb = pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.ones(3 * 60 - 1)))
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"emb": emb, "label": y}), path, row_group_size=17)
    with pytest.raises(ValueError, match="ragged: row 40 has 2 values"):
        open_x(path, "emb")
