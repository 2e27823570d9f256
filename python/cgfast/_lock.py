"""The advisory lock that gives a checkpoint directory to one run at a time.

A run holds ``DIR/lock`` with ``flock(2)`` for as long as it reads and writes DIR: exclusively,
or shared by the parts of a job array, which meet in one directory on purpose (a part whose
arguments differ is then refused by the manifest). A second run is refused at once, naming the
process that holds the directory. The kernel drops the lock when its process ends, however it
ends (``kill -9`` included), so a killed run never leaves the directory locked; the file stays,
and holds the last holder's PID and host.

The lock is advisory: it keeps out other cgfast runs, not other programs. Where the file system
cannot lock (``flock`` fails: some network file systems, or no ``fcntl`` on this platform) the run
goes on without it, with a :class:`~cgfast.CheckpointWarning`; the manifest's
exclusive creation and the blocks' identities still keep two runs' blocks apart there.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._errors import CheckpointLockedError, CheckpointWarning

try:
    import fcntl
except ImportError:  # not a POSIX platform: no flock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "lock"


@dataclass
class _Held:
    fd: int | None  # None: the file system could not lock, the run goes on without
    shared: bool
    thread: int
    pid: int
    count: int = 1


# The directories this process holds, by real path: a run's steps (scores, then suggestions)
# take the lock again without refusing themselves.
_held: dict[str, _Held] = {}
_guard = threading.Lock()


@contextmanager
def hold(directory: str | os.PathLike, *, shared: bool = False) -> Iterator[None]:
    """Holds ``directory``'s lock (creating the directory) for the ``with`` block.

    ``shared``: a job-array part, which other parts may hold at the same time. Raises
    :class:`CheckpointLockedError`, before anything is written, when another run holds it.
    """
    where = Path(directory)
    where.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(where)
    with _guard:
        held = _held.get(key)
        if held is not None and held.pid == os.getpid():
            mine = held.thread == threading.get_ident()
            if not (mine or (shared and held.shared)):
                raise CheckpointLockedError(
                    f"checkpoint directory {str(directory)!r} is in use by another run in this "
                    f"process (thread {held.thread}); give each run its own directory"
                )
            held.count += 1
        else:
            fd = _lock(where, shared, str(directory))
            held = _Held(fd, shared, threading.get_ident(), os.getpid())
            _held[key] = held
    try:
        yield
    finally:
        with _guard:
            held.count -= 1
            if held.count == 0:
                del _held[key]
                if held.fd is not None:
                    if held.shared:
                        _forget(held.fd)
                    os.close(held.fd)  # closing the file releases the lock


def held_alone(directory: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``directory``, or of a folder it is in, for
    itself: exclusively, and on a file system that locks. No other run can then be writing
    there, so what another writer left is stale."""
    where = Path(os.path.realpath(directory))
    with _guard:
        for folder in (where, *where.parents):
            held = _held.get(str(folder))
            if held is not None:
                return held.fd is not None and not held.shared
    return False


def _lock(where: Path, shared: bool, name: str) -> int | None:
    """An open descriptor of ``where/lock``, locked; None where locking is not possible."""
    path = where / LOCK_NAME
    if fcntl is None:
        _unlocked(name, "this platform has no flock")
        return None
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        _unlocked(name, f"its lock file cannot be opened: {err}")
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise CheckpointLockedError(
            f"checkpoint directory {name!r} is in use by another run ({holder}): wait for it to "
            "finish, or give this run another directory. The lock is released when that "
            f"process ends; job-array parts (--part) may share a directory, other runs may not"
        ) from None
    except OSError as err:  # ENOLCK, EOPNOTSUPP, ...: this file system does not lock
        os.close(fd)
        _unlocked(name, f"flock failed: {err}")
        return None
    # The holders, one line each, for the message of a run refused: the run alone, or the parts
    # that share the lock, each adding its line and taking it away when done.
    try:
        if not shared:
            os.ftruncate(fd, 0)
        os.write(fd, _line(shared).encode())
    except OSError:
        pass  # the lock is held; only the message of a refused run would miss the holder
    return fd


def _line(shared: bool) -> str:
    role = "job-array part" if shared else "run"
    return f"{os.getpid()} {socket.gethostname()} {role}\n"


def _lines(fd: int) -> list[str]:
    return os.pread(fd, os.fstat(fd).st_size, 0).decode().splitlines(keepends=True)


def _forget(fd: int) -> None:
    """Takes this part's line out of the lock file (best effort: the line is only a message)."""
    try:
        rest = [line for line in _lines(fd) if line != _line(True)]
        os.ftruncate(fd, 0)
        os.write(fd, "".join(rest).encode())
    except (OSError, UnicodeDecodeError):
        pass


def _holder(fd: int) -> str:
    """Who holds the lock, as its holders wrote it in the lock file, those that have ended on
    this host left out."""
    try:
        lines = _lines(fd)
    except (OSError, UnicodeDecodeError):
        lines = []
    here, holders = socket.gethostname(), []
    for line in lines:
        fields = line.split(maxsplit=2)
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        pid, host, role = int(fields[0]), fields[1], fields[2].strip()
        if host != here or _alive(pid):
            holders.append(f"{role} PID {pid} on {host}")
    if not holders:
        return "its PID is not recorded yet"
    more = f", and {len(holders) - 1} more" if len(holders) > 1 else ""
    return holders[-1] + more


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running, and is not this one."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def _unlocked(name: str, why: str) -> None:
    warnings.warn(
        f"checkpoint directory {name!r} could not be locked ({why}); the run goes on without "
        "the lock, so another run started on it now is not refused (the manifest still "
        "refuses one with other arguments or data)",
        CheckpointWarning,
        stacklevel=2,
    )
