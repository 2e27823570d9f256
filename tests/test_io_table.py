"""The score table: columns, ranks and flags against the library; .csv and .parquet from the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import cgfast
from cgfast import cli
from cgfast._table import table_columns
from cgfast.rank import _issues_from_terms


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) + np.repeat(np.eye(3, 4), 20, axis=0) * 2
    y = np.repeat(["cat", "dog", "emu"], 20)
    y[[3, 25]] = ["emu", "cat"]  # two wrong labels
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, X, y


def test_columns_rank_each_class_and_flag_the_rule(data):
    _, X, y = data
    terms = cgfast.score(X, y, repeats=3, return_terms=True)
    columns = table_columns(terms, y)
    assert list(columns) == ["id", "label", "score", "rank_in_class", "label_issue", "stability"]
    np.testing.assert_array_equal(columns["id"], np.arange(60))
    np.testing.assert_array_equal(columns["label"], y)
    np.testing.assert_array_equal(columns["score"], terms.score)
    for label, order in cgfast.rank(terms.score, y).items():
        np.testing.assert_array_equal(columns["rank_in_class"][order], np.arange(1, len(order) + 1))
        assert (columns["label"][order] == label).all()
    flagged = np.flatnonzero(columns["label_issue"])
    np.testing.assert_array_equal(flagged, np.sort(_issues_from_terms(terms)))
    want = cgfast.find_label_issues(X, y, rule="sign", repeats=3)  # no suggestions: the sign rule
    np.testing.assert_array_equal(flagged, np.sort(want))
    assert (columns["stability"] == terms.stability).all()


def test_to_table_is_a_dataframe_with_the_stability(data):
    pytest.importorskip("pandas")
    _, X, y = data
    ids = [f"img{i}.png" for i in range(60)]
    table = cgfast.score_table(X, y, ids=ids, repeats=2)
    terms = cgfast.score(X, y, repeats=2, return_terms=True)
    assert table.attrs["stability"] == terms.stability
    assert table["id"].tolist() == ids
    np.testing.assert_array_equal(table["score"].to_numpy(), terms.score)
    with pytest.raises(TypeError, match="return_terms"):
        cgfast.score_table(X, y, return_terms=True)


def test_cli_csv_table_matches_the_library(data):
    tmp, X, y = data
    assert run_cli("score", tmp / "X.npy", tmp / "y.npy", "--repeats", "2", "--no-progress",
                   "-o", tmp / "s.csv") == 0  # fmt: skip
    with open(tmp / "s.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    terms = cgfast.score(X, y, repeats=2, suggest=True)  # -o *.csv suggests labels
    expected = table_columns(terms, y)
    assert len(rows) == 60
    assert [int(r["id"]) for r in rows] == list(range(60))
    assert [r["label"] for r in rows] == y.tolist()
    np.testing.assert_array_equal([float(r["score"]) for r in rows], terms.score)  # exact
    assert [int(r["rank_in_class"]) for r in rows] == expected["rank_in_class"].tolist()
    assert [r["label_issue"] == "true" for r in rows] == expected["label_issue"].tolist()
    assert {r["stability"] for r in rows} == {repr(terms.stability)}


def test_cli_parquet_table_with_terms(data):
    pq = pytest.importorskip("pyarrow.parquet")
    tmp, X, y = data
    assert run_cli("score", tmp / "X.npy", tmp / "y.npy", "--repeats", "1", "--terms",
                   "--no-progress", "-o", tmp / "s.parquet") == 0  # fmt: skip
    table = pq.read_table(tmp / "s.parquet").to_pydict()
    terms = cgfast.score(X, y, repeats=1, suggest=True)
    assert list(table) == [
        "id", "label", "score", "rank_in_class", "label_issue", "suggested_label",
        "label_quality", "suggested_quality", "margin", "issue", "stability", "a2", "ab", "b2",
    ]  # fmt: skip
    np.testing.assert_array_equal(table["score"], terms.score)
    np.testing.assert_array_equal(table["label_quality"], terms.label_quality)
    assert table["suggested_label"] == terms.suggested_label.tolist()
    np.testing.assert_array_equal(table["ab"], terms.ab)
    assert table["label"] == y.tolist()
    assert all(v is None or np.isnan(v) for v in table["stability"])  # one repeat: no estimate


@pytest.mark.parametrize(
    "name, terms, message",
    [
        ("s.txt", False, "cannot tell what to write"),
        ("s", False, "cannot tell what to write"),
        ("s.npz", False, "scores are written as .npy"),
        ("s.npy", True, "--terms writes an .npz"),
    ],
)
def test_unknown_output_extension_fails_before_scoring(data, capsys, name, terms, message):
    tmp, _, _ = data
    extra = ["--terms"] if terms else []
    status = run_cli("score", tmp / "X.npy", tmp / "y.npy", *extra, "-o", tmp / name)
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "examples" not in err
    assert not (tmp / name).exists()


def test_assemble_writes_no_table(data, capsys):
    tmp, _, _ = data
    assert run_cli("assemble", tmp, "-o", tmp / "s.csv") == 2
    err = capsys.readouterr().err
    assert "cannot tell what to write" in err and "--checkpoint DIR -o s.csv" in err
    assert run_cli("assemble", tmp, "-o", tmp / "s.txt") == 2
    assert "--checkpoint" not in capsys.readouterr().err
