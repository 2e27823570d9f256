"""`cgfast prune`: keep a fraction of every class, ranked by score, and save the indices."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .._files import read_labels, read_scores
from ._errors import library
from ._io import check_output, read, write
from ._options import EXISTING, OUTPUT


@click.command(
    epilog="""\b
Examples:
  cgfast prune scores.npy y.npy --keep 0.7 -o keep.npy
  cgfast prune scores.npy y.npy --keep 0.9 --drop hard -o keep.npy
  python -c "import numpy as np; k = np.load('keep.npy'); X = np.load('X.npy')[k]"
"""
)
@click.argument("scores", type=EXISTING)
@click.argument("y", metavar="Y", type=EXISTING)
@click.option("--y-key", metavar="NAME", help="Array or column of the labels in Y (see score).")
@click.option(
    "--keep",
    required=True,
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="Fraction of each class to keep, in (0, 1].",
)
@click.option(
    "--drop",
    type=click.Choice(["easy", "hard"]),
    default="easy",
    show_default=True,
    help="Drop the lowest-scored (easy) or the highest-scored (hard) examples of each class.",
)
@click.option("-o", "--output", required=True, type=OUTPUT, help="Where to write the indices.")
def prune(scores: Path, y: Path, y_key: str | None, keep: float, drop: str, output: Path) -> None:
    """Keep a fraction of every class, ranked by score, as in the paper's pruning experiment.

    Writes the kept indices (increasing, int64) as .npy. Each class keeps round(keep * size)
    examples, at least one; equal scores are broken by index, lower first.
    """
    import cgfast

    check_output(output)
    values = read(read_scores, scores)
    labels = read(read_labels, y, y_key)
    kept = library(cgfast.prune, values, labels, keep=keep, drop=drop)
    write(output, lambda handle: np.save(handle, kept.astype(np.int64)))
    click.echo(
        f"cgfast prune: kept {len(kept)} of {len(values)} examples "
        f"({keep:g} of each class, {drop} dropped) -> {output}"
    )
