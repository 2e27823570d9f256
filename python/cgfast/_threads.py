"""The thread count: an explicit argument, defaulting to the CPUs this process may run on."""

from __future__ import annotations

import numbers
import os


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which SLURM and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_threads(n_jobs: int | None) -> int:
    """``None`` or ``-1``: every available CPU; a positive integer: that many threads."""
    if n_jobs is None or (not isinstance(n_jobs, bool) and n_jobs == -1):
        return available_cpus()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs!r}")
    return int(n_jobs)
