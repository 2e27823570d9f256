"""`cgfast report`: one self-contained HTML page about X, Y and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._files import read_score_table, read_scores
from .._table import TABLE_FORMATS
from ..options import Options
from ._errors import library
from ._io import check_not_an_input, check_output, read, read_data, write_by_name
from ._options import EXISTING, OUTPUT, data_options, scoring_options
from ._run import run_score


@click.command(
    epilog="""\b
Examples:
  cgfast report X.npy y.npy -o report.html
  cgfast score X.npy y.npy -o scores.csv
  cgfast report X.npy y.npy --scores scores.csv --shape 28x28 -o report.html
  cgfast report table.csv table.csv --y-key label --repeats 5 -o report.html
"""
)
@data_options
@click.option(
    "--scores",
    type=EXISTING,
    help="What `cgfast score` wrote: its .csv/.parquet table (flags, suggested labels, "
    "stability), or its .npy of scores (default: score here, with the options below, "
    "and suggest labels).",
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
    help="Examples shown at each end of every class's ranking.",
)
@click.option(
    "--suspects",
    default=24,
    show_default=True,
    type=click.IntRange(min=1),
    help="Flagged examples shown at the top of the page, highest score first.",
)
@click.option("-o", "--output", required=True, type=OUTPUT, help="Where to write the HTML page.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
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
    cache: Path | None,
    scores: Path | None,
    shape: str | None,
    per_class: int,
    suspects: int,
    output: Path,
    progress: bool,
    **scoring: Any,
) -> None:
    """Write one self-contained HTML page about X, Y and their scores.

    It opens with the suspects to review: the examples flagged as label issues, the top ones
    with their given and suggested labels, which classes they are confused with, and the
    stability reached (round by round when it scores X itself). Then each class's score
    distribution, its complexity against the rest, and its highest- and lowest-scored examples
    (as images when rows are images).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise click.ClickException(
            'cgfast report needs matplotlib: pip install matplotlib (or "cgfast[demo]")'
        ) from err
    from ..report import check_page_name, parse_shape, run_settings, write_report

    check_output(output)
    check_not_an_input(output, x, y, scores)
    library(check_page_name, output)
    picture = library(parse_shape, shape) if shape is not None else None
    data, labels, ids = read_data(
        x, y, x_key, y_key, id_key, image_size, skip_unreadable, cache, progress
    )
    arguments = {k: v for k, v in ctx.params.items() if v is not None}
    run = None
    if scores is not None:
        given = [
            param.opts[0]
            for param in ctx.command.params
            if param.name in scoring
            and ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            raise click.UsageError(
                f"{given[0]} applies only when report scores X itself; "
                "it cannot change the scores read with --scores"
            )
        # The scoring flags did nothing: listing their defaults would read as the scores' run.
        arguments = {k: v for k, v in arguments.items() if k not in scoring}
        if scores.suffix.lower() in TABLE_FORMATS:
            found: Any = read(read_score_table, scores)
        else:
            found = read(read_scores, scores)
    else:
        options = library(Options.pick, scoring)
        if options.task == "regression":
            raise click.UsageError(
                "the report reviews class labels; for a real-valued target write the score "
                "table instead: cgfast score X Y --task regression -o scores.csv"
            )
        found, summary, used = run_score(
            data, labels, options, progress, return_terms=True, suggest=True, flags=True
        )
        run = run_settings(used.manifest(), found)
        arguments["scored"] = summary
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
