"""Block plan, chunking, out-of-core input, checkpoints and resume (issue: a million examples)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import cgfast
from cgfast.checkpoint import Checkpoint
from cgfast.plan import plan_blocks


def data(n=900, d=12, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.normal(size=(n, d)) + y[:, None]
    return X.astype(dtype), y


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.5, "all"])
@pytest.mark.parametrize("max_block", [40, 97, 10_000])
def test_plan_scores_every_example_once_per_repeat(ratio, max_block):
    codes = np.random.default_rng(1).integers(0, 4, 300)
    if ratio == "all" and max_block < 300:
        with pytest.raises(ValueError, match="cannot be split"):
            plan_blocks(codes, ratio=ratio, repeats=3, max_block=max_block)
        return
    blocks = plan_blocks(codes, ratio=ratio, repeats=3, max_block=max_block, seed=5)
    for r in range(3):
        pos = np.concatenate([b.positives for b in blocks if b.repeat == r])
        assert np.array_equal(np.sort(pos), np.arange(300))
    for b in blocks:
        assert b.size <= max_block
        assert (codes[b.positives] == b.label).all()
        assert (codes[b.negatives] != b.label).all()
        assert len(np.unique(b.negatives)) == len(b.negatives)
        if ratio != "all":
            pool = int((codes != b.label).sum())
            assert len(b.negatives) == min(round(float(ratio) * len(b.positives)), pool)


def test_chunks_are_near_equal():
    codes = np.repeat([0, 1], [1001, 999])
    blocks = plan_blocks(codes, ratio=1.0, max_block=300)
    sizes = {len(b.positives) for b in blocks if b.label == 0}
    assert max(sizes) - min(sizes) <= 1


def test_plan_is_a_pure_function_of_its_arguments():
    codes = np.random.default_rng(2).integers(0, 3, 500)
    one = plan_blocks(codes, ratio=1.0, repeats=2, max_block=120, seed=9)
    two = plan_blocks(codes.copy(), ratio=1.0, repeats=2, max_block=120, seed=9)
    other = plan_blocks(codes, ratio=1.0, repeats=2, max_block=120, seed=10)
    assert all(np.array_equal(a.rows, b.rows) for a, b in zip(one, two))
    assert any(not np.array_equal(a.rows, b.rows) for a, b in zip(one, other))


def test_plan_holds_row_indices_as_int32():
    # Half the memory of int64 for a plan of many repeats; the values are what flatnonzero gives.
    codes = np.random.default_rng(3).integers(0, 4, 900)
    for block in plan_blocks(codes, repeats=3, max_block=300):
        assert block.negatives.dtype == np.int32 and block.positives.dtype == np.int32
        assert np.array_equal(codes[block.positives], np.full(len(block.positives), block.label))
        assert not np.isin(block.negatives, np.flatnonzero(codes == block.label)).any()


def test_classes_that_fit_are_unchanged_by_max_block():
    X, y = data()
    assert np.array_equal(cgfast.score(X, y, max_block=5000), cgfast.score(X, y, max_block=800))


def test_chunked_scores_do_not_depend_on_threads():
    X, y = data(n=1500, d=30)
    ref = cgfast.score(X, y, max_block=400, repeats=2, n_jobs=1)
    for n_jobs in (2, 3):
        assert np.array_equal(cgfast.score(X, y, max_block=400, repeats=2, n_jobs=n_jobs), ref)


def test_memmap_and_path_give_the_same_scores(tmp_path):
    X, y = data(dtype=np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    ref = cgfast.score(X, y, max_block=200)
    assert np.array_equal(cgfast.score(np.load(path, mmap_mode="r"), y, max_block=200), ref)
    assert np.array_equal(cgfast.score(str(path), y, max_block=200), ref)
    assert np.array_equal(cgfast.score(path, y, max_block=200), ref)


def test_zarr_input_gives_the_same_scores(tmp_path):
    zarr = pytest.importorskip("zarr")
    X, y = data(d=6)
    z = zarr.open_array(
        str(tmp_path / "X.zarr"), mode="w", shape=(len(X), 2, 3), chunks=(100, 2, 3), dtype="f8"
    )
    z[:] = X.reshape(-1, 2, 3)
    ref = cgfast.score(X, y, max_block=200)
    assert np.array_equal(cgfast.score(str(tmp_path / "X.zarr"), y, max_block=200), ref)
    assert np.array_equal(cgfast.score(z, y, max_block=200), ref)


def test_checkpoint_rerun_skips_finished_blocks(tmp_path, monkeypatch):
    X, y = data()
    ref = cgfast.score(X, y, max_block=150, repeats=2)
    assert np.array_equal(cgfast.score(X, y, max_block=150, repeats=2, checkpoint=tmp_path), ref)
    calls = []
    monkeypatch.setattr(cgfast.engine, "score_block", lambda *a: calls.append(a))
    assert np.array_equal(cgfast.score(X, y, max_block=150, repeats=2, checkpoint=tmp_path), ref)
    assert calls == []


def test_checkpoint_refuses_other_arguments_or_data(tmp_path):
    X, y = data()
    cgfast.score(X, y, max_block=150, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="arguments.seed 0 there, 1 now"):
        cgfast.score(X, y, max_block=150, seed=1, checkpoint=tmp_path)
    X2 = X.copy()
    X2[5, 3] += 1.0
    with pytest.raises(ValueError, match="data.fingerprint"):
        cgfast.score(X2, y, max_block=150, checkpoint=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "swap"])
def test_corrupt_block_files_are_reported_and_recomputed(tmp_path, damage):
    X, y = data()
    ref = cgfast.score(X, y, max_block=150, checkpoint=tmp_path)
    files = sorted((tmp_path / "blocks").glob("*.npz"))
    victim = files[2]
    raw = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        store = Checkpoint.existing(tmp_path)
        result = store.load(2)
        np.savez(
            victim,
            positives=result.positives,
            terms=result.terms * 1.5,
            ridge=result.ridge,
            checksum=np.array("0" * 64),
        )
    else:
        victim.write_bytes(files[3].read_bytes())
    with pytest.warns(cgfast.CheckpointWarning, match=victim.name):
        again = cgfast.score(X, y, max_block=150, checkpoint=tmp_path)
    assert np.array_equal(again, ref)
    assert Checkpoint.existing(tmp_path).load(2) is not None


CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, cgfast, cgfast.engine as s
    real = s.score_block
    def slow(*args):
        out = real(*args)
        time.sleep(0.15)
        return out
    s.score_block = slow
    X = np.load(sys.argv[1]); y = np.load(sys.argv[2])
    cgfast.score(X, y, max_block=150, repeats=2, checkpoint=sys.argv[3])
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_to_identical_scores(tmp_path, sig):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    ck = tmp_path / "ck"
    ref = cgfast.score(X, y, max_block=150, repeats=2)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), str(ck)],
        stderr=subprocess.PIPE,
        # A shell without job control starts background jobs with SIGINT ignored, and children
        # inherit that: give the child the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while len(list((ck / "blocks").glob("*.npz"))) < 3:
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "child wrote no blocks"
        time.sleep(0.01)
    child.send_signal(sig)
    child.wait(timeout=60)
    err = child.stderr.read().decode()
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    total = len(plan_blocks(y, ratio=1.0, repeats=2, max_block=150))
    written = len(list((ck / "blocks").glob("*.npz")))
    assert 3 <= written < total
    if sig == signal.SIGINT:  # an orderly interrupt leaves no temporary file behind
        assert not [p for p in (ck / "blocks").iterdir() if p.name.startswith(".")]
    assert np.array_equal(cgfast.score(X, y, max_block=150, repeats=2, checkpoint=ck), ref)


def test_progress_bar_goes_to_stderr(capsys):
    X, y = data(n=200)
    cgfast.score(X, y, max_block=80, repeats=1, progress=True)
    err = capsys.readouterr().err
    assert "cgfast scoring (1 repeat)" in err and "100%" in err


def test_default_block_follows_available_memory(monkeypatch):
    from cgfast import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 64 << 20)
    k = _memory.default_max_block(d=100, itemsize=8)
    assert 1000 < k < 2000
    assert _memory.block_bytes(k, 100, 8, k // 2) <= 32 << 20
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1 << 40)
    assert _memory.default_max_block(d=100, itemsize=8) == _memory.DEFAULT_BLOCK_CAP


def test_block_too_big_for_memory_is_refused_before_work(monkeypatch):
    from cgfast import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 16 << 20)
    X, y = data(n=2000)
    with pytest.raises(cgfast.BlockTooLargeError, match=r"pass max_block=\d+"):
        cgfast.score(X, y, max_block=2000)


def _digest(blocks) -> str:
    import hashlib

    h = hashlib.sha256()
    for b in blocks:
        h.update(np.int64([b.repeat, b.label, b.chunk]).tobytes())
        h.update(np.asarray(b.negatives, np.int64).tobytes() + b"|")
        h.update(np.asarray(b.positives, np.int64).tobytes() + b"/")
    return h.hexdigest()[:16]


# Digests of the plans the eager planner (before plans were made a repeat at a time) listed for
# these arguments: a plan made round by round, in any order, must list the same blocks. The
# "cover" plans are those of plan version 2 (a stream for each half of the repeats, the chunks of
# a repeat sharing a stretch); the eager planner listed c61d964804264596, a90052c7f935b0ce and
# 3e631e0f5bb15175 for them under version 1, whose draws version 2 does not repeat.
EAGER_PLANS = [
    (dict(ratio=1.0, repeats=9, max_block=400, seed=3, sampler="cover"), "9f6f4bea3ec50eca"),
    (dict(ratio=1.0, repeats=9, max_block=5000, seed=0, sampler="cover"), "9fcd2cb60c97941e"),
    (dict(ratio=0.5, repeats=5, max_block=300, seed=11, sampler="independent"), "eb79eb00d56c37cb"),
    (dict(ratio=2.0, repeats=6, max_block=700, seed=1, sampler="cover"), "55a6a085a6747565"),
]


@pytest.mark.parametrize("arguments, digest", EAGER_PLANS)
def test_plans_made_round_by_round_list_the_eager_plans_blocks(arguments, digest):
    from cgfast.plan import Plan

    codes = np.random.default_rng(2024).integers(0, 5, 3001)
    codes[:7] = 4
    assert _digest(plan_blocks(codes, **arguments)) == digest
    plan = Plan(codes, **arguments)
    assert plan.made() == 0
    # the last repeat first, then the rest backwards: what an out-of-order resume asks for
    for repeat in reversed(range(arguments["repeats"])):
        plan.repeat(repeat)
    assert _digest(list(plan)) == digest
    fresh = Plan(codes, **arguments)
    fresh.repeat(0), fresh.repeat(1)
    assert fresh.made() == 2  # a run of two rounds' worth holds two repeats, not the plan
    assert _digest(fresh.first(2)) == _digest(plan_blocks(codes, **{**arguments, "repeats": 2}))
