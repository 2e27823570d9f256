"""precision="mixed": float32 inner products, float64 factorisation, same ranking, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

import cgfast


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_digits(return_X_y=True)


def test_mixed_keeps_the_ranking_of_double(digits):
    X, y = digits
    double = cgfast.score(X, y)
    mixed = cgfast.score(X, y, precision="mixed")
    assert spearman(double, mixed) >= 0.9999
    assert not np.array_equal(double, mixed)  # the option really changes the arithmetic


def test_mixed_is_bit_identical_across_threads_and_dtypes(digits):
    X, y = digits
    ref = cgfast.score(X, y, precision="mixed", n_jobs=1)
    assert np.array_equal(cgfast.score(X, y, precision="mixed", n_jobs=2), ref)
    assert np.array_equal(cgfast.score(X, y, precision="mixed", n_jobs=3), ref)


def test_precision_is_part_of_the_checkpoint(tmp_path, digits):
    X, y = digits
    cgfast.score(X, y, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="arguments.precision 'double' there, 'mixed' now"):
        cgfast.score(X, y, precision="mixed", checkpoint=tmp_path)
