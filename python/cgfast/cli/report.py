"""`cgfast report`: one self-contained HTML page about X, Y and their scores."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click

from .._files import (
    _existing,
    npz_has_residuals,
    read_score_table,
    read_scores,
    read_target_table,
    read_target_terms,
)
from .._table import TABLE_FORMATS
from ..options import _CLASS_ONLY, Options
from ._errors import library
from ._io import (
    check_not_an_input,
    check_output,
    prepared,
    read,
    read_data,
    unscaled_positions,
    write_by_name,
)
from ._options import EXISTING, OUTPUT, data_options, scoring_options
from ._run import run_score, show_progress


@click.command(
    epilog="""\b
Examples:
  cgfast report X.npy y.npy -o report.html
  cgfast score X.npy y.npy -o scores.csv
  cgfast report X.npy y.npy --scores scores.csv --shape 28x28 -o report.html
  cgfast report table.csv table.csv --y-key label --repeats 5 -o report.html
  cgfast report X.npy y.npy --task regression -o report.html
  cgfast score X.npy y.npy --task regression -o scores.csv
  cgfast report X.npy y.npy --scores scores.csv -o report.html
"""
)
@data_options
@click.option(
    "--scores",
    type=EXISTING,
    help="What `cgfast score` wrote: its .csv/.parquet table (flags, suggested labels, "
    "stability; that of a --task regression run: residuals, target issues, stability), or its "
    ".npy of scores (default: score here, with the options below, and suggest labels).",
)
@scoring_options
@click.option(
    "--shape",
    metavar="HxW[xC]",
    help="Image shape of one row, e.g. 28x28, 32x32x3 or 3x32x32 "
    "(default: examples are drawn as images only when X already has an image's shape; "
    "flat rows are shown as tables).",
)
@click.option(
    "--per-class",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Examples shown at each end of every class's ranking (with --task regression, of "
    "the ranking of all rows).",
)
@click.option(
    "--suspects",
    default=24,
    show_default=True,
    type=click.IntRange(min=1),
    help="Flagged examples (label issues; with --task regression, target issues) shown at "
    "the top of the page, highest score first.",
)
@click.option("-o", "--output", required=True, type=OUTPUT, help="Where to write the HTML page.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="One progress bar on stderr for the whole run, with the time left (default: when "
    "stderr is a terminal).",
)
@click.pass_context
def report(
    ctx: click.Context,
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
    scores: Path | None,
    shape: str | None,
    per_class: int,
    suspects: int,
    output: Path,
    progress: bool | None,
    **scoring: Any,
) -> None:
    """Write one self-contained HTML page about X, Y and their scores.

    It opens with the suspects to review: the examples flagged as label issues, the top ones
    with their given and suggested labels, which classes they are confused with, and the
    stability reached (round by round when it scores X itself). Then each class's score
    distribution, its complexity against the rest, and its highest- and lowest-scored examples
    (as images when rows are images).

    With --task regression (Y a real-valued target; or --scores naming the table or the --terms
    .npz of a regression run) it opens with the target issues instead: how many rows are
    flagged, the top ones with their given target, leave-one-out prediction, residual and
    score, the prediction plotted against the target, and the stability reached. Then the run,
    one distribution of the scores, and the highest- and lowest-scored rows; nothing about
    classes.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise click.ClickException(
            'cgfast report needs matplotlib: pip install matplotlib (or "cgfast[demo]")'
        ) from err
    from ..report import check_page_name, parse_shape, run_settings, write_report

    unscaled = unscaled_positions(tabular, unscaled, x, x_key, y, y_key, id_key)
    check_output(output)
    check_not_an_input(output, x, y, scores)
    library(check_page_name, output)
    picture = library(parse_shape, shape) if shape is not None else None
    progress = show_progress(progress)
    data, labels, ids = read_data(
        x, y, x_key, y_key, id_key, image_size, skip_unreadable, cache, progress
    )
    arguments = {k: v for k, v in ctx.params.items() if v is not None}
    run = None
    regression = scoring["task"] == "regression"
    if scores is not None:
        # --task says what the scores are; the other scoring flags would change them.
        given = [
            param.opts[0]
            for param in ctx.command.params
            if param.name in scoring
            and param.name != "task"
            and ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT
        ]
        if tabular:
            given.append("--tabular")
        if given:
            raise click.UsageError(
                f"{given[0]} applies only when report scores X itself; "
                "it cannot change the scores read with --scores"
            )
        # The scoring flags did nothing: listing their defaults would read as the scores' run.
        arguments = {k: v for k, v in arguments.items() if k not in scoring}
        found, regression = _read_scores(ctx, scores, regression)
    else:
        options = library(Options.pick, scoring)
        # --tabular: the run scores the prepared table; the page shows the rows as given.
        found, summary, used = run_score(
            prepared(data, x, unscaled) if tabular else data,
            labels,
            options,
            progress,
            return_terms=True,
            suggest=not regression,
            flags=True,
        )
        run = run_settings(used.manifest(), found)
        arguments["scored"] = summary
    if regression:
        # Options for classes (their defaults) did nothing to a regression run.
        arguments = {k: v for k, v in arguments.items() if k not in _CLASS_ONLY}
    library(
        write_by_name,
        output,
        lambda temporary: write_report(
            temporary,
            data,
            labels,
            found,
            shape=picture,
            per_class=per_class,
            suspects=suspects,
            run=run,
            arguments=arguments,
            ids=ids,
        ),
    )
    click.echo(f"cgfast report: {len(labels)} examples -> {output}")


def _read_scores(ctx: click.Context, scores: Path, regression: bool) -> tuple[Any, bool]:
    """What --scores names, and whether it is a regression run's: a table with a ``residual``
    column, or a --terms .npz with a ``residual`` array, is (with or without --task
    regression); --task regression refuses a table without one, and plain scores."""
    task_given = ctx.get_parameter_source("task") is not click.core.ParameterSource.DEFAULT
    if scores.suffix.lower() in TABLE_FORMATS:
        target_table = "residual" in read(_column_names, scores)
        if task_given and target_table != regression:
            raise click.UsageError(
                f"--task {'regression' if regression else 'classification'} does not match "
                f"{scores.name}: it is the table of a "
                f"{'regression' if target_table else 'classification'} run"
            )
        if target_table:
            return read(read_target_table, scores), True
        return read(read_score_table, scores), False
    if scores.suffix.lower() == ".npz" and read(npz_has_residuals, scores):
        if task_given and not regression:
            raise click.UsageError(
                f"--task classification does not match {scores.name}: it holds the terms of a "
                "regression run"
            )
        return read(read_target_terms, scores), True
    if regression:
        raise click.UsageError(
            f"{scores.name} holds plain scores, without the residuals a regression report "
            "shows: give the .csv/.parquet table that `cgfast score X Y --task regression -o "
            "scores.csv` writes, or its `--terms -o terms.npz`"
        )
    return read(read_scores, scores), False


def _column_names(path: Path) -> list[str]:
    """The column names of a .csv (its first line) or .parquet table."""
    path = _existing(path, "scores")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow") from None
        return list(pq.read_schema(path).names)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle), [])
    return [cell.strip() for cell in first]
