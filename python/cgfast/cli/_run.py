"""Scoring from the command line: the library's run, with a progress bar and a summary line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..options import Options
from ._errors import library


def show_progress(flag: bool | None) -> bool:
    """``--progress/--no-progress``: as given, or else a bar only when stderr is a terminal (a
    job's log or a pipe gets none)."""
    if flag is not None:
        return flag
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def run_score(
    X: Any,
    y: np.ndarray,
    options: Options,
    progress: bool,
    *,
    checkpoint: Path | None = None,
    return_terms: bool = False,
    suggest: bool = False,
    flags: bool = False,
    part: tuple[int, int] | None = None,
) -> tuple[Any, str, Options]:
    """Scores with one progress bar on stderr (with ``progress``) for the whole run; returns
    the result, the summary line and the options the run used (``max_block`` resolved).

    With ``part = (i, N)`` only part i of N of the plan is scored into the checkpoint, and the
    result is None (``cgfast assemble`` adds the parts up); with ``suggest`` it predicts its
    share of the suggestion blocks too. Otherwise, with ``suggest``, labels are suggested (the
    terms carry them), and with ``flags`` the summary says how many examples are flagged as
    label issues (see :func:`issue_summary`).
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
    if flags:
        summary += "; " + (target_summary(terms) if terms.residual is not None else
                           issue_summary(terms, y))  # fmt: skip
    return (terms if return_terms else terms.score), summary, run.options


def target_summary(terms: Any) -> str:
    """How many rows of a regression run are flagged as target issues."""
    from ..regression import target_issues

    return f"{int(target_issues(terms.residual).sum())} flagged as target issues"


def issue_summary(terms: Any, y: np.ndarray) -> str:
    """How many examples are flagged as label issues, and how many of them have another
    suggested label; without suggestions, the flags of the score's sign rule, which needs none."""
    from ..rank import _issues_from_terms

    flagged = _issues_from_terms(terms)
    if terms.suggested_label is None:
        return (
            f"{len(flagged)} flagged as label issues by the score's sign rule (--suggest, the "
            "default, flags by the confusion rule and suggests a label for every example)"
        )
    other = int(np.sum(np.asarray(terms.suggested_label)[flagged] != np.asarray(y)[flagged]))
    return (
        f"{len(flagged)} flagged as label issues, {other} of them with another suggested label "
        f"(likely mislabelled), {len(flagged) - other} with their own (irregular)"
    )


def act_on(terms: Any, y: np.ndarray) -> str:
    """Which rows of a score table with suggestions to act on: a suggested label is given for
    every row, and differs from the label on many rows that are not flagged."""
    from ..rank import _issues_from_terms

    other = np.asarray(terms.suggested_label) != np.asarray(y)
    unflagged = int(other.sum() - other[_issues_from_terms(terms)].sum())
    return (
        "Act on the rows whose label_issue is true. suggested_label is given for every row "
        f"(the most likely class): it differs from label on {int(other.sum())} rows, "
        f"{unflagged} of them not flagged as label issues."
    )
