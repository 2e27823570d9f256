"""Blocks run side by side in the local executor: faster on small blocks, the same bits."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cgfast import _memory, engine
from cgfast.options import Options


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def results(X, y, executor, checkpoint=None, **arguments):
    run = engine.prepare(X, y, Options(**arguments))
    return run, engine.execute(run, executor, checkpoint=checkpoint)


def same_results(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b):
        assert np.array_equal(left.positives, right.positives)
        assert np.array_equal(left.terms, right.terms)
        assert left.ridge == right.ridge and left.fallback == right.fallback


@pytest.mark.parametrize(
    "arguments",
    [
        dict(repeats=3, max_block=150, seed=5, n_jobs=2),
        dict(repeats=2, sampler="independent", max_block=90, n_jobs=3),
        dict(repeats=2, ratio="all", n_jobs=2),  # two-class groups need equal classes; these are 10
    ],
)
@pytest.mark.parametrize("cache", [False, True])
def test_side_by_side_blocks_give_the_same_bits_as_one_at_a_time(arguments, cache):
    X, y = digits()
    _, one = results(X, y, engine.LocalExecutor(cache=cache, lanes=1), **arguments)
    _, wide = results(X, y, engine.LocalExecutor(cache=cache, lanes=4), **arguments)
    same_results(one, wide)


def test_side_by_side_groups_of_shared_rows_give_the_same_bits():
    X, y = digits()
    two = y < 2  # two classes: at ratio "all" each repeat's two blocks share their rows
    run, one = results(X[two], y[two], engine.LocalExecutor(lanes=1), repeats=4, ratio="all")
    assert run.group_of(0)
    _, wide = results(X[two], y[two], engine.LocalExecutor(lanes=2), repeats=4, ratio="all",
                      n_jobs=2)  # fmt: skip
    same_results(one, wide)


def test_side_by_side_blocks_are_all_saved_and_resumed(tmp_path):
    X, y = digits()
    arguments = dict(repeats=2, max_block=120, n_jobs=2)
    run, first = results(X, y, engine.LocalExecutor(lanes=2), checkpoint=tmp_path, **arguments)
    assert len(list((tmp_path / "blocks").iterdir())) == len(run.blocks)

    def refuse(run, tasks):
        assert not tasks, "a finished checkpoint left blocks to compute"
        return iter(())

    _, again = results(X, y, refuse, checkpoint=tmp_path, **arguments)
    same_results(first, again)


def test_a_failing_block_stops_the_run_and_leaves_no_block_queued(monkeypatch):
    X, y = digits()
    run = engine.prepare(X, y, Options(repeats=2, max_block=100, n_jobs=2))
    started = []
    lock = threading.Lock()
    real = engine.score_block

    def failing(rows, block, threads, precision, kernel=None):
        with lock:
            started.append(block)
        if len(started) == 3:
            raise RuntimeError("block three failed")
        return real(rows, block, threads, precision, kernel)

    monkeypatch.setattr(engine, "score_block", failing)
    with pytest.raises(RuntimeError, match="block three failed"):
        engine.execute(run, engine.LocalExecutor(cache=False, lanes=2))
    # Two lanes, at most two blocks in flight: the failure stops the run long before its end.
    assert len(started) < len(run.blocks) // 2


def groups_of(run):
    tasks = [engine.task_of(run, i) for i in range(len(run.blocks))]
    return engine.task_groups(tasks)


def test_lanes_share_the_threads_and_respect_memory(monkeypatch):
    X, y = digits()
    run = engine.prepare(X, y, Options(repeats=2, max_block=150))
    groups = groups_of(run)
    assert len(groups) > 16
    monkeypatch.setattr(engine, "available_bytes", lambda: 1 << 40)
    assert engine.lanes(run, groups, 2) == (2, 1)
    assert engine.lanes(run, groups, 16) == (16, 1)
    assert engine.lanes(run, groups, 16, cap=1) == (1, 16)
    assert engine.lanes(run, groups[:10], 16) == (8, 2)  # every thread at work
    assert engine.lanes(run, groups[:3], 16) == (3, 5)
    assert engine.lanes(run, groups[:1], 4) == (1, 4)
    # Memory for three of the largest block at the default budget: three lanes, no more.
    largest = max(block.size for block in run.blocks)
    per = _memory.block_bytes(largest, run.rows.d, run.rows.dtype.itemsize)
    budget = 3 * per + per // 2
    monkeypatch.setattr(engine, "available_bytes", lambda: int(budget / _memory.DEFAULT_FRACTION))
    assert engine.lanes(run, groups, 16) == (3, 5)
    monkeypatch.setattr(engine, "available_bytes", lambda: 0)
    assert engine.lanes(run, groups, 16) == (1, 16)
