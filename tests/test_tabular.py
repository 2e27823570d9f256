"""prepare_tabular: standardised columns and the constant column, against a plain NumPy
computation; bad tables refused with the row or column."""

from __future__ import annotations

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


def test_columns_are_standardised_and_the_column_is_twice_the_rows_rms_norm():
    X = table()
    got = cgfast.prepare_tabular(X)
    assert got.shape == (50, 5) and got.dtype == np.float64
    # independent: sums by hand, population standard deviation
    n = len(X)
    mean = X.sum(axis=0) / n
    std = np.sqrt(((X - mean) ** 2).sum(axis=0) / n)
    want = np.zeros_like(X)
    for j in range(X.shape[1]):
        want[:, j] = (X[:, j] - mean[j]) / std[j] if std[j] > 0 else X[:, j] - mean[j]
    np.testing.assert_allclose(got[:, :4], want, rtol=0, atol=1e-12)
    assert np.all(got[:, 3] == 0.0)  # the constant input column, centred, not divided by 0
    rms = np.sqrt(np.mean([row @ row for row in want]))
    np.testing.assert_allclose(rms, np.sqrt(3.0), rtol=1e-12)  # three columns that vary
    np.testing.assert_allclose(got[:, 4], 2.0 * rms, rtol=1e-12)


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
    "unscaled, message", [([4], "has 4 columns"), ([-5], "has 4"), ([1.0], "indices")]
)
def test_bad_unscaled_columns_are_refused(unscaled, message):
    with pytest.raises(ValueError, match=message):
        cgfast.prepare_tabular(table(), unscaled=unscaled)
