"""Scoring without a scheduler: split the plan into parts (a SLURM job array), then assemble.

Each array task runs :func:`score_part` (or ``cgfast score --part I --parts N``) with the same
arguments and a shared checkpoint directory; when all have finished, :func:`assemble` (or
``cgfast assemble DIR``) adds the blocks in plan order and returns the scores, identical to a
single local run.
"""

from __future__ import annotations

import heapq
import os
from typing import Any

import numpy as np

from .checkpoint import Checkpoint
from .engine import LocalExecutor, Run, ScoreTerms, execute, prepare
from .engine import assemble as assemble_results
from .options import Options, check_count


def split_plan(run: Run, parts: int) -> list[list[int]]:
    """Block indices of each of ``parts`` parts, balanced by flops (largest first, to the lightest).

    A pure function of the plan, so every array task computes the same split.
    """
    loads = [(0.0, p) for p in range(parts)]
    owned: list[list[int]] = [[] for _ in range(parts)]
    order = sorted(range(len(run.blocks)), key=lambda i: (-run.work(run.blocks[i]), i))
    for i in order:
        load, p = heapq.heappop(loads)
        owned[p].append(i)
        heapq.heappush(loads, (load + run.work(run.blocks[i]), p))
    return [sorted(o) for o in owned]


def score_part(
    X: Any,
    y: Any,
    *,
    checkpoint: str | os.PathLike,
    part: int,
    parts: int,
    options: Options | None = None,
    progress: bool = False,
    **arguments: Any,
) -> int:
    """Scores part ``part`` of ``parts`` of the plan into ``checkpoint``; returns its block count.

    The scoring options are ``options``, or else ``arguments``, those of :func:`cgfast.score`
    (ratio, repeats, seed, max_block, precision, n_jobs); they must be the same for every part.

    Examples
    --------
    >>> import numpy as np, tempfile, cgfast
    >>> X = np.random.default_rng(0).normal(size=(40, 4)); y = np.arange(40) % 2
    >>> d = tempfile.mkdtemp()
    >>> sum(cgfast.score_part(X, y, checkpoint=d, part=p, parts=2) for p in range(2))
    2
    >>> bool(np.array_equal(cgfast.assemble(d), cgfast.score(X, y)))
    True
    """
    parts = check_count("parts", parts, 1)
    part = check_count("part", part, 0)
    if part >= parts:
        raise ValueError(f"part must be below parts={parts}, got {part}")
    if options is None:
        options = Options(**arguments)
    elif arguments:
        raise TypeError(f"pass either options or {', '.join(arguments)}, not both")
    run = prepare(X, y, options, fingerprint=True)
    mine = split_plan(run, parts)[part]
    execute(run, LocalExecutor(), indices=mine, checkpoint=checkpoint, progress=progress)
    return len(mine)


def assemble(
    checkpoint: str | os.PathLike, *, return_terms: bool = False
) -> np.ndarray | ScoreTerms:
    """The scores of a run whose blocks were all written to ``checkpoint`` (by any executor).

    Raises ValueError naming the missing blocks when some part has not finished.

    Examples
    --------
    See :func:`score_part`.
    """
    store = Checkpoint.existing(checkpoint)
    manifest = store.manifest
    try:
        n, count = int(manifest["data"]["n"]), int(manifest["blocks"])
        repeats = int(manifest["arguments"]["repeats"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint manifest in {str(checkpoint)!r} is incomplete: {err}"
        ) from err
    results = [store.load(i) for i in range(count)]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise ValueError(
            f"{len(missing)} of {count} blocks are missing from {str(checkpoint)!r} "
            f"(first: {missing[0]}); run the unfinished parts again"
        )
    return assemble_results(results, n, repeats, return_terms)
