"""How the command line reports bad input: one line on stderr and exit status 2."""

from __future__ import annotations

import re
import shlex
import zipfile
from collections.abc import Sequence
from typing import Any, Callable

import click

# Exceptions the library raises for bad input; the command line prints them as one line.
USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)


class InputError(click.ClickException):
    """Bad input data or an unreadable file: one line on stderr, exit status 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        ctx = click.get_current_context(silent=True)
        self.command = ctx.command_path if ctx else "cgfast"


def one_line(err: BaseException | str) -> str:
    """The message of ``err`` on one line, its runs of whitespace made single spaces."""
    return re.sub(r"\s+", " ", str(err)).strip() or type(err).__name__


def library(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls into cgfast, turning its input errors into :class:`InputError`."""
    try:
        return call(*args, **kwargs)
    except USER_ERRORS as err:
        raise InputError(one_line(err)) from err


class Interrupted(click.exceptions.Abort):
    """Ctrl-C during a run that keeps its finished blocks: ``saved`` says what is on disk."""

    def __init__(self, saved: str) -> None:
        super().__init__(saved)
        self.saved = saved

    def resume_hint(self, argv: Sequence[str]) -> str:
        """What was saved and the command (``argv``, the arguments after ``cgfast``) that
        resumes from it."""
        command = shlex.join(["cgfast", *argv])
        return f"{self.saved}; to resume, run the same command again: {command}"
