"""The public scoring functions: validate, plan, score each block in the native core, assemble."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core, _native
from ._data import Rows, check_rows, new_fingerprint, open_rows
from ._errors import RidgeWarning
from ._labels import encode_labels
from ._memory import check_fits, default_max_block
from ._threads import resolve_threads
from .checkpoint import BlockResult, Checkpoint
from .plan import Block, Ratio, check_count, check_ratio, plan_blocks

# "double": float64 throughout; "mixed": inner products in float32, factorisation in float64.
PRECISIONS = ("double", "mixed")


@dataclass(frozen=True)
class ScoreTerms:
    """CG scores with the three terms of the authors' ``sub_term`` output.

    ``score == a2 + 2 * ab + b2``, elementwise, each averaged over repeats.
    """

    score: np.ndarray
    a2: np.ndarray
    ab: np.ndarray
    b2: np.ndarray


def score_block(rows: Rows, block: Block, threads: int, precision: str = "double") -> BlockResult:
    """Gathers the rows of ``block`` (negatives first, positives last) and scores its positives."""
    out = _native.score_block(rows.take(block.rows), len(block.positives), threads, precision)
    return BlockResult(block.positives, out.terms, out.ridge)


@dataclass
class Job:
    """A validated scoring run: the rows, the plan, and the arguments that produced it."""

    rows: Rows
    classes: np.ndarray
    codes: np.ndarray
    blocks: list[Block]
    arguments: dict[str, Any]
    fingerprint: str | None = None

    def work(self, block: Block) -> int:
        """Flops of a block, Gram included: what the progress bar counts."""
        return block.size**2 * self.rows.d + block.flops

    def manifest(self) -> dict[str, Any]:
        """What identifies this run in a checkpoint directory."""
        return {
            "arguments": self.arguments,
            "data": {
                "n": self.rows.n,
                "d": self.rows.d,
                "dtype": str(np.dtype(self.rows.array.dtype)),
                "fingerprint": self.fingerprint,
            },
            "blocks": len(self.blocks),
        }


def assemble_results(
    results: list[BlockResult | None], n: int, repeats: int, return_terms: bool
) -> np.ndarray | ScoreTerms:
    """Averages block results over repeats, adding them in plan order so any executor agrees."""
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} block(s) are not finished yet, the first is {missing[0]}")
    sums = np.zeros((4, n))
    ridges = []
    for result in results:
        sums[:, result.positives] += result.terms
        if result.ridge > 0:
            ridges.append(result.ridge)
    if ridges:
        warnings.warn(
            f"{len(ridges)} of {len(results)} block(s) had a singular kernel matrix "
            f"and were scored with a ridge of up to {max(ridges):.0e} x mean(diag H): "
            "X has duplicate or near-duplicate rows (same-label copies score near zero, "
            "opposite-label copies score high)",
            RidgeWarning,
            stacklevel=3,
        )
    means = sums / repeats
    if not np.isfinite(means).all():
        raise _core.InternalError("a score came out non-finite; please report this input")
    return ScoreTerms(*means) if return_terms else means[0]


def prepare(
    X: Any,
    y: Any,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    seed: int = 0,
    max_block: int | None = None,
    precision: str = "double",
    fingerprint: bool = False,
) -> Job:
    """Validates every argument and the data, and plans the blocks; no heavy arithmetic.

    With ``fingerprint=True`` the one pass over X that validates it also hashes it, for a
    checkpoint to recognise its data.
    """
    ratio = check_ratio(ratio)
    repeats = check_count("repeats", repeats, 1)
    seed = check_count("seed", seed, 0)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    itemsize = rows.dtype.itemsize
    if max_block is None:
        max_block = default_max_block(rows.d, itemsize)
    else:
        max_block = check_count("max_block", max_block, 2)
    blocks = plan_blocks(codes, ratio=ratio, repeats=repeats, max_block=max_block, seed=seed)
    largest = max(blocks, key=lambda b: b.size)
    check_fits(largest.size, len(largest.positives), rows.d, itemsize)
    digest = new_fingerprint(rows, codes) if fingerprint else None
    check_rows(rows, digest)
    arguments = dict(
        ratio=ratio, repeats=repeats, seed=seed, max_block=max_block, precision=precision
    )
    return Job(rows, classes, codes, blocks, arguments, digest.hexdigest() if digest else None)


def progress_bar(job: Job, indices: list[int], enabled: bool) -> Any:
    """A tqdm bar over ``indices`` of ``job.blocks`` weighted by their flops, or a no-op."""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=sum(job.work(job.blocks[i]) for i in indices),
        unit="FLOP",
        unit_scale=True,
        desc="cgfast",
        disable=not enabled,
    )
    count = iter(range(1, len(indices) + 1))

    def advance(index: int) -> None:
        bar.set_postfix_str(f"{next(count)}/{len(indices)} blocks", refresh=False)
        bar.update(job.work(job.blocks[index]))

    return bar, advance


def run(
    job: Job,
    *,
    n_jobs: int | None,
    progress: bool,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    indices: list[int] | None = None,
) -> list[BlockResult | None]:
    """Scores the blocks ``indices`` of ``job`` (default: all), skipping those in ``checkpoint``.

    Returns one entry per block of the plan: its result, or None where it was not asked for.
    """
    store = Checkpoint.open(checkpoint, job.manifest()) if checkpoint is not None else None
    wanted = range(len(job.blocks)) if indices is None else indices
    results: list[BlockResult | None] = [None] * len(job.blocks)
    if store is not None:
        for i in wanted:
            results[i] = store.load(i, job.blocks[i].positives)
    todo = [i for i in wanted if results[i] is None]
    bar, advance = progress_bar(job, todo, progress)
    with bar:
        if client is not None:
            from ._dask import run_on_cluster

            done = run_on_cluster(client, job, todo, n_jobs, store)
        else:
            threads = resolve_threads(n_jobs)
            precision = job.arguments["precision"]
            done = ((i, score_block(job.rows, job.blocks[i], threads, precision)) for i in todo)
        for i, result in done:
            if store is not None and client is None:
                store.save(i, result)
            results[i] = result
            advance(i)
    return results


def score(
    X: Any,
    y: Any,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    seed: int = 0,
    max_block: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    return_terms: bool = False,
    precision: str = "double",
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
) -> np.ndarray | ScoreTerms:
    """Complexity-gap score of every example: high = irregular, hard, likely mislabelled.

    For each class, its examples (positives, label +1) are scored against a uniform sample of
    ``ratio`` times as many examples of the other classes (negatives, label -1), as in the
    authors' code; scores are averaged over ``repeats`` fresh samples. ``CG(i)`` is the drop in
    ``yᵀH⁻¹y`` when example ``i`` is removed, H the arc-cosine kernel of the normalised rows.
    A class whose block would exceed ``max_block`` rows is split into chunks of positives, each
    with its own negative sample.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, Zarr array, or path to a .npy file / Zarr store
        Real-valued examples; each row is flattened. Paths and memory maps are read block by
        block, never loaded whole. float32 stays float32 until the kernel.
    y : sequence of n hashable labels
        Ints, strings, or any hashable values; at least two distinct.
    ratio : float or "all", default 1.0
        Negatives per positive. ``"all"`` takes every other-class example: with two classes that
        is exactly the paper's binary definition.
    repeats : int, default 1
        Number of independent negative samples to average over.
    seed : int, default 0
        Seed of every random draw; same seed, same scores, to the bit.
    max_block : int, optional
        Most rows in one block. Default: as large as half the available memory allows, up to 8192.
    n_jobs : int, optional
        Threads for the arithmetic. Default (None or -1): every CPU this process (or, with
        ``client``, each worker) may run on.
    progress : bool, default False
        Show a progress bar over the blocks, weighted by their arithmetic, on stderr.
    return_terms : bool, default False
        Return a :class:`ScoreTerms` (``score``, ``a2``, ``ab``, ``b2``) instead of the scores.
    precision : {"double", "mixed"}, default "double"
        ``"mixed"`` computes the inner products of the Gram in float32 (faster, rankings kept:
        see the README's performance section) and factorises in float64.
    checkpoint : path, optional
        Directory where each finished block is written; a rerun with the same arguments and data
        skips them and returns identical scores.
    client : dask.distributed.Client, optional
        Run one task per block on this Dask cluster; X must then be a path (or Zarr array) that
        every worker can read, or a dask array.

    Returns
    -------
    numpy.ndarray of shape (n,), float64, or ScoreTerms

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); y = (X[:, 0] > 0).astype(int)
    >>> y[:3] = 1 - y[:3]                       # three flipped labels
    >>> s = cgfast.score(X, y)
    >>> s.shape
    (60,)
    """
    if client is not None:
        from ._dask import check_cluster_input

        X = check_cluster_input(X)
    job = prepare(
        X,
        y,
        ratio=ratio,
        repeats=repeats,
        seed=seed,
        max_block=max_block,
        precision=precision,
        fingerprint=checkpoint is not None,
    )
    results = run(job, n_jobs=n_jobs, progress=progress, checkpoint=checkpoint, client=client)
    return assemble_results(results, job.rows.n, job.arguments["repeats"], return_terms)


def _two_class_block(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    if len(classes) != 2:
        raise ValueError(f"complexity needs exactly two classes, y has {len(classes)}")
    check_rows(rows)
    check_fits(rows.n, 0, rows.d, rows.dtype.itemsize, whole=True)
    return rows.whole(), np.where(codes == 1, 1.0, -1.0)


def complexity(X: Any, y: Any, *, n_jobs: int | None = None) -> float:
    """Data-dependent complexity ``yᵀH⁻¹y`` of a two-class set (Arora et al., 2019).

    The two labels are mapped to -1 and +1 (which gets which does not matter: the form is even).

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> X = np.random.default_rng(1).normal(size=(40, 3))
    >>> easy = cgfast.complexity(X, X[:, 0] > 0)
    >>> noisy = cgfast.complexity(X, np.arange(40) % 2)
    >>> bool(easy < noisy)
    True
    """
    threads = resolve_threads(n_jobs)
    x, labels = _two_class_block(X, y)
    value, ridge = _native.complexity(x, labels, threads)
    if ridge > 0:
        warnings.warn(
            f"the kernel matrix was singular and needed a ridge of {ridge:.0e} x mean(diag H): "
            "X has duplicate rows",
            RidgeWarning,
            stacklevel=2,
        )
    return float(value)


def gram(X: Any, *, n_jobs: int | None = None) -> np.ndarray:
    """The arc-cosine kernel matrix ``H`` (n x n, float64) of the rows of X.

    ``H_ij = u (π − arccos u) / (2π)`` with ``u`` the cosine of rows i and j; ``H_ii = 1/2``.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> H = cgfast.gram(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> H.tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    threads = resolve_threads(n_jobs)
    rows = open_rows(X)
    check_rows(rows)
    check_fits(rows.n, 0, rows.d, rows.dtype.itemsize, whole=True)
    return _native.gram(rows.whole(), threads)
