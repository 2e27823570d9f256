"""What every precision shares: the default, the names, bits across threads, the checkpoint.

Single precision against the float64 oracle is tests/test_single.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import cgfast
from cgfast import _native


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_the_default_is_single(digits):
    X, y = digits
    arguments = dict(repeats=2, max_block=120)
    default = cgfast.score(X, y, **arguments)
    assert np.array_equal(default, cgfast.score(X, y, precision="single", **arguments))
    assert not np.array_equal(default, cgfast.score(X, y, precision="double", **arguments))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_double_blocks_are_bit_identical_across_threads(dtype):
    # Larger than a solve block, with a ragged end.
    x = np.random.default_rng(5).normal(size=(700, 37)).astype(dtype)
    ref = _native.score_block(x, 333, 1, "double")
    for threads in (2, 3):
        out = _native.score_block(x, 333, threads, "double")
        assert np.array_equal(out.terms, ref.terms), threads
        assert (out.ridge, out.fallback) == (ref.ridge, ref.fallback)


def test_the_core_refuses_an_unknown_precision_naming_it():
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="'single' or 'double'.*half"):
        _native.score_block(x, 4, 1, "half")


def test_retired_mixed_warns_and_runs_single(digits):
    X, y = digits
    with pytest.warns(DeprecationWarning, match='precision="mixed" is retired.*"single"'):
        mixed = cgfast.score(X, y, repeats=2, precision="mixed")
    assert np.array_equal(mixed, cgfast.score(X, y, repeats=2, precision="single"))


def test_precision_is_part_of_the_checkpoint(tmp_path, digits):
    X, y = digits
    cgfast.score(X, y, repeats=2, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="arguments.precision 'single' there, 'double' now"):
        cgfast.score(X, y, repeats=2, precision="double", checkpoint=tmp_path)
