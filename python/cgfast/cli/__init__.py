"""The `cgfast` command line: the command group, its entry point and how it prints warnings.

Each command lives in its own module (``score``, ``assemble``, ``prune``, ``clean``, ``report``,
``demo``);
the flags they share are in ``_options``, their files in ``_io``, their errors in ``_errors``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from . import assemble, clean, demo, prune, report, score
from ._errors import InputError, Interrupted, one_line


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    epilog="""\b
Examples:
  cgfast demo
  cgfast score X.npy y.npy -o scores.npy
  cgfast prune scores.npy y.npy --keep 0.7 -o keep.npy
  cgfast clean scores.csv --action relabel -o clean.csv
  cgfast report X.npy y.npy --scores scores.npy -o report.html
""",
)
@click.version_option(package_name="cgfast", prog_name="cgfast")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Complexity-gap (CG) scores of every example, without training a model.

    High scores mark irregular, hard, often mislabelled examples; low scores mark easy,
    redundant ones (Ki, Choi & Chung, ICLR 2023). Start with `cgfast demo`.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(score.score)
cli.add_command(assemble.assemble)
cli.add_command(prune.prune)
cli.add_command(clean.clean)
cli.add_command(report.report)
cli.add_command(demo.demo)


def _warning_line(message: Any, category: type, *args: Any, **kwargs: Any) -> str:
    return f"cgfast: {category.__name__}: {one_line(Exception(message))}\n"


def _around_bars(show: Any) -> Any:
    """``warnings.showwarning`` that clears the progress bar before a warning's line and draws
    it again after, so that the line does not land in the middle of the bar."""

    def show_warning(*args: Any, **kwargs: Any) -> None:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            show(*args, **kwargs)

    show_warning.around_bars = True  # type: ignore[attr-defined]
    return show_warning


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `cgfast` console script: errors become one line and an exit status.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    cgfast, version 0.2.0
    """
    warnings.formatwarning = _warning_line
    if not getattr(warnings.showwarning, "around_bars", False):
        warnings.showwarning = _around_bars(warnings.showwarning)
    name = "cgfast"
    try:
        status = cli.main(args=argv, prog_name=name, standalone_mode=False)
    except click.UsageError as err:
        command = err.ctx.command_path if err.ctx else name
        hint = f" (see {command} --help)"
        click.echo(f"{command}: error: {one_line(err.format_message())}{hint}", err=True)
        status = 2
    except click.ClickException as err:
        command = err.command if isinstance(err, InputError) else name
        click.echo(f"{command}: error: {one_line(err.format_message())}", err=True)
        status = err.exit_code
    except click.exceptions.Abort as err:
        # A checkpointed run says what it saved and how to resume from it.
        detail = ""
        if isinstance(err, Interrupted):
            detail = ": " + err.resume_hint(sys.argv[1:] if argv is None else list(argv))
        click.echo(f"{name}: aborted{detail}", err=True)
        status = 130
    sys.exit(status if isinstance(status, int) else 0)
