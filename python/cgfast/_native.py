"""The one door to the native core: picks the f32 or f64 entry point by the block's dtype, and
keeps the interpreter from exiting while a thread is inside the core."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _core

# How long the interpreter's exit waits for threads still inside the core (a block at the
# default size takes well under a second).
EXIT_WAIT_SECONDS = 30.0

# The exit status when Ctrl-C ends the exit's wait for the core: 128 + SIGINT, as a shell
# reports a process that SIGINT ended.
INTERRUPTED_EXIT = 130

# The main thread waits for the core in slices this long: on POSIX a signal ends a wait at once
# anyway; elsewhere this bounds how late Ctrl-C can arrive.
WAIT_SLICE_SECONDS = 0.1


class _Door:
    """Counts the threads inside the native core, closes when the interpreter exits, and keeps
    the main thread interruptible while the core works.

    A daemon thread still computing when the interpreter exits would come back from the core
    into a finalising interpreter: CPython then ends the thread from inside the call that
    re-takes the GIL, unwinding through the core's frames, which crashed the process
    (SIGSEGV, most runs on CPython 3.9 under load). At exit the door closes: no thread but the
    main one enters the core any more (the others get ``SystemExit``, which ends a thread
    quietly), and the exit waits, up to :data:`EXIT_WAIT_SECONDS`, for those inside to leave.

    Python runs signal handlers only in the main thread, and only between bytecodes: a call
    into the core made by the main thread would hold Ctrl-C back until the block is done
    (several seconds for a large block). So the main thread hands its call to a helper thread
    and waits for it, and a waiting thread does take signals: ``KeyboardInterrupt`` arrives at
    once. The block already inside the core then finishes on the helper, and its result is
    dropped (the core's arithmetic cannot be stopped midway). The exit then waits for it, and
    a second Ctrl-C during that wait ends the process at once (status 130).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.closed = False

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        if threading.current_thread() is threading.main_thread() and not self.closed:
            return self._from_main(function, args)
        return self.call_quick(function, *args)

    def call_quick(self, function: Callable[..., Any], *args: Any) -> Any:
        """:meth:`call` for a call that returns in milliseconds: no helper thread."""
        return self._enter(function, args, threading.current_thread() is threading.main_thread())

    def _enter(self, function: Callable[..., Any], args: tuple[Any, ...], main: bool) -> Any:
        with self.lock:
            if self.closed and not main:
                raise SystemExit("the interpreter is exiting")
            self.inside += 1
        try:
            return function(*args)
        finally:
            with self.lock:
                self.inside -= 1

    def _from_main(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Runs the call on a helper thread; the main thread waits, interruptibly."""
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append((True, self._enter(function, args, True)))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                outcome.append((False, error))
            finally:
                done.set()

        helper = threading.Thread(target=work, name="cgfast-core", daemon=True)
        helper.start()
        while not done.wait(WAIT_SLICE_SECONDS):  # an interrupt ends the wait with its error
            pass
        ok, value = outcome[0]
        if ok:
            return value
        try:
            raise value
        finally:
            del value  # no cycle through the traceback

    def close(self) -> None:
        with self.lock:
            self.closed = True
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        try:
            while time.monotonic() < deadline:
                with self.lock:
                    if self.inside == 0:
                        return
                time.sleep(0.005)
        except KeyboardInterrupt:
            # Ctrl-C again while the exit waits for a block: end the process now. Finalising
            # the interpreter with a thread still in the core is what crashed it.
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            os._exit(INTERRUPTED_EXIT)


_DOOR = _Door()
atexit.register(_DOOR.close)
if hasattr(os, "register_at_fork"):  # a forked child has only the forking thread: none inside
    os.register_at_fork(after_in_child=_DOOR._reset)


@dataclass(frozen=True)
class BlockOutput:
    """What the core returns for one block: the terms of its positives and the ridge it needed.

    ``fallback`` is True when float32 was asked for but the block was scored in float64, because
    float32 could not resolve it (near-duplicate rows, a pivot too small).
    """

    terms: np.ndarray  # (4, p): score, a2, ab, b2, positives in block order
    ridge: float
    fallback: bool = False


def _entry(name: str, x: np.ndarray) -> Callable[..., Any]:
    """``_core.<name>_f32`` for a float32 block, ``_core.<name>_f64`` for a float64 one, called
    through the door (:class:`_Door`)."""
    if x.dtype == np.float32:
        function = getattr(_core, f"{name}_f32")
    elif x.dtype == np.float64:
        function = getattr(_core, f"{name}_f64")
    else:
        raise TypeError(f"the native core takes float32 or float64 blocks, got {x.dtype}")
    return lambda *args: _DOOR.call(function, *args)


def score_block(x: np.ndarray, n_pos: int, threads: int, precision: str) -> BlockOutput:
    """Scores the last ``n_pos`` rows of ``x`` against the rows before them.

    ``precision`` is ``"single"`` or ``"double"``, passed through to the core, which
    refuses others.
    """
    terms, ridge, fallback = _entry("score_block", x)(x, n_pos, threads, precision)
    return BlockOutput(terms, ridge, fallback)


def score_cached(
    kernel: np.ndarray, index: np.ndarray, n_pos: int, threads: int
) -> BlockOutput | None:
    """Scores the last ``n_pos`` of the rows ``index`` of X against the others, copying their H
    out of ``kernel``, the H of X as :func:`gram` returns it (whole or not; only the entries on
    and right of the diagonal are read): the same bits as :func:`score_block` on ``X[index]``
    in the kernel's precision (float64: "double", float32: "single").

    None when the kernel is float32 and float32 cannot factorise the block: the caller then
    scores ``X[index]`` with ``precision="double"``, as a "single" block would fall back.
    """
    index = np.ascontiguousarray(index, dtype=np.int64)
    out = _entry("score_cached", kernel)(kernel, index, n_pos, threads)
    return None if out is None else BlockOutput(*out)


@dataclass(frozen=True)
class LabelsOutput:
    """Every row of one row set scored under several labellings, from one factorisation."""

    terms: np.ndarray  # (m, 4, k): per labelling, score, a2, ab, b2 of every row in block order
    ridge: float
    fallback: bool = False


def score_labels(
    x: np.ndarray, labels: np.ndarray, threads: int, precision: str = "double"
) -> LabelsOutput:
    """Scores every row of ``x`` under each ±1 labelling in the columns of ``labels`` (k x m).

    One factorisation of H serves all m labellings; column c gives what the block of the same
    rows with ``labels[:, c]`` (negatives −1, positives +1) gives, for every row, negatives
    included (in float64 to ~1e-10 relative: only the order of the rows differs).
    """
    labels = np.asarray(labels, dtype=np.float64)
    terms, ridge, fallback = _entry("score_block_labels", x)(x, labels, threads, precision)
    return LabelsOutput(terms, ridge, fallback)


@dataclass(frozen=True)
class TargetsOutput:
    """Every row of one block scored for several real-valued targets, from one factorisation."""

    terms: np.ndarray  # (m, 5, k): per target, score, a2, ab, b2, residual of every row
    ridge: float
    fallback: bool = False


def score_targets(
    x: np.ndarray, targets: np.ndarray, threads: int, precision: str = "double"
) -> TargetsOutput:
    """Scores every row of ``x`` for each real-valued target in the columns of ``targets``
    (k x m, finite): ``CG(i) = α_i² / G_ii`` with ``α = G y``, the authors' terms, and the
    leave-one-out residual ``y_i − f_i = α_i / G_ii``. On ±1 columns the scores are the bits of
    :func:`score_labels`.
    """
    targets = np.asarray(targets, dtype=np.float64)
    terms, ridge, fallback = _entry("score_block_targets", x)(x, targets, threads, precision)
    return TargetsOutput(terms, ridge, fallback)


@dataclass(frozen=True)
class PredictOutput:
    """Leave-one-out predictions of every row of one block, from one factorisation."""

    predictions: np.ndarray  # (k, m): every row's prediction for every column of the targets
    ridge: float
    fallback: bool = False


def predict(
    x: np.ndarray,
    targets: np.ndarray,
    threads: int,
    precision: str = "double",
    fitted: int | None = None,
    shift: float = 0.0,
) -> PredictOutput:
    """Leave-one-out predictions (k, m) of the kernel regressor on the rows of ``x`` for each
    column of ``targets`` (k x m), from one factorisation in ``precision``; the ridge it
    needed; and whether a "single" block was predicted in float64 (``fallback``).

    With ``fitted``: the regressor fitted to the first ``fitted`` rows (``targets`` holds
    theirs) predicts the other rows, (k - fitted, m). ``shift > 0`` (leave-one-out only): kernel
    ridge regression, H + shift · mean(diag H) · I in place of H; the ridge returned is what
    was added beyond it."""
    targets = np.asarray(targets, dtype=np.float64)
    return PredictOutput(*_entry("predict", x)(x, targets, threads, precision, fitted, shift))


def predict_cached(
    kernel: np.ndarray,
    index: np.ndarray,
    targets: np.ndarray,
    threads: int,
    fitted: int | None = None,
    shift: float = 0.0,
) -> PredictOutput | None:
    """:func:`predict` on the rows ``index`` of X, every kernel value copied out of ``kernel``
    (as for :func:`score_cached`): the same bits in the kernel's precision; None when the
    kernel is float32 and float32 cannot factorise the fitted rows (the caller predicts from
    ``X[index]`` with ``precision="double"``)."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.float64)
    out = _entry("predict_cached", kernel)(kernel, index, targets, threads, fitted, shift)
    return None if out is None else PredictOutput(*out)


def gram(
    x: np.ndarray, threads: int, *, whole: bool = True, precision: str = "double"
) -> np.ndarray:
    """The k x k arc-cosine kernel matrix of the rows of ``x``: float64, or float32 with
    ``precision="single"`` (the bits a "single" block builds).

    With ``whole=False`` only the entries on and right of the diagonal are filled (the rest are
    0): all that :func:`score_cached` reads. It skips the mirror, and about half of the matrix's
    pages are never touched, so they take no memory.
    """
    return _entry("gram", x)(x, threads, whole, precision)


def complexity(x: np.ndarray, labels: np.ndarray, threads: int) -> tuple[float, float]:
    """``yᵀH⁻¹y`` for the ±1 vector ``labels``, and the ridge the factorisation needed."""
    values, ridge = complexities(x, np.asarray(labels, dtype=np.float64)[:, None], threads)
    return float(values[0]), ridge


def complexities(x: np.ndarray, labels: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    """``yᵀH⁻¹y`` for every column y of ``labels`` (k x m), from one factorisation of H.

    Returns the m values and the ridge the factorisation needed (shared by all columns).
    """
    return _entry("complexity", x)(x, np.asarray(labels, dtype=np.float64), threads)


def read_rows(path: str, offset: int, width: int, index: np.ndarray, threads: int) -> np.ndarray:
    """Rows ``index`` of the file ``path`` (``width`` bytes each, row i at ``offset + i *
    width``) as a (len(index), width) uint8 array, read with positioned reads on up to
    ``threads`` threads; ``EOFError`` (its argument the file's size) when the file ends first."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    return _DOOR.call_quick(_core.read_rows, path, offset, width, index, threads)
