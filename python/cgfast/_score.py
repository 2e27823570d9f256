"""The public scoring functions: validate, plan the blocks, score each in the native core, assemble."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import _core
from ._data import Rows, check_rows, open_rows
from ._errors import RidgeWarning
from ._labels import encode_labels
from ._memory import check_fits, default_max_block
from ._threads import resolve_threads
from .plan import Block, Ratio, check_count, check_ratio, plan_blocks

PRECISIONS = ("double",)


@dataclass(frozen=True)
class ScoreTerms:
    """CG scores with the three terms of the authors' ``sub_term`` output.

    ``score == a2 + 2 * ab + b2``, elementwise, each averaged over repeats.
    """

    score: np.ndarray
    a2: np.ndarray
    ab: np.ndarray
    b2: np.ndarray


@dataclass(frozen=True)
class BlockResult:
    """What one block contributes: scores and terms of its positives, and the ridge it needed."""

    positives: np.ndarray
    terms: np.ndarray  # (4, p): score, a2, ab, b2
    ridge: float


def score_block(rows: Rows, block: Block, threads: int) -> BlockResult:
    """Gathers the rows of ``block`` (negatives first, positives last) and scores its positives."""
    x = rows.take(block.rows)
    fn = _core.score_block_f32 if x.dtype == np.float32 else _core.score_block_f64
    score, a2, ab, b2, ridge = fn(x, len(block.positives), threads)
    return BlockResult(block.positives, np.stack([score, a2, ab, b2]), ridge)


@dataclass
class Job:
    """A validated scoring run: the rows, the plan and the arguments that produced it."""

    rows: Rows
    classes: np.ndarray
    codes: np.ndarray
    blocks: list[Block]
    threads: int
    arguments: dict[str, Any]
    _sums: np.ndarray = field(init=False, repr=False)
    _ridges: list[float] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self._sums = np.zeros((4, self.rows.n))

    def work(self, block: Block) -> float:
        """Flops of a block, Gram included: what the progress bar counts."""
        return block.size**2 * self.rows.d + block.flops

    def add(self, result: BlockResult) -> None:
        self._sums[:, result.positives] += result.terms
        if result.ridge > 0:
            self._ridges.append(result.ridge)

    def finish(self, return_terms: bool) -> np.ndarray | ScoreTerms:
        if self._ridges:
            warnings.warn(
                f"{len(self._ridges)} of {len(self.blocks)} block(s) had a singular kernel matrix "
                f"and were scored with a ridge of up to {max(self._ridges):.0e} x mean(diag H): "
                "X has duplicate or near-duplicate rows (same-label copies score near zero, "
                "opposite-label copies score high)",
                RidgeWarning,
                stacklevel=3,
            )
        means = self._sums / self.arguments["repeats"]
        if not np.isfinite(means).all():
            raise _core.InternalError("a score came out non-finite; please report this input")
        if return_terms:
            return ScoreTerms(*means)
        return means[0]


def prepare(
    X: Any,
    y: Any,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    seed: int = 0,
    max_block: Optional[int] = None,
    n_jobs: Optional[int] = None,
    precision: str = "double",
) -> Job:
    """Validates every argument and plans the blocks; does no heavy arithmetic."""
    ratio = check_ratio(ratio)
    repeats = check_count("repeats", repeats, 1)
    seed = check_count("seed", seed, 0)
    threads = resolve_threads(n_jobs)
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
    check_rows(rows)
    arguments = dict(ratio=ratio, repeats=repeats, seed=seed, max_block=max_block)
    return Job(rows, classes, codes, blocks, threads, arguments)


def _progress(job: Job, blocks: list[Block], enabled: bool) -> Iterator[Block]:
    if not enabled:
        yield from blocks
        return
    from tqdm.auto import tqdm

    scale = 1e9
    with tqdm(
        total=sum(job.work(b) for b in blocks) / scale,
        unit="GFLOP",
        unit_scale=False,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} GFLOP [{elapsed}<{remaining}{postfix}]",
        desc="cgfast",
    ) as bar:
        for i, block in enumerate(blocks):
            bar.set_postfix_str(f"block {i + 1}/{len(blocks)}", refresh=False)
            yield block
            bar.update(job.work(block) / scale)


def run_local(job: Job, blocks: Iterable[Block]) -> Iterator[BlockResult]:
    """Scores ``blocks`` one after another in this process, each using ``job.threads`` threads."""
    for block in blocks:
        yield score_block(job.rows, block, job.threads)


def score(
    X: Any,
    y: Any,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    seed: int = 0,
    max_block: Optional[int] = None,
    n_jobs: Optional[int] = None,
    progress: bool = False,
    return_terms: bool = False,
) -> np.ndarray | ScoreTerms:
    """Complexity-gap score of every example: high = irregular, hard, likely mislabelled.

    For each class, its examples (positives, label +1) are scored against a uniform sample of
    ``ratio`` times as many examples of the other classes (negatives, label -1), as in the
    authors' code; scores are averaged over ``repeats`` fresh samples. ``CG(i)`` is the drop in
    ``yᵀH⁻¹y`` when example ``i`` is removed, H the arc-cosine kernel of the normalised rows.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, or path to a .npy file
        Real-valued examples; each row is flattened. float32 stays float32 until the kernel.
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
        A class whose positives and negatives exceed it is split into chunks.
    n_jobs : int, optional
        Threads for the arithmetic. Default (None or -1): every CPU this process may run on.
    progress : bool, default False
        Show a progress bar over the blocks, weighted by their arithmetic.
    return_terms : bool, default False
        Return a :class:`ScoreTerms` with ``score``, ``a2``, ``ab`` and ``b2`` instead of the scores.

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
    job = prepare(
        X, y, ratio=ratio, repeats=repeats, seed=seed, max_block=max_block, n_jobs=n_jobs
    )
    for result in run_local(job, _progress(job, job.blocks, progress)):
        job.add(result)
    return job.finish(return_terms)


def _two_class_block(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    if len(classes) != 2:
        raise ValueError(f"complexity needs exactly two classes, y has {len(classes)}")
    check_rows(rows)
    check_fits(rows.n, 0, rows.d, rows.dtype.itemsize)
    return rows.take(np.arange(rows.n)), np.where(codes == 1, 1.0, -1.0)


def complexity(X: Any, y: Any, *, n_jobs: Optional[int] = None) -> float:
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
    fn = _core.complexity_f32 if x.dtype == np.float32 else _core.complexity_f64
    value, ridge = fn(x, labels, threads)
    if ridge > 0:
        warnings.warn(
            f"the kernel matrix was singular and needed a ridge of {ridge:.0e} x mean(diag H): "
            "X has duplicate rows",
            RidgeWarning,
            stacklevel=2,
        )
    return float(value)


def gram(X: Any, *, n_jobs: Optional[int] = None) -> np.ndarray:
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
    check_fits(rows.n, 0, rows.d, rows.dtype.itemsize)
    x = rows.take(np.arange(rows.n))
    fn = _core.gram_f32 if x.dtype == np.float32 else _core.gram_f64
    return fn(x, threads)
