"""The public scoring functions: thin calls into the engine and the native core."""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from . import _native
from ._data import check_rows, open_rows
from ._errors import RidgeWarning
from ._labels import encode_labels
from ._memory import check_fits
from ._progress import ProgressOption, check_progress
from ._threads import resolve_threads
from .engine import (
    LocalExecutor,
    ScoreTerms,
    prepare,
    prepare_suggestions,
    run_suggestions,
    score_run,
)
from .options import Options, Ratio, Seed, check_flag
from .suggest import DEFAULT_REPEATS, LabelSuggestions

__all__ = ["ScoreTerms", "complexity", "gram", "score", "suggest_labels"]

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    class _ScoreOptions(TypedDict, total=False):
        """score()'s keyword arguments but the two that choose what it returns."""

        ratio: Ratio
        repeats: int | str
        seed: Seed
        max_block: int | None
        n_jobs: int | None
        progress: ProgressOption
        precision: str
        sampler: str
        stability: float
        max_repeats: int
        checkpoint: str | os.PathLike | None
        client: Any
        task: str


# What score() returns depends on two flags: the scores alone unless return_terms or suggest is
# true. The overloads tell type checkers so (without them the README's
# `cgfast.score(X, y).argsort()` is an error under mypy and pyright); a flag known only at run
# time gives the union.
@overload
def score(
    X: Any,
    y: Any,
    *,
    return_terms: Literal[False] = ...,
    suggest: Literal[False] = ...,
    **options: Unpack[_ScoreOptions],
) -> np.ndarray: ...
@overload
def score(
    X: Any,
    y: Any,
    *,
    return_terms: Literal[True],
    suggest: bool = ...,
    **options: Unpack[_ScoreOptions],
) -> ScoreTerms: ...
@overload
def score(
    X: Any,
    y: Any,
    *,
    return_terms: bool = ...,
    suggest: Literal[True],
    **options: Unpack[_ScoreOptions],
) -> ScoreTerms: ...
@overload
def score(
    X: Any,
    y: Any,
    *,
    return_terms: bool = ...,
    suggest: bool = ...,
    **options: Unpack[_ScoreOptions],
) -> np.ndarray | ScoreTerms: ...
def score(
    X: Any,
    y: Any,
    *,
    ratio: Ratio = 1.0,
    repeats: int | str = "auto",
    seed: Seed = 0,
    max_block: int | None = None,
    n_jobs: int | None = None,
    progress: ProgressOption = False,
    return_terms: bool = False,
    suggest: bool = False,
    precision: str = "single",
    sampler: str = "cover",
    stability: float = 0.95,
    max_repeats: int = 32,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    task: str = "classification",
) -> np.ndarray | ScoreTerms:
    """Complexity-gap score of every example: high = irregular, hard, likely mislabelled.

    For each class, its examples (positives, label +1) are scored against a uniform sample of
    ``ratio`` times as many examples of the other classes (negatives, label -1), as in the
    authors' code; scores are averaged over ``repeats`` fresh samples. ``CG(i)`` is the drop in
    ``yᵀH⁻¹y`` when example ``i`` is removed, H the arc-cosine kernel of the normalised rows.
    A class whose block would exceed ``max_block`` rows is split into chunks of positives, each
    with its own negative sample. With ``task="regression"`` y is a real-valued target instead
    (below, and the user guide's "Regression targets").

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, Zarr array, or path to a .npy file / Zarr store
        Real-valued examples; each row is flattened. Paths and memory maps are read block by
        block, never loaded whole. float32 stays float32 until the kernel.
    y : sequence of n hashable labels, or an (n, 1) column of them
        Ints, strings, or any hashable values; at least two distinct. Floats must be whole
        numbers (a real-valued target is refused: pass ``task="regression"`` to score it), and
        None or NaN (a missing label) is refused with its index. One-hot rows (n, C) are
        refused, not decoded: the array does not say which label each column stands for, so
        pass ``y.argmax(1)`` (or the labels themselves). A torch tensor, for X too, is
        detached and copied to the CPU first.
    ratio : float or "all", default 1.0
        Negatives per positive. ``"all"`` takes every other-class example: with two classes that
        is exactly the paper's binary definition.
    repeats : int or "auto", default "auto"
        Number of negative samples to average over. ``"auto"`` adds them in rounds until the
        ranking's estimated stability (see ``stability``) reaches the target, or until
        ``max_repeats``. ``repeats=1`` is a quick look: its ranking of the bulk of the data
        (all but the most irregular examples) changes much from one seed to the next. Repeats
        (or ``max_repeats``) whose results would not fit in memory are refused with a
        ``ValueError`` naming the most that fit.
    seed : int, None, numpy.random.Generator or numpy.random.RandomState, default 0
        Seed of every random draw; same seed, same scores, to the bit. As scikit-learn's
        ``random_state``: ``None`` draws a fresh seed and a ``Generator`` or ``RandomState``
        draws one from itself. The seed used is ``ScoreTerms.seed`` (``return_terms=True``);
        the plain scores carry no seed, so ask for the terms to repeat a run with a drawn seed.
        A ``checkpoint`` needs a seed that a rerun can give again, so not ``None``.
    max_block : int, optional
        Most rows in one block. Default: as large as half the available memory allows, up to
        2048 (the guide's "Scale and memory" has the measurements behind it).
    n_jobs : int, optional
        Threads for the arithmetic. Default (None or -1): every CPU this process (or, with
        ``client``, each worker) may run on. Without ``client``, up to one block per thread
        runs at once, each on its share of the threads, as memory allows; with ``client``,
        each task is one block on ``n_jobs`` threads. Neither changes a bit of the scores.
        More than 4 threads per available CPU run on 4 per CPU, with a ``CgfastWarning``.

        Without ``client``, a run whose many blocks would rebuild the same kernel entries
        many times over keeps the ``n x n`` kernel (the half on and right of its diagonal:
        about ``2 n²`` bytes in single precision, ``4 n²`` in double) in memory, if it fits in
        half of what this process may use, and copies each block's out of it: the same scores
        to the bit, in less time (the user guide's "Scale and memory").
    progress : bool or callable, default False
        ``True`` shows one progress bar on stderr (a widget in a notebook) for the whole run:
        every round of ``repeats="auto"`` and, with ``suggest``, the suggestion pass, with the
        phase beside it and the estimated time left. It counts the blocks' arithmetic (flops;
        a kernel kept in memory counts once, and its blocks count their factorisation), so
        the percentage is of the run's work; its total is an estimate while "auto" has rounds
        to come, and the bar never goes back and ends at 100%. A callable instead receives
        the same figures after every change, as one argument with attributes ``done``,
        ``total`` (flops; ``total`` is the current estimate), ``fraction`` (in [0, 1], never
        decreasing, exactly 1.0 at the last call, where ``done == total``), ``phase`` (such as
        ``"scoring, round 2 (repeats 5-13)"`` or ``"suggesting labels"``), ``elapsed`` and
        ``remaining`` (seconds; ``remaining`` is None until 1% of the work is done); ``str()``
        of it is the bar's line, so ``progress=print`` prints one line per finished block.
        What the callable returns is ignored, and what it raises stops the run.
    return_terms : bool, default False
        Return a :class:`ScoreTerms` (``score``, ``a2``, ``ab``, ``b2``, and the run's
        ``stability``, ``repeats`` and ``seed``) instead of the scores.
    suggest : bool, default False
        Also suggest a label for every example (:func:`cgfast.suggest_labels`, with this call's
        ``max_block``, ``seed``, ``precision``, threads, checkpoint and cluster) and return a
        :class:`ScoreTerms` (as ``return_terms=True``) carrying ``suggested_label`` and
        ``label_quality``. When the run keeps the kernel in memory, the suggestion blocks copy
        their H out of it.
    sampler : {"cover", "independent"}, default "cover"
        How negatives are drawn: ``"cover"`` spreads each class's pool of other-class examples
        evenly over repeats and chunks; ``"independent"`` draws every block afresh (the only
        sampler of release 0.1.0, whose scores it reproduces).
    stability : float, default 0.95
        Target of ``repeats="auto"``: the Spearman correlation expected between this ranking
        and that of a run with another seed, as estimated from the repeats themselves. The
        estimate runs slightly high (by about 0.005 near 0.95 on Fashion-MNIST, more where the
        ranking is noisy), so ask 0.955 where 0.95 must hold.
    max_repeats : int, default 32
        Most repeats ``repeats="auto"`` runs; reaching it below the target warns
        (:class:`cgfast.StabilityWarning`).
    precision : {"single", "double"}, default "single"
        ``"single"`` builds each block's kernel (Gram and arc-cosine transform) and factorises
        it in float32, at about twice float64's rate and half its memory; the ranking is
        float64's (Spearman ≥ 0.9999 and the same flagged examples on every benchmark set) and
        a score differs from float64's by about 1e-4 of the largest. A block float32 cannot
        factorise (near-duplicate rows) is scored in float64
        (:class:`cgfast.PrecisionWarning`). ``"double"`` is float64 throughout: the exact
        reference. ``"mixed"`` (0.2.0) is retired and runs ``"single"``.
    checkpoint : path, optional
        Directory where each finished block is written; a rerun with the same arguments and data
        skips them and returns identical scores.
    client : dask.distributed.Client, optional
        Run one task per block on this Dask cluster; X must then be a path (or Zarr array) that
        every worker can read, or a dask array.
    task : {"classification", "regression"}, default "classification"
        What y is; never guessed from its dtype. ``"regression"``: y is a real-valued target
        (n finite numbers, not all equal), standardised by its own mean and std. Each repeat
        deals all rows at random into near-equal blocks of at most ``max_block`` rows, every
        row is scored once per repeat against the others of its block (``CG(i) = α_i² /
        G_ii``, ``α = G y``, the standardised y), and the scores are averaged over repeats.
        ``max_block`` defaults to half of the rows, at most 512 (measured: the averaged
        residuals find corrupted targets better than one block of all rows, in less time);
        one block of all rows (n ≤ ``max_block``) is exact and takes one repeat. ``ratio``,
        ``sampler`` and ``suggest`` concern classes and are refused.
        ``ScoreTerms.residual`` is each row's leave-one-out residual ``y_i − f_i`` in y's
        units; :func:`cgfast.find_target_issues` flags the rows whose target looks wrong.

    Returns
    -------
    numpy.ndarray of shape (n,), float64, or ScoreTerms
        High = irregular, hard, likely mislabelled. Where a *data value* is wanted, low meaning
        harmful and high meaning helpful (the convention of data-valuation frameworks), the
        value of an example is ``-score``.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); y = (X[:, 0] > 0).astype(int)
    >>> y[:3] = 1 - y[:3]                       # three flipped labels
    >>> s = cgfast.score(X, y)
    >>> s.shape
    (60,)
    >>> t = X[:, 0] * 3 + X[:, 1]; t[5] += 20          # a corrupted real-valued target
    >>> r = cgfast.score(X, t, task="regression")
    >>> int(np.argmax(r))
    5
    """
    _check_resumable(seed, checkpoint)
    progress = check_progress(progress)
    return_terms = check_flag("return_terms", return_terms)
    suggest = check_flag("suggest", suggest)
    options = Options.pick(locals())
    if suggest and options.task == "regression":
        raise ValueError(
            "suggest=True suggests class labels; task='regression' has none (the residual of "
            "every row is in the terms: return_terms=True)"
        )
    executor: Any = LocalExecutor()
    if client is not None:
        from ._dask import DaskExecutor, check_cluster_input

        X, executor = check_cluster_input(X), DaskExecutor(client)
    run = prepare(X, y, options, fingerprint=checkpoint is not None)
    terms = score_run(run, executor, checkpoint=checkpoint, progress=progress, suggest=suggest)
    return terms if return_terms or suggest else terms.score


def _check_resumable(seed: object, checkpoint: object) -> None:
    if seed is None and checkpoint is not None:
        raise ValueError(
            "seed=None draws a new seed on every call, so a rerun could never resume the "
            "checkpoint: pass an int seed"
        )


def suggest_labels(
    X: Any,
    y: Any,
    *,
    repeats: int = DEFAULT_REPEATS,
    seed: Any = 0,
    max_block: int | None = None,
    n_jobs: int | None = None,
    progress: ProgressOption = False,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    precision: str = "single",
) -> LabelSuggestions:
    """A suggested label and a label-quality score for every example, without training a model.

    The score's own kernel regressor (arc-cosine kernel, one-vs-rest targets) is fitted to
    chunks of at most ``max_block`` rows, each holding every class in proportion, and predicts
    the rows of other chunks: every example gets ``repeats`` predictions from regressors that
    never saw it, averaged. When one chunk holds every example, each is predicted leave-one-out
    by kernel ridge regression, the ridge the one of ten whose predictions are closest to the
    targets (``LabelSuggestions.ridge``; the user guide's "Label review"). The suggestion is the
    class predicted highest and ``label_quality`` the estimated probability of the given label
    (low = likely wrong).
    Use it with :func:`cgfast.find_label_issues`: a flagged example whose suggestion is its own
    label is irregular rather than mislabelled.

    Parameters
    ----------
    X : array-like of shape (n, ...), np.memmap, Zarr array, or path
        The examples, as for :func:`cgfast.score`.
    y : sequence of n hashable labels
        The given (possibly noisy) labels.
    repeats : int, default 9
        Predictions averaged for each example (one when a single block holds every example).
        A chunk's regressor predicts at most 9 other chunks; more, or more than the other
        chunks there are, take further random partitions.
    seed : int, None, numpy.random.Generator or numpy.random.RandomState, default 0
        Seed of the block plan; same seed, same suggestions, to the bit. As for
        :func:`cgfast.score`: ``None`` draws a fresh seed, so it cannot go with a ``checkpoint``.
    max_block : int, optional
        Most rows a regressor is fitted to (default as for :func:`cgfast.score`).
    n_jobs, progress, checkpoint, client
        As for :func:`cgfast.score`; the progress (bar or callable) covers the suggestion
        blocks, in the phase ``"suggesting labels"``.
    precision : {"single", "double"}, default "single"
        As for :func:`cgfast.score`: ``"single"`` factorises each block in float32, at about
        twice float64's rate; a prediction differs from float64's by at most about 3e-4 of the
        largest (on 10,000 Fashion-MNIST images with 20% of the labels flipped, the suggested
        labels and :func:`cgfast.find_label_issues` flags were float64's on every row). A block
        float32 cannot factorise is predicted in float64 (:class:`cgfast.PrecisionWarning`).
        ``"double"`` is float64 throughout.

    Returns
    -------
    LabelSuggestions
        ``suggested_label`` (labels' type), ``label_quality`` (float64 in [0, 1]),
        ``probabilities`` (n, C) and ``classes``.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = np.where(X[:, 0] > 0, "right", "left")
    >>> y[[3, 7]] = np.where(y[[3, 7]] == "left", "right", "left")   # two flipped labels
    >>> s = cgfast.suggest_labels(X, y)
    >>> bool((s.suggested_label[[3, 7]] != y[[3, 7]]).all())
    True
    >>> float(s.label_quality[[3, 7]].max()) < 0.5
    True
    """
    _check_resumable(seed, checkpoint)
    progress = check_progress(progress)
    options = Options(seed=seed, max_block=max_block, n_jobs=n_jobs, repeats=1, precision=precision)
    executor: Any = LocalExecutor()
    if client is not None:
        from ._dask import DaskExecutor, check_cluster_input

        X, executor = check_cluster_input(X), DaskExecutor(client)
    run = prepare_suggestions(X, y, options, repeats, fingerprint=checkpoint is not None)
    return run_suggestions(run, executor, checkpoint=checkpoint, progress=progress)


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
