"""The scoring run: validated options, the block plan, the rows, and a loop over blocks.

A run is prepared once (:func:`prepare`: every check, no heavy arithmetic), its blocks become
:class:`BlockTask` objects, and an *executor* runs them and yields ``(index, result)`` in any
order: :class:`LocalExecutor` here, ``DaskExecutor`` in ``_dask``; a job array runs a share of
the indices locally. A task writes its own result to the checkpoint, wherever it runs, so saving
happens in one place. :func:`assemble` adds the results up in plan order, so every executor gives
the same scores to the bit.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import numpy as np

from . import _native
from ._data import Rows, check_rows, new_fingerprint, open_rows
from ._errors import InternalError, PrecisionWarning, RidgeWarning, StabilityWarning
from ._labels import encode_labels, warn_single_examples
from ._lock import hold
from ._memory import (
    DEFAULT_FRACTION,
    available_bytes,
    block_bytes,
    check_fits,
    check_repeats_fit,
    default_max_block,
    kernel_fits,
)
from ._progress import ProgressOption, Tracker, tracker_of
from ._targets import Targets, standardise
from ._threads import resolve_threads
from .checkpoint import BlockResult, Checkpoint
from .options import Options, check_count
from .plan import PLAN_VERSION, Block, Plan, TargetPlan
from .stability import advice_at_cap, repeats_for, split_half
from .suggest import (
    DEFAULT_REPEATS,
    MAX_PREDICTED,
    RIDGES,
    SUGGEST_PLAN_VERSION,
    LabelSuggestions,
    checkpoint_dir,
    choose_ridge,
    plan_suggestions,
    predictions,
    suggestions,
    targets,
)


@dataclass(frozen=True)
class ScoreTerms:
    """CG scores with the three terms of the authors' ``sub_term`` output, and their stability.

    ``score == a2 + 2 * ab + b2``, elementwise, each averaged over ``repeats``. ``stability``
    estimates the Spearman correlation between this ranking and that of another run with
    another seed (see :mod:`cgfast.stability`); None with a single repeat.
    """

    score: np.ndarray
    a2: np.ndarray
    ab: np.ndarray
    b2: np.ndarray
    stability: float | None = None
    repeats: int | None = None
    # With suggest=True: the suggested label of every example and the probability of its given
    # label (see cgfast.suggest_labels); None otherwise.
    suggested_label: np.ndarray | None = None
    label_quality: np.ndarray | None = None
    # With suggest=True: everything the suggestion pass found, the noise analysis included.
    suggestions: LabelSuggestions | None = None
    # (repeats, stability) after each round the run took, in order.
    history: tuple[tuple[int, float | None], ...] = ()
    seed: int | None = None  # the seed the run used (drawn when seed=None was passed)
    # task="regression": each row's leave-one-out residual y_i − f_i in the target's units,
    # averaged over repeats (score, a2, ab and b2 are those of the standardised target).
    residual: np.ndarray | None = None


@dataclass
class Run:
    """A prepared scoring run: resolved options, the rows, the labels' codes, and the plan."""

    options: Options  # max_block resolved
    rows: Rows
    classes: np.ndarray
    codes: np.ndarray
    blocks: Sequence[Block]  # a Plan (made a repeat at a time), or a list
    fingerprint: str | None = None
    # A suggestion run (cgfast.suggest): its blocks hold every class and predict every row.
    predicts: bool = False
    # task="regression": the standardised target; the blocks (a TargetPlan) score every row.
    targets: Targets | None = None
    # Per repeat made so far, the blocks that hold the same rows: index -> the group's indices.
    _groups: dict[int, dict[int, tuple[int, ...]]] = dataclasses.field(default_factory=dict)

    @property
    def per_repeat(self) -> int:
        """Blocks in one repeat; repeat r is blocks ``r * per_repeat`` up to ``(r + 1) * ...``."""
        return len(self.blocks) // self.options.planned_repeats

    def group_of(self, index: int) -> tuple[int, ...]:
        """The blocks of block ``index``'s repeat that hold its rows, it included, in plan order
        (:func:`shared_rows`); empty when it is alone in its rows."""
        if self.predicts or self.targets is not None:
            return ()
        per = self.per_repeat
        repeat = index // per
        if repeat not in self._groups:
            start = repeat * per
            found = shared_rows(self.blocks[start : start + per], per)
            self._groups[repeat] = {
                start + i: tuple(start + j for j in group) for i, group in found.items()
            }
        return self._groups[repeat].get(index, ())

    def work(self, block: Block) -> int:
        """Flops of a block, Gram included: what the progress bar counts."""
        if self.predicts:
            return suggestion_work_of(
                len(block.negatives), len(block.positives), self.rows.d, len(self.classes)
            )
        return block_work(block.size, len(block.positives), self.rows.d)

    def block_bytes(self, block: Block) -> int:
        """Peak bytes of computing ``block`` (:func:`~cgfast._memory.block_bytes`)."""
        d, itemsize = self.rows.d, self.rows.dtype.itemsize
        if self.predicts and len(block.negatives):
            return suggestion_block_bytes(
                len(block.negatives), len(block.positives), d, itemsize, len(self.classes)
            )
        kept = 8 * block.size * block.size if self.predicts else 0  # see predict_block
        return block_bytes(block.size, d, itemsize) + kept

    def manifest(self) -> dict[str, Any]:
        """What identifies this run in a checkpoint directory.

        A suggestion run's arguments are only those its plan depends on, under ``suggest``
        (not ``arguments``, which the scoring runs of every release have).
        """
        arguments = self.options.manifest()
        if self.predicts:
            keep = ("repeats", "seed", "max_block", "precision")
            what = {"suggest": {name: arguments[name] for name in keep}}
            what["suggest"]["plan"] = SUGGEST_PLAN_VERSION
        else:
            # The cover's plan changed after 0.2.0 (plan.PLAN_VERSION); the independent one did not.
            what = {"arguments": arguments}
            if arguments.get("sampler") == "cover":
                what["plan"] = PLAN_VERSION
        data: dict[str, Any] = {
            "n": self.rows.n,
            "d": self.rows.d,
            "dtype": str(np.dtype(self.rows.array.dtype)),
            "fingerprint": self.fingerprint,
        }
        if self.targets is not None:
            # What turns the assembled residuals back into the target's units (parts.assemble).
            data["target"] = {"mean": self.targets.mean, "scale": self.targets.scale}
        return {**what, "data": data, "blocks": len(self.blocks)}


def suggestion_work_of(f: int, q: int, d: int, classes: int, copied: bool = False) -> int:
    """Flops of a suggestion block of ``classes`` targets (rows of ``d`` features), Grams
    included, or with ``copied`` its kernel values copied out of a kept kernel instead
    (:data:`COPY_WORK` each): a block that fits ``f`` rows and predicts ``q`` others builds the
    triangle of its H (f²d) and a q x f rectangle (2qfd), factorises (f³/3), solves
    (2f²·classes) and multiplies (2qf·classes); with ``f`` 0, a leave-one-out block of ``q``
    rows builds its triangle (q²d) once and, for each ridge it tries
    (:data:`~cgfast.suggest.RIDGES`), copies it and does 2q³/3 flops."""
    if not f:
        built = 0 if copied else d * q**2
        return built + len(RIDGES) * (COPY_WORK * q**2 + (2 * q**3) // 3)
    grams = COPY_WORK * f * (f + q) if copied else d * f * (f + 2 * q)
    return grams + f**3 // 3 + 2 * f * (f + q) * classes


def suggestion_block_bytes(fitted: int, predicted: int, d: int, itemsize: int, classes: int) -> int:
    """Peak bytes of a suggestion block that fits ``fitted`` rows and predicts ``predicted``:
    the fit's working set (:func:`~cgfast._memory.block_bytes`), the predicted rows (gathered
    and normalised), a pass of the product (``CROSS_ROWS`` rows of kernel values; counted at
    16 bytes a value, more than the 4 or 8 they take since the product reads them in their own
    precision) and the predictions."""
    rows = (8 + itemsize) * predicted * d
    return block_bytes(fitted, d, itemsize) + rows + 16 * 1024 * fitted + 8 * predicted * classes


def block_work(size: int, positives: int, d: int) -> int:
    """Flops of a block of ``size`` rows of ``d`` features, ``positives`` of them scored: its
    Gram ``size² d`` and :attr:`Block.flops`."""
    return size**2 * d + (size**3 + positives**3) // 3


# What the progress bar counts, in flops' worth, for each entry of a block's H copied out of a
# kept kernel (100 an entry of the half it copies), and for each entry of the kernel besides its
# Gram (its transform and first touch of memory): the estimates behind KERNEL_MARGIN.
COPY_WORK = 50
KERNEL_ENTRY_WORK = 100


def block_weight(run: Run, index: int, kernel_rows: Any = None) -> int:
    """The work of block ``index`` of ``run`` as the progress bar counts it: its flops
    (:meth:`Run.work`), or, where it copies its H out of the kernel the executor keeps for
    ``kernel_rows``, its factorisation and the copy."""
    block = run.blocks[index]
    if run.predicts:
        copied = kernel_rows is run.rows and KERNEL_DTYPES.get(run.options.precision) is not None
        f, q = len(block.negatives), len(block.positives)
        return suggestion_work_of(f, q, run.rows.d, len(run.classes), copied)
    if (
        kernel_rows is not None
        and kernel_rows is run.rows
        and run.targets is None
        and KERNEL_DTYPES.get(run.options.precision) is not None
        and not run.group_of(index)
    ):
        return block.flops + COPY_WORK * block.size**2
    return run.work(block)


def kernel_work(run: Run) -> int:
    """The work of the whole kernel of ``run``'s rows as the progress bar counts it."""
    n, d = run.rows.n, run.rows.d
    return n * n * (d + KERNEL_ENTRY_WORK)


def prepare(X: Any, y: Any, options: Options, *, fingerprint: bool = False) -> Run:
    """Reads and checks the data and plans the blocks; no heavy arithmetic.

    With ``fingerprint=True`` the one pass over X that validates it also hashes it, for a
    checkpoint to recognise its data. ``options.task`` says what y is: class labels, or a
    real-valued target (:func:`prepare_targets`).
    """
    if options.task == "regression":
        return prepare_targets(X, y, options, fingerprint=fingerprint)
    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    warn_single_examples(classes, codes, stacklevel=3)
    itemsize = rows.dtype.itemsize
    if options.max_block is None:
        options = options.replace(max_block=default_max_block(rows.d, itemsize))
    blocks = Plan(
        codes,
        ratio=options.ratio,
        repeats=options.planned_repeats,
        max_block=options.max_block,
        seed=options.seed,
        sampler=options.sampler,
    )
    if options.auto and _draws_nothing(blocks.repeat(0), codes):
        # Every class is one block holding all of its pool: every repeat is the same block,
        # the score is exact, and one repeat is all "auto" needs.
        options = options.replace(repeats=1)
        blocks = blocks.first(1)
    # Every repeat cuts the classes into the same chunks with as many negatives: repeat 0's
    # blocks have the sizes of all.
    largest = max(blocks.repeat(0), key=lambda b: b.size)
    check_fits(largest.size, len(largest.positives), rows.d, itemsize)
    repeats_name = "max_repeats" if options.auto else "repeats"
    check_repeats_fit(repeats_name, blocks.repeats, rows.n, blocks.per)
    digest = new_fingerprint(rows, codes) if fingerprint else None
    check_rows(rows, digest)
    fingerprint_hex = digest.hexdigest() if digest else None
    return Run(options, rows, classes, codes, blocks, fingerprint_hex)


# What a regression run keeps of every repeat per example: five float64 terms (the residual
# besides the four of a class block) and the row index, as _memory.REPEAT_BYTES_PER_ROW counts.
TARGET_BYTES_PER_ROW = 56
# The regression plan's largest block by default: half of the rows, at most this many (and what
# memory allows). Measured by `benches/regression.py --choices` (4 data sets, 3 corruptions, 2
# seeds): the leave-one-out residuals averaged over such blocks rank the corrupted targets at a
# mean AP of 0.649, against 0.601 for one block of all rows, in about half the time; most on
# concrete (0.657 against 0.574), whose duplicate rows explain each other away in one block.
TARGET_BLOCK = 512


def prepare_targets(X: Any, y: Any, options: Options, *, fingerprint: bool = False) -> Run:
    """:func:`prepare` for a real-valued target: y checked and standardised
    (:mod:`cgfast._targets`), the blocks of a :class:`~cgfast.plan.TargetPlan`."""
    rows = open_rows(X)
    targets = standardise(y, rows.n)
    itemsize = rows.dtype.itemsize
    if options.max_block is None:
        half = max(2, -(-rows.n // 2))
        largest = min(default_max_block(rows.d, itemsize), TARGET_BLOCK, half)
        options = options.replace(max_block=largest)
    blocks = TargetPlan(
        rows.n, repeats=options.planned_repeats, max_block=options.max_block, seed=options.seed
    )
    if blocks.repeats == 1 and options.planned_repeats > 1:
        # One block holds every row: every repeat is that block, and the score is exact.
        options = options.replace(repeats=1)
    largest = max(block.size for block in blocks.repeat(0))
    check_fits(largest, largest, rows.d, itemsize)
    repeats_name = "max_repeats" if options.auto else "repeats"
    check_repeats_fit(repeats_name, blocks.repeats, rows.n, blocks.per, TARGET_BYTES_PER_ROW)
    digest = None
    if fingerprint:
        digest = new_fingerprint(rows, np.empty(0, dtype=np.int64))
        digest.update(b"regression")
        digest.update(np.ascontiguousarray(targets.values).tobytes())
        digest.update(np.array([targets.mean, targets.scale]).tobytes())
    check_rows(rows, digest)
    fingerprint_hex = digest.hexdigest() if digest else None
    none = np.empty(0, dtype=np.intp)
    return Run(options, rows, none, none, blocks, fingerprint_hex, targets=targets)


def suggestion_run(run: Run, repeats: int) -> Run:
    """The run that suggests labels for the examples of the prepared ``run`` (its rows, labels,
    ``max_block`` and seed): the blocks of :func:`cgfast.suggest.plan_suggestions`."""
    repeats = check_count("repeats", repeats, 1)
    # A suggestion repeat keeps a float64 prediction of every class for every example; a plan
    # of one block a repeat has one repeat, whatever is asked.
    per = -(-run.rows.n // int(run.options.max_block or run.rows.n))
    if per > 1:
        check_repeats_fit("repeats", repeats, run.rows.n, per, 8 * len(run.classes) + 8)
    blocks = plan_suggestions(
        run.codes, repeats=repeats, max_block=run.options.max_block, seed=run.options.seed
    )
    # The blocks are factorised in the scoring run's precision: a "single" scoring run's kernel
    # serves its suggestion blocks too.
    options = run.options.replace(repeats=blocks[-1].repeat + 1)
    out = Run(options, run.rows, run.classes, run.codes, blocks, run.fingerprint, predicts=True)
    largest = max(blocks, key=out.block_bytes)
    fitted = len(largest.negatives) or largest.size
    need = out.block_bytes(largest)
    check_fits(fitted, fitted, run.rows.d, run.rows.dtype.itemsize, need=need)
    return out


def suggestion_work(run: Run, repeats: int, kernel_rows: Any = None) -> int:
    """The work (:func:`block_weight`) of the blocks of ``suggestion_run(run, repeats)``,
    without planning them: what the progress total expects of the suggestion pass."""
    n = run.rows.n
    per = -(-n // int(run.options.max_block or n))
    copied = kernel_rows is run.rows and KERNEL_DTYPES.get(run.options.precision) is not None
    d, classes = run.rows.d, len(run.classes)
    if per == 1:
        return suggestion_work_of(0, n, d, classes, copied)
    # plan_suggestions deals the examples in turn into `per` chunks: chunk c holds rows c, c+per...
    sizes = [-(-(n - chunk) // per) for chunk in range(per)]
    each = min(per - 1, repeats, MAX_PREDICTED)
    total, left = 0, repeats
    while left > 0:
        q = min(each, left)
        for c in range(per):
            predicted = sum(sizes[(c + j) % per] for j in range(1, q + 1))
            total += suggestion_work_of(sizes[c], predicted, d, classes, copied)
        left -= q
    return total


def prepare_suggestions(
    X: Any, y: Any, options: Options, repeats: int, *, fingerprint: bool = False
) -> Run:
    """Reads and checks the data and plans the suggestion blocks; no heavy arithmetic."""
    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    if options.max_block is None:
        options = options.replace(max_block=default_max_block(rows.d, rows.dtype.itemsize))
    run = suggestion_run(Run(options, rows, classes, codes, []), repeats)
    digest = new_fingerprint(rows, codes) if fingerprint else None
    check_rows(rows, digest)
    return dataclasses.replace(run, fingerprint=digest.hexdigest() if digest else None)


def run_suggestions(
    run: Run,
    executor: Executor,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressOption | Tracker = False,
) -> LabelSuggestions:
    """Predicts every row of the suggestion ``run`` and turns the predictions into suggestions.

    With ``checkpoint`` (the scoring run's directory), the blocks are kept in its
    ``suggestions`` subdirectory; the run holds the directory's lock meanwhile. ``progress``:
    as for :func:`execute` (a scoring run passes its :class:`~cgfast._progress.Tracker`).
    """
    with hold(checkpoint) if checkpoint is not None else nullcontext():
        results = execute(
            run,
            executor,
            checkpoint=checkpoint_dir(checkpoint),
            progress=progress,
            phase=SUGGESTING,
            part="suggesting",
        )
    warn_ridges(results, stacklevel=4)
    fallbacks = sum(r is not None and r.fallback for r in results)
    if fallbacks:
        warnings.warn(
            f"{fallbacks} of {len(results)} suggestion block(s) could not be factorised in "
            "float32 (near-duplicate rows or pivots below what float32 resolves) and were "
            "predicted in float64, as precision='double' predicts them, only slower",
            PrecisionWarning,
            stacklevel=4,
        )
    predicted, count = predictions(results, run.rows.n, len(run.classes))
    ridge = max(r.shift for r in results if r is not None)
    return suggestions(predicted, run.classes, run.codes, count, ridge)


def shared_rows(blocks: Sequence[Block], per: int) -> dict[int, tuple[int, ...]]:
    """Groups of blocks of one repeat that hold the same rows: ``{index: group}``, each group the
    indices of its blocks in plan order; blocks alone in their rows are left out.

    Two classes at ratio 1 with equal counts, and ``ratio="all"``, make such groups: every class's
    block is all of X. A group is factorised once and its blocks' labellings solved together. A
    pure function of the plan, so every executor forms the same groups.
    """
    groups: dict[int, tuple[int, ...]] = {}
    for start in range(0, len(blocks), per):
        candidates: dict[tuple[int, int, int], list[int]] = {}
        for i in range(start, min(start + per, len(blocks))):
            rows = blocks[i].rows.astype(np.int64)
            key = (len(rows), int(rows.sum()), int((rows * rows).sum()))
            candidates.setdefault(key, []).append(i)
        for same_key in candidates.values():
            while len(same_key) > 1:
                lead = np.sort(blocks[same_key[0]].rows)
                members = [i for i in same_key if np.array_equal(np.sort(blocks[i].rows), lead)]
                if len(members) > 1:
                    groups.update(dict.fromkeys(members, tuple(members)))
                same_key = [i for i in same_key if i not in members]
    return groups


def score_group(
    source: Rows | np.ndarray,
    own: Block,
    group: Sequence[Block],
    threads: int,
    precision: str = "double",
) -> list[BlockResult]:
    """Scores every block of ``group`` (the same rows, other labels) from one factorisation.

    ``source`` is X as :class:`Rows`, or the rows of ``own`` (a member) gathered in its order.
    The rows are factorised in the order of the group's first block, so every member, wherever
    it is computed, gets the same bits.
    """
    lead = group[0].rows
    if isinstance(source, Rows):
        x = source.take(lead)
    else:
        x = np.asarray(source)[_positions(own.rows, lead)]
    labels = np.full((len(lead), len(group)), -1.0)
    for j, member in enumerate(group):
        labels[_positions(lead, member.positives), j] = 1.0
    out = _native.score_labels(x, labels, threads, precision)
    return [
        BlockResult(
            m.positives, out.terms[j][:, _positions(lead, m.positives)], out.ridge, out.fallback
        )
        for j, m in enumerate(group)
    ]


def _positions(order: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` sits in ``order`` (which holds each of them once)."""
    sorter = np.argsort(order, kind="stable")
    return sorter[np.searchsorted(order, wanted, sorter=sorter)]


def _draws_nothing(first_repeat: list[Block], codes: np.ndarray) -> bool:
    """Whether a repeat of the plan involves no random draw (so every repeat is the same)."""
    counts = np.bincount(codes)
    labels = [block.label for block in first_repeat]
    return len(set(labels)) == len(labels) and all(
        len(block.negatives) == len(codes) - counts[block.label] for block in first_repeat
    )


def predict_block(
    source: Rows | np.ndarray,
    block: Block,
    codes: np.ndarray,
    classes: int,
    threads: int,
    precision: str = "double",
    kernel: np.ndarray | None = None,
) -> BlockResult:
    """Predictions of the suggestion ``block``'s predicted rows (``positives``) for each of
    ``classes`` one-vs-rest targets, ``codes`` the classes of its rows in block order: ``terms``
    is (classes, len(positives)).

    The regressor is fitted to the block's ``negatives`` and predicts its ``positives``. A block
    without negatives (all of X in one block) predicts its rows leave-one-out, once for each
    kernel ridge of :data:`~cgfast.suggest.RIDGES`, and keeps the predictions closest to the
    targets (:func:`~cgfast.suggest.choose_ridge`; its ``shift``); without ``kernel`` it builds
    its own once, for all the ridges. H is
    factorised in ``precision``. ``source`` is X as :class:`Rows`, or the block's rows gathered
    in its order; with ``kernel`` (the H of X in the block's precision, :data:`KERNEL_DTYPES`)
    every kernel value is copied out of it: the same bits. A fit float32 cannot factorise is
    done from the rows in float64, as a "single" block without the kernel falls back.
    """
    fitted = len(block.negatives) or None
    y = targets(codes[: fitted or len(codes)], classes)
    # A prediction's kernel values are copied only out of a kernel of MIN_CROSS_KERNEL rows or
    # more: below, faer may sum a tiny kernel's entries in another order (src/block.rs).
    if kernel is not None and fitted is not None and len(kernel) < MIN_CROSS_KERNEL:
        kernel = None
    if kernel is not None and KERNEL_DTYPES.get(precision) != kernel.dtype:
        raise InternalError(f"a {kernel.dtype} kernel was passed to a {precision!r} block")
    x = None

    def rows() -> np.ndarray:
        """The block's rows, gathered once, when first needed."""
        nonlocal x
        if x is None:
            x = source.take(block.rows) if isinstance(source, Rows) else np.asarray(source)
        return x

    index = block.rows
    if fitted is None and kernel is None:
        # All of X in one block, predicted once per ridge: its kernel is built once, in the
        # block's precision, and every ridge copies it (the bits predict would build).
        kernel = _native.gram(rows(), threads, whole=False, precision=precision)
        index = np.arange(len(block.rows), dtype=np.int64)

    def predicted(shift: float) -> _native.PredictOutput:
        out = None
        if kernel is not None:
            out = _native.predict_cached(kernel, index, y, threads, fitted, shift)
        if out is None:
            # Without the kernel in hand, or with one float32 could not factorise the block from.
            out = _native.predict(
                rows(), y, threads, "double" if kernel is not None else precision, fitted, shift
            )
            out = dataclasses.replace(out, fallback=out.fallback or kernel is not None)
        return out

    if fitted is not None:
        out = predicted(0.0)
        return BlockResult(block.positives, out.predictions.T, out.ridge, out.fallback)
    shift, out = choose_ridge(
        ((shift, predicted(shift)) for shift in RIDGES), codes, lambda c: c[1].predictions
    )
    return BlockResult(block.positives, out.predictions.T, out.ridge, out.fallback, shift)


# The fewest rows of a kernel that a suggestion block copies its predictions' values from.
MIN_CROSS_KERNEL = 32


def score_block(
    rows: Rows, block: Block, threads: int, precision: str, kernel: np.ndarray | None = None
) -> BlockResult:
    """Gathers the rows of ``block`` (negatives first, positives last) and scores its positives.

    With ``kernel``, the whole H of ``rows`` in the block's precision (:data:`KERNEL_DTYPES`),
    the block's H is copied out of it rather than built: the same bits, without the block's
    Gram. A block float32 cannot factorise is scored from its rows in float64, as a "single"
    block without the kernel falls back.
    """
    n_pos = len(block.positives)
    if kernel is not None:
        if KERNEL_DTYPES.get(precision) != kernel.dtype:
            raise InternalError(f"a {kernel.dtype} kernel was passed to a {precision!r} block")
        out = _native.score_cached(kernel, block.rows, n_pos, threads)
        if out is None:
            out = _native.score_block(rows.take(block.rows), n_pos, threads, "double")
            out = dataclasses.replace(out, fallback=True)
    else:
        out = _native.score_block(rows.take(block.rows), n_pos, threads, precision)
    return BlockResult(block.positives, out.terms, out.ridge, out.fallback)


def target_block(
    source: Rows | np.ndarray, block: Block, targets: np.ndarray, threads: int, precision: str
) -> BlockResult:
    """Scores every row of the regression ``block`` for its standardised ``targets`` (in block
    order): ``terms`` is (5, k), the score, a2, ab, b2 and the leave-one-out residual.

    ``source`` is X as :class:`Rows`, or the block's rows gathered in its order.
    """
    x = source.take(block.rows) if isinstance(source, Rows) else np.asarray(source)
    out = _native.score_targets(x, targets[:, None], threads, precision)
    return BlockResult(block.positives, out.terms[0], out.ridge, out.fallback)


# The kernel cache's element type for each precision that can use one.
KERNEL_DTYPES = {"single": np.dtype(np.float32), "double": np.dtype(np.float64)}


@dataclass(frozen=True)
class BlockTask:
    """Block ``index`` of a run, ready to score anywhere: in this process or on a worker.

    ``group`` lists the blocks (``group_indices``, in plan order, this one included) that hold
    the same rows in the same repeat; they are scored together from one factorisation.
    """

    index: int
    block: Block
    precision: str
    n_jobs: int | None
    store: Checkpoint | None
    group: tuple[Block, ...] = ()
    group_indices: tuple[int, ...] = ()
    # A suggestion block: the class codes of its rows, and how many classes there are.
    codes: np.ndarray | None = None
    classes: int = 0
    # A regression block: the standardised targets of its rows, in block order.
    targets: np.ndarray | None = None

    def __call__(self, source: Rows | np.ndarray, kernel: np.ndarray | None = None) -> BlockResult:
        """Scores the block and, with a checkpoint, writes it there before returning it.

        ``source`` is X as :class:`Rows`, or the block's own rows already gathered in block
        order (how a Dask worker receives a slice of a dask array). ``kernel``: the whole H of
        ``source`` (:class:`LocalExecutor` keeps one when it pays), which gives the same bits.
        """
        return self.finish(self.compute(source, kernel)[self.index])

    def compute(
        self,
        source: Rows | np.ndarray,
        kernel: np.ndarray | None = None,
        threads: int | None = None,
    ) -> dict[int, BlockResult]:
        """The results of this block and of the others of its group, by index; saves nothing.

        ``threads`` overrides ``n_jobs`` (an executor running blocks side by side splits the
        threads between them); the bits do not depend on it.
        """
        threads = resolve_threads(self.n_jobs) if threads is None else threads
        if self.codes is not None:
            out = predict_block(
                source, self.block, self.codes, self.classes, threads, self.precision, kernel
            )
            return {self.index: out}
        if self.targets is not None:
            out = target_block(source, self.block, self.targets, threads, self.precision)
            return {self.index: out}
        if self.group:
            results = score_group(source, self.block, self.group, threads, self.precision)
            return dict(zip(self.group_indices, results))
        if isinstance(source, Rows):
            rows, local = source, self.block
        else:
            rows = Rows(np.asarray(source))
            split = len(self.block.negatives)
            local = Block(self.block.repeat, self.block.label, self.block.chunk,
                          np.arange(split), np.arange(split, self.block.size))  # fmt: skip
        result = score_block(rows, local, threads, self.precision, kernel)
        return {self.index: dataclasses.replace(result, positives=self.block.positives)}

    def finish(self, result: BlockResult) -> BlockResult:
        """Writes this block's ``result`` to the checkpoint, if there is one, and returns it;
        not when the run this thread works for was dropped (:class:`_Dropped`)."""
        if self.store is not None:
            with _Dropped.of_this_thread() as wanted:
                if wanted:
                    self.store.save(self.index, result, self.block)
        return result


class _Dropped:
    """Whether the caller of the blocks on a :class:`LocalExecutor`'s threads has gone away.

    Ctrl-C does not wait for the blocks running side by side: they finish on their threads. They
    must not then write to the checkpoint, whose lock the run has let go. A block saves under
    the flag's lock and only while the run is not dropped; dropping takes the lock, so that once
    :meth:`drop` returns no save is under way and none will start.
    """

    _local = threading.local()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dropped = False

    def drop(self) -> None:
        with self.lock:
            self.dropped = True

    def run(self, group: Any, *args: Any) -> Any:
        """``group(*args)`` on this thread, its saves watched by this flag."""
        _Dropped._local.flag = self
        try:
            return group(*args)
        finally:
            _Dropped._local.flag = None

    @staticmethod
    @contextmanager
    def of_this_thread() -> Iterator[bool]:
        """Holds the lock of the flag of the run this thread works for, if it has one, around
        the ``with`` body, and gives whether that run still wants its blocks."""
        flag = getattr(_Dropped._local, "flag", None)
        if flag is None:
            yield True
            return
        with flag.lock:
            yield not flag.dropped


@dataclass(frozen=True)
class TaskGroup:
    """Tasks of blocks that share their rows, run as one: one factorisation, each block saved.

    A block alone in its rows is a group of one. Executors run groups, so that no factorisation
    is done twice; any member alone would give the same bits, only slower.
    """

    tasks: tuple[BlockTask, ...]

    def __call__(
        self,
        source: Rows | np.ndarray,
        kernel: np.ndarray | None = None,
        threads: int | None = None,
    ) -> dict[int, BlockResult]:
        """Scores the group from ``source`` as its first task receives it; results by index."""
        results = self.tasks[0].compute(source, kernel, threads)
        return {task.index: task.finish(results[task.index]) for task in self.tasks}


def task_groups(tasks: Sequence[BlockTask]) -> list[TaskGroup]:
    """``tasks`` gathered by the rows they share, in the order of each group's first task."""
    groups: dict[tuple[int, ...], list[BlockTask]] = {}
    for task in tasks:
        groups.setdefault(task.group_indices or (task.index,), []).append(task)
    return [TaskGroup(tuple(members)) for members in groups.values()]


class Executor(Protocol):
    """Runs block tasks and yields ``(index, result)`` as each finishes, in any order."""

    def __call__(self, run: Run, tasks: Sequence[BlockTask]) -> Iterator[tuple[int, BlockResult]]:
        """Runs ``tasks`` of ``run``."""
        ...


class LocalExecutor:
    """Runs the tasks in this process: several blocks side by side, each on a share of the threads.

    Small blocks use threads poorly (a factorisation of 1500 rows on two threads runs at about
    half of what two blocks on one thread each do), so up to one block per thread runs at once
    (:func:`lanes`), as memory allows; a block's bits do not depend on its thread count, so the
    scores do not either. ``lanes=1`` runs one block at a time on all the threads.

    When the blocks' Grams add up to more than the Gram of all of X and the whole n x n kernel
    fits in memory (:func:`kernel_pays`), it builds that kernel once and copies each block's H
    out of it. An entry of H depends only on its two rows, so the scores are the same to the bit
    (``tests/test_engine.py``); only the time changes. The kernel is kept for later rounds of
    ``repeats="auto"``: ``complete`` calls one executor once per round.
    """

    def __init__(self, cache: bool | None = None, lanes: int | None = None) -> None:
        self.cache = cache  # None: when it pays; True/False: always/never (tests, benchmarks)
        self.lanes = lanes  # None: as many as pay and fit (see lanes()); n: at most n
        self._kernel: tuple[Run, np.ndarray] | None = None

    def kernel(self, run: Run, tasks: Sequence[BlockTask]) -> np.ndarray | None:
        """The kernel of ``run``'s rows (the half right of its diagonal) in the run's precision,
        built now if it pays for ``tasks``; or None."""
        held = self.held(run)
        if held is not None or not self.builds_kernel(run, tasks):
            return held
        self._kernel = None  # a kernel of another precision goes before this one is built
        threads = resolve_threads(run.options.n_jobs)
        precision = run.options.precision
        kernel = _native.gram(run.rows.whole(), threads, whole=False, precision=precision)
        self._kernel = (run, kernel)
        return kernel

    def held(self, run: Run) -> np.ndarray | None:
        """The kernel kept for ``run``'s rows in its precision, if there is one."""
        if run.targets is not None:
            # A regression block factorises every row it holds: it builds its H from its rows.
            return None
        dtype = KERNEL_DTYPES.get(run.options.precision)
        if self._kernel is not None and self._kernel[0].rows is run.rows:
            if self._kernel[1].dtype == dtype:
                return self._kernel[1]  # the suggestion run of a scored one shares its rows
        return None

    def builds_kernel(self, run: Run, tasks: Sequence[BlockTask]) -> bool:
        """Whether :meth:`kernel` would build a kernel now for ``tasks``."""
        if run.targets is not None or self.held(run) is not None:
            return False
        dtype = KERNEL_DTYPES.get(run.options.precision)
        wanted = self.cache if self.cache is not None else kernel_pays(run, tasks)
        return bool(wanted) and dtype is not None and bool(tasks)

    def __call__(self, run: Run, tasks: Sequence[BlockTask]) -> Iterator[tuple[int, BlockResult]]:
        kernel = self.kernel(run, tasks)
        groups = task_groups(tasks)
        threads = resolve_threads(run.options.n_jobs)
        width, share = lanes(run, groups, threads, self.lanes)
        if width <= 1:
            for group in groups:
                yield from group(run.rows, kernel, threads).items()
            return
        pool = ThreadPoolExecutor(width, thread_name_prefix="cgfast-block")
        flag = _Dropped()

        def submit(group: TaskGroup) -> Any:
            return pool.submit(flag.run, group, run.rows, kernel, share)

        try:
            # At most `width` groups in flight: memory holds that many blocks, no more, and a
            # failure or an interrupt leaves nothing queued behind it.
            waiting = iter(groups)
            running = {submit(g) for g in islice(waiting, width)}
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result().items()
                    running |= {submit(g) for g in islice(waiting, 1)}
        except (KeyboardInterrupt, GeneratorExit):
            # Ctrl-C returns at once: the blocks running finish on their threads, unsaved.
            flag.drop()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def lanes(
    run: Run, groups: Sequence[TaskGroup], threads: int, cap: int | None = None
) -> tuple[int, int]:
    """How many groups :class:`LocalExecutor` runs at once, and the threads each one gets.

    One group per thread, fewer when memory holds fewer of the largest block (at the default
    budget, :data:`~cgfast._memory.DEFAULT_FRACTION` of what is available), when there are fewer
    groups, or when ``cap`` says so; the threads are then shared out so that as many as possible
    work (16 threads and 10 groups: 8 lanes of 2).
    """
    if not groups:
        return 1, threads
    per = max(run.block_bytes(run.blocks[task.index]) for group in groups for task in group.tasks)
    room = int(available_bytes() * DEFAULT_FRACTION) // max(per, 1)
    most = max(1, min(threads, len(groups), room, threads if cap is None else cap))
    wide = (most, threads // most)
    even = (threads // -(-threads // most), -(-threads // most))
    return max(wide, even, key=lambda lane: (lane[0] * lane[1], lane[0]))


# How many times the kernel's own cost the blocks' Grams must add up to before it is built. The
# Gram of k rows costs k²d flops and the kernel n²d, but the kernel also pays per entry for its
# transform and its first touch of memory, and each block for copying
# its entries out (about 100 flops' worth per entry): measured on Fashion-MNIST (d = 784) the
# kernel paid off from about twice the blocks' Gram flops.
KERNEL_MARGIN = 2


def kernel_pays(run: Run, tasks: Sequence[BlockTask]) -> bool:
    """Whether building the whole kernel costs clearly less than the Grams it saves, and fits.

    The Grams of the blocks must add up to :data:`KERNEL_MARGIN` times the kernel's cost. With
    ``repeats="auto"`` the rest of the plan counts, not only this round: most runs go on for
    several rounds.
    """
    dtype = KERNEL_DTYPES.get(run.options.precision)
    if dtype is None or not tasks:
        return False
    n, d = run.rows.n, run.rows.d
    if run.predicts:
        return suggestions_pay(run, tasks)
    # Blocks that share their rows build their H once, without the kernel.
    sizes = [task.block.size for task in tasks if not run.group_of(task.index)]
    squares = sum(size**2 for size in sizes)
    if run.options.auto:
        # The rest of the plan from this round on counts; every repeat holds blocks of the same
        # sizes, so the repeats after this one count as many times this one's blocks.
        per, first = run.per_repeat, min(task.index for task in tasks)
        repeat = first // per
        alone = [(i, run.blocks[i].size) for i in range(repeat * per, (repeat + 1) * per)]
        alone = [(i, size) for i, size in alone if not run.group_of(i)]
        sizes = [size for _, size in alone]
        later = run.options.planned_repeats - repeat - 1
        squares = sum(size**2 for i, size in alone if i >= first)
        squares += later * sum(size**2 for size in sizes)
    if not sizes or squares * d < KERNEL_MARGIN * n * n * (d + 100):
        return False
    largest = max(sizes)
    return kernel_fits(n, run.rows.d, run.rows.dtype.itemsize, largest, dtype.itemsize)


def suggestions_pay(run: Run, tasks: Sequence[BlockTask]) -> bool:
    """:func:`kernel_pays` for a suggestion run, whose blocks need rectangles of the kernel.

    In flops' worth of the kernel's triangle: a block that fits ``f`` rows and predicts ``q``
    builds its H's triangle (``f² d``) and a full ``q x f`` rectangle (``2 q f d``); the kernel
    costs ``n² d``, :data:`KERNEL_ENTRY_WORK` an entry of its half, and each block's copy
    :data:`COPY_WORK` an entry. Measured on Fashion-MNIST's 20,000 images and 9 predictions a
    row: at d = 784 the kernel took the pass from 6.7 s to 5.0 s, at d = 50 (a PCA) from 1.7 s
    to 2.4 s; this count says build at the first and not at the second."""
    n, d = run.rows.n, run.rows.d
    if n < MIN_CROSS_KERNEL:
        return False
    fits = [(len(t.block.negatives), len(t.block.positives)) for t in tasks]
    blocks = sum((f * f + 2 * f * q) * d if f else q * q * d for f, q in fits)
    copies = sum((f * f + f * q) if f else q * q for f, q in fits)
    kernel = n * n * d + KERNEL_ENTRY_WORK * n * n // 2 + COPY_WORK * copies
    if blocks <= kernel:
        return False
    largest = max(f or q for f, q in fits)
    dtype = KERNEL_DTYPES[run.options.precision]
    return kernel_fits(n, d, run.rows.dtype.itemsize, largest, dtype.itemsize)


def task_of(run: Run, index: int, store: Checkpoint | None = None) -> BlockTask:
    """The task that scores block ``index`` of ``run``, with the group it shares its rows with."""
    members = run.group_of(index)
    group = tuple(run.blocks[i] for i in members)
    options, block = run.options, run.blocks[index]
    if run.predicts:
        return BlockTask(index, block, options.precision, options.n_jobs, store,
                         codes=run.codes[block.rows], classes=len(run.classes))  # fmt: skip
    if run.targets is not None:
        return BlockTask(index, block, options.precision, options.n_jobs, store,
                         targets=run.targets.values[block.rows])  # fmt: skip
    return BlockTask(index, block, options.precision, options.n_jobs, store,
                     group, members)  # fmt: skip


# The phase of the suggestion pass, as the progress bar and a progress callable see it.
SUGGESTING = "suggesting labels"


def execute(
    run: Run,
    executor: Executor,
    *,
    indices: Sequence[int] | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressOption | Tracker = False,
    phase: str = "scoring",
    part: str = "scoring",
    watch: Callable[[int, BlockResult], None] | None = None,
) -> list[BlockResult | None]:
    """Scores the blocks ``indices`` of ``run`` (default: all), skipping those in ``checkpoint``.

    Returns one entry per block of the plan: its result, or None where it was not asked for.
    ``progress``: False, True (a bar on stderr over these blocks, weighted by their work), a
    callable receiving each :class:`~cgfast._progress.Progress`, or the
    :class:`~cgfast._progress.Tracker` of a longer run, which this call advances (its blocks
    under ``part``, in ``phase``) without finishing it. ``watch(index, result)`` sees every
    result as it comes, those read from the checkpoint first.
    """
    store = Checkpoint.open(checkpoint, run.manifest()) if checkpoint is not None else None
    wanted = range(len(run.blocks)) if indices is None else indices
    results: list[BlockResult | None] = [None] * len(run.blocks)
    tracker, own = tracker_of(progress)
    with tracker if own else nullcontext(tracker):
        if store is not None:
            for i in wanted:
                results[i] = store.load(i, run.blocks[i])
        todo = [i for i in wanted if results[i] is None]
        tasks = [task_of(run, i, store) for i in todo]
        finished: set[int] = set()
        if tracker.active:
            tracker.expect(part, lambda: sum(
                block_weight(run, i, tracker.kernel_rows) for i in wanted if i not in finished
            ))  # fmt: skip
            weigh_kernel(run, executor, tasks, tracker, phase)
        tracker.phase(phase)
        for i in wanted:
            loaded = results[i]
            if loaded is not None:
                finished.add(i)
                tracker.advance(part, block_weight(run, i, tracker.kernel_rows), computed=False)
                if watch is not None:
                    watch(i, loaded)
        for i, result in executor(run, tasks):
            results[i] = result
            finished.add(i)
            tracker.advance(part, block_weight(run, i, tracker.kernel_rows))
            if watch is not None:
                watch(i, result)
        if own:
            tracker.finish()
    return results


def weigh_kernel(
    run: Run, executor: Executor, tasks: Sequence[BlockTask], tracker: Tracker, phase: str
) -> None:
    """Tells ``tracker`` whether the blocks of ``run`` copy their H out of a kept kernel, and
    builds that kernel now (in the phase ``phase, building the kernel``), where the executor
    would build it first thing, so that the bar counts it."""
    local = executor if isinstance(executor, LocalExecutor) else None
    builds = local is not None and local.builds_kernel(run, tasks)
    kept = local is not None and (builds or local.held(run) is not None)
    # The blocks' weights change before any of them is counted, and before the kernel is.
    if tracker.kernel_rows is not (run.rows if kept else None):
        tracker.kernel_rows = run.rows if kept else None
        tracker.reweigh()
    if local is not None and builds:
        work = kernel_work(run)
        tracker.expect("kernel", work)
        tracker.phase(f"{phase}, building the kernel")
        local.kernel(run, tasks)
        tracker.advance("kernel", work)


def halves(
    results: Sequence[BlockResult | None], repeats: int, n: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """The score summed over the even and over the odd repeats, and how many each half holds."""
    per_repeat = len(results) // repeats
    sums = np.zeros((2, n))
    for index, result in enumerate(results):
        assert result is not None
        sums[(index // per_repeat) % 2, result.positives] += result.terms[0]
    return sums, ((repeats + 1) // 2, repeats // 2)


def assemble(
    results: Sequence[BlockResult | None],
    n: int,
    repeats: int,
    return_terms: bool,
    *,
    scale: float | None = None,
) -> np.ndarray | ScoreTerms:
    """Averages block results over repeats, adding them in plan order so any executor agrees.

    ``results`` are the blocks of the first ``repeats`` repeats, in plan order. A regression
    run's blocks carry a fifth term, the leave-one-out residual of the standardised target:
    ``scale`` (the target's std) turns its average into the target's units.
    """
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} block(s) are not finished yet, the first is {missing[0]}")
    first = results[0] if results else None
    sums = np.zeros((4 if first is None else len(first.terms), n))
    fallbacks = 0
    for result in results:
        assert result is not None
        sums[:, result.positives] += result.terms
        fallbacks += result.fallback
    warn_ridges(results, stacklevel=4)
    if fallbacks:
        warnings.warn(
            f"{fallbacks} of {len(results)} block(s) could not be factorised in float32 "
            "(near-duplicate rows or pivots below what float32 resolves) and were scored in "
            "float64, as precision='double' scores them, only slower (on data of 2 or 3 "
            "features, where many rows are near-parallel, every block falls back: pass "
            "precision='double' to skip the float32 attempt)",
            PrecisionWarning,
            stacklevel=3,
        )
    means = sums / repeats
    if not np.isfinite(means).all():
        raise InternalError("a score came out non-finite; please report this input")
    if not return_terms:
        return means[0]
    stability = estimate(results, repeats, n)
    if len(means) == 5:
        residual = means[4] * (1.0 if scale is None else scale)
        return ScoreTerms(*means[:4], stability, repeats, residual=residual)
    return ScoreTerms(*means, stability=stability, repeats=repeats)


def warn_ridges(results: Sequence[BlockResult | None], stacklevel: int) -> None:
    """A :class:`RidgeWarning` when some of the finished ``results`` needed a ridge."""
    ridges = [r.ridge for r in results if r is not None and r.ridge > 0]
    if ridges:
        warnings.warn(
            f"{len(ridges)} of {len(results)} block(s) had a singular kernel matrix "
            f"and were scored with a ridge of up to {max(ridges):.0e} x mean(diag H): "
            "X has duplicate or near-duplicate rows (same-label copies score near zero, "
            "opposite-label copies score high)",
            RidgeWarning,
            stacklevel=stacklevel,
        )


def estimate(results: Sequence[BlockResult | None], repeats: int, n: int) -> float | None:
    """The split-half stability of the first ``repeats`` repeats (their blocks: ``results``)."""
    if repeats < 2:
        return None
    return split_half(*halves(results, repeats, n))


# Repeats of the first round of repeats="auto": the fewest whose split-half estimate is useful.
FIRST_ROUND = 4


def next_round(options: Options, repeats: int, stability: float | None) -> int | None:
    """Total repeats after the next round of a run; None when it is done.

    A run of fixed repeats has one round. With ``repeats="auto"`` the first round runs
    :data:`FIRST_ROUND` repeats; the run is done when the estimate reached the target or the
    repeats reached ``max_repeats``; otherwise the next round runs what Spearman–Brown predicts
    the target needs, at least two more, at most up to the cap. A pure function of its
    arguments, so every executor (and a job array, round by round) takes the same rounds.
    """
    if not options.auto:
        return int(options.repeats) if repeats == 0 else None
    if repeats == 0:
        return min(FIRST_ROUND, options.max_repeats)
    if (stability is not None and stability >= options.stability) or (
        repeats >= options.max_repeats
    ):
        return None
    want = repeats_for(options.stability, stability, repeats)
    return min(options.max_repeats, max(repeats + 2, want))


def pending_round(
    options: Options, per: int, n: int, results: Sequence[BlockResult | None]
) -> tuple[int, int | None, float | None]:
    """``(done, total, stability)``: the first round not wholly in ``results`` runs repeats
    ``done`` to ``total``; ``total`` is None when the run is finished after ``done`` repeats.

    ``results`` are the plan's blocks, ``per`` of them in each repeat, scoring ``n`` examples;
    ``stability`` is the estimate after ``done`` repeats.
    """
    done, stability = 0, None
    while (total := next_round(options, done, stability)) is not None:
        if any(results[i] is None for i in range(done * per, total * per)):
            return done, total, stability
        done, stability = total, estimate(results[: total * per], total, n)
    return done, None, stability


def cap_advice(run: Run, stability: float | None, repeats: int) -> str:
    """What to do when ``repeats="auto"`` stopped at the cap, for this run's blocks."""
    whole = all(block.chunk == 0 for block in run.blocks[: run.per_repeat])
    options = run.options
    if run.targets is not None:
        return advice_at_cap(
            options.stability,
            stability,
            repeats,
            whole_classes=False,
            max_block=int(options.max_block or 0),
            cut="each block is a random share of the rows, and larger shares are steadier per "
            f"repeat; one block of all {run.rows.n} rows is exact",
        )
    return advice_at_cap(
        options.stability,
        stability,
        repeats,
        whole_classes=whole,
        max_block=int(options.max_block or 0),
    )


@dataclass
class Outcome:
    """The blocks a run scored and what they add up to: ``repeats`` used and their stability."""

    results: list[BlockResult | None]
    repeats: int
    stability: float | None
    history: tuple[tuple[int, float | None], ...] = ()  # (repeats, stability) after each round


# What the progress total expects "auto" to run before it has any estimate of the stability:
# four times the first round (Fashion-MNIST at the default target stopped at 10 repeats on
# 10,000 images and 16 on all 60,000; with 10% of the labels flipped, at 12 to 30, see
# docs/guide/stability.md). The estimate is replaced as soon as the first two repeats are in
# (:func:`early_repeats`).
PRIOR_REPEATS = 4 * FIRST_ROUND
# Repeats the progress total expects after the round being scored, which may not be the last:
# the fewest a further round adds (:func:`next_round`). Expecting none would bring the bar to
# 100% at the end of a round that another one follows, where it would have to stay; expecting
# these, a run that stops there jumps forward by them instead.
ROUND_MARGIN = 2


def complete(
    run: Run,
    executor: Executor,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressOption | Tracker = False,
) -> Outcome:
    """Scores every block the run needs: all repeats, or rounds of them until stable.

    With ``repeats="auto"`` a run whose last round is still below the target stops at
    ``max_repeats`` with a :class:`StabilityWarning`. ``progress``: as for :func:`execute`; a
    :class:`~cgfast._progress.Tracker` is told the scoring work to expect, round by round,
    and is not finished here.
    """
    options, per = run.options, run.per_repeat
    results: list[BlockResult | None] = [None] * len(run.blocks)
    history: list[tuple[int, float | None]] = []
    tracker, own = tracker_of(progress)
    with tracker if own else nullcontext(tracker):
        while True:
            done, total, stability = pending_round(options, per, run.rows.n, results)
            if done > 0 and (not history or history[-1][0] != done):
                history.append((done, stability))
            if total is None:
                break
            indices = range(done * per, total * per)
            phase = f"scoring ({total} repeat{'s' if total > 1 else ''})"
            if options.auto:
                phase = f"scoring, round {len(history) + 1} (repeats {done + 1}-{total})"
            watch = None
            if tracker.active:
                final = total
                if options.auto and stability is None:
                    final = max(total, min(options.max_repeats, PRIOR_REPEATS))
                    watch = early_watch(run, results, total, tracker)
                elif options.auto:
                    final = min(options.max_repeats, total + ROUND_MARGIN)
                # This round's blocks before the rounds after it: the total grows before it
                # shrinks, so that the bar does not run ahead of the work in between (execute
                # then counts the round's blocks down as they finish).
                weights = (block_weight(run, i, tracker.kernel_rows) for i in indices)
                tracker.expect("scoring", sum(weights))
                expect_later(run, tracker, final - total)
            scored = execute(run, executor, indices=indices, checkpoint=checkpoint,
                             progress=tracker, phase=phase, watch=watch)  # fmt: skip
            results[done * per : total * per] = scored[done * per : total * per]
        tracker.expect("later rounds", 0)  # the run ends here: no more repeats than it ran
        if own:
            tracker.finish()
    if options.auto and (stability is None or stability < options.stability):
        warnings.warn(
            f"repeats='auto' stopped at max_repeats={done} with an estimated stability of "
            f"{0.0 if stability is None else stability:.3f}, below the target "
            f"{options.stability:g}; {cap_advice(run, stability, done)}",
            StabilityWarning,
            stacklevel=3,
        )
    return Outcome(results[: done * per], done, stability, tuple(history))


def expect_later(run: Run, tracker: Tracker, repeats: int) -> None:
    """Tells ``tracker`` that ``repeats`` more repeats are likely to follow the round being
    scored: as many times the work of the plan's first repeat (every repeat holds blocks of
    the same sizes), at the blocks' cost when they are scored."""
    first = range(run.per_repeat)
    tracker.expect(
        "later rounds",
        lambda: repeats * sum(block_weight(run, i, tracker.kernel_rows) for i in first),
    )


def early_repeats(options: Options, stability: float | None, round_end: int) -> int:
    """The repeats ``repeats="auto"`` will likely end at, projected from the ``stability`` of the
    first two repeats of its first round (which ends at ``round_end``) as :func:`next_round`
    projects from the whole round, with :data:`ROUND_MARGIN`; for the progress total only.
    """
    want = repeats_for(options.stability, stability, 2)
    return min(options.max_repeats, max(round_end, want) + ROUND_MARGIN)


def early_watch(
    run: Run, results: list[BlockResult | None], round_end: int, tracker: Tracker
) -> Callable[[int, BlockResult], None] | None:
    """What watches the first round of ``repeats="auto"``: once its first two repeats are in,
    the progress total expects the repeats they project (:func:`early_repeats`) instead of
    :data:`PRIOR_REPEATS`. None when the round has fewer than four repeats."""
    per = run.per_repeat
    if round_end < 4:
        return None
    missing = {"count": 2 * per}

    def watch(index: int, result: BlockResult) -> None:
        if index >= 2 * per or results[index] is not None:
            return
        results[index] = result
        missing["count"] -= 1
        if missing["count"] == 0:
            stability = estimate(results[: 2 * per], 2, run.rows.n)
            expect_later(run, tracker, early_repeats(run.options, stability, round_end) - round_end)

    return watch


def score_run(
    run: Run,
    executor: Executor,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressOption = False,
    suggest: bool = False,
) -> ScoreTerms:
    """Scores the prepared ``run`` to the end (:func:`complete`) and returns its terms, with the
    seed it used, the stability after each round and, with ``suggest``, suggested labels from
    the same executor (which lends them its kernel, when it keeps one).

    With ``checkpoint``, the run holds the directory's lock (:func:`cgfast._lock.hold`) from
    its first block to its last suggestion: another run on it is refused meanwhile.
    """
    with hold(checkpoint) if checkpoint is not None else nullcontext():
        return _score_run(run, executor, checkpoint, progress, suggest)


def _score_run(
    run: Run,
    executor: Executor,
    checkpoint: str | os.PathLike | None,
    progress: ProgressOption,
    suggest: bool,
) -> ScoreTerms:
    # One bar (or one sequence of updates) for every round and the suggestion pass.
    with Tracker(progress) as tracker:
        if suggest and tracker.active:
            tracker.expect(
                "suggesting", lambda: suggestion_work(run, DEFAULT_REPEATS, tracker.kernel_rows)
            )
        outcome = complete(run, executor, checkpoint=checkpoint, progress=tracker)
        scale = None if run.targets is None else run.targets.scale
        terms = assemble(outcome.results, run.rows.n, outcome.repeats, True, scale=scale)
        assert isinstance(terms, ScoreTerms)
        extra: dict[str, Any] = {"seed": run.options.seed, "history": outcome.history}
        if suggest:
            found = run_suggestions(
                suggestion_run(run, DEFAULT_REPEATS), executor, checkpoint=checkpoint,
                progress=tracker,
            )  # fmt: skip
            extra.update(
                suggested_label=found.suggested_label,
                label_quality=found.label_quality,
                suggestions=found,
            )
        tracker.finish()
    return dataclasses.replace(terms, **extra)
