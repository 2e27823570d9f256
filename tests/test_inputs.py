"""Bad input, degenerate data and the memory guard (issue 7, items 1, 2 and 6).

Every bad input must be refused with the documented exception before any arithmetic starts,
naming the problem and the first offending row or value. Degenerate but valid data must give
finite scores, with a RidgeWarning when the kernel matrix is singular.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import oracle
import pytest

import cgfast
from cgfast import _core, _data, _memory
from cgfast.options import Options

RTOL = 1e-8  # see test_oracle.py


def data(n=12, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % 2


def bad_x_cases():
    X, _ = data()
    nan = X.copy()
    nan[3, 1] = np.nan
    nan[7, 0] = np.nan  # a later bad row: the message must name the first one
    posinf = X.copy()
    posinf[4, 2] = np.inf
    neginf = X.astype(np.float32)
    neginf[5, 0] = -np.inf
    zero = X.copy()
    zero[6] = 0
    zero[9] = 0
    ragged = [list(r) for r in X]
    ragged[5] = ragged[5][:2]
    return [
        ("nan", nan, ValueError, r"non-finite value \(nan\) at row 3, feature 1"),
        ("+inf", posinf, ValueError, r"non-finite value \(inf\) at row 4, feature 2"),
        ("-inf f32", neginf, ValueError, r"non-finite value \(-inf\) at row 5, feature 0"),
        ("zero row", zero, ValueError, r"row 6 of X is all zeros"),
        ("strings", X.astype(str), TypeError, r"real numbers, got dtype <U"),
        ("complex", X + 1j, TypeError, r"X is complex"),
        ("object", X.astype(object), TypeError, r"real numbers, got dtype object"),
        ("datetime", np.zeros((12, 2), "datetime64[D]"), TypeError, r"got dtype datetime64"),
        ("ragged", ragged, ValueError, r"X is ragged: row 5 has shape \(2,\)"),
        ("no features", np.empty((12, 0)), ValueError, r"shape \(12, 0\) has no features"),
        ("no features 3-D", np.empty((12, 3, 0)), ValueError, r"\(12, 3, 0\) has no features"),
        ("1-D", X[:, 0], ValueError, r"X is 1-D with 12 values.*reshape\(-1, 1\)"),
        ("scalar", np.float64(3.0), ValueError, r"X is a scalar"),
    ]


@pytest.mark.parametrize(
    "X,error,message", [c[1:] for c in bad_x_cases()], ids=[c[0] for c in bad_x_cases()]
)
def test_bad_x_is_refused_before_work(no_heavy_work, X, error, message):
    y = np.arange(12) % 2
    with pytest.raises(error, match=message):
        cgfast.score(X, y)


@pytest.mark.parametrize("X,error,message", [c[1:] for c in bad_x_cases()[:4]])
def test_gram_and_complexity_refuse_bad_rows(no_heavy_work, X, error, message):
    with pytest.raises(error, match=message):
        cgfast.gram(X)
    with pytest.raises(error, match=message):
        cgfast.complexity(X, np.arange(12) % 2)


def test_first_bad_row_of_a_memory_map_is_found_across_scan_slices(
    tmp_path, monkeypatch, no_heavy_work
):
    X, y = data(n=40)
    X[31, 2] = np.nan
    X[35, 0] = np.inf
    path = tmp_path / "x.npy"
    np.save(path, X)
    # Slices of 3 rows: the NaN sits in the 11th slice, so its row number must be offset.
    monkeypatch.setattr(_data, "_SCAN_BYTES", 3 * 4 * 8)
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at row 31, feature 2"):
        cgfast.score(path, y)
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at row 31, feature 2"):
        cgfast.score(np.load(path, mmap_mode="r"), y)


def test_empty_input(no_heavy_work):
    with pytest.raises(ValueError, match="X has no rows"):
        cgfast.score(np.empty((0, 3)), [])
    with pytest.raises(ValueError, match="X is empty"):
        cgfast.score([], [])


@pytest.mark.parametrize(
    "y,error,message",
    [
        (np.zeros(12), ValueError, r"y has 1 distinct label"),
        (["a"] * 12, ValueError, r"y has 1 distinct label.*at least two"),
        (np.arange(11) % 2, ValueError, r"X has 12 rows but y has 11 labels"),
        (np.arange(13) % 2, ValueError, r"X has 12 rows but y has 13 labels"),
        (
            np.r_[[0.0, 1, 0, 1, np.nan], np.ones(7)],
            ValueError,
            r"non-finite label \(nan\) at index 4",
        ),
        ([0, 1, 0, float("nan")] + [1] * 8, ValueError, r"non-finite label \(nan\) at index 3"),
        (
            np.array([0, 1, 0, 1, 0, np.float32("nan")] + [1] * 6, dtype=object),
            ValueError,
            # the label's repr: np.float32(nan) under NumPy 2, nan under NumPy 1
            rf"NaN label \({re.escape(repr(np.float32('nan')))}\) at index 5",
        ),
        (["a", "b", float("nan")] + ["a"] * 9, ValueError, r"NaN label \(nan\) at index 2"),
        ([0, 1, [1], 0] + [1] * 8, TypeError, r"label 2 \(\[1\]\) is not hashable"),
        ([{"a": 1}] * 12, TypeError, r"label 0 \(\{'a': 1\}\) is not hashable"),
        (np.zeros((12, 2)), ValueError, r"one label per example.*got shape \(12, 2\)"),
        ("ababababab", TypeError, r"y must be a sequence of labels, got str"),
        (3, TypeError, r"y must be a sequence of labels, got int"),
    ],
    ids=[
        "one class",
        "one string class",
        "short y",
        "long y",
        "nan float array",
        "nan in list",
        "np.float32 nan object",
        "nan among strings",
        "list label",
        "dict labels",
        "2-D y",
        "string y",
        "scalar y",
    ],
)
def test_bad_y_is_refused_before_work(no_heavy_work, y, error, message):
    X, _ = data()
    with pytest.raises(error, match=message):
        cgfast.score(X, y)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(ratio=0), ValueError, r"ratio must be a positive number or 'all', got 0"),
        (dict(ratio=-0.5), ValueError, r"got -0.5"),
        (dict(ratio=float("nan")), ValueError, r"got nan"),
        (dict(ratio=float("inf")), ValueError, r"got inf"),
        (dict(ratio="All"), ValueError, r"got 'All'"),
        (dict(ratio="1"), ValueError, r"got '1'"),
        (dict(ratio=None), TypeError, r"got None"),
        (dict(ratio=True), TypeError, r"got True"),
        (dict(ratio=[1.0]), TypeError, r"got \[1.0\]"),
        (dict(repeats=0), ValueError, r"repeats must be at least 1, got 0"),
        (dict(repeats=-2), ValueError, r"repeats must be at least 1, got -2"),
        (dict(repeats=1.5), TypeError, r"repeats must be an integer, got 1.5"),
        (dict(repeats="2"), TypeError, r"repeats must be an integer, got '2'"),
        (dict(max_block=1), ValueError, r"max_block must be at least 2, got 1"),
        (dict(max_block=0), ValueError, r"max_block must be at least 2, got 0"),
        (dict(max_block=64.0), TypeError, r"max_block must be an integer, got 64.0"),
        (dict(max_block=3, ratio="all"), ValueError, r"class of 6 .* at most 3 rows"),
        (dict(seed=-1), ValueError, r"seed must be at least 0, got -1"),
        (dict(seed=0.5), TypeError, r"seed must be an integer, None or .*, got 0.5"),
        (dict(n_jobs=0), ValueError, r"n_jobs must be a positive integer, -1 or None, got 0"),
        (dict(precision="bogus"), ValueError, r"precision must be one of .*got 'bogus'"),
        (dict(precision=None), ValueError, r"precision must be one of .*got None"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_bad_arguments_are_refused_before_work(no_heavy_work, kwargs, error, message):
    X, y = data()
    with pytest.raises(error, match=message):
        cgfast.score(X, y, **kwargs)


def test_labels_of_different_types_stay_distinct():
    # A list mixing 1 and "1" has two classes; NumPy alone would turn both into "1".
    X, _ = data()
    y = [1, "1"] * 6
    s = cgfast.score(X, y, ratio="all", precision="double")
    np.testing.assert_allclose(s, oracle.class_scores(X, np.arange(12) % 2), rtol=RTOL, atol=0)


def test_unknown_precision_in_the_options():
    with pytest.raises(ValueError, match=r"precision must be one of .*'bogus'"):
        Options(precision="bogus")


def test_complexity_needs_exactly_two_classes(no_heavy_work):
    X, _ = data()
    with pytest.raises(ValueError, match="exactly two classes, y has 3"):
        cgfast.complexity(X, np.arange(12) % 3)
    with pytest.raises(ValueError, match="1 distinct label"):
        cgfast.complexity(X, np.zeros(12))


# Degenerate but valid data.


def scores_and_warnings(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = cgfast.score(*args, **kwargs)
    return s, [w for w in caught if issubclass(w.category, cgfast.CgfastWarning)]


@pytest.mark.parametrize(
    "noise",
    [
        0.0,
        1e-14,
        1e-12,
        1e-10,
        1e-9,
        1e-6,
        1e-4,
    ],
)
def test_duplicates_same_label_bottom_opposite_label_top(noise):
    rng = np.random.default_rng(21)
    X = rng.normal(size=(30, 6))
    y = np.arange(30) % 2
    # Rows 30-32 copy rows 0-2 with the same label, rows 33-35 copy rows 3-5 with the other.
    copies = X[:6] + noise * rng.normal(size=(6, 6))
    X2 = np.vstack([X, copies])
    y2 = np.r_[y, y[:3], 1 - y[3:6]]
    s, _ = scores_and_warnings(X2, y2, ratio="all")
    assert np.isfinite(s).all()
    same = np.r_[0:3, 30:33]
    opposite = np.r_[3:6, 33:36]
    others = np.setdiff1d(np.arange(36), np.r_[same, opposite])
    # A same-label copy adds nothing: removing it leaves the complexity unchanged.
    assert s[same].max() < s[others].min()
    # An opposite-label copy contradicts its twin: removing either removes a contradiction.
    assert s[opposite].min() > s[others].max()
    # The examples that are not copies keep scores of their usual size (without the copies
    # they range over 0.01-60): copies must not spill into everyone else's score.
    assert s[others].max() < 1e3


def test_exactly_parallel_rows_warn_with_the_ridge():
    # Rows of ±1 in d = 4 normalise to exactly ±1/2, and power-of-two multiples of a row have
    # cosine exactly 1: H is singular for certain, whatever the rounding.
    rng = np.random.default_rng(22)
    base = rng.choice([-1.0, 1.0], size=(10, 4))
    X = np.vstack([base, 4.0 * base[:2], 0.5 * base[2:4]])
    y = np.r_[np.arange(10) % 2, 0, 1, 1 - (np.arange(2, 4) % 2)]
    with pytest.warns(cgfast.RidgeWarning, match=r"ridge of up to \de-\d+ x mean\(diag H\)"):
        s = cgfast.score(X, y, ratio="all")
    assert np.isfinite(s).all()
    with pytest.warns(cgfast.RidgeWarning, match="ridge"):
        c = cgfast.complexity(X, y)
    assert np.isfinite(c)


@pytest.mark.parametrize("seed", range(6))
def test_exact_duplicates_of_generic_rows_warn(seed):
    # The cosine of a generic row with its copy often rounds to 1 − ε (seed 4 here); the kernel
    # takes a near-parallel pair's value from its chord, which is exactly 0, so H is singular.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, 5))
    X2 = np.vstack([X, X[:1]])
    y2 = np.r_[np.arange(12) % 2, 1]
    with pytest.warns(cgfast.RidgeWarning):
        cgfast.score(X2, y2, ratio="all")


def test_one_dimensional_rows_are_all_parallel():
    # d = 1: every row normalises to ±1, so rows of one sign are exact copies of each other.
    X = np.r_[np.arange(1.0, 8.0), -np.arange(1.0, 6.0)].reshape(-1, 1)
    y = np.r_[np.zeros(7, int), np.ones(5, int)]
    s, caught = scores_and_warnings(X, y, ratio="all")
    assert np.isfinite(s).all() and (s >= 0).all()
    assert any(issubclass(w.category, cgfast.RidgeWarning) for w in caught)
    # Separated by sign, and each class is copies of one row: in exact arithmetic every
    # score is 0 (removing a copy leaves yᵀH⁻¹y at 2 for each block). What is left is the ridge
    # and rounding, ~1e-13 here; 1e-9 still sits far below any score of real data.
    assert s.max() < 1e-9


def test_constant_columns():
    rng = np.random.default_rng(23)
    X = np.c_[rng.normal(size=(15, 3)), np.full(15, 7.0), np.zeros(15)]
    y = np.arange(15) % 3
    np.testing.assert_allclose(
        cgfast.score(X, y, ratio="all", precision="double"),
        oracle.class_scores(X, y),
        rtol=RTOL,
        atol=0,
    )
    # Every column constant: every row the same, H all 1/2.
    s, caught = scores_and_warnings(np.full((9, 4), 2.0), np.arange(9) % 2, ratio="all")
    assert np.isfinite(s).all()
    assert any(issubclass(w.category, cgfast.RidgeWarning) for w in caught)


@pytest.mark.parametrize("ratio", [1.0, 3.0, "all"])
def test_a_class_of_one_and_very_unequal_classes(ratio):
    rng = np.random.default_rng(24)
    X = rng.normal(size=(203, 5))
    y = np.r_[[0], np.ones(2, int), np.full(200, 2)]
    with pytest.warns(cgfast.SingleExampleWarning, match=r"class 0 \(index 0\) has a single"):
        s = cgfast.score(X, y, ratio=ratio, precision="double")
    assert s.shape == (203,) and np.isfinite(s).all() and (s > 0).all()
    if ratio == "all":
        # The oracle's difference of two complexities of ~200 is good to ~1e-12 absolute, so
        # a score of 1e-6 can only be checked to ~1e-6 relative: an absolute floor is honest.
        want = oracle.class_scores(X, y)
        np.testing.assert_allclose(s, want, rtol=RTOL, atol=1e-10)


# The memory guard.


def test_a_block_too_big_for_memory_is_refused_naming_one_that_fits(monkeypatch):
    X, y = data(n=400, d=10)
    room = 1 << 20  # 1 MiB: a block of 400 rows needs 8 · 400² bytes for H alone
    monkeypatch.setattr(_memory, "available_bytes", lambda: room)
    with monkeypatch.context() as m:
        m.setattr(_core, "score_block_f64", pytest.fail)
        with pytest.raises(cgfast.BlockTooLargeError, match=r"pass max_block=\d+") as err:
            cgfast.score(X, y, max_block=400)
    assert isinstance(err.value, ValueError) and isinstance(err.value, MemoryError)
    assert re.search(r"block of 400 rows", str(err.value))
    fit = int(re.search(r"max_block=(\d+)", str(err.value)).group(1))
    assert 2 <= fit < 400
    assert _memory.block_bytes(fit, 10, 8, fit // 2) <= room
    # The suggested max_block does fit, and so does the default (chunked to the room there is).
    assert np.isfinite(cgfast.score(X, y, max_block=fit)).all()
    assert np.isfinite(cgfast.score(X, y)).all()


def test_gram_too_big_for_memory_is_refused(monkeypatch, no_heavy_work):
    X, _ = data(n=400, d=10)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1 << 20)
    # Neither function splits X into blocks, so the advice is a subsample, not max_block.
    for call in (lambda: cgfast.gram(X), lambda: cgfast.complexity(X, np.arange(400) % 2)):
        with pytest.raises(cgfast.BlockTooLargeError, match="all 400 rows") as err:
            call()
        fit = int(re.search(r"subsample of at most (\d+) rows", str(err.value)).group(1))
        assert 2 <= fit < 400 and "max_block" not in str(err.value)
