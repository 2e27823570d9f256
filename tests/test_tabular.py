"""prepare_tabular: standardised columns and the constant column, against a plain NumPy
computation; bad tables refused with the row or column."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

import cgfast


def table(n: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.c_[
        rng.normal(5.0, 3.0, n),  # a numeric column far from 0
        rng.exponential(100.0, n),  # another on a much larger scale
        rng.integers(0, 2, n),  # a 0/1 column
        np.full(n, 7.0),  # a column whose values are all equal
    ]


def standardised_by_hand(X: np.ndarray, columns) -> np.ndarray:
    """``columns`` of X centred and divided by their population std (sums by hand; a column
    with no spread centred only); the others as given."""
    n = len(X)
    want = X.astype(np.float64).copy()
    for j in columns:
        mean = X[:, j].sum() / n
        std = np.sqrt(((X[:, j] - mean) ** 2).sum() / n)
        want[:, j] = (X[:, j] - mean) / std if std > 0 else X[:, j] - mean
    return want


@pytest.mark.parametrize(
    "unscaled, scaled, varying",
    [("indicators", [0, 1, 3], None), (None, [0, 1, 2, 3], 3), ([], [0, 1, 2, 3], 3)],
)
def test_columns_are_standardised_and_the_column_is_twice_the_rows_rms_norm(
    unscaled, scaled, varying
):
    """By default the 0/1 column (2) stays as given; None or [] scales every column."""
    X = table()
    got = cgfast.prepare_tabular(X, unscaled=unscaled)
    assert got.shape == (50, 5) and got.dtype == np.float64
    want = standardised_by_hand(X, scaled)
    np.testing.assert_allclose(got[:, :4], want, rtol=0, atol=1e-12)
    assert np.all(got[:, 3] == 0.0)  # the constant input column, centred, not divided by 0
    rms = np.sqrt(np.mean([row @ row for row in want]))
    if varying is not None:  # every column standardised: the rms norm is √(columns that vary)
        np.testing.assert_allclose(rms, np.sqrt(varying), rtol=1e-12)
    np.testing.assert_allclose(got[:, 4], 2.0 * rms, rtol=1e-12)


def test_the_default_keeps_only_columns_of_zeros_and_ones():
    """A column of 0 and 1 is kept; one of 0, 1 and 2, of 1 and 2, or of 0 only (constant) is
    scaled as usual."""
    rng = np.random.default_rng(8)
    n = 30
    X = np.c_[
        rng.integers(0, 2, n),  # 0/1: kept
        rng.integers(0, 3, n),  # 0/1/2: scaled
        rng.integers(1, 3, n),  # 1/2: scaled
        np.zeros(n),  # all 0: centred (to 0)
        np.ones(n),  # all 1: centred to 0
        rng.normal(size=n),
    ].astype(np.float64)
    got = cgfast.prepare_tabular(X, constant=None)
    np.testing.assert_array_equal(got[:, 0], X[:, 0])
    np.testing.assert_allclose(got, standardised_by_hand(X, [1, 2, 3, 4, 5]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got, cgfast.prepare_tabular(X, unscaled=[0], constant=None))


def test_the_constant_is_a_multiple_and_none_appends_nothing():
    X = table(seed=1)
    base = cgfast.prepare_tabular(X, constant=None)
    assert base.shape == X.shape
    np.testing.assert_array_equal(cgfast.prepare_tabular(X)[:, :4], base)
    three = cgfast.prepare_tabular(X, constant=3)
    np.testing.assert_allclose(three[:, 4], 1.5 * cgfast.prepare_tabular(X)[:, 4], rtol=1e-15)


def test_unscaled_columns_are_kept_as_given():
    X = table(seed=2)
    got = cgfast.prepare_tabular(X, unscaled=[2], constant=None)
    np.testing.assert_array_equal(got[:, 2], X[:, 2])
    np.testing.assert_array_equal(got, cgfast.prepare_tabular(X, unscaled=[-2], constant=None))
    scaled = cgfast.prepare_tabular(X, constant=None)
    np.testing.assert_array_equal(got[:, [0, 1, 3]], scaled[:, [0, 1, 3]])


def test_units_and_offsets_of_the_columns_do_not_matter():
    X = table(seed=3)
    moved = X * np.array([1e-3, 250.0, 1.0, 4.0]) + np.array([1e4, -3.0, 0.0, 2.0])
    np.testing.assert_allclose(
        cgfast.prepare_tabular(moved), cgfast.prepare_tabular(X), rtol=0, atol=1e-9
    )


def test_values_near_the_largest_float_are_standardised_without_overflow():
    """Squares of 1e300 overflow float64; the result is that of the columns in small units
    (the second one's sign flipped, as its unit is)."""
    X = table(seed=6)
    huge = X * np.array([1e300, -1e299, 1.0, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value
        got = cgfast.prepare_tabular(huge)
    assert np.isfinite(got).all()
    small = cgfast.prepare_tabular(X * np.array([1.0, -1.0, 1.0, 1.0]))
    np.testing.assert_allclose(got, small, rtol=0, atol=1e-12)


def test_unscaled_values_too_large_for_the_constant_column_are_refused():
    X = table(seed=7)
    X[:, 2] *= 1e300  # a 0/1 column in huge units, left unscaled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="unscaled columns' values are too large"):
            cgfast.prepare_tabular(X, unscaled=[2])
        assert np.isfinite(cgfast.prepare_tabular(X, unscaled=[2], constant=None)).all()
        assert np.isfinite(cgfast.prepare_tabular(X)).all()  # scaled, it is a 0/1 column


def test_a_column_that_differs_only_by_rounding_becomes_zero():
    """0.3 and 0.1 * 3 differ in their last bit: that column is constant, not unit variance;
    a column that varies by one part in 1e10 is data and is standardised."""
    n = 40
    rounded = np.where(np.arange(n) % 2 == 0, 0.3, 0.1 * 3)
    assert np.ptp(rounded) > 0
    fine = 1.0 + 1e-10 * np.arange(n)
    X = np.c_[rounded, fine, table(n)[:, 0]]
    got = cgfast.prepare_tabular(X, constant=None)
    assert np.all(got[:, 0] == 0.0)
    mean = fine.sum() / n
    want = (fine - mean) / np.sqrt(((fine - mean) ** 2).sum() / n)
    np.testing.assert_allclose(got[:, 1], want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got[:, 1].std(), 1.0, rtol=1e-12)


def test_a_dataframe_of_numbers_and_lists_of_rows_are_taken():
    pandas = pytest.importorskip("pandas")
    X = table(seed=4)
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    np.testing.assert_array_equal(cgfast.prepare_tabular(frame), cgfast.prepare_tabular(X))
    np.testing.assert_array_equal(cgfast.prepare_tabular(X.tolist()), cgfast.prepare_tabular(X))


def test_the_input_is_not_modified():
    X = table(seed=5)
    before = X.copy()
    cgfast.prepare_tabular(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros(5), "2-D"),
        (np.zeros((0, 3)), "non-empty"),
        (np.zeros((4, 0)), "non-empty"),
        ([[1.0, np.nan], [2.0, 3.0]], "row 0, column 1"),
        ([[1.0, 2.0], [np.inf, 3.0]], "row 1, column 0"),
        ([["a", 1.0], ["b", 2.0]], "one-hot"),
    ],
)
def test_bad_tables_are_refused(X, message):
    with pytest.raises(ValueError, match=message):
        cgfast.prepare_tabular(X)


def test_a_column_of_strings_in_a_dataframe_is_refused():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"size": [1.0, 2.0], "colour": ["red", "blue"]})
    with pytest.raises(ValueError, match="get_dummies"):
        cgfast.prepare_tabular(frame)


@pytest.mark.parametrize("constant", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_constants_are_refused(constant):
    with pytest.raises(ValueError, match="constant"):
        cgfast.prepare_tabular(table(), constant=constant)


@pytest.mark.parametrize(
    "unscaled, message",
    [
        ([4], "has 4 columns"),
        ([-5], "has 4"),
        ([1.0], "positions or names"),
        ("binary", "'indicators'"),
        (["b"], "no column names"),  # a NumPy array has none
    ],
)
def test_bad_unscaled_columns_are_refused(unscaled, message):
    with pytest.raises(ValueError, match=message):
        cgfast.prepare_tabular(table(), unscaled=unscaled)


def test_a_dataframes_unscaled_columns_may_be_named():
    """Names choose the DataFrame's columns as their positions do; each choice differs from the
    default's, so names that were ignored would fail here."""
    pandas = pytest.importorskip("pandas")
    X = table(seed=10)
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    for names, positions in ((["b"], [1]), (["a", "d"], [0, -1]), (["b", 0], [1, 0])):
        got = cgfast.prepare_tabular(frame, unscaled=names)
        np.testing.assert_array_equal(got, cgfast.prepare_tabular(X, unscaled=positions))
        assert not np.array_equal(got, cgfast.prepare_tabular(X))
    with pytest.raises(ValueError, match=r"no such column \(it has a, b, c, d\)"):
        cgfast.prepare_tabular(frame, unscaled=["e"])
    twice = pandas.DataFrame(X, columns=["a", "b", "b", "d"])
    with pytest.raises(ValueError, match="2 columns of that name"):
        cgfast.prepare_tabular(twice, unscaled=["b"])


def cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "cgfast.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_command_line_prepares_a_csv_table_with_tabular(tmp_path):
    """`cgfast score table.csv --tabular` scores the prepared features, bit for bit as
    ``cgfast.score(cgfast.prepare_tabular(X), ...)``; without the flag, the features as given."""
    X = table(120, seed=6)[:, :3]
    y = X[:, 0] * 2.0 - X[:, 1] / 50.0 + np.random.default_rng(0).normal(size=120)
    header = "a,b,c,price"
    np.savetxt(tmp_path / "t.csv", np.c_[X, y], delimiter=",", header=header, comments="")
    common = ["score", "t.csv", "t.csv", "--y-key", "price", "--task", "regression"]
    for flag, features in (([], X), (["--tabular"], cgfast.prepare_tabular(X))):
        result = cli(*common, *flag, "--no-progress", "-o", "s.csv", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        got = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True)
        want = cgfast.score(features, y, task="regression", return_terms=True)
        np.testing.assert_array_equal(got["residual"], want.residual)


def test_the_command_lines_unscaled_chooses_the_columns_kept_as_given(tmp_path):
    """``--unscaled none`` and ``--unscaled 0,2`` prepare X as ``prepare_tabular`` does with
    ``unscaled=None`` and ``[0, 2]``; each preparation differs from the default's, so a flag
    that did nothing would fail here."""
    X = table(120, seed=8)[:, :3]  # column 2 holds 0 and 1
    y = X[:, 0] - X[:, 1] / 40.0 + np.random.default_rng(1).normal(size=120)
    np.savetxt(tmp_path / "t.csv", np.c_[X, y], delimiter=",", header="a,b,c,price", comments="")
    common = ["score", "t.csv", "t.csv", "--y-key", "price", "--task", "regression", "--tabular"]
    default = cgfast.prepare_tabular(X)
    for given, unscaled in (("none", None), ("0,2", [0, 2]), ("indicators", "indicators")):
        features = cgfast.prepare_tabular(X, unscaled=unscaled)
        assert (unscaled == "indicators") == np.array_equal(features, default)
        result = cli(*common, "--unscaled", given, "--no-progress", "-o", "s.csv", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        got = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True)
        want = cgfast.score(features, y, task="regression", return_terms=True)
        np.testing.assert_array_equal(got["residual"], want.residual)


def test_the_command_lines_unscaled_takes_names_from_the_header(tmp_path):
    """``--unscaled b`` keeps the feature column named b: the second feature, the third column
    of a file whose label column comes first, so that a name read as a file position fails
    here; a .parquet file's names are its schema's."""
    X = table(120, seed=11)[:, :3]
    y = X[:, 0] + X[:, 1] / 30.0 + np.random.default_rng(2).normal(size=120)
    np.savetxt(tmp_path / "t.csv", np.c_[y, X], delimiter=",", header="price,a,b,c", comments="")
    features = cgfast.prepare_tabular(X, unscaled=[1])
    assert not np.array_equal(features, cgfast.prepare_tabular(X, unscaled=[2]))
    want = cgfast.score(features, y, task="regression", return_terms=True).residual
    sources = ["t.csv"]
    if importlib.util.find_spec("pyarrow") and importlib.util.find_spec("pandas"):
        import pandas

        frame = pandas.DataFrame(np.c_[y, X], columns=["price", "a", "b", "c"])
        frame.to_parquet(tmp_path / "t.parquet")
        sources.append("t.parquet")
    for source in sources:
        common = ["score", source, source, "--y-key", "price", "--task", "regression"]
        result = cli(*common, "--tabular", "--unscaled", "b", "--no-progress", "-o", "s.csv",
                     cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        got = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True)
        np.testing.assert_array_equal(got["residual"], want)


def test_the_command_line_refuses_unscaled_names_that_x_lacks(tmp_path):
    np.save(tmp_path / "x.npy", table(40, seed=12)[:, :3])
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    result = cli("score", "x.npy", "y.npy", "--tabular", "--unscaled", "b", "-o", "s.npy",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode != 0
    assert "X has no column names" in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--tabular", "--unscaled", "price"],
            "no feature column 'price' (its feature columns: a, b, c)",
        ),
        (["--tabular", "--unscaled", "a,size"], "no feature column 'size'"),
        (["--tabular", "--unscaled", "binary"], "no feature column 'binary'"),
        (["--tabular", "--unscaled", "0,,2"], "comma-separated column positions"),
        (["--tabular", "--unscaled", "3"], "unscaled names column 3, but X has 3 columns"),
        (["--unscaled", "none"], "--unscaled applies with --tabular"),
    ],
)
@pytest.mark.parametrize("command, output", [("score", "s.csv"), ("report", "r.html")])
def test_the_command_line_refuses_bad_unscaled_columns(tmp_path, flags, message, command, output):
    X = table(40, seed=9)[:, :3]
    np.savetxt(tmp_path / "t.csv", np.c_[X, X[:, 0]], delimiter=",", header="a,b,c,price",
               comments="")  # fmt: skip
    common = [command, "t.csv", "t.csv", "--y-key", "price", "--task", "regression"]
    result = cli(*common, *flags, "--no-progress", "-o", output, cwd=tmp_path)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / output).exists()


def test_the_command_line_refuses_tabular_for_images_and_bad_tables(tmp_path):
    np.save(tmp_path / "images.npy", np.random.default_rng(1).normal(size=(30, 4, 4)))
    np.save(tmp_path / "y.npy", np.arange(30) % 2)
    result = cli("score", "images.npy", "y.npy", "--tabular", "-o", "s.npy", cwd=tmp_path)
    assert result.returncode != 0 and "2-D table" in result.stderr
    bad = np.ones((30, 2))
    bad[4, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    result = cli("score", "bad.npy", "y.npy", "--tabular", "-o", "s.npy", cwd=tmp_path)
    assert result.returncode != 0 and "row 4, column 1" in result.stderr


def test_the_report_scores_the_prepared_table_and_shows_the_rows_as_given(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(5.0, [1.0, 10.0, 0.1], size=(150, 3))
    y = X @ [1.0, 0.1, 10.0] + rng.normal(size=150)
    y[5] += 40.0  # one corrupted target, flagged and shown on the page
    np.savetxt(tmp_path / "t.csv", np.c_[X, y], delimiter=",", header="a,b,c,price", comments="")
    common = ["t.csv", "t.csv", "--y-key", "price", "--task", "regression", "--no-progress"]
    result = cli("report", *common, "--tabular", "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    column = cgfast.prepare_tabular(X)[0, -1]
    assert f"{column:.4g}" not in page  # the constant column is not shown
    assert f"{X[5, 1]:.4g}" in page  # the flagged row's own values are
    cli("score", *common, "--tabular", "-o", "s.csv", cwd=tmp_path)
    refused = cli("report", *common, "--tabular", "--scores", "s.csv", "-o", "q.html", cwd=tmp_path)
    assert refused.returncode != 0
    assert "--tabular applies only when report scores X" in refused.stderr
