"""`cgfast prune`: keep a fraction of every class by score, and save which examples were kept."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .._files import read_labels, read_score_table, read_scores
from .._table import TABLE_FORMATS, check_table_path, write_table
from ..options import check_seed
from ..prune import DROPS, STRATEGIES, kept_columns
from ._errors import library
from ._io import check_not_an_input, check_output, read, write
from ._options import EXISTING, OUTPUT, SeedType


def check_prune_output(output: Path) -> None:
    """Fails before any work when ``output``'s extension is not one `prune` writes."""
    suffix = output.suffix.lower()
    if suffix in TABLE_FORMATS:
        read(check_table_path, output)
    elif suffix != ".npy":
        raise click.BadParameter(
            f"cannot tell what to write from the extension of {output.name!r}: use .npy "
            "(the kept indices) or .csv/.parquet (a table of their indices and ids)",
            param_hint="'-o'",
        )
    check_output(output)


@click.command(
    epilog="""\b
Examples:
  cgfast score images/ -o scores.csv
  cgfast prune scores.csv --keep 0.3 -o keep.csv
  cgfast prune scores.npy y.npy --keep 0.7 -o keep.npy
  cgfast prune scores.npy y.npy --keep 0.9 --strategy keep-hard -o keep.npy
  python -c "import numpy as np; k = np.load('keep.npy'); X = np.load('X.npy')[k]"
"""
)
@click.argument("scores", type=EXISTING)
@click.argument("y", metavar="[Y]", type=EXISTING, required=False)
@click.option("--y-key", metavar="NAME", help="Array or column of the labels in Y (see score).")
@click.option(
    "--keep",
    required=True,
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="Fraction of each class to keep, in (0, 1].",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    help="Which examples of each class to keep: 'coverage' spreads them over the score's range "
    "after cutting the highest (default), 'keep-hard' keeps the highest scores, 'keep-easy' "
    "the lowest.",
)
@click.option(
    "--beta",
    type=click.FloatRange(min=0, max=1, max_open=True),
    help="coverage: fraction of each class cut from the top first (default: 0 when at least "
    "half is kept, 0.05 at --keep 0.3, 0.2 at 0.1 and below, linear in between).",
)
@click.option("--bins", type=click.IntRange(min=1), help="coverage: score bins (default 50).")
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=SeedType(),
    metavar="INT|random",
    help="coverage: seed of the draw within bins; 'random' draws one and prints it.",
)
@click.option(
    "--keep-issues",
    is_flag=True,
    help="Let the table's label issues (its label_issue column) be kept; by default they are "
    "left out before pruning, so pruning never raises the share of wrong labels.",
)
@click.option(
    "--drop",
    type=click.Choice(tuple(DROPS)),
    help="Deprecated: --drop easy is --strategy keep-hard, --drop hard is --strategy keep-easy.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=OUTPUT,
    help="Where to write: .npy (the kept indices, int64) or .csv/.parquet (a table of the "
    "kept examples: index, id, label, score).",
)
def prune(
    scores: Path,
    y: Path | None,
    y_key: str | None,
    keep: float,
    strategy: str | None,
    beta: float | None,
    bins: int | None,
    seed: int | None,
    keep_issues: bool,
    drop: str | None,
    output: Path,
) -> None:
    """Keep a fraction of every class by score, as in the paper's pruning experiment.

    SCORES is the table `cgfast score -o scores.csv` (or .parquet) writes, which holds the
    labels and ids, or the .npy/.npz of `cgfast score` with the labels in Y. Each class keeps
    round(keep * size) examples, at least one. A table's label issues are left out first
    (--keep-issues keeps them in play). Writes the kept examples, in increasing order.
    """
    import cgfast

    check_prune_output(output)
    check_not_an_input(output, scores, y)
    if drop is not None:
        if strategy is not None:
            raise click.UsageError("give --strategy or the older --drop, not both")
        strategy = DROPS[drop]
        message = f"cgfast prune: --drop {drop} is --strategy {strategy}; --drop will go"
        click.echo(message, err=True)
    if scores.suffix.lower() in TABLE_FORMATS:
        if y is not None or y_key is not None:
            raise click.UsageError(f"{scores.name} holds the labels: leave out Y and --y-key")
        table = read(read_score_table, scores)
        values, labels, ids = table["score"], table["label"], table["id"]
        issues = None if keep_issues else table.get("label_issue")
    else:
        if y is None:
            raise click.UsageError("Missing argument 'Y' (the labels), needed with .npy scores.")
        values = read(read_scores, scores)
        labels = read(read_labels, y, y_key)
        ids, issues = None, None
    drawn = seed is None
    if drawn:
        seed = check_seed(None)
    kept = library(
        cgfast.prune,
        values,
        labels,
        keep=keep,
        strategy=strategy,
        beta=beta,
        bins=bins,
        seed=seed,
        issues=issues,
    )
    if output.suffix.lower() == ".npy":
        write(output, lambda handle: np.save(handle, kept.astype(np.int64)))
    else:
        write_table(output, kept_columns(kept, values, labels, ids), write)
    summary = (
        f"cgfast prune: kept {len(kept)} of {len(values)} examples "
        f"({keep:g} of each class, {strategy or STRATEGIES[0]})"
    )
    if issues is not None and issues.any():
        summary += f", {int(issues.sum())} label issues left out first"
    if drawn:
        summary += f", seed {seed} (drawn; --seed {seed} repeats this run)"
    click.echo(f"{summary} -> {output}")
