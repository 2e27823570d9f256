"""The thread count: an explicit argument, defaulting to the CPUs this process may run on."""

from __future__ import annotations

import os

from .options import check_n_jobs


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which SLURM and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_threads(n_jobs: int | None) -> int:
    """``None`` or ``-1``: every available CPU; a positive integer: that many threads."""
    threads = check_n_jobs(n_jobs)
    return available_cpus() if threads is None else threads
