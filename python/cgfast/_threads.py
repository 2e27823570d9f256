"""The thread count: an explicit argument, defaulting to the CPUs this process may run on."""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

from ._errors import CgfastWarning
from .options import check_n_jobs

# Most threads per CPU this process may run on that ``n_jobs`` gets as asked. A few threads
# per CPU cost little (and let a small machine check that the scores do not depend on the
# thread count); thousands spend seconds starting threads that only wait for a CPU, and a
# million never finish starting. The scores are the same to the bit at any thread count, so
# more than this runs on this many, with a warning.
THREADS_PER_CPU = 4


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which SLURM and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads a run takes: :data:`THREADS_PER_CPU` per available CPU."""
    return THREADS_PER_CPU * available_cpus()


def resolve_threads(n_jobs: int | None) -> int:
    """``None`` or ``-1``: every available CPU; a positive integer: that many threads, up to
    :func:`max_threads` (more warns and runs on that many).

    Examples
    --------
    >>> resolve_threads(1), resolve_threads(None) == available_cpus()
    (1, True)
    """
    threads = check_n_jobs(n_jobs)
    if threads is None:
        return available_cpus()
    most = max_threads()
    if threads > most:
        warnings.warn(
            f"n_jobs={threads} is more than {THREADS_PER_CPU} threads for each of the "
            f"{available_cpus()} CPUs this process may run on; running on {most} threads (the "
            "scores do not depend on it); pass n_jobs=-1 to use every CPU",
            CgfastWarning,
            stacklevel=_caller_outside_package(),
        )
        return most
    return threads


def _caller_outside_package() -> int:
    """The ``stacklevel`` that points a warning raised by this module's caller at the first
    frame outside cgfast: the user's call."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame: FrameType | None = sys._getframe(2)  # 1: resolve_threads
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
