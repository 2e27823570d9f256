"""cgfast called from several Python threads at once (issue 7, item 5).

Concurrent calls must give the serial results to the bit, and a user's own thread pool calling
cgfast (its native pools nested inside the user's threads) must not deadlock. The hang checks
run in a child process with a bounded timeout, so a deadlock fails the test instead of hanging
the test run; the bound is a hang detector, not a speed requirement.
"""

from __future__ import annotations

import multiprocessing
import queue
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cgfast

# Seconds a child process may take before it counts as hung: its work takes well under a second
# of CPU, so even a heavily shared machine finishes far inside this.
HANG_TIMEOUT = 300


def problems(count: int):
    """Distinct small scoring problems: (X, y, keyword arguments)."""
    out = []
    for i in range(count):
        rng = np.random.default_rng(100 + i)
        n = 40 + 7 * i
        X = rng.normal(size=(n, 6)).astype(np.float32 if i % 2 else np.float64)
        y = rng.integers(0, 3, n)
        kwargs = dict(ratio=[1.0, "all", 0.5][i % 3], repeats=1 + i % 2, seed=i)
        out.append((X, y, kwargs))
    return out


def test_concurrent_calls_match_serial_calls():
    cases = problems(8)
    serial = [cgfast.score(X, y, n_jobs=2, **kw) for X, y, kw in cases]
    with ThreadPoolExecutor(max_workers=4) as pool:
        # Each case twice, interleaved, so the same problem also runs against itself.
        futures = [pool.submit(cgfast.score, X, y, n_jobs=2, **kw) for X, y, kw in cases + cases]
        results = [f.result(timeout=HANG_TIMEOUT) for f in futures]
    for i, got in enumerate(results):
        assert np.array_equal(got, serial[i % len(cases)]), i


def test_concurrent_calls_with_different_thread_counts_match():
    X, y, kw = problems(1)[0]
    serial = cgfast.score(X, y, n_jobs=1, **kw)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(cgfast.score, X, y, n_jobs=j, **kw) for j in (1, 2, 3, None) * 2]
        for f in futures:
            assert np.array_equal(f.result(timeout=HANG_TIMEOUT), serial)


def test_concurrent_gram_and_complexity_match_serial():
    X, y, _ = problems(1)[0]
    y2 = y % 2
    H, c = cgfast.gram(X), cgfast.complexity(X, y2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        grams = [pool.submit(cgfast.gram, X, n_jobs=2) for _ in range(4)]
        comps = [pool.submit(cgfast.complexity, X, y2, n_jobs=2) for _ in range(4)]
        for f in grams:
            assert np.array_equal(f.result(timeout=HANG_TIMEOUT), H)
        for f in comps:
            assert f.result(timeout=HANG_TIMEOUT) == c


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT,  # raises TimeoutExpired (a test failure) on a hang
    )


def test_user_thread_pool_with_nested_parallelism_does_not_deadlock():
    # More user threads than cores, each asking cgfast for several native threads (default and
    # explicit), with pools nested: a user pool whose tasks start their own pools.
    result = run_child(
        """
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np, cgfast

        def job(i):
            rng = np.random.default_rng(i)
            X = rng.normal(size=(120, 8))
            y = rng.integers(0, 4, 120)
            a = cgfast.score(X, y, n_jobs=None if i % 2 else 3, seed=i)
            with ThreadPoolExecutor(max_workers=2) as inner:
                b, c = inner.map(lambda j: cgfast.score(X, y, n_jobs=j, seed=i), (1, 4))
            assert np.array_equal(a, b) and np.array_equal(a, c), i
            return float(a.sum())

        with ThreadPoolExecutor(max_workers=6) as pool:
            sums = list(pool.map(job, range(12)))
        assert all(np.isfinite(sums)), sums
        print("ok", len(sums))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 12"


@pytest.mark.parametrize("attempt", range(3))
def test_threads_during_interpreter_shutdown_do_not_hang(attempt):
    # Daemon threads still inside cgfast when the interpreter exits: the process must end, and
    # end cleanly. On CPython 3.9 a thread coming back from the core into the finalising
    # interpreter crashed the process (SIGSEGV in 7 of 10 runs of this child); the exit now
    # waits for the threads inside the core (_native._Door).
    result = run_child(
        """
        import threading
        import numpy as np, cgfast

        X = np.random.default_rng(0).normal(size=(3000, 64))
        y = np.arange(3000) % 3
        for _ in range(4):
            threading.Thread(target=cgfast.score, args=(X, y), daemon=True).start()
        print("started")
        """
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert result.stdout.strip() == "started"


# The child's work takes well under a second (a spawned child imports cgfast first): a minute
# tells a hang from a slow machine without making a failing run wait five.
CHILD_TIMEOUT = 60


def fork_problem():
    rng = np.random.default_rng(34)
    X = rng.normal(size=(600, 20)).astype(np.float32)
    y = rng.integers(0, 5, 600)
    return X, y


def score_and_gram(X, y, out) -> None:
    """A child's work: what the parent computed too, sent back through ``out``."""
    out.put((cgfast.score(X, y, ratio="all", n_jobs=2), cgfast.gram(X, n_jobs=2)))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_child_process_after_the_parent_scored_finishes_with_the_same_bits(method):
    # Issue 34, item 1: a child forked after the parent had used its native thread pools
    # inherited them without their threads and waited on them forever. n_jobs=2 makes a pool
    # even on a one-CPU machine.
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    X, y = fork_problem()
    expected = (cgfast.score(X, y, ratio="all", n_jobs=2), cgfast.gram(X, n_jobs=2))
    context = multiprocessing.get_context(method)
    out = context.Queue()
    child = context.Process(target=score_and_gram, args=(X, y, out))
    child.start()
    try:
        got = out.get(timeout=CHILD_TIMEOUT)  # before join: a full pipe would block the child
        child.join(timeout=CHILD_TIMEOUT)
    except queue.Empty:
        got = None
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert got is not None, f"the {method} child did not finish within {CHILD_TIMEOUT} s"
    assert child.exitcode == 0
    assert np.array_equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])


def test_far_more_threads_than_cpus_warn_and_run_on_a_bounded_number():
    # Issue 34, item 2: n_jobs=10**6 started pools of hundreds of thousands of threads and never
    # returned; n_jobs=3000 took 45 s instead of 0.07 s. Up to THREADS_PER_CPU per CPU runs as
    # asked; more runs on that many, with a warning naming the CPUs.
    from cgfast._threads import THREADS_PER_CPU, available_cpus, resolve_threads

    most = THREADS_PER_CPU * available_cpus()
    assert resolve_threads(most) == most
    with pytest.warns(cgfast.CgfastWarning, match=rf"n_jobs={10**6} .* {available_cpus()} CPUs"):
        assert resolve_threads(10**6) == most
    X, y, kw = problems(1)[0]
    expected = cgfast.score(X, y, n_jobs=1, **kw)
    with pytest.warns(cgfast.CgfastWarning, match="pass n_jobs=-1") as caught:
        got = cgfast.score(X, y, n_jobs=10**6, **kw)
    assert np.array_equal(got, expected)
    assert {w.filename for w in caught} == {__file__}  # the warning points at the user's call
    with pytest.warns(cgfast.CgfastWarning, match="n_jobs=3000"):
        assert np.array_equal(cgfast.gram(X, n_jobs=3000), cgfast.gram(X, n_jobs=1))


def test_a_call_into_the_core_from_the_main_thread_takes_ctrl_c_at_once():
    # Issue 34, item 8: Python runs signal handlers between bytecodes of the main thread, so a
    # call into the core made there held KeyboardInterrupt back until the block was done. A
    # stand-in for a long native call (it waits, without the GIL, until released): the
    # interrupt must reach the caller while the call is still inside.
    import os
    import signal
    import threading

    from cgfast import _native

    release, returned = threading.Event(), threading.Event()

    def long_call():
        release.wait(HANG_TIMEOUT)
        returned.set()

    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _native._DOOR.call(long_call)
        assert not returned.is_set()
        assert _native._DOOR.inside == 1  # the call goes on, on its helper thread
    finally:
        release.set()
    assert returned.wait(HANG_TIMEOUT)


def interrupted_child(rows: int, n_jobs: int, caught: str) -> str:
    """A child's code: it scores one block of ``rows`` rows in double precision on ``n_jobs``
    threads, sends itself SIGINT as soon as a thread is inside the core, and runs ``caught``
    (a statement) when KeyboardInterrupt arrives."""
    return textwrap.dedent(
        f"""
        import os, signal, threading, time
        import numpy as np, cgfast
        from cgfast import _native

        X = np.random.default_rng(0).normal(size=({rows}, 20))
        y = np.arange({rows}) % 2

        def interrupt():
            while _native._DOOR.inside == 0:
                time.sleep(0.001)
            os.kill(os.getpid(), signal.SIGINT)

        signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Thread(target=interrupt, daemon=True).start()
        try:
            cgfast.score(X, y, max_block={rows}, repeats=1, n_jobs={n_jobs}, precision="double")
            print("finished")
        except KeyboardInterrupt:
            {caught}
        """
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ctrl_c_interrupts_a_large_block_while_it_is_computed(n_jobs):
    # One block at a time on all threads (n_jobs=1: the main thread calls the core) and blocks
    # side by side on a thread pool (n_jobs=2): the interrupt arrives while the core still works,
    # not after. The child then exits cleanly once the dropped blocks are done.
    caught = 'print("interrupted while inside:", _native._DOOR.inside > 0)'
    result = run_child(interrupted_child(3000, n_jobs, caught))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "interrupted while inside: True"


def test_a_second_ctrl_c_while_the_exit_waits_for_a_dropped_block_ends_the_process():
    # After Ctrl-C the interrupted block finishes in the background and the exit waits for it.
    # Ctrl-C during that wait ends the process at once with status 130; before, the interrupt
    # ended only the wait, and the interpreter was finalised with a thread still in the core.
    import os
    import signal

    code = interrupted_child(4000, 1, 'print("interrupted", _native._DOOR.inside, flush=True)')
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline().strip()
        assert line == "interrupted 1", (line, child.stderr.read() if child.poll() else "")
        for _ in range(200):  # the exit has begun once the door is closed; a signal ends it
            os.kill(child.pid, signal.SIGINT)
            try:
                child.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
        assert child.wait(timeout=HANG_TIMEOUT) == 130, child.stderr.read()
    finally:
        child.kill()
        child.wait()


def test_blocks_left_running_by_ctrl_c_do_not_write_to_the_checkpoint(tmp_path, monkeypatch):
    # Ctrl-C does not wait for the blocks running side by side; they finish on their threads and
    # must not then save into the checkpoint, whose lock the run has let go (found by CI: a block
    # of the interrupted run was saved during the resumed one). A small block and a large one
    # run on two lanes; the small one's save raises KeyboardInterrupt, as Ctrl-C there would.
    import threading
    import time

    from cgfast.checkpoint import Checkpoint

    rng = np.random.default_rng(7)
    X = rng.normal(size=(2540, 20))
    y = np.r_[np.zeros(2500, dtype=int), np.ones(40, dtype=int)]
    saves = []

    def save(self, index, *rest):
        saves.append(index)
        if len(saves) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save)
    with pytest.raises(KeyboardInterrupt):
        cgfast.score(X, y, ratio=1.0, repeats=1, max_block=5000, n_jobs=2, precision="double",
                     checkpoint=tmp_path / "ck")  # fmt: skip
    assert len(saves) == 1
    deadline = time.monotonic() + HANG_TIMEOUT
    while any(t.name.startswith("cgfast-block") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the dropped block never finished"
        time.sleep(0.01)
    assert saves == saves[:1], "a dropped block was saved after the run returned"
