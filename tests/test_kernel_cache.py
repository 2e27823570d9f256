"""The whole-kernel cache of the local executor: a speed-up that changes no bit of any score."""

from __future__ import annotations

import numpy as np
import pytest

import cgfast
from cgfast import _native, engine
from cgfast.options import Options


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def scores(X, y, cache, **arguments):
    run = engine.prepare(X, y, Options(**arguments))
    outcome = engine.complete(run, engine.LocalExecutor(cache=cache))
    return engine.assemble(outcome.results, run.rows.n, outcome.repeats, return_terms=True)


def same_bits(a, b):
    for name in ("score", "a2", "ab", "b2"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.stability == b.stability


@pytest.mark.parametrize(
    "arguments",
    [
        dict(repeats=3, max_block=150, seed=5),
        dict(repeats=2, ratio=2, max_block=200),
        dict(repeats=1, ratio="all"),
        dict(repeats=2, sampler="independent", max_block=90, seed=1),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_copied_from_the_kernel_score_like_blocks_built_from_rows(arguments, dtype):
    X, y = digits()
    X = X.astype(dtype)
    same_bits(scores(X, y, True, **arguments), scores(X, y, False, **arguments))


def test_the_ridge_path_is_the_same_from_the_kernel():
    X, y = digits()
    X = np.concatenate([X, X[:40]])  # exact duplicates: blocks that need the ridge
    y = np.concatenate([y, y[:40]])
    with pytest.warns(cgfast.RidgeWarning):
        cached = scores(X, y, True, repeats=2, max_block=200)
    with pytest.warns(cgfast.RidgeWarning):
        built = scores(X, y, False, repeats=2, max_block=200)
    same_bits(cached, built)


def test_the_kernel_is_built_once_when_repeats_pay_for_it(monkeypatch):
    X, y = digits()
    calls = []
    gram = _native.gram
    monkeypatch.setattr(
        _native, "gram", lambda x, t, **kw: calls.append(len(x)) or gram(x, t, **kw)
    )
    # repeats="auto" goes several rounds on one executor: one kernel serves them all.
    with pytest.warns(cgfast.StabilityWarning, match="stopped at max_repeats=16"):
        terms = cgfast.score(X, y, max_block=200, return_terms=True, stability=0.999,
                             max_repeats=16)  # fmt: skip
    assert terms.repeats > 4 and calls == [600]
    calls.clear()
    # One repeat of one block per class: the blocks' Grams cost less than the whole kernel.
    cgfast.score(X, y, repeats=1, max_block=10_000)
    assert calls == []
    # Nor do three: the kernel must save clearly more than it costs.
    cgfast.score(X, y, repeats=3, max_block=10_000)
    assert calls == []


def test_a_kernel_too_large_for_memory_is_not_built(monkeypatch):
    X, y = digits()
    run = engine.prepare(X, y, Options(repeats=16, max_block=200))
    tasks = [engine.task_of(run, i) for i in range(len(run.blocks))]
    assert engine.kernel_pays(run, tasks)
    monkeypatch.setattr(engine, "kernel_fits", lambda *args: False)
    assert not engine.kernel_pays(run, tasks)


def test_the_cached_kernel_is_the_half_right_of_the_diagonal():
    X, _ = digits()
    whole = _native.gram(X[:300], 2)
    upper = _native.gram(X[:300], 2, whole=False)
    assert np.array_equal(upper, np.triu(whole))
    assert np.array_equal(whole, whole.T)


def test_a_cached_block_refuses_bad_rows():
    kernel = _native.gram(np.eye(4) + 0.1, 1)
    with pytest.raises(ValueError, match="row 9 of a kernel of 4 rows"):
        _native.score_cached(kernel, np.array([0, 9]), 1, 1)
    with pytest.raises(ValueError, match="must not be negative"):
        _native.score_cached(kernel, np.array([0, -1]), 1, 1)


def test_cached_blocks_are_bit_identical_across_thread_counts():
    X, y = digits()
    one = scores(X, y, True, repeats=3, max_block=150, n_jobs=1)
    for threads in (2, 3):
        same_bits(scores(X, y, True, repeats=3, max_block=150, n_jobs=threads), one)
