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
    suggest: bool = False,
    part: tuple[int, int] | None = None,
) -> tuple[Any, str, Options]:
    """Scores with a progress bar on stderr; returns the result, the summary line and the
    options the run used (``max_block`` resolved).

    With ``part = (i, N)`` only part i of N of the plan is scored into the checkpoint, and the
    result is None (``cgfast assemble`` adds the parts up); with ``suggest`` it predicts its
    share of the suggestion blocks too. Otherwise, with ``suggest``, labels are suggested (the
    terms carry them) and the summary says how many flagged examples have another suggested
    label.
    """
    from ..engine import LocalExecutor, prepare, score_run
    from ..parts import score_share

    start = time.perf_counter()
    run = library(prepare, X, y, options, fingerprint=checkpoint is not None)
    if part is not None:
        assert checkpoint is not None
        share = library(
            score_share, run, checkpoint, part[0], part[1], suggest=suggest, progress=progress
        )
        seconds = time.perf_counter() - start
        summary = f"part {part[0]} of {part[1]}: {share.describe()}"
        return None, f"{summary}, {seconds:.2f} s", run.options
    terms = library(
        score_run,
        run,
        LocalExecutor(),
        checkpoint=checkpoint,
        progress=progress,
        suggest=suggest,
    )
    seconds = time.perf_counter() - start
    blocks = len(run.blocks[: (terms.repeats or 1) * run.per_repeat])
    summary = f"{run.rows.n} examples, {blocks} blocks, {seconds:.2f} s"
    if options.auto:
        summary += f", {terms.repeats} repeats"
    if terms.stability is not None:
        summary += f", stability {terms.stability:.3f}"
    if terms.suggested_label is not None:
        summary += "; " + suggestion_summary(terms, y)
    return (terms if return_terms else terms.score), summary, run.options


def suggestion_summary(terms: Any, y: np.ndarray) -> str:
    """How many examples are flagged, and how many of them have another suggested label."""
    from ..rank import _issues_from_terms

    flagged = _issues_from_terms(terms)
    other = int(np.sum(np.asarray(terms.suggested_label)[flagged] != np.asarray(y)[flagged]))
    return (
        f"{len(flagged)} flagged as label issues, {other} of them with another suggested label "
        f"(likely mislabelled), {len(flagged) - other} with their own (irregular)"
    )
