"""A row's scale does not change its score: rows are normalised to unit length, and their norm is
computed after scaling each row by a power of two, so that no square underflows or overflows.

A power-of-two factor is exact in floating point, and so is the normalisation's rescaling by
one: a row (or all of X) multiplied by 2**k scores bit for bit as the original, however far k
moves it towards the subnormal or overflowing range. A decimal factor (1e-161) rounds every
value once, so X * 1e-161 is compared with its own exact power-of-two rescale (bit for bit),
and with X to a relative 1e-9 (the rounding moves each row's direction by about 1e-16)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cgfast

ARGS = {"repeats": 2, "seed": 0, "max_block": 120}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)) + np.repeat(np.eye(3, 20), 100, axis=0) * 1.5
    y = np.repeat([0, 1, 2], 100)
    return X, y


def score(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RidgeWarning blaming duplicate rows
        return cgfast.score(X, y, **ARGS)


@pytest.fixture(scope="module")
def plain(data):
    return score(*data)


@pytest.mark.parametrize("power", [-535, -1000, 500, 520, 1000])
def test_a_row_scaled_by_a_power_of_two_scores_bit_for_bit(data, plain, power):
    X, y = data
    scaled = X.copy()
    scaled[7] = np.ldexp(X[7], power)
    np.testing.assert_array_equal(np.ldexp(scaled[7], -power), X[7])  # exact, no value lost
    np.testing.assert_array_equal(score(scaled, y), plain)


@pytest.mark.parametrize("power", [-535, -900, 520, 900])
def test_all_of_x_scaled_by_a_power_of_two_scores_bit_for_bit(data, plain, power):
    X, y = data
    np.testing.assert_array_equal(score(np.ldexp(X, power), y), plain)


@pytest.mark.parametrize("factor", [1e-161, 1e-170, 1e150, 1e160])
def test_decimal_factors_score_as_their_exact_rescale(data, plain, factor):
    X, y = data
    power = -int(np.round(np.log2(factor)))
    row = X.copy()
    row[7] *= factor
    tiny = X * factor
    for scaled in (row, tiny):
        exact = np.ldexp(scaled, power)  # values of about 1: no square under- or overflows
        np.testing.assert_array_equal(score(scaled, y), score(exact, y))
        np.testing.assert_allclose(score(scaled, y), plain, rtol=1e-9, atol=1e-9)


def test_the_reported_case_one_row_by_1e_161(data, plain):
    X, y = data
    scaled = X.copy()
    scaled[7] *= 1e-161
    assert abs(score(scaled, y)[7] - plain[7]) <= 1e-9 * abs(plain[7])


def test_a_row_of_subnormal_values_is_a_direction_like_any_other(data, plain):
    X, y = data
    whole = np.round(X * 64)  # integers, so that k * 2**-1074 is exactly representable
    subnormal = whole.copy()
    subnormal[3] = np.ldexp(whole[3], -1074)
    assert 0 < np.abs(subnormal[3]).max() < np.finfo(np.float64).smallest_normal
    np.testing.assert_array_equal(score(subnormal, y), score(whole, y))


def test_the_largest_values_score_and_a_zero_row_is_still_refused(data, plain):
    X, y = data
    huge = X.copy()
    huge[5] = X[5] / np.abs(X[5]).max() * np.finfo(np.float64).max
    assert np.isfinite(score(huge, y)).all()
    zero = X.copy()
    zero[9] = 0.0
    with pytest.raises(ValueError, match="row 9 of X is all zeros"):
        cgfast.score(zero, y, **ARGS)


def test_gram_and_complexity_see_the_direction_only(data):
    X, y = data
    two = y < 2
    scaled = X[two].copy()
    scaled[::3] = np.ldexp(scaled[::3], -1000)
    np.testing.assert_array_equal(cgfast.gram(scaled), cgfast.gram(X[two]))
    assert cgfast.complexity(scaled, y[two]) == cgfast.complexity(X[two], y[two])
