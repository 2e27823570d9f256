"""One progress report for a whole run: a bar on stderr, or the caller's own callable.

A run's work is the arithmetic of its blocks in flops (:func:`cgfast.engine.block_weight`:
the Gram and the factorisation; a block that copies its H out of a kernel the executor keeps
counts the copy instead of its Gram, and the kernel counts once), so a block of 2048 rows
counts as the eight blocks of 1024 it costs as much as. The total is the work of the whole
run: the rounds of ``repeats="auto"`` planned so far, an estimate of those still to come
(:data:`cgfast.engine.PRIOR_REPEATS` until the first two repeats project it), and the
suggestion pass. The estimate changes as rounds
finish; the fraction shown never goes back (where a larger estimate would pull it back, it
holds, and the rest of the bar stands for the rest of the work), and it ends at exactly 1 when
the run ends. One bar or one sequence of calls covers every round and the suggestion pass.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import numpy as np


@dataclass(frozen=True)
class Progress:
    """Where a run stands: what a ``progress`` callable receives after every change.

    ``done`` and ``total`` are work, in flops of the blocks (blocks read back from a checkpoint
    count as done). ``done`` never decreases; ``total`` is the current estimate of the whole
    run's work and may grow or shrink as the rounds of ``repeats="auto"`` finish. ``fraction``
    is what the bar shows: it never decreases, stays below 1.0 while the run goes on, and the
    last update of a run has ``fraction == 1.0`` and ``done == total`` (all the work the run
    did). ``phase`` says what runs: ``"scoring (12 repeats)"``,
    ``"scoring, round 2 (repeats 5-13)"``, ``"suggesting labels"``. ``elapsed`` is seconds
    since the run started, ``remaining`` the estimated seconds left at the pace of the last
    half of the run (None until 1% of the work is done). ``str()`` gives the bar's line.
    """

    done: float
    total: float
    fraction: float
    phase: str
    elapsed: float
    remaining: float | None

    def __str__(self) -> str:
        left = "?" if self.remaining is None else clock(self.remaining)
        return (
            f"cgfast: {100 * self.fraction:3.0f}% {self.phase}, {clock(self.elapsed)} elapsed, "
            f"about {left} left"
        )


# The share of the work computed before the time left is estimated: the first blocks finish
# together and slower than the rest (on 60,000 Fashion-MNIST images, the first one put the run
# at 18 minutes; it took 2.7).
EARLIEST = 0.01

# Where the bar stands when the work expected is done: it reaches 100% only when the run says
# it is over (:meth:`Tracker.finish`), as a round that ends where the total expected the run
# to end may be followed by another.
LAST = 0.99

ProgressHook = Callable[[Progress], Any]
ProgressOption = Union[bool, ProgressHook]


def clock(seconds: float) -> str:
    """Seconds as ``mm:ss``, or ``h:mm:ss`` from an hour on (tqdm's format).

    Examples
    --------
    >>> clock(85.4), clock(3725)
    ('01:25', '1:02:05')
    """
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def check_progress(value: object) -> bool | ProgressHook:
    """The ``progress`` option: ``True`` or ``False`` (NumPy's bool too), or a callable that
    receives each :class:`Progress`. Anything else is refused: the string ``"no"`` is true."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if callable(value):
        return value  # type: ignore[return-value]
    raise TypeError(f"progress must be True, False or a callable taking each update, got {value!r}")


class Tracker:
    """The progress of one run, reported to a tqdm bar (``progress=True``), to a callable, or
    nowhere (``progress=False``: every method does next to nothing).

    The run tells it the work still to come, by part (:meth:`expect`: ``"scoring"``, the
    blocks being run; ``"later rounds"``; ``"suggesting"``; ``"kernel"``), the phase it is in
    (:meth:`phase`) and each piece of work it finishes (:meth:`advance`, naming its part);
    :meth:`finish` ends it at exactly 100%. The total is the work done plus the work each part
    still expects.
    """

    def __init__(self, progress: ProgressOption = False) -> None:
        self.hook: ProgressHook | None = None
        self.show = False
        if callable(progress) and not isinstance(progress, (bool, np.bool_)):
            self.hook = progress
        else:
            self.show = bool(progress)
        self.start = time.perf_counter()
        self.done = 0.0  # work finished, read back from a checkpoint included
        self.computed = 0.0  # work finished by this run: what the rate counts
        self.total = 0.0
        self.fraction = 0.0
        self.position = 0.0  # how far along the bar the work is; fraction = LAST * position
        self.name = ""
        # Per part: the work done, and the work expected in all (done + still to come).
        self.part_done: dict[str, float] = {}
        self.expected: dict[str, float] = {}
        # Parts whose work still to come is a function of the run's state: asked again when
        # the cost of a block changes (:meth:`reweigh`).
        self.sources: dict[str, Callable[[], float]] = {}
        # The rows whose kernel the executor keeps: their blocks copy H out of it rather than
        # build it (see cgfast.engine.block_weight).
        self.kernel_rows: Any = None
        # Where the current mapping of work to the bar starts: (fraction, done). The fraction is
        # done / total until a larger estimate would pull it back; from there the rest of the
        # bar stands for the rest of the work.
        self.anchor = (0.0, 0.0)
        # (elapsed, computed) after each piece of work: the rate is that of the last half of
        # the run, so that it follows the run's pace (the kernel, the rounds and the suggestion
        # pass go at different rates in flops) rather than its average since the start.
        self.samples: deque[tuple[float, float]] = deque([(0.0, 0.0)])
        self.bar: Any = None
        self.closed = False

    @property
    def active(self) -> bool:
        """Whether anything is reported (the run may skip estimating otherwise)."""
        return self.show or self.hook is not None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def expect(self, part: str, remaining: float | Callable[[], float]) -> None:
        """``part`` has ``remaining`` work still to come (beyond what it has done): a number,
        or a function that says it, asked again by :meth:`reweigh`. Shows nothing by itself:
        the next update does."""
        if not self.active:
            return
        if callable(remaining):
            self.sources[part] = remaining
            remaining = remaining()
        else:
            self.sources.pop(part, None)
        self.expected[part] = self.part_done.get(part, 0.0) + float(remaining)
        self._plan()

    def reweigh(self) -> None:
        """Asks every part that gave a function for its work still to come again (the cost of
        a block changed: a kernel was built)."""
        if not self.active:
            return
        for part, source in self.sources.items():
            self.expected[part] = self.part_done.get(part, 0.0) + float(source())
        self._plan()

    def _plan(self) -> None:
        parts = set(self.expected) | set(self.part_done)
        total = sum(max(self.expected.get(p, 0.0), self.part_done.get(p, 0.0)) for p in parts)
        self.total = max(total, self.done)
        honest = self.done / self.total if self.total > 0 else 0.0
        self.anchor = (0.0, 0.0) if honest >= self.position else (self.position, self.done)
        self._move()

    def _position(self) -> float:
        start, base = self.anchor
        if self.total <= base:
            return start
        return min(1.0, start + (1.0 - start) * (self.done - base) / (self.total - base))

    def _move(self) -> None:
        self.position = max(self.position, self._position())
        self.fraction = LAST * self.position

    def phase(self, name: str) -> None:
        """The run enters phase ``name`` (shown beside the bar; the bar goes on)."""
        if not self.active or name == self.name:
            return
        self.name = name
        self._emit(refresh=True)

    def advance(self, part: str, work: float, computed: bool = True) -> None:
        """``work`` of ``part`` finished; ``computed=False``: read back from a checkpoint."""
        if not self.active:
            return
        self.done += work
        self.part_done[part] = self.part_done.get(part, 0.0) + work
        if computed:
            self.computed += work
            self.samples.append((time.perf_counter() - self.start, self.computed))
        if self.part_done[part] > self.expected.get(part, 0.0):
            self._plan()  # more than the part expected: the total follows
        self._move()
        self._emit(refresh=False)

    def finish(self) -> None:
        """The run is over: the total becomes the work done, and the bar reads exactly 100%."""
        if not self.active or self.closed:
            return
        self.total = self.done
        self.position = self.fraction = 1.0
        self._emit(refresh=True)
        self.close()

    def close(self) -> None:
        """Closes the bar (where it stands, if the run failed)."""
        self.closed = True
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def update(self) -> Progress:
        """Where the run stands now."""
        elapsed = time.perf_counter() - self.start
        remaining = None
        if self.fraction >= 1.0 and self.done >= self.total:
            remaining = 0.0
        elif self.computed >= EARLIEST * self.total:
            rate = self.rate(elapsed)
            if rate is not None:
                remaining = max(0.0, self.total - self.done) / rate
        return Progress(self.done, self.total, self.fraction, self.name, elapsed, remaining)

    def rate(self, elapsed: float) -> float | None:
        """Work computed per second over the last half of ``elapsed`` (at least); None before
        any work was computed."""
        samples = self.samples
        while len(samples) > 1 and samples[1][0] <= elapsed / 2:
            samples.popleft()
        since, computed = samples[0]
        if self.computed <= computed or elapsed <= since:
            return None
        return (self.computed - computed) / (elapsed - since)

    def _emit(self, refresh: bool) -> None:
        if self.closed:
            return
        now = self.update()
        if self.hook is not None:
            self.hook(now)
        if self.show:
            self._draw(now, refresh)

    def _draw(self, now: Progress, refresh: bool) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=1.0,
                desc=f"cgfast {now.phase}",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}",
                postfix="ETA ?",
            )
        left = "?" if now.remaining is None else clock(now.remaining)
        self.bar.set_description_str(f"cgfast {now.phase}", refresh=False)
        self.bar.set_postfix_str(f"ETA {left}", refresh=False)
        if now.fraction >= 1.0:
            self.bar.n = self.bar.total  # exactly 100%, whatever the float sums came to
            self.bar.refresh()
            return
        self.bar.update(now.fraction - self.bar.n)
        if refresh:
            self.bar.refresh()


def tracker_of(progress: ProgressOption | Tracker) -> tuple[Tracker, bool]:
    """The run's tracker, and whether the caller owns it (made it here, so finishes it)."""
    if isinstance(progress, Tracker):
        return progress, False
    return Tracker(progress), True
