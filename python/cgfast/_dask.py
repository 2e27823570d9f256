"""Dask distributed execution: one task per block (or per group of blocks sharing their rows),
each reading its own rows on its worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._data import is_dask_array
from .checkpoint import BlockResult
from .engine import BlockTask, Run, task_groups

# Times a task is resubmitted when the worker running it dies.
RETRIES = 3


def check_cluster_input(X: Any) -> Any:
    """X as the cluster reads it; rejects in-memory data that would travel via the scheduler."""
    if isinstance(X, np.memmap):
        if X.filename is None or not str(X.filename).endswith(".npy"):
            raise ValueError("with client=, pass the path of the .npy file rather than a memmap")
        return str(X.filename)
    if isinstance(X, np.ndarray):
        raise ValueError(
            "with client=, X must be a path to a .npy file or a Zarr array on storage every "
            "worker can read (or a dask array), not an in-memory array; np.save it first"
        )
    return X


class DaskExecutor:
    """Submits one task per block to a Dask cluster; yields results as they finish.

    A task reopens X from its path on its worker (or receives its block's slice of a dask
    array) and, with a checkpoint, writes its block there itself, so a restarted driver skips
    it. A task whose worker dies is resubmitted up to :data:`RETRIES` times.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, run: Run, tasks: Sequence[BlockTask]) -> Iterator[tuple[int, BlockResult]]:
        from dask.distributed import as_completed

        run_id = uuid.uuid4().hex[:12]
        futures = []
        # Blocks that share their rows travel as one task: one factorisation for all of them.
        groups = task_groups(tasks)
        if is_dask_array(run.rows.array):
            import dask

            flat = run.rows.array.reshape(run.rows.n, run.rows.d)
            for group in groups:
                x = flat[group.tasks[0].block.rows]
                delayed = dask.delayed(group, pure=False)(x)
                futures.append(self.client.compute(delayed, retries=RETRIES))
        else:
            if run.rows.path is None:
                raise ValueError("with client=, X must be a path every worker can read")
            for group in groups:
                futures.append(
                    self.client.submit(
                        group,
                        run.rows,
                        key=f"cgfast-block-{run_id}-{group.tasks[0].index}",
                        retries=RETRIES,
                        pure=False,
                    )
                )
        for future in as_completed(futures):
            yield from future.result().items()
