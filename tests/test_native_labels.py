"""_native.score_labels: one factorisation per row set scores every row under several labellings."""

from __future__ import annotations

import numpy as np
import oracle
import pytest

from cgfast import _native


def labelled_rows(k=240, d=9, m=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(k, d))
    labels = np.where(rng.integers(0, 3, size=(k, m)) == 0, 1.0, -1.0)
    labels[0], labels[1] = 1.0, -1.0  # every column has both labels
    return x, labels


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_labelling_matches_its_own_block(dtype):
    x, labels = labelled_rows()
    x = x.astype(dtype)
    out = _native.score_labels(x, labels, 2)
    k, m = labels.shape
    assert out.terms.shape == (m, 4, k) and out.ridge == 0.0
    for c in range(m):
        pos, neg = np.flatnonzero(labels[:, c] > 0), np.flatnonzero(labels[:, c] < 0)
        block = _native.score_block(np.ascontiguousarray(x[np.r_[neg, pos]]), len(pos), 1, "double")
        np.testing.assert_allclose(out.terms[c][:, pos], block.terms, rtol=1e-10, atol=0)


def test_every_row_matches_the_oracle():
    x, labels = labelled_rows(k=60, d=5, m=2, seed=4)
    out = _native.score_labels(x, labels, 1)
    h = oracle.gram(x)
    for c in range(labels.shape[1]):
        y = labels[:, c]
        want = np.stack(
            [oracle.loo_scores(h, y, range(len(y))), *oracle.loo_terms(h, y, range(len(y)))]
        )
        np.testing.assert_allclose(out.terms[c], want, rtol=1e-8, atol=1e-12)


def test_bit_identical_across_threads():
    x, labels = labelled_rows(k=700, d=20, m=2, seed=2)
    ref = _native.score_labels(x, labels, 1)
    for threads in (2, 3):
        assert np.array_equal(_native.score_labels(x, labels, threads).terms, ref.terms)


def test_labels_must_be_plus_or_minus_one():
    x, labels = labelled_rows(k=10, m=1)
    labels[4, 0] = 0.0
    with pytest.raises(ValueError, match="row 4 of column 0 is 0"):
        _native.score_labels(x, labels, 1)
