"""The flags that several commands share, and the parameter types behind them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import click

from .._files import has_glob
from ..options import PRECISIONS, SAMPLERS, TASKS, Options
from ..tabular import INDICATORS

EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT = click.Path(dir_okay=False, writable=True, path_type=Path)


class DirectoryPath(click.Path):
    """A folder cgfast writes into. An empty name is refused: as a path it means the working
    directory, which is never what `--checkpoint ''` (an unset shell variable) meant."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(
                "an empty name would write into the working directory: give a folder "
                "('.' for the working directory)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


DIRECTORY = DirectoryPath()


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


class SeedType(click.ParamType):
    """A non-negative integer seed, or 'random' (None: the library draws one)."""

    name = "seed"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None or value == "random":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number < 0:
            self.fail(f"must be a non-negative integer or 'random', got {value!r}", param, ctx)
        return number


class InputPath(click.Path):
    """An existing file or folder, or a glob of parquet files (left for ``_files`` to expand)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if has_glob(value):
            return Path(value)
        return super().convert(value, param, ctx)


class UnscaledType(click.ParamType):
    """``--unscaled``: 'indicators', 'none' (an empty list: every column scaled) or
    comma-separated columns, each a position (an int) or a name (a str, resolved against X's
    header by ``cli._io.unscaled_positions``), as ``prepare_tabular``'s ``unscaled`` takes
    them."""

    name = "columns"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word in (INDICATORS, "none"):
            return INDICATORS if word == INDICATORS else []
        columns: list[int | str] = []
        for part in (part.strip() for part in value.split(",")):
            if not part:
                self.fail(
                    "must be 'indicators', 'none' or comma-separated column positions from 0 "
                    f"or names (such as 0,3,4 or age,income), got {value!r}",
                    param,
                    ctx,
                )
            try:
                columns.append(int(part))
            except ValueError:
                columns.append(part)
        return columns


UNSCALED = UnscaledType()


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """X and Y arguments and the options that say where inside their files to look.

    Their parameters are the arguments of :func:`cgfast.cli._io.read_data`.
    """
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
                "--tabular",
                is_flag=True,
                help="X is a table of numeric features: standardise its columns (the 0/1 ones "
                "stay 0 and 1) and append a constant column before scoring "
                "(cgfast.prepare_tabular; the user guide's preparation for tables). Read into "
                "memory.",
            ),
            click.option(
                "--unscaled",
                type=UNSCALED,
                metavar="COLUMNS",
                help="With --tabular, the columns kept as they are: 'indicators' (the default: "
                "those whose values are 0 and 1), 'none' (standardise every column), or "
                "comma-separated columns of X: names from a .csv header or parquet schema "
                "(e.g. age,income), or positions among X's feature columns from 0 (e.g. 0,3,4).",
            ),
            click.option(
                "--cache",
                type=DIRECTORY,
                metavar="DIR",
                help="Folder for the .npy that an image folder or parquet shards are converted "
                "into once (default: $CGFAST_CACHE, else ~/.cache/cgfast; never the data's "
                "folder).",
            ),
        ]
    ):
        command = decorator(command)
    return command


# The flags' defaults are the options' own, written once in Options.
_DEFAULT = {f.name: f.default for f in dataclasses.fields(Options)}


def scoring_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of cgfast.score shared by `score` and `report`, one flag per field of Options.

    Each flag's parameter is named like its field, so ``Options.pick(params)`` builds the run's
    options from the parsed command line.
    """
    for decorator in reversed(
        [
            click.option(
                "--task",
                default=_DEFAULT["task"],
                show_default=True,
                type=click.Choice(TASKS),
                help="What Y is: class labels, or a real-valued target (regression: each row's "
                "leave-one-out residual and whether it is a target issue; --ratio, --sampler "
                "and --suggest are for classes). Never guessed from Y.",
            ),
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
                "repeats and chunks; 'independent' is the independent sampler (0.1.0's "
                "default), a fresh draw for every block.",
            ),
            click.option(
                "--seed",
                default=_DEFAULT["seed"],
                show_default=True,
                type=SeedType(),
                metavar="INT|random",
                help="Seed of every random draw; 'random' draws one and prints it.",
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
                help="Arithmetic of the kernel and its factorisation: single (float32, the same "
                "ranking at about twice the rate) or double (float64, the exact reference).",
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
