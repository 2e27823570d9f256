"""`cgfast assemble`: add up the parts of a job array's checkpoint and save the scores."""

from __future__ import annotations

from pathlib import Path

import click

from ._errors import library
from ._io import check_not_an_input, check_score_output, save_scores
from ._options import OUTPUT


@click.command(
    epilog="""\b
Examples:
  cgfast assemble /shared/run -o scores.npy
  cgfast assemble /shared/run --terms -o terms.npz
"""
)
@click.argument(
    "checkpoint", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--terms",
    is_flag=True,
    help="Write an .npz with score, a2, ab and b2 (score = a2 + 2*ab + b2) instead of a .npy.",
)
@click.option("-o", "--output", required=True, type=OUTPUT, help="Where to write the scores.")
def assemble(checkpoint: Path, terms: bool, output: Path) -> None:
    """Add up the blocks that `cgfast score --part` wrote to DIR and save the scores.

    Identical to the scores of one local run with the same arguments. Fails, naming the
    first missing block, while a part is unfinished.
    """
    import cgfast

    check_score_output(output, terms, table=False)
    # The run's own files: a new file beside them (DIR/scores.npy) is fine.
    check_not_an_input(
        output, *(checkpoint / name for name in ("manifest.json", "lock", "blocks", "suggestions"))
    )
    result = library(cgfast.assemble, checkpoint, return_terms=terms)
    save_scores(result, output, terms)
    n = len(result.score if terms else result)
    click.echo(f"cgfast assemble: {n} examples -> {output}")
