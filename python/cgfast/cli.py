"""The `cgfast` command line: read arrays from files, call the library, write results."""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from ._atomic import atomic_file, write_atomic
from ._files import has_glob, is_dataset, open_dataset, open_x, read_labels, read_scores
from ._table import TABLE_FORMATS, check_table_path, table_columns, write_table
from .options import PRECISIONS, SAMPLERS, Options

# Exceptions the library raises for bad input; the command line prints them as one line.
USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)


class InputError(click.ClickException):
    """Bad input data or an unreadable file: one line on stderr, exit status 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        ctx = click.get_current_context(silent=True)
        self.command = ctx.command_path if ctx else "cgfast"


def _one_line(err: BaseException) -> str:
    return re.sub(r"\s+", " ", str(err)).strip() or type(err).__name__


def _library(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls into cgfast, turning its input errors into :class:`InputError`."""
    try:
        return call(*args, **kwargs)
    except USER_ERRORS as err:
        raise InputError(_one_line(err)) from err


# ----------------------------------------------------------------------------- reading files


def _read(reader: Callable[..., Any], path: Path, *args: Any, **kwargs: Any) -> Any:
    """Reads ``path`` with one of ``_files``' readers; its errors become one line naming it."""
    try:
        return reader(path, *args, **kwargs)
    except (*USER_ERRORS, ImportError) as err:
        message = _one_line(err)
        if str(path) not in message:
            message = f"cannot read {path}: {message}"
        raise InputError(message) from err


def _check_output(path: Path) -> None:
    """Fails before any work when the output's folder does not exist."""
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")


def _write(path: Path, write: Callable[[Any], None]) -> None:
    """Writes ``path`` whole or not at all: a temporary file in its folder, fsynced, renamed."""
    try:
        write_atomic(path, write)
    except OSError as err:
        raise InputError(f"cannot write {path}: {_one_line(err)}") from err


def _write_by_name(path: Path, write: Callable[[Path], Any]) -> None:
    """Like :func:`_write` for writers that take a file name: ``write`` fills a temporary file
    in ``path``'s folder, which becomes ``path`` only once it is complete."""
    with atomic_file(path, path.suffix) as (_, temporary):
        write(temporary)


# ----------------------------------------------------------------------------- options

EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT = click.Path(dir_okay=False, writable=True, path_type=Path)


class RatioType(click.ParamType):
    """A positive number of negatives per positive, or 'all'."""

    name = "ratio"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "all" or isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not number > 0 or number == float("inf"):
            self.fail(f"must be a positive number or 'all', got {value!r}", param, ctx)
        return number


class InputPath(click.Path):
    """An existing file or folder, or a glob of parquet files (left for ``_files`` to expand)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if has_glob(value):
            return Path(value)
        return super().convert(value, param, ctx)


def _data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """X and Y arguments and the options that say where inside their files to look."""
    for decorator in reversed(
        [
            click.argument("x", metavar="X", type=InputPath(exists=True, path_type=Path)),
            click.argument("y", metavar="[Y]", type=EXISTING, required=False),
            click.option(
                "--x-key",
                metavar="NAME",
                help="Array of X in a .npz (default: the only one, else 'X'); in a .csv/.parquet "
                "or parquet shards, the embedding column or comma-separated feature columns "
                "(default: the only list column, else every numeric column but the label and "
                "id columns).",
            ),
            click.option(
                "--y-key",
                metavar="NAME",
                help="Array of y in a .npz (default: the only one, else 'y'); in a .csv/.parquet "
                "or parquet shards, the label column (needed when the file has several).",
            ),
            click.option(
                "--id-key",
                metavar="NAME",
                help="Column of X's .csv/.parquet or parquet shards holding each example's id "
                "(the table's id column; default: the row index).",
            ),
            click.option(
                "--image-size",
                metavar="HxW",
                help="Resize every image of an image folder to this size (needed when their "
                "sizes differ), e.g. 32x32.",
            ),
            click.option(
                "--skip-unreadable",
                is_flag=True,
                help="Leave out the images of an image folder that cannot be decoded "
                "(default: stop, naming the first).",
            ),
            click.option(
                "--cache",
                type=click.Path(file_okay=False, path_type=Path),
                metavar="DIR",
                help="Folder for the .npy that an image folder or parquet shards are converted "
                "into once (default: next to them, or ~/.cache/cgfast when that is read-only).",
            ),
        ]
    ):
        command = decorator(command)
    return command


def _read_data(
    x: Path,
    y: Path | None,
    x_key: str | None,
    y_key: str | None,
    id_key: str | None,
    image_size: str | None,
    skip_unreadable: bool,
    cache: Path | None,
    progress: bool,
) -> tuple[Any, np.ndarray, Any]:
    """X, the labels and the ids (None: the row index) from the command's arguments.

    X may be a file, a Zarr store, parquet shards (a folder or glob) or an image folder; Y may
    be left out when X names its labels (an image folder's subfolders, a label column of X).
    """
    if is_dataset(x):
        from ._parquet import parquet_files

        shards = _read(parquet_files, x) is not None
        if shards and y is None and y_key is None:
            raise click.UsageError(f"{x} has no labels: name their column with --y-key, or give Y")
        data = _read(
            lambda path: open_dataset(
                path,
                x_key=x_key,
                y_key=y_key if y is None else None,
                id_key=id_key,
                image_size=image_size,
                skip_unreadable=skip_unreadable,
                cache=cache,
                progress=progress,
            ),
            x,
        )
        labels = data.y if y is None else _read(read_labels, y, y_key)
        if labels is None:
            raise click.UsageError(f"{x} has no labels: name their column with --y-key, or give Y")
        return data.X, labels, data.ids
    if image_size is not None or skip_unreadable:
        raise click.UsageError("--image-size and --skip-unreadable apply to an image folder X")
    if y is None:
        if x.suffix.lower() not in (".npz", ".csv", ".parquet"):
            raise click.UsageError("Missing argument 'Y' (the labels).")
        y = x
    labels = _read(read_labels, y, y_key)
    ids = None
    if id_key is not None:
        if x.suffix.lower() not in (".csv", ".parquet"):
            raise click.UsageError("--id-key names a column of a .csv/.parquet X or parquet shards")
        ids = _read(read_labels, x, id_key)
    data = _read(open_x, x, x_key, labels=(y, y_key), exclude=id_key)
    return data, labels, ids


class RepeatsType(click.ParamType):
    """A positive number of repeats, or 'auto'."""

    name = "repeats"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "auto" or isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            self.fail(f"must be a positive integer or 'auto', got {value!r}", param, ctx)
        return number


# The flags' defaults are the options' own, written once in Options.
_DEFAULT = {f.name: f.default for f in dataclasses.fields(Options)}


def _scoring_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of cgfast.score shared by `score` and `report`, one flag per field of Options.

    Each flag's parameter is named like its field, so ``Options.pick(params)`` builds the run's
    options from the parsed command line.
    """
    for decorator in reversed(
        [
            click.option(
                "--ratio",
                default=_DEFAULT["ratio"],
                show_default=True,
                type=RatioType(),
                metavar="FLOAT|all",
                help="Negatives sampled per positive; 'all' uses every other-class example.",
            ),
            click.option(
                "--repeats",
                default=_DEFAULT["repeats"],
                show_default=True,
                type=RepeatsType(),
                metavar="INT|auto",
                help="Negative samples to average over; 'auto' adds them in rounds until the "
                "ranking's estimated stability reaches --stability (at most --max-repeats).",
            ),
            click.option(
                "--stability",
                default=_DEFAULT["stability"],
                show_default=True,
                type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
                help="Target of --repeats auto: the expected Spearman between two runs' rankings.",
            ),
            click.option(
                "--max-repeats",
                default=_DEFAULT["max_repeats"],
                show_default=True,
                type=click.IntRange(min=2),
                help="Most repeats --repeats auto may run.",
            ),
            click.option(
                "--sampler",
                default=_DEFAULT["sampler"],
                show_default=True,
                type=click.Choice(SAMPLERS),
                help="How negatives are drawn: 'cover' spreads the other classes evenly over "
                "repeats and chunks; 'independent' draws each block afresh (release 0.1.0).",
            ),
            click.option(
                "--seed",
                default=_DEFAULT["seed"],
                show_default=True,
                type=click.IntRange(min=0),
                help="Seed of every random draw.",
            ),
            click.option(
                "--max-block",
                type=click.IntRange(min=2),
                help="Most rows in one block (default: what memory allows, up to 2048).",
            ),
            click.option(
                "--precision",
                default=_DEFAULT["precision"],
                show_default=True,
                type=click.Choice(PRECISIONS),
                help="Arithmetic of the kernel and its factorisation.",
            ),
            click.option(
                "--threads",
                "n_jobs",
                type=click.IntRange(min=1),
                help="Threads for the arithmetic (default: every CPU this process may use).",
            ),
        ]
    ):
        command = decorator(command)
    return command


def _run_score(
    X: Any,
    y: np.ndarray,
    options: Options,
    progress: bool,
    *,
    checkpoint: Path | None = None,
    return_terms: bool = False,
    part: tuple[int, int] | None = None,
) -> tuple[Any, str, Options]:
    """Scores with a progress bar on stderr; returns the result, the summary line and the
    options the run used (``max_block`` resolved).

    With ``part = (i, N)`` only part i of N of the plan is scored into the checkpoint, and the
    result is None (``cgfast assemble`` adds the parts up).
    """
    from .engine import LocalExecutor, assemble, complete, prepare
    from .parts import score_share

    start = time.perf_counter()
    run = _library(prepare, X, y, options, fingerprint=checkpoint is not None)
    if part is not None:
        assert checkpoint is not None
        share = _library(score_share, run, checkpoint, part[0], part[1], progress=progress)
        seconds = time.perf_counter() - start
        summary = f"part {part[0]} of {part[1]}: {share.describe()}"
        return None, f"{summary}, {seconds:.2f} s", run.options
    outcome = _library(complete, run, LocalExecutor(), checkpoint=checkpoint, progress=progress)
    terms = _library(assemble, outcome.results, run.rows.n, outcome.repeats, True)
    seconds = time.perf_counter() - start
    blocks = len(outcome.results)
    summary = f"{run.rows.n} examples, {blocks} blocks, {seconds:.2f} s"
    if options.auto:
        summary += f", {outcome.repeats} repeats"
    if terms.stability is not None:
        summary += f", stability {terms.stability:.3f}"
    return (terms if return_terms else terms.score), summary, run.options


def _save_scores(result: Any, output: Path, terms: bool) -> None:
    if terms:
        parts = {name: getattr(result, name) for name in ("score", "a2", "ab", "b2")}
        _write(output, lambda handle: np.savez(handle, **parts))
    else:
        _write(output, lambda handle: np.save(handle, result))


def _check_score_output(output: Path, terms: bool, *, table: bool = True) -> None:
    """Fails before any work when ``output``'s extension is not one this command writes."""
    suffix = output.suffix.lower()
    if table and suffix in TABLE_FORMATS:
        _read(lambda path: check_table_path(path), output)
    elif suffix in (".npy", ".npz"):
        wanted = ".npz" if terms else ".npy"
        if suffix != wanted:
            raise click.BadParameter(
                f"{'--terms writes an .npz archive' if terms else 'scores are written as .npy'}"
                f"{' (or a .csv/.parquet table)' if table else ''}: give a name ending in {wanted}",
                param_hint="'-o'",
            )
    else:
        kinds = ".npy (scores), .npz (with --terms)" + (
            ", .csv or .parquet (a table)" if table else ""
        )
        raise click.BadParameter(
            f"cannot tell what to write from the extension of {output.name!r}: use {kinds}",
            param_hint="'-o'",
        )
    _check_output(output)


def _save_table(result: Any, labels: np.ndarray, ids: Any, output: Path, terms: bool) -> None:
    columns = _library(table_columns, result, labels, ids, with_terms=terms)
    write_table(output, columns, _write)


# ----------------------------------------------------------------------------- commands


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    epilog="""\b
Examples:
  cgfast demo
  cgfast score X.npy y.npy -o scores.npy
  cgfast prune scores.npy y.npy --keep 0.7 -o keep.npy
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


@cli.command(
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
  cgfast score X.npy y.npy --checkpoint /shared/run --part $SLURM_ARRAY_TASK_ID --parts 16
"""
)
@_data_options
@_scoring_options
@click.option(
    "--checkpoint",
    type=click.Path(file_okay=False, path_type=Path),
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
    "-o",
    "--output",
    type=OUTPUT,
    help="Where to write the scores (not with --part): .npy (the scores), .npz (with --terms), "
    ".csv or .parquet (a table: id, label, score, rank_in_class, label_issue, stability).",
)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
def score(
    x: Path,
    y: Path | None,
    x_key: str | None,
    y_key: str | None,
    id_key: str | None,
    image_size: str | None,
    skip_unreadable: bool,
    cache: Path | None,
    checkpoint: Path | None,
    terms: bool,
    part: int | None,
    parts: int | None,
    output: Path | None,
    progress: bool,
    **scoring: Any,
) -> None:
    """Score every example of X (labels Y) and save the scores, or a table of them.

    X and Y are .npy, .npz, .csv or .parquet files (they may be the same file; Y may then be
    left out). X may also be a folder or glob of parquet shards, or a folder of images with one
    subfolder per class (the subfolder's name is the label): either is converted once into a
    .npy cache next to it (see --cache) and reused while unchanged. A .npy X is memory-mapped
    and read a block at a time. A .csv or .parquet output is a table with one
    row per example: its id (the path within an image folder, the --id-key column, else the
    row index), label, score, rank within its class (1 = highest),
    whether find_label_issues flags it, and the run's stability. With --part/--parts, score one
    share of the blocks into the --checkpoint directory (one task of a job array) and write no
    scores.
    """
    if (part is None) != (parts is None):
        raise click.UsageError("--part and --parts go together")
    if part is not None:
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
        _check_score_output(output, terms)
    data, labels, ids = _read_data(
        x, y, x_key, y_key, id_key, image_size, skip_unreadable, cache, progress
    )
    options = _library(Options.pick, scoring)
    share = None if part is None else (part, parts)
    table = output is not None and output.suffix.lower() in TABLE_FORMATS
    result, summary, _ = _run_score(
        data,
        labels,
        options,
        progress,
        checkpoint=checkpoint,
        return_terms=terms or table,
        part=share,
    )
    if result is None:
        click.echo(f"cgfast score: {summary} -> {checkpoint}")
        return
    if table:
        _save_table(result, labels, ids, output, terms)
    else:
        _save_scores(result, output, terms)
    click.echo(f"cgfast score: {summary} -> {output}")


@cli.command(
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

    _check_score_output(output, terms, table=False)
    result = _library(cgfast.assemble, checkpoint, return_terms=terms)
    _save_scores(result, output, terms)
    n = len(result.score if terms else result)
    click.echo(f"cgfast assemble: {n} examples -> {output}")


@cli.command(
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

    _check_output(output)
    values = _read(read_scores, scores)
    labels = _read(read_labels, y, y_key)
    kept = _library(cgfast.prune, values, labels, keep=keep, drop=drop)
    _write(output, lambda handle: np.save(handle, kept.astype(np.int64)))
    click.echo(
        f"cgfast prune: kept {len(kept)} of {len(values)} examples "
        f"({keep:g} of each class, {drop} dropped) -> {output}"
    )


@cli.command(
    epilog="""\b
Examples:
  cgfast report X.npy y.npy -o report.html
  cgfast report X.npy y.npy --scores scores.npy --shape 28x28 -o report.html
  cgfast report table.csv table.csv --y-key label --repeats 5 -o report.html
"""
)
@_data_options
@click.option(
    "--scores",
    type=EXISTING,
    help="Scores from `cgfast score` (default: score here, with the options below).",
)
@_scoring_options
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
    output: Path,
    progress: bool,
    **scoring: Any,
) -> None:
    """Write one self-contained HTML page about X, Y and their scores.

    It shows each class's score distribution, its complexity against the rest, and its
    highest- and lowest-scored examples (as images when rows are images).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise click.ClickException(
            'cgfast report needs matplotlib: pip install matplotlib (or "cgfast[demo]")'
        ) from err
    from .report import parse_shape, write_report

    _check_output(output)
    picture = _library(parse_shape, shape) if shape is not None else None
    data, labels, ids = _read_data(
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
        values = _read(read_scores, scores)
    else:
        options = _library(Options.pick, scoring)
        terms, summary, used = _run_score(data, labels, options, progress, return_terms=True)
        values = terms.score
        run = dict(used.manifest(), repeats=terms.repeats, stability=terms.stability)
        arguments["scored"] = summary
    _library(
        _write_by_name,
        output,
        lambda temporary: write_report(
            temporary,
            data,
            labels,
            values,
            shape=picture,
            per_class=per_class,
            run=run,
            arguments=arguments,
            ids=ids,
        ),
    )
    click.echo(f"cgfast report: {len(labels)} examples -> {output}")


@cli.command(
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
        from .demo import run_demo
    except ImportError as err:
        raise click.ClickException(
            f"cgfast demo needs scikit-learn and matplotlib ({err.name} is missing): "
            'pip install "cgfast[demo]"'
        ) from err
    _check_output(output)
    _library(run_demo, noise=noise, seed=seed, output=output, echo=click.echo)


# ----------------------------------------------------------------------------- entry point


def _warning_line(message: Any, category: type, *args: Any, **kwargs: Any) -> str:
    return f"cgfast: {category.__name__}: {_one_line(Exception(message))}\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `cgfast` console script: errors become one line and an exit status.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    cgfast, version 0.1.0
    """
    warnings.formatwarning = _warning_line
    name = "cgfast"
    try:
        status = cli.main(args=argv, prog_name=name, standalone_mode=False)
    except click.UsageError as err:
        command = err.ctx.command_path if err.ctx else name
        hint = f" (see {command} --help)"
        click.echo(f"{command}: error: {_one_line(err.format_message())}{hint}", err=True)
        status = 2
    except click.ClickException as err:
        command = err.command if isinstance(err, InputError) else name
        click.echo(f"{command}: error: {_one_line(err.format_message())}", err=True)
        status = err.exit_code
    except click.exceptions.Abort:
        click.echo(f"{name}: aborted", err=True)
        status = 130
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
