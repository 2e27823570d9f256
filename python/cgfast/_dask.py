"""Dask distributed execution: one task per block, each reading its own rows on its worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._data import Rows, is_dask_array
from ._score import Job, score_block
from ._threads import resolve_threads
from .checkpoint import BlockResult, Checkpoint
from .plan import Block

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


def _score_task(
    source: Rows | np.ndarray,
    block: Block,
    n_jobs: int | None,
    precision: str,
    store: Checkpoint | None,
    index: int,
) -> BlockResult:
    """Runs on a worker: scores one block and, with a checkpoint, writes it there.

    ``source`` is X (reopened from its path on the worker) or, for a dask array, the block's
    rows already gathered in block order.
    """
    if isinstance(source, Rows):
        rows, local = source, block
    else:
        rows = Rows(np.asarray(source))
        split = len(block.negatives)
        local = Block(block.repeat, block.label, block.chunk, np.arange(split),
                      np.arange(split, block.size))  # fmt: skip
    result = score_block(rows, local, resolve_threads(n_jobs), precision)
    result = BlockResult(block.positives, result.terms, result.ridge)
    if store is not None:
        store.save(index, result)
    return result


def run_on_cluster(
    client: Any, job: Job, todo: list[int], n_jobs: int | None, store: Checkpoint | None
) -> Iterator[tuple[int, BlockResult]]:
    """Submits one task per block and yields (index, result) as they finish, in any order.

    Workers write finished blocks to ``store`` themselves, so a restarted driver skips them.
    """
    from dask.distributed import as_completed

    run_id = uuid.uuid4().hex[:12]
    precision = job.arguments["precision"]
    futures = {}
    if is_dask_array(job.rows.array):
        import dask

        flat = job.rows.array.reshape(job.rows.n, job.rows.d)
        for i in todo:
            block = job.blocks[i]
            x = flat[block.rows]
            task = dask.delayed(_score_task, pure=False)(x, block, n_jobs, precision, store, i)
            futures[client.compute(task, retries=RETRIES)] = i
    else:
        if job.rows.path is None:
            raise ValueError("with client=, X must be a path every worker can read")
        for i in todo:
            future = client.submit(
                _score_task,
                job.rows,
                job.blocks[i],
                n_jobs,
                precision,
                store,
                i,
                key=f"cgfast-block-{run_id}-{i}",
                retries=RETRIES,
                pure=False,
            )
            futures[future] = i
    for future in as_completed(futures):
        yield futures[future], future.result()
