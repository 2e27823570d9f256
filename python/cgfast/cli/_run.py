"""Scoring from the command line: the library's run, with a progress bar and a summary line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..options import Options
from ._errors import library


def run_score(
    X: Any,
    y: np.ndarray,
    options: Options,
    progress: bool,
    *,
    checkpoint: Path | None = None,
    return_terms: bool = False,
    part: tuple[int, int] | None = None,
) -> tuple[Any, str, Options]:
    """Scores with a progress bar on stderr; returns the result, the summary line and the
    options the run used (``max_block`` resolved).

    With ``part = (i, N)`` only part i of N of the plan is scored into the checkpoint, and the
    result is None (``cgfast assemble`` adds the parts up).
    """
    from ..engine import LocalExecutor, assemble, complete, prepare
    from ..parts import score_share

    start = time.perf_counter()
    run = library(prepare, X, y, options, fingerprint=checkpoint is not None)
    if part is not None:
        assert checkpoint is not None
        share = library(score_share, run, checkpoint, part[0], part[1], progress=progress)
        seconds = time.perf_counter() - start
        summary = f"part {part[0]} of {part[1]}: {share.describe()}"
        return None, f"{summary}, {seconds:.2f} s", run.options
    outcome = library(complete, run, LocalExecutor(), checkpoint=checkpoint, progress=progress)
    terms = library(assemble, outcome.results, run.rows.n, outcome.repeats, True)
    seconds = time.perf_counter() - start
    blocks = len(outcome.results)
    summary = f"{run.rows.n} examples, {blocks} blocks, {seconds:.2f} s"
    if options.auto:
        summary += f", {outcome.repeats} repeats"
    if terms.stability is not None:
        summary += f", stability {terms.stability:.3f}"
    return (terms if return_terms else terms.score), summary, run.options
