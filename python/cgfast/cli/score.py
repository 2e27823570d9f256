"""`cgfast score`: score every example of X and save the scores, or a table of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._table import TABLE_FORMATS
from ..checkpoint import Checkpoint
from ..options import Options
from ._errors import Interrupted, library
from ._io import (
    check_not_an_input,
    check_score_output,
    prepared,
    read_data,
    save_scores,
    save_table,
    unscaled_positions,
)
from ._options import DIRECTORY, OUTPUT, data_options, scoring_options
from ._run import act_on, run_score, show_progress


@click.command(
    epilog="""\b
Examples:
  cgfast score X.npy y.npy -o scores.npy
  cgfast score X.npy y.npy -o scores.csv
  cgfast score shards/ --x-key embedding --y-key label --id-key id -o scores.parquet
  cgfast score 'shards/*.parquet' y.npy -o scores.npy
  cgfast score digits/ --image-size 28x28 -o scores.csv
  cgfast score data.npz data.npz --x-key images --y-key labels -o scores.npy
  cgfast score table.csv table.csv --y-key label --repeats 5 -o scores.npy
  cgfast score X.npy y.npy --terms -o terms.npz --checkpoint ckpt/
  cgfast score table.csv table.csv --y-key price --task regression --tabular -o scores.csv
  cgfast score X.npy y.npy --checkpoint /shared/run --part $SLURM_ARRAY_TASK_ID --parts 16
  cgfast score X.npy y.npy --checkpoint /shared/run -o scores.csv   # after the array
"""
)
@data_options
@scoring_options
@click.option(
    "--checkpoint",
    type=DIRECTORY,
    metavar="DIR",
    help="Directory that keeps finished blocks; rerunning the same command resumes from it.",
)
@click.option(
    "--terms",
    is_flag=True,
    help="Write an .npz with score, a2, ab and b2 (score = a2 + 2*ab + b2) instead of a .npy.",
)
@click.option(
    "--part",
    type=click.IntRange(min=0),
    help="Score only this part of the plan into --checkpoint (a job-array task); "
    "then run `cgfast assemble`.",
)
@click.option(
    "--parts",
    type=click.IntRange(min=1),
    help="Number of parts the plan is split into (with --part).",
)
@click.option(
    "--suggest/--no-suggest",
    default=True,
    show_default=True,
    help="Suggest a label for every example: the suggested_label and label_quality columns of "
    "a .csv/.parquet table; with --part, this part's share of the suggestion blocks (once the "
    "array is done, `cgfast score ... --checkpoint DIR -o scores.csv` writes the table from "
    "the checkpoint without scoring again). .npy and .npz outputs carry no suggestions.",
)
@click.option(
    "-o",
    "--output",
    type=OUTPUT,
    help="Where to write the scores (not with --part): .npy (the scores), .npz (with --terms), "
    ".csv or .parquet (a table: id, label, score, rank_in_class, label_issue, stability; with "
    "--task regression: id, target, score, residual, target_issue, stability).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="One progress bar on stderr for the whole run, with the time left (default: when "
    "stderr is a terminal).",
)
def score(
    x: Path,
    y: Path | None,
    x_key: str | None,
    y_key: str | None,
    id_key: str | None,
    image_size: str | None,
    skip_unreadable: bool,
    tabular: bool,
    unscaled: Any,
    cache: Path | None,
    checkpoint: Path | None,
    terms: bool,
    part: int | None,
    parts: int | None,
    suggest: bool,
    output: Path | None,
    progress: bool | None,
    **scoring: Any,
) -> None:
    """Score every example of X (labels Y) and save the scores, or a table of them.

    X and Y are .npy, .npz, .csv or .parquet files (they may be the same file; Y may then be
    left out). X may also be a folder or glob of parquet shards, or a folder of images with one
    subfolder per class (the subfolder's name is the label): either is converted once into a
    .npy cache in a cache folder, never beside the data (see --cache), and reused while
    unchanged. A .npy X is memory-mapped
    and read a block at a time. A .csv or .parquet output is a table with one
    row per example: its id (the path within an image folder, the --id-key column, else the
    row index), label, score, rank within its class (1 = highest),
    whether find_label_issues flags it, and the run's stability. With --part/--parts, score one
    share of the blocks into the --checkpoint directory (one task of a job array) and write no
    scores.
    """
    if scoring["seed"] is None and checkpoint is not None:
        raise click.UsageError(
            "--seed random draws a new seed on every run, so a rerun could never resume "
            "--checkpoint: give --seed INT"
        )
    if (part is None) != (parts is None):
        raise click.UsageError("--part and --parts go together")
    if part is not None and parts is not None:
        if part >= parts:
            raise click.BadParameter(f"must be below --parts={parts}", param_hint="'--part'")
        if checkpoint is None:
            raise click.UsageError("--part needs --checkpoint DIR, where the parts meet")
        if output is not None or terms:
            raise click.UsageError(
                "--part writes into --checkpoint; -o and --terms belong to `cgfast assemble`"
            )
    elif output is None:
        raise click.UsageError("Missing option '-o' / '--output'.")
    else:
        check_score_output(output, terms)
        check_not_an_input(output, x, y)
    unscaled = unscaled_positions(tabular, unscaled, x, x_key, y, y_key, id_key)
    progress = show_progress(progress)
    data, labels, ids = read_data(
        x, y, x_key, y_key, id_key, image_size, skip_unreadable, cache, progress
    )
    if tabular:
        data = prepared(data, x, unscaled)
    options = library(Options.pick, scoring)
    share = None if part is None or parts is None else (part, parts)
    table = output is not None and output.suffix.lower() in TABLE_FORMATS
    try:
        result, summary, used = run_score(
            data,
            labels,
            options,
            progress,
            checkpoint=checkpoint,
            return_terms=terms or table,
            suggest=suggest and options.task == "classification" and (table or share is not None),
            flags=table,
            part=share,
        )
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        raise Interrupted(saved_blocks(checkpoint)) from None
    if scoring["seed"] is None:
        summary += f", seed {used.seed} (drawn; --seed {used.seed} repeats this run)"
    if result is None:
        click.echo(f"cgfast score: {summary} -> {checkpoint}")
        return
    assert output is not None  # only --part runs write no output
    if table:
        save_table(result, labels, ids, output, terms)
    else:
        save_scores(result, output, terms)
    click.echo(f"cgfast score: {summary} -> {output}")
    if table and result.suggested_label is not None:
        click.echo(act_on(result, labels))


def saved_blocks(checkpoint: Path) -> str:
    """What an interrupted run left in ``checkpoint``: its finished blocks, in words."""
    from ..suggest import checkpoint_dir

    said = f"{Checkpoint.count(checkpoint)} finished block(s) are saved in {checkpoint}"
    suggestions = checkpoint_dir(checkpoint)
    assert suggestions is not None
    if Checkpoint.count(suggestions):
        said += f" (and {Checkpoint.count(suggestions)} suggestion block(s))"
    return said
