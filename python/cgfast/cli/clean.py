"""`cgfast clean`: a training set from a score table, its label issues dropped or relabelled."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .._files import read_score_table
from .._table import TABLE_FORMATS, write_table
from ..clean import ACTIONS
from ._errors import library
from ._io import check_not_an_input, read, write
from ._options import EXISTING, OUTPUT
from .prune import check_prune_output


@click.command(
    epilog="""\b
Examples:
  cgfast score images/ -o scores.csv
  cgfast clean scores.csv -o clean.csv
  cgfast clean scores.csv --action relabel -o clean.csv
  cgfast clean scores.csv -o keep.npy
"""
)
@click.argument("scores", type=EXISTING)
@click.option(
    "--action",
    type=click.Choice(ACTIONS),
    default="drop",
    show_default=True,
    help="What to do with the label issues: 'drop' leaves them out; 'relabel' gives each its "
    "suggested label where that label's probability is at least 1/2, and drops the rest.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=OUTPUT,
    help="Where to write: .npy (the kept indices, int64) or .csv/.parquet (a table of the "
    "kept rows: index, id, label (final), given_label, changed).",
)
def clean(scores: Path, action: str, output: Path) -> None:
    """Drop or relabel the label issues of a score table, and write the rows to train on.

    SCORES is the table `cgfast score -o scores.csv` (or .parquet) writes: its label_issue
    column says which rows are issues (the confusion rule of find_label_issues), and its
    suggested_label and suggested_quality columns what to relabel them to. Prints, per class,
    how many rows were flagged, dropped and relabelled.
    """
    import cgfast

    check_prune_output(output)
    check_not_an_input(output, scores)
    if scores.suffix.lower() not in TABLE_FORMATS:
        raise click.UsageError(
            f"{scores.name} is not a score table: give the .csv or .parquet that "
            "`cgfast score ... -o scores.csv` writes"
        )
    table = read(read_score_table, scores)
    cleaned = library(cgfast.clean, terms=table, action=action)
    if output.suffix.lower() == ".npy":
        write(output, lambda handle: np.save(handle, cleaned.keep.astype(np.int64)))
    else:
        write_table(output, cleaned.columns(), write)
    summary = cleaned.summary()
    click.echo(summary.to_string())
    relabelled = int(cleaned.changed.sum())
    click.echo(
        f"cgfast clean: kept {len(cleaned.keep)} of {len(cleaned.given)} rows "
        f"({len(cleaned.flagged)} flagged: {len(cleaned.dropped)} dropped, "
        f"{relabelled} relabelled) -> {output}"
    )
