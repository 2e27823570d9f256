"""Rankings and the label-issue finder (cgfast.rank); pruning is tests/test_prune.py."""

from __future__ import annotations

import numpy as np
import pytest

import cgfast


def test_rank_is_highest_first_with_ties_by_index():
    scores = np.array([0.5, 2.0, 0.5, 3.0, 2.0, -1.0])
    assert cgfast.rank(scores).tolist() == [3, 1, 4, 0, 2, 5]


def test_rank_within_class():
    scores = [0.3, 0.9, 0.1, 0.9, 0.5, 0.7]
    y = ["b", "a", "b", "b", "a", "a"]
    ranked = cgfast.rank(scores, y)
    assert list(ranked) == ["a", "b"]
    assert ranked["a"].tolist() == [1, 5, 4]
    assert ranked["b"].tolist() == [3, 0, 2]


def test_bad_scores_are_rejected_with_the_index():
    with pytest.raises(ValueError, match="index 2"):
        cgfast.rank([0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        cgfast.rank(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="3 labels"):
        cgfast.prune(np.zeros(4), [0, 1, 1], keep=0.5)


def blobs(n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 2.5 * np.eye(3, 4)[y]
    return X, y


def test_rule_is_the_sign_of_the_leave_one_out_prediction():
    # Two classes, every other-class example a negative: one block per class, the whole set.
    X, y = blobs(60, seed=1)
    y = (y == 0).astype(int)
    y[:4] = 1 - y[:4]
    terms = cgfast.score(X, y, ratio="all", return_terms=True, precision="double")
    H = cgfast.gram(X)
    loo = np.empty(len(y))
    for i in range(len(y)):
        signs = np.where(y == y[i], 1.0, -1.0)
        rest = np.arange(len(y)) != i
        loo[i] = H[i, rest] @ np.linalg.solve(H[np.ix_(rest, rest)], signs[rest])
    f = -terms.ab / terms.b2
    np.testing.assert_allclose(f, loo, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(terms.score, terms.b2 * (1 - f) ** 2, rtol=1e-6, atol=1e-9)
    suspects = cgfast.find_label_issues(X, y, rule="sign", ratio="all", precision="double")
    assert set(suspects.tolist()) == set(np.flatnonzero(loo < 0).tolist())
    assert {0, 1, 2, 3} <= set(suspects.tolist())


def test_find_label_issues_is_ranked_and_top_is_the_ranking_prefix():
    X, y = blobs()
    y[[5, 9, 30]] = (y[[5, 9, 30]] + 1) % 3
    scores = cgfast.score(X, y, repeats=2)
    ranking = cgfast.rank(scores)
    suspects = cgfast.find_label_issues(X, y, rule="sign", repeats=2)
    assert np.all(np.diff(scores[suspects]) <= 0)
    assert {5, 9, 30} <= set(suspects.tolist())
    assert np.array_equal(
        cgfast.find_label_issues(X, y, top=7, rule="sign", repeats=2), ranking[:7]
    )
    # the default rule ranks by the margin against the given label, highest first
    found = cgfast.suggest_labels(X, y)
    p = found.probabilities
    others = np.where(np.eye(p.shape[1], dtype=bool)[found.codes], -np.inf, p)
    margin = others.max(axis=1) - p[np.arange(len(y)), found.codes]
    suspects = cgfast.find_label_issues(X, y)
    assert np.all(np.diff(margin[suspects]) <= 0)
    assert {5, 9, 30} <= set(suspects.tolist())
    assert set(suspects.tolist()) == set(np.flatnonzero(found.noise.issue > 0.5).tolist())
    order = np.lexsort((np.arange(len(y)), -margin))
    assert np.array_equal(cgfast.find_label_issues(X, y, top=7), order[:7])
    assert cgfast.find_label_issues(X, y, top=0).size == 0
    assert cgfast.find_label_issues(X, y, top=10_000).size == len(y)


def test_find_label_issues_rejects_bad_top_and_return_terms():
    X, y = blobs(30)
    with pytest.raises(ValueError, match="top"):
        cgfast.find_label_issues(X, y, top=-1)
    with pytest.raises(TypeError, match="top"):
        cgfast.find_label_issues(X, y, top=2.5)
    with pytest.raises(TypeError, match="return_terms"):
        cgfast.find_label_issues(X, y, return_terms=True)


def test_find_label_issues_on_digits_with_flipped_labels():
    datasets = pytest.importorskip("sklearn.datasets")
    from cgfast.demo import flip_labels

    X, y = datasets.load_digits(return_X_y=True)
    noisy, flipped = flip_labels(y, 0.1, seed=0)
    suspects = cgfast.find_label_issues(X, noisy)
    hits = np.isin(suspects, flipped).sum()
    assert hits / len(suspects) >= 0.85  # precision
    assert hits / len(flipped) >= 0.85  # recall
    clean = cgfast.find_label_issues(X, y)
    assert len(clean) <= 0.02 * len(y)
