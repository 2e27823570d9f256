"""scipy.sparse input: densified a block at a time, scores identical to the dense matrix's."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import cgfast
from cgfast._data import open_rows

sp = pytest.importorskip("scipy.sparse")


@pytest.fixture(scope="module")
def tfidf():
    rng = np.random.default_rng(0)
    words = sp.random(240, 80, density=0.1, random_state=1, format="csr")
    X = sp.hstack([words, sp.csr_matrix(np.ones((240, 1)))]).tocsr()  # no empty document
    y = rng.integers(0, 3, 240)
    return X, y


@pytest.mark.parametrize("layout", ["csr", "csc", "coo", "csr_array", "csc_array"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scores_equal_the_dense_matrix(tfidf, layout, dtype):
    X, y = tfidf
    X = X.astype(dtype)
    if layout.endswith("_array"):
        matrix = getattr(sp, layout)(X)
    else:
        matrix = X.asformat(layout)
    kwargs = dict(repeats=2, max_block=60, return_terms=True)
    sparse = cgfast.score(matrix, y, **kwargs)
    dense = cgfast.score(X.toarray(), y, **kwargs)
    for name in ("score", "a2", "ab", "b2"):
        np.testing.assert_array_equal(getattr(sparse, name), getattr(dense, name))


def test_integer_counts_and_checkpoint(tfidf, tmp_path):
    X, y = tfidf
    counts = (X * 10).astype(np.int64)
    expected = cgfast.score(counts.toarray(), y, repeats=1)
    first = cgfast.score(counts, y, repeats=1, checkpoint=tmp_path / "run")
    again = cgfast.score(counts, y, repeats=1, checkpoint=tmp_path / "run")
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(again, expected)


def test_blocks_are_dense_and_rows_pickle(tfidf):
    X, _ = tfidf
    rows = open_rows(X.tocsc())
    assert (rows.n, rows.d, rows.dtype) == (240, 81, np.float64)
    block = rows.take(np.array([7, 3, 200]))
    assert isinstance(block, np.ndarray) and block.flags.c_contiguous
    np.testing.assert_array_equal(block, X.toarray()[[7, 3, 200]])
    again = pickle.loads(pickle.dumps(rows))
    np.testing.assert_array_equal(again.take(np.arange(5)), X.toarray()[:5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_explicit_non_finite_values_are_named_before_any_work(tfidf, bad):
    X, y = tfidf
    X = X.copy()
    X.data[X.indptr[17] + 1] = bad
    column = X.indices[X.indptr[17] + 1]
    with pytest.raises(ValueError, match=rf"row 17, feature {column} \(stored explicitly"):
        open_rows(X)
    with pytest.raises(ValueError, match="row 17"):
        cgfast.score(X.tocsc(), y, repeats=1)


def test_an_empty_row_and_a_complex_matrix_are_refused(tfidf):
    X, y = tfidf
    X = X.tolil()
    X[5, :] = 0
    with pytest.raises(ValueError, match="row 5 of X is all zeros"):
        cgfast.score(X.tocsr(), y, repeats=1)
    with pytest.raises(TypeError, match="real numbers"):
        open_rows(sp.csr_matrix(np.ones((3, 2), dtype=complex)))


def test_a_saved_sparse_matrix_is_read_by_path_and_by_the_cli(tfidf, tmp_path):
    from cgfast import cli

    X, y = tfidf
    sp.save_npz(tmp_path / "X.npz", X.tocsc())
    np.save(tmp_path / "y.npy", y)
    expected = cgfast.score(X.toarray(), y, repeats=1)
    np.testing.assert_array_equal(cgfast.score(str(tmp_path / "X.npz"), y, repeats=1), expected)
    rows = pickle.loads(pickle.dumps(open_rows(tmp_path / "X.npz")))  # reopens by path
    assert rows.n == 240
    with pytest.raises(SystemExit) as stop:
        cli.main([
            "score", str(tmp_path / "X.npz"), str(tmp_path / "y.npy"), "--repeats", "1",
            "--no-progress", "-o", str(tmp_path / "s.npy"),
        ])  # fmt: skip
    assert stop.value.code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), expected)
