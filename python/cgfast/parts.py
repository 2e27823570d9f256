"""Scoring without a scheduler: split the plan into parts (a SLURM job array), then assemble.

Each array task runs :func:`score_part` (or ``cgfast score --part I --parts N``) with the same
arguments and a shared checkpoint directory; when all have finished, :func:`assemble` (or
``cgfast assemble DIR``) adds the blocks in plan order and returns the scores, identical to a
single local run.

With ``repeats="auto"`` a job array works round by round: each submission of the array scores
the next round that the checkpoint does not hold yet (the rounds already there decide which,
exactly as in a local run), and ``assemble`` either returns the scores or says that the estimated
stability is still below the target and another submission is needed.

With ``suggest=True`` (``cgfast score --part`` does it unless given ``--no-suggest``) each part
also predicts its share of the suggestion blocks into the checkpoint's ``suggestions``
subdirectory, in the first submission. The scores with their suggested labels, or the table
with its ``suggested_label`` and ``label_quality`` columns, then come from one local run on the
finished checkpoint (``cgfast.score(X, y, checkpoint=DIR, suggest=True)``, or ``cgfast score X Y
--checkpoint DIR -o scores.csv``), which reads every block from disk and computes none.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._lock import hold
from ._progress import ProgressOption, Tracker
from .checkpoint import Checkpoint
from .engine import (
    SUGGESTING,
    LocalExecutor,
    Run,
    ScoreTerms,
    execute,
    pending_round,
    prepare,
    suggestion_run,
)
from .engine import assemble as assemble_results
from .options import Options, check_count
from .suggest import DEFAULT_REPEATS, checkpoint_dir


def split_plan(run: Run, parts: int, indices: Sequence[int] | None = None) -> list[list[int]]:
    """Block indices of each of ``parts`` parts, balanced by flops (largest first, to the lightest),
    blocks that share their rows kept in one part.

    ``indices``: the blocks to share out (default: the whole plan). A pure function of the
    plan, so every array task computes the same split.
    """
    loads = [(0, p) for p in range(parts)]
    owned: list[list[int]] = [[] for _ in range(parts)]
    every = range(len(run.blocks)) if indices is None else indices
    # Blocks that share their rows go to one part together: they are factorised once.
    units: dict[tuple[int, ...], list[int]] = {}
    for i in every:
        units.setdefault(run.group_of(i) or (i,), []).append(i)
    work = {key: sum(run.work(run.blocks[i]) for i in unit) for key, unit in units.items()}
    for key in sorted(units, key=lambda key: (-work[key], key)):
        load, p = heapq.heappop(loads)
        owned[p].extend(units[key])
        heapq.heappush(loads, (load + work[key], p))
    return [sorted(o) for o in owned]


@dataclass(frozen=True)
class Share:
    """What one part of a job array did: ``blocks`` of the ``of`` blocks of repeats
    ``first``..``last``; ``finished`` when the run needed nothing more; ``suggested`` of the
    ``suggestions`` suggestion blocks (0 of 0 without suggestions, or when they were done)."""

    blocks: int
    of: int
    first: int
    last: int
    finished: bool = False
    rounds: bool = False  # repeats="auto": the run goes round by round
    suggested: int = 0
    suggestions: int = 0

    def describe(self) -> str:
        extra = (
            f"; {self.suggested} of {self.suggestions} suggestion blocks"
            if self.suggestions
            else ""
        )
        if self.finished:
            return "the run is complete, nothing to score; run `cgfast assemble`" + extra
        what = f"{self.blocks} of {self.of} blocks"
        what = f"{what} of repeats {self.first}-{self.last}" if self.rounds else what
        return what + extra


def score_share(
    run: Run,
    checkpoint: str | os.PathLike,
    part: int,
    parts: int,
    *,
    suggest: bool = False,
    progress: ProgressOption = False,
) -> Share:
    """Scores this part's share of the run's next unfinished round into ``checkpoint``.

    With fixed repeats the one round is the whole plan. With ``repeats="auto"`` the rounds
    already in the checkpoint decide, as in a local run, which repeats come next. With
    ``suggest``, this part's share of the suggestion blocks that the checkpoint does not hold
    yet is predicted too. The part holds the directory's lock shared with the other parts
    (:func:`cgfast._lock.hold`): a run that is not a part is refused meanwhile, and a part with
    other arguments by the manifest.
    """
    with hold(checkpoint, shared=True):
        return _score_share(run, checkpoint, part, parts, suggest, progress)


def _score_share(
    run: Run,
    checkpoint: str | os.PathLike,
    part: int,
    parts: int,
    suggest: bool,
    progress: ProgressOption,
) -> Share:
    # One bar for the part: its suggestion blocks, then its share of the round. The round's
    # share is known only once the suggestions are done, so the total grows then (the bar
    # holds rather than going back).
    with Tracker(progress) as tracker:
        suggested = _suggest_share(run, checkpoint, part, parts, tracker) if suggest else (0, 0)
        store = Checkpoint.open(checkpoint, run.manifest())
        # Only the blocks on disk are checked against the plan: the repeats of rounds not run
        # yet are never made.
        results = [
            store.load(i, run.blocks[i]) if store.holds(i) else None for i in range(len(run.blocks))
        ]
        done, total, _ = pending_round(run.options, run.per_repeat, run.rows.n, results)
        if total is None:
            tracker.finish()
            return Share(0, 0, done, done, True, run.options.auto, *suggested)
        wanted = range(done * run.per_repeat, total * run.per_repeat)
        mine = split_plan(run, parts, wanted)[part]
        phase = f"scoring repeats {done + 1}-{total}, part {part} of {parts}"
        execute(run, LocalExecutor(), indices=mine, checkpoint=checkpoint, progress=tracker,
                phase=phase)  # fmt: skip
        tracker.finish()
    return Share(len(mine), len(wanted), done + 1, total, False, run.options.auto, *suggested)


def _suggest_share(
    run: Run, checkpoint: str | os.PathLike, part: int, parts: int, progress: Tracker
) -> tuple[int, int]:
    """Predicts the blocks of this part's share of the suggestion plan that the checkpoint's
    ``suggestions`` directory does not hold; returns (blocks predicted, blocks in the plan), or
    (0, 0) when the share was already there. The share is a pure function of the plan, as the
    scoring one is, so every part computes the same split whatever the others have done."""
    suggesting = suggestion_run(run, DEFAULT_REPEATS)
    where = checkpoint_dir(checkpoint)
    assert where is not None
    store = Checkpoint.open(where, suggesting.manifest())
    mine = [i for i in split_plan(suggesting, parts)[part] if not store.holds(i)]
    if not mine:
        return 0, 0
    execute(
        suggesting,
        LocalExecutor(),
        indices=mine,
        checkpoint=where,
        progress=progress,
        phase=f"{SUGGESTING}, part {part} of {parts}",
        part="suggesting",
    )
    return len(mine), len(suggesting.blocks)


def score_part(
    X: Any,
    y: Any,
    *,
    checkpoint: str | os.PathLike,
    part: int,
    parts: int,
    options: Options | None = None,
    suggest: bool = False,
    progress: ProgressOption = False,
    **arguments: Any,
) -> int:
    """Scores part ``part`` of ``parts`` of the plan into ``checkpoint``; returns its block count.

    The scoring options are ``options``, or else ``arguments``, those of :func:`cgfast.score`
    (ratio, repeats, seed, max_block, precision, n_jobs, task); they must be the same for every
    part, so ``seed`` must be an int. With ``suggest``, the part also predicts its share of the
    suggestion blocks (see the module's notes for how the suggestions are gathered).

    Examples
    --------
    >>> import numpy as np, tempfile, cgfast
    >>> X = np.random.default_rng(0).normal(size=(40, 4)); y = np.arange(40) % 2
    >>> d = tempfile.mkdtemp()
    >>> sum(cgfast.score_part(X, y, checkpoint=d, part=p, parts=2, repeats=3) for p in range(2))
    6
    >>> bool(np.array_equal(cgfast.assemble(d), cgfast.score(X, y, repeats=3)))
    True
    """
    parts = check_count("parts", parts, 1)
    part = check_count("part", part, 0)
    if part >= parts:
        raise ValueError(f"part must be below parts={parts}, got {part}")
    if options is None:
        seed = arguments.get("seed", 0)
        if seed is None or isinstance(seed, (np.random.Generator, np.random.RandomState)):
            raise ValueError(
                f"score_part needs an int seed, got {seed!r}: every part must draw the same "
                "blocks, and a seed drawn afresh in each part would not"
            )
        options = Options(**arguments)
    elif arguments:
        raise TypeError(f"pass either options or {', '.join(arguments)}, not both")
    run = prepare(X, y, options, fingerprint=True)
    if suggest and run.targets is not None:
        raise ValueError("suggest=True suggests class labels; task='regression' has none")
    share = score_share(run, checkpoint, part, parts, suggest=suggest, progress=progress)
    return share.blocks


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
        options = Options(**manifest["arguments"])
        # A regression run's residuals come back in the target's units.
        scale = manifest["data"]["target"]["scale"] if options.task == "regression" else None
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint manifest in {str(checkpoint)!r} is incomplete: {err}"
        ) from err
    results = [store.load(i, strict=True) for i in range(count)]
    per = count // options.planned_repeats
    done, total, stability = pending_round(options, per, n, results)
    if total is not None:
        wanted = range(done * per, total * per)
        missing = [i for i in wanted if results[i] is None]
        if len(missing) == len(wanted) and done > 0:
            raise ValueError(
                f"the ranking's estimated stability after {done} repeats is {stability:.3f}, "
                f"below the target {options.stability:g}: run the parts again to score "
                f"repeats {done + 1}-{total}, then assemble"
            )
        raise ValueError(
            f"{len(missing)} of {len(wanted)} blocks are missing from {str(checkpoint)!r} "
            f"(first: {missing[0]}); run the unfinished parts again"
        )
    result = assemble_results(results[: done * per], n, done, return_terms, scale=scale)
    if isinstance(result, ScoreTerms):
        return dataclasses.replace(result, seed=options.seed)
    return result
