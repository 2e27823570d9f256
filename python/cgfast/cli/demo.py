"""`cgfast demo`: find flipped labels in scikit-learn's digits and write the report."""

from __future__ import annotations

from pathlib import Path

import click

from ._errors import library
from ._io import check_output
from ._options import OUTPUT


@click.command(
    epilog="""\b
Examples:
  cgfast demo
  cgfast demo --noise 0.2 --seed 1 -o demo.html
"""
)
@click.option(
    "--noise",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, max=0.9, min_open=True),
    help="Fraction of the labels flipped to another class at random.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the flips and of the scores.",
)
@click.option(
    "-o",
    "--output",
    default="cgfast-demo.html",
    show_default=True,
    type=OUTPUT,
    help="Where to write the report.",
)
def demo(noise: float, seed: int, output: Path) -> None:
    """Find flipped labels in scikit-learn's digits, with no model trained.

    Flips a fraction of the 1797 labels at random, scores every example, prints how well the
    score ranks the flipped ones (AUROC, precision among the top k) next to random guessing,
    and writes the report. Needs the demo extra: pip install "cgfast[demo]".
    """
    try:
        from ..demo import run_demo
    except ImportError as err:
        raise click.ClickException(
            f"cgfast demo needs scikit-learn and matplotlib ({err.name} is missing): "
            'pip install "cgfast[demo]"'
        ) from err
    check_output(output)
    library(run_demo, noise=noise, seed=seed, output=output, echo=click.echo)
