"""Blocks of one repeat that hold the same rows are factorised once, for every executor alike."""

from __future__ import annotations

import numpy as np
import oracle
import pytest

import cgfast
from cgfast import _native, engine
from cgfast.options import Options


def two_classes(n=70, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, d)) + np.repeat([[0.0], [0.7]], n, axis=0)
    return X, np.repeat([3, 8], n)


def groups(run):
    """Every block's group of shared rows, for the whole plan (the engine asks block by block)."""
    found = {i: run.group_of(i) for i in range(len(run.blocks))}
    return {i: g for i, g in found.items() if g}


def separately(run):
    """Every block of the plan scored on its own, as before rows were shared: per repeat sums."""
    out = np.zeros((4, run.rows.n))
    for block in run.blocks:
        x = run.rows.take(block.rows)
        out[:, block.positives] += _native.score_block(x, len(block.positives), 1, "double").terms
    return out / run.options.planned_repeats


@pytest.mark.parametrize(
    "data, arguments, group",
    [
        # Two equal classes at ratio 1: one block of all. In float64, to hold it to the oracle.
        (two_classes(), dict(repeats=1, precision="double"), 2),
        (two_classes(), dict(ratio="all", repeats=1, precision="double"), 2),
        (
            (np.random.default_rng(1).normal(size=(90, 5)), np.arange(90) % 3),
            dict(ratio="all", precision="double"),
            3,
        ),  # fmt: skip
    ],
)
def test_blocks_with_the_same_rows_are_scored_once_like_separate_blocks(data, arguments, group):
    X, y = data
    run = engine.prepare(X, y, Options(**arguments))
    shared = groups(run)
    assert len(shared) == len(run.blocks) and {len(g) for g in shared.values()} == {group}
    calls = []
    labels = _native.score_labels
    terms = None
    try:
        _native.score_labels = lambda *a: calls.append(a[1].shape) or labels(*a)
        terms = cgfast.score(X, y, return_terms=True, **arguments)
    finally:
        _native.score_labels = labels
    assert calls == [(len(y), group)]  # one factorisation, every class's labelling
    got = np.stack([terms.score, terms.a2, terms.ab, terms.b2])
    # Only the order of the rows differs from separate blocks: rounding, relative to each term's
    # largest value (a score near zero is a difference of solves, its own digits are noise).
    assert normwise(got, separately(run)) <= 1e-10
    assert normwise(got, np.stack(oracle.class_scores(X, y, terms=True))) <= 1e-8


def normwise(got, want):
    return float(np.max(np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)))


def test_only_blocks_with_identical_rows_are_grouped():
    X, y = two_classes()
    y = y.copy()
    y[:5] = 8  # 65 against 75: the smaller class's block is a sample of the larger one
    run = engine.prepare(X, y, Options(repeats=1))
    assert groups(run) == {}
    # Chunked classes draw their negatives: no two blocks of a repeat hold the same rows.
    assert groups(engine.prepare(*two_classes(), Options(repeats=3, max_block=40))) == {}


class EachAlone:
    """Scores every task on its own, from the rows of its block only (as a Dask worker does)."""

    def __call__(self, run, tasks):
        for task in reversed(tasks):
            yield task.index, task(run.rows.take(task.block.rows))


def test_every_executor_and_a_resume_give_the_same_bits(tmp_path):
    X, y = (np.random.default_rng(2).normal(size=(60, 4)), np.arange(60) % 3)
    options = Options(ratio="all", repeats=1)
    run = engine.prepare(X, y, options, fingerprint=True)
    local = engine.assemble(engine.execute(run, engine.LocalExecutor()), 60, 1, True)
    alone = engine.assemble(engine.execute(run, EachAlone()), 60, 1, True)
    assert np.array_equal(local.score, alone.score) and np.array_equal(local.b2, alone.b2)
    # A checkpoint that lost one block of a group: the rest are read, that one is recomputed.
    first = engine.execute(run, engine.LocalExecutor(), checkpoint=tmp_path)
    (tmp_path / "blocks" / "000001.npz").unlink()
    seen = []

    def executor(run, tasks):
        seen.extend(task.index for task in tasks)
        return engine.LocalExecutor()(run, tasks)

    again = engine.execute(run, executor, checkpoint=tmp_path)
    assert seen == [1]
    for a, b in zip(first, again):
        assert np.array_equal(a.terms, b.terms)
    assert np.array_equal(engine.assemble(again, 60, 1, False), local.score)


@pytest.mark.parametrize("arguments", [dict(ratio="all"), dict(repeats=1)])
def test_shared_factorisations_are_bit_identical_across_thread_counts(arguments):
    X, y = two_classes(n=150, d=20)
    one = cgfast.score(X, y, n_jobs=1, return_terms=True, **arguments)
    for threads in (2, 3):
        other = cgfast.score(X, y, n_jobs=threads, return_terms=True, **arguments)
        assert np.array_equal(one.score, other.score) and np.array_equal(one.a2, other.a2)


def test_a_job_array_keeps_each_group_in_one_part(tmp_path):
    from cgfast.parts import split_plan

    X, y = (np.random.default_rng(3).normal(size=(90, 4)), np.arange(90) % 3)
    run = engine.prepare(X, y, Options(ratio="all", repeats=1))
    shares = split_plan(run, 2)
    assert sorted(map(len, shares)) == [0, 3]  # the three blocks share their rows
    calls = []
    labels = _native.score_labels
    try:
        _native.score_labels = lambda *a: calls.append(1) or labels(*a)
        for part in range(2):
            cgfast.score_part(X, y, checkpoint=tmp_path, part=part, parts=2, ratio="all")
    finally:
        _native.score_labels = labels
    assert calls == [1]
    assert np.array_equal(cgfast.assemble(tmp_path), cgfast.score(X, y, ratio="all"))
