"""Files that appear whole or not at all: written under a temporary name, synced, renamed.

Every file cgfast writes (checkpoint blocks and manifests, scores, reports, .npy caches) goes
through :func:`atomic_file`, so a crash or Ctrl-C at any point leaves either the previous file
or the complete new one, never a truncated file under the final name. A temporary name is
hidden and names its writer (``.NAME.~PID@HOST~XXXXXXXX``): what a killed writer (``kill -9``,
a node lost) leaves is removed by :func:`remove_stale` when cgfast next opens that folder.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


def file_mode() -> int:
    """The permissions ``open()`` gives a new file (0o666 less the umask), for files made by
    ``mkstemp`` (0o600) and then renamed into place."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def sync_folder(folder: Path) -> None:
    """Makes the names in ``folder`` durable (a rename is only on disk once its folder is)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not a folder this platform can open: nothing more can be done
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself has happened
    finally:
        os.close(fd)


def temporary_prefix(name: str) -> str:
    """The start of the hidden temporary name of a file to be called ``name``, naming this
    process and its host, so that :func:`remove_stale` can tell when its writer is gone."""
    return f".{name}.~{os.getpid()}@{socket.gethostname()}~"


def _writer_ended(pid: int, host: str) -> bool:
    """Whether the writer ``pid`` of ``host`` has ended, as far as this host can tell: only a
    process of this host can be looked up (another host's is taken to be alive)."""
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # another user's process: alive
    return False


def remove_stale(folder: Path, final: str, *, alone: bool = False) -> list[Path]:
    """Removes the temporary files in ``folder`` that nobody will finish, and returns them.

    Only temporaries of files whose final name matches the regular expression ``final`` are
    looked at: those whose writer, named in them (:func:`temporary_prefix`), has ended on this
    host; with ``alone`` (the caller holds ``folder`` for itself, by a lock that every writer of
    such files takes), every one not of this process, those of releases that did not name the
    writer (``.NAME.XXXXXXXX``) included.
    """
    named = re.compile(rf"\.(?:{final})\.~(\d+)@([^~/]+)~.*", re.DOTALL)
    unnamed = re.compile(rf"\.(?:{final})\.[a-z0-9_]{{8}}")
    here, me = socket.gethostname(), os.getpid()
    removed = []
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(".")]
    except OSError:
        return removed
    for name in names:
        found = named.fullmatch(name)
        if found:
            pid, host = int(found[1]), found[2]
            stale = (alone and (pid, host) != (me, here)) or _writer_ended(pid, host)
        else:
            stale = alone and unnamed.fullmatch(name) is not None
        if stale:
            path = Path(folder) / name
            try:
                path.unlink()
            except OSError:  # removed by another run first, or not ours to remove
                continue
            removed.append(path)
    return removed


@contextmanager
def atomic_file(path: Path, suffix: str = "") -> Iterator[tuple[BinaryIO, Path]]:
    """A new temporary file next to ``path``, open for reading and writing, and its name.

    Write it through the handle or by the name. When the block exits normally, the file gets
    the permissions ``open()`` would give, is synced, renamed to ``path`` and its folder synced;
    when it raises (Ctrl-C included), the temporary file is removed and ``path`` is untouched.
    ``suffix`` ends the temporary name, for writers that choose a format by it.
    """
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=suffix, dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "r+b") as handle:
            yield handle, temporary
        # Opened again by name: a writer given the name may have replaced the file.
        with open(temporary, "rb") as written:
            os.fchmod(written.fileno(), file_mode())
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def write_atomic(path: Path, write: Any) -> None:
    """Writes ``path`` whole or not at all through ``write(handle)``."""
    with atomic_file(path) as (handle, _):
        write(handle)
