"""A checkpoint directory is one run's: its lock, its manifest's digest, its blocks' identities
(issue 34, items 2 and 3)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import cgfast


def data(n=900, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.normal(size=(n, d)) + y[:, None]
    return X, y


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory``, with its size and modification time."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def wait_for(child: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, f"the child never {what}"
        time.sleep(0.01)


# A run that scores two blocks, then stalls inside its third: it holds the checkpoint meanwhile.
STALLED_RUN = textwrap.dedent(
    """
    import sys, time, numpy as np, cgfast, cgfast.engine as s
    real, calls = s.score_block, []
    def stall(*args):
        calls.append(1)
        if len(calls) > 2:
            time.sleep(600)
        return real(*args)
    s.score_block = stall
    X = np.load(sys.argv[1]); y = np.load(sys.argv[2])
    cgfast.score(X, y, max_block=150, repeats=2, n_jobs=1, checkpoint=sys.argv[3])
    """
)


def test_a_second_run_on_a_checkpoint_in_use_is_refused_at_once_naming_the_first(tmp_path):
    # Issue 34, item 2: two runs on one directory both passed the manifest check and mixed
    # their blocks. Now the first holds the directory's lock and the second is refused, whatever
    # its arguments, before it writes anything; kill -9 of the first releases the lock.
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    ck = tmp_path / "ck"
    ref = cgfast.score(X, y, max_block=150, repeats=2)
    child = subprocess.Popen(
        [sys.executable, "-c", STALLED_RUN, tmp_path / "X.npy", tmp_path / "y.npy", ck],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(child, lambda: len(list(ck.glob("blocks/*.npz"))) >= 2, "wrote two blocks")
        before = snapshot(ck)
        for seed in (0, 1):  # the same run again, and another run
            start = time.perf_counter()
            with pytest.raises(cgfast.CheckpointLockedError) as refused:
                cgfast.score(X, y, max_block=150, repeats=2, seed=seed, checkpoint=ck)
            assert time.perf_counter() - start < 5
            message = str(refused.value)
            assert f"{str(ck)!r} is in use by another run" in message
            assert f"run PID {child.pid} on " in message
        cli = subprocess.run(
            [sys.executable, "-m", "cgfast.cli", "score", "X.npy", "y.npy", "--max-block", "150",
             "--repeats", "2", "--seed", "1", "--checkpoint", "ck", "-o", "b.npy",
             "--no-progress"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 2, cli.stderr
        assert "is in use by another run" in cli.stderr and f"PID {child.pid}" in cli.stderr
        assert "Traceback" not in cli.stderr
        assert snapshot(ck) == before  # the refused runs wrote nothing
        assert not (tmp_path / "b.npy").exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    # The kernel released the killed run's lock: the same run resumes from its blocks.
    assert np.array_equal(cgfast.score(X, y, max_block=150, repeats=2, checkpoint=ck), ref)


HOLD_AS_A_PART = textwrap.dedent(
    """
    import sys, time
    from cgfast._lock import hold
    with hold(sys.argv[1], shared=True):
        print("held", flush=True)
        time.sleep(600)
    """
)


def test_job_array_parts_share_the_checkpoint_and_refuse_a_run_that_is_not_one(tmp_path):
    # The parts of a job array meet in one directory on purpose, at the same time: they share
    # the lock. A run that is not a part is refused while they hold it, and a part with other
    # arguments is refused by the manifest.
    X, y = data()
    ck = tmp_path / "ck"
    args = dict(max_block=150, repeats=2)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_AS_A_PART, ck], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert child.stdout.readline() == b"held\n", child.stderr.read().decode()
        assert cgfast.score_part(X, y, checkpoint=ck, part=0, parts=2, **args) > 0
        with pytest.raises(cgfast.CheckpointLockedError, match=f"job-array part PID {child.pid}"):
            cgfast.score(X, y, checkpoint=ck, **args)
        with pytest.raises(ValueError, match="arguments.seed 0 there, 1 now"):
            cgfast.score_part(X, y, checkpoint=ck, part=1, parts=2, seed=1, **args)
        assert cgfast.score_part(X, y, checkpoint=ck, part=1, parts=2, **args) > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert np.array_equal(cgfast.assemble(ck), cgfast.score(X, y, **args))


def test_a_file_system_that_cannot_lock_runs_without_the_lock_and_says_so(tmp_path, monkeypatch):
    # flock fails on some network file systems (Lustre without -o flock, NFS mounted nolock):
    # the run goes on, unlocked, with a warning; it never fails for it.
    import cgfast._lock

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(cgfast._lock.fcntl, "flock", no_locks)
    X, y = data()
    with pytest.warns(cgfast.CheckpointWarning, match="could not be locked.*No locks available"):
        got = cgfast.score(X, y, max_block=150, checkpoint=tmp_path)
    assert np.array_equal(got, cgfast.score(X, y, max_block=150))


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "no hard links"])
def test_of_two_runs_starting_together_only_one_creates_the_manifest(tmp_path, monkeypatch, links):
    # Without a lock (or before it was held) two runs could both find no manifest and both
    # write theirs, the later over the earlier. Here run B created its manifest just after run
    # A looked for one: A must read B's and be refused, not replace it; on a file system
    # without hard links too.
    if not links:

        def no_link(source, target):
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    X, y = data()
    cgfast.score(X, y, max_block=150, seed=1, checkpoint=tmp_path)
    shutil.rmtree(tmp_path / "blocks")  # B has made its manifest, not yet its first block
    manifest = tmp_path / "manifest.json"
    written = manifest.read_bytes()
    real_exists, looked = Path.exists, []

    def not_yet(path):  # A's look at the manifest comes before B creates it
        if path == manifest and not looked:
            looked.append(path)
            return False
        return real_exists(path)

    monkeypatch.setattr(Path, "exists", not_yet)
    with pytest.raises(ValueError, match="arguments.seed 1 there, 0 now"):
        cgfast.score(X, y, max_block=150, seed=0, checkpoint=tmp_path)
    assert looked and manifest.read_bytes() == written


def small(tmp_path):
    """Three classes that each fit one block: every repeat's block of a class has the same
    positives, so only a block's identity tells repeat 0's from repeat 1's."""
    X, y = data(n=300)
    args = dict(max_block=250, repeats=3)
    ck = tmp_path / "ck"
    cgfast.score_part(X, y, checkpoint=ck, part=0, parts=1, **args)
    return X, y, args, ck


@pytest.mark.parametrize("source", ["next block", "same class, next repeat", "another run"])
def test_a_block_file_that_is_not_the_blocks_is_recomputed_and_refused_by_assemble(
    tmp_path, source
):
    # Issue 34, item 3: a block file copied over another was added in (scores off by up to
    # 1.6). Now a resumed run recomputes it, with a warning, and assemble refuses it.
    X, y, args, ck = small(tmp_path)
    ref = cgfast.assemble(ck)
    victim = ck / "blocks" / "000000.npz"
    if source == "another run":
        other = tmp_path / "other"
        cgfast.score(X, y, seed=1, checkpoint=other, **args)
        shutil.copy(other / "blocks" / "000000.npz", victim)
    else:
        shutil.copy(ck / "blocks" / ("000001.npz" if source == "next block" else "000003.npz"),
                    victim)  # fmt: skip
    with pytest.raises(ValueError, match=f"{victim}.* is not block 0 of this run"):
        cgfast.assemble(ck)
    with pytest.warns(cgfast.CheckpointWarning, match=f"{victim}.* is not block 0 of this run"):
        again = cgfast.score(X, y, checkpoint=ck, **args)
    assert np.array_equal(again, ref)
    assert np.array_equal(cgfast.assemble(ck), ref)  # the recomputed block replaced it


@pytest.mark.parametrize("edit", ["data.n", "arguments.repeats", "blocks"])
def test_an_edited_manifest_is_refused(tmp_path, edit):
    # Editing the manifest's n or repeats was obeyed silently by assemble.
    X, y, args, ck = small(tmp_path)
    path = ck / "manifest.json"
    manifest = json.loads(path.read_text())
    *outer, key = edit.split(".")
    place = manifest[outer[0]] if outer else manifest
    place[key] -= 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest.json was edited after its run wrote it"):
        cgfast.assemble(ck)
    with pytest.raises(ValueError, match="manifest.json was edited after its run wrote it"):
        cgfast.score(X, y, checkpoint=ck, **args)


def test_blocks_without_their_manifest_are_not_reused_for_other_data(tmp_path):
    # With manifest.json deleted, a run on other data returned the old data's scores.
    X, y, args, ck = small(tmp_path)
    (ck / "manifest.json").unlink()
    X2 = X + 1.0
    with pytest.raises(ValueError, match="holds 9 block file.* but no manifest.json"):
        cgfast.score(X2, y, checkpoint=ck, **args)
    assert not (ck / "manifest.json").exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[]", "not a cgfast manifest: it holds an array, not a JSON object"),
        ("3", "not a cgfast manifest: it holds a number"),
        ('{"data": {"n": 300}}', "incomplete: it has no blocks, arguments"),
        ('{"format": "2", "data": {}, "blocks": 9, "arguments": {}}', "has format '2'"),
        ("{", "unreadable"),
    ],
)
def test_a_malformed_manifest_gives_a_clear_value_error(tmp_path, text, says):
    # A manifest of [] gave an AttributeError traceback.
    X, y, args, ck = small(tmp_path)
    (ck / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match=says):
        cgfast.assemble(ck)
    with pytest.raises(ValueError, match=says):
        cgfast.score(X, y, checkpoint=ck, **args)


def test_the_lock_is_reentrant_in_a_run_and_released_after(tmp_path):
    # A run takes the lock for its scores and again for its suggestions; after it, the
    # directory is free for the next run (the same process included).
    X, y = data(n=300)
    args = dict(max_block=250, repeats=2, checkpoint=tmp_path)
    first = cgfast.score(X, y, suggest=True, **args)
    again = cgfast.score(X, y, suggest=True, **args)
    assert np.array_equal(first.score, again.score)
    assert np.array_equal(first.label_quality, again.label_quality)
    assert (tmp_path / "lock").read_text().split()[0] == str(os.getpid())
