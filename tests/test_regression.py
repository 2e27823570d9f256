"""Real-valued targets (task="regression") against the plain NumPy oracle of tests/oracle.py.

Tolerances. The oracle forms each score as a difference yᵀH⁻¹y − y₋ᵢᵀH₋ᵢ⁻¹y₋ᵢ of two numbers of
the size of yᵀH⁻¹y, each good to about cond(H)·ε; cgfast gets the score without that
cancellation. On the small blocks below (Gaussian rows, d ≥ 5) the two agree to ~1e-12 of the
complexity, so a score is held to 1e-10 relative, or 1e-10 of the block's complexity where the
score itself is that small.
"""

from __future__ import annotations

import numpy as np
import oracle
import pytest

from cgfast import _native

RTOL = 1e-10


def loo_residuals(H: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y_i minus the kernel regressor fitted without row i, at row i (explicit re-solves)."""
    return y - oracle.loo_predictions(H, y[:, None])[:, 0]


def assert_scores(got: np.ndarray, H: np.ndarray, y: np.ndarray) -> None:
    want = oracle.loo_scores(H, y, range(len(y)))
    floor = RTOL * oracle.complexity(H, y)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=floor)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 13, 31])
def test_native_target_scores_match_leave_one_out_resolves(k):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(k, 6))
    targets = np.stack([rng.normal(size=k) * 3 + 1, X[:, 0] ** 2 - X[:, 1]], axis=1)
    H = oracle.gram(X)
    out = _native.score_targets(X, targets, 1, "double")
    assert out.terms.shape == (2, 5, k) and out.ridge == 0.0 and not out.fallback
    for c in range(2):
        y = targets[:, c]
        score, a2, ab, b2, residual = out.terms[c]
        assert_scores(score, H, y)
        np.testing.assert_allclose(residual, loo_residuals(H, y), rtol=RTOL, atol=RTOL)
        want = oracle.loo_terms(H, y, range(k))
        for got, expected in zip((a2, ab, b2), want):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_native_target_scores_of_signs_are_the_label_scores_to_the_bit():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 7)).astype(np.float32)
    signs = np.where(rng.random((40, 2)) < 0.4, 1.0, -1.0)
    for precision in ("single", "double"):
        labelled = _native.score_labels(X, signs, 2, precision)
        targets = _native.score_targets(X, signs, 2, precision)
        np.testing.assert_array_equal(targets.terms[:, :4], labelled.terms)


def test_native_residuals_are_the_predictions_to_the_bit():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 5))
    y = rng.normal(size=(50, 1)) * 40 - 7
    predicted, _ = _native.predict(X, y, 1)
    residual = _native.score_targets(X, y, 1).terms[0, 4]
    np.testing.assert_array_equal(predicted[:, 0], y[:, 0] - residual)
