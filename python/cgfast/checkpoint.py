"""A checkpoint directory: a manifest of the run, and one checksummed file per finished block.

Layout::

    DIR/manifest.json          arguments, data fingerprint, number of blocks, digest of itself
    DIR/blocks/000042.npz      positives, terms (score, a2, ab, b2), ridge, fallback, shift,
                               identity, checksum
    DIR/lock                   the advisory lock of the run that uses DIR (:mod:`cgfast._lock`)

Every file is written to a temporary name and renamed into place, so a run killed at any moment
leaves only whole files (and a hidden temporary one, removed when a run next opens DIR); a block
file that fails its checksum is reported and recomputed. The
manifest is created exclusively (two runs cannot both create it) and records a digest of its
content, so an edited manifest is refused. A block file records its identity (its index, repeat,
class, chunk, rows and the manifest's digest), so a file that is not this block's, of this run,
is never added in.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import file_mode, remove_stale, sync_folder, temporary_prefix, write_atomic
from ._errors import CheckpointWarning
from ._lock import held_alone
from .plan import Block

# 2: the manifest records its digest and every block file its identity. A checkpoint of format 1
# (releases 0.1.0 and 0.2.0) is still read: its blocks are matched by their positives alone.
FORMAT = 2


@dataclass(frozen=True)
class BlockResult:
    """What one block contributes: scores and terms of its positives, and the ridge it needed."""

    positives: np.ndarray
    terms: np.ndarray  # (4, p): score, a2, ab, b2; a suggestion block: (classes, k) predictions
    ridge: float
    fallback: bool = False  # precision="single" asked, float64 used: float32 could not resolve it
    shift: float = 0.0  # a leave-one-out suggestion block's kernel ridge (cgfast.suggest.RIDGES)


def _checksum(
    positives: np.ndarray,
    terms: np.ndarray,
    ridge: float,
    fallback: bool,
    identity: str = "",
    shift: float = 0.0,
) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(positives, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(terms, dtype=np.float64).tobytes())
    h.update(np.float64(ridge).tobytes())
    if fallback:  # absent from files of 0.1.0, which had no float32 factorisation
        h.update(b"fallback")
    h.update(identity.encode())  # absent from files of format 1
    if shift:  # absent from files before cgfast 0.3, whose predictions took no ridge
        h.update(np.float64(shift).tobytes())
    return h.hexdigest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The digest of what identifies a run in its manifest (all but ``format`` and ``digest``)."""
    content = {key: value for key, value in manifest.items() if key not in ("format", "digest")}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _identity(index: int, block: Block, run: str) -> dict[str, Any]:
    """What a block file must record to be block ``index`` of the run of manifest digest ``run``."""
    rows = np.ascontiguousarray(block.rows, dtype=np.int64)
    return {
        "index": int(index),
        "repeat": int(block.repeat),
        "label": int(block.label),
        "chunk": int(block.chunk),
        "size": len(rows),
        "rows": hashlib.sha256(rows.tobytes()).hexdigest(),
        "run": run,
    }


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# Options added after release 0.1.0, with the value that reproduces a run of that release.
_BEFORE_OPTION = {"sampler": "independent"}


def _upgrade(manifest: Any) -> Any:
    """A manifest as it reads today: options it predates take the value its run had."""
    arguments = manifest.get("arguments") if isinstance(manifest, dict) else None
    # A manifest that names its task (task="regression", which has no sampler) predates nothing.
    if isinstance(arguments, dict) and "task" not in arguments:
        for name, value in _BEFORE_OPTION.items():
            arguments.setdefault(name, value)
        # Before plan.PLAN_VERSION was recorded, "cover" runs had plan 1's blocks.
        if arguments.get("sampler") == "cover":
            manifest.setdefault("plan", 1)
    suggest = manifest.get("suggest") if isinstance(manifest, dict) else None
    if isinstance(suggest, dict):
        # Before suggestion blocks took the run's precision, they were predicted in float64;
        # before suggest.SUGGEST_PLAN_VERSION was recorded, they were plan 1's (leave-one-out).
        suggest.setdefault("precision", "double")
        suggest.setdefault("plan", 1)
    return manifest


class Checkpoint:
    """Finished blocks of one run, kept in a directory that survives crashes and restarts."""

    def __init__(
        self, directory: str | os.PathLike, manifest: dict[str, Any], legacy: bool = False
    ):
        self.directory = Path(directory)
        self.blocks_dir = self.directory / "blocks"
        self.manifest = manifest
        self.digest = manifest_digest(manifest)
        # A checkpoint of format 1: its block files have no identity, and are matched by their
        # positives, as the releases that wrote them did.
        self.legacy = legacy

    @classmethod
    def open(cls, directory: str | os.PathLike, manifest: dict[str, Any]) -> Checkpoint:
        """Opens DIR for the run described by ``manifest``, creating it if new.

        Raises ValueError if DIR holds a checkpoint of a different run (other arguments or data),
        an edited or malformed manifest, or block files without a manifest.
        """
        self = cls(directory, {"format": FORMAT, **manifest})
        self.blocks_dir.mkdir(parents=True, exist_ok=True)
        self.remove_stale()
        path = self.directory / "manifest.json"
        if not path.exists():
            # A run creates its manifest before its first block: blocks without one were left
            # by a run nothing identifies any more (unless a run made it in the meantime).
            if self.count(self.directory) and not path.exists():
                raise ValueError(
                    f"checkpoint directory {str(self.directory)!r} holds "
                    f"{self.count(self.directory)} block file(s) but no manifest.json, so "
                    "nothing says which run they belong to; remove its blocks folder, or use a "
                    "new directory"
                )
            record = {**self.manifest, "digest": self.digest}
            text = json.dumps(record, indent=1, sort_keys=True).encode()
            if _create(path, text):
                return self
            # another run created it first: it must be this run's
        found = _read_manifest(path)
        self.legacy = found.get("format", 1) < 2
        there = {k: v for k, v in found.items() if k not in ("format", "digest")}
        now = {k: v for k, v in self.manifest.items() if k not in ("format", "digest")}
        if there != now:
            there, now = _flatten(there), _flatten(now)
            diffs = [
                f"{key} {there.get(key)!r} there, {now.get(key)!r} now"
                for key in sorted(set(there) | set(now))
                if there.get(key) != now.get(key)
            ]
            advice = "use a new directory or the original arguments"
            if there.get("suggest.plan") != now.get("suggest.plan"):
                advice = (
                    "its suggestion blocks were planned by an earlier cgfast; remove the "
                    "directory (or, in a scoring checkpoint, its 'suggestions' folder) to "
                    "compute them again"
                )
            raise ValueError(
                f"checkpoint directory {str(self.directory)!r} belongs to a different run "
                f"({'; '.join(diffs)}); {advice}"
            )
        return self

    @classmethod
    def existing(cls, directory: str | os.PathLike) -> Checkpoint:
        """Opens a checkpoint written earlier, for assembling its scores."""
        path = Path(directory) / "manifest.json"
        if not path.is_file():
            raise ValueError(
                f"{str(directory)!r} is not a cgfast checkpoint: it has no {path.name}"
            )
        manifest = _read_manifest(path)
        legacy = manifest.get("format", 1) < 2
        return cls(directory, manifest, legacy)

    def remove_stale(self) -> list[Path]:
        """Removes the temporary files that killed writers left (``kill -9`` during a block's
        or the manifest's write): those of ended processes of this host, and every one when
        this run holds the directory's lock for itself. Job-array parts on other hosts share
        the lock, so their temporaries are left to a run on their host or to one alone."""
        alone = held_alone(self.directory)
        return remove_stale(self.directory, r"manifest\.json", alone=alone) + remove_stale(
            self.blocks_dir, r"\d{6}\.npz", alone=alone
        )

    def _path(self, index: int) -> Path:
        return self.blocks_dir / f"{index:06d}.npz"

    @staticmethod
    def count(directory: str | os.PathLike) -> int:
        """How many block files ``directory`` holds (whole ones: a temporary name is hidden)."""
        blocks = Path(directory) / "blocks"
        if not blocks.is_dir():
            return 0
        return sum(1 for p in blocks.iterdir() if p.suffix == ".npz" and p.stem.isdigit())

    def holds(self, index: int) -> bool:
        """Whether a file for block ``index`` exists (intact or not: :meth:`load` tells)."""
        return self._path(index).exists()

    def save(self, index: int, result: BlockResult, block: Block) -> None:
        """Writes block ``index`` (the plan's ``block``) atomically (temporary file, fsync,
        rename), with its identity."""
        identity = json.dumps(_identity(index, block, self.digest), sort_keys=True)
        payload = {
            "positives": np.asarray(result.positives, dtype=np.int64),
            "terms": np.asarray(result.terms, dtype=np.float64),
            "ridge": np.float64(result.ridge),
            "fallback": np.bool_(result.fallback),
            "shift": np.float64(result.shift),
            "identity": np.array(identity),
            "checksum": np.array(
                _checksum(
                    result.positives,
                    result.terms,
                    result.ridge,
                    result.fallback,
                    identity,
                    result.shift,
                )
            ),
        }
        write_atomic(self._path(index), lambda f: np.savez(f, **payload))

    def load(
        self, index: int, block: Block | None = None, *, strict: bool = False
    ) -> BlockResult | None:
        """Block ``index`` if it was finished and is intact; None if it must be (re)computed.

        A file that is truncated or fails its checksum is reported with a
        :class:`CheckpointWarning` and ignored. So is one that is not block ``index`` of this
        run (another block's file, another run's, or other rows than the plan's ``block``);
        with ``strict`` (no plan to recompute it from: ``assemble``) that one raises a
        ValueError naming the file instead.
        """
        path = self._path(index)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                fallback = bool(data["fallback"]) if "fallback" in data.files else False
                identity = str(data["identity"]) if "identity" in data.files else ""
                shift = float(data["shift"]) if "shift" in data.files else 0.0
                result = BlockResult(
                    data["positives"], data["terms"], float(data["ridge"]), fallback, shift
                )
                stored = str(data["checksum"])
            fields = (result.positives, result.terms, result.ridge, result.fallback)
            intact = stored == _checksum(*fields, identity, result.shift)
            # (4, p) for a scored block, (classes, k) for a suggestion block
            intact &= result.terms.ndim == 2 and result.terms.shape[1] == len(result.positives)
            found = json.loads(identity) if identity and intact else None
        except Exception as err:  # a damaged zip raises many types: all mean "recompute"
            warnings.warn(
                f"checkpoint block {path} is unreadable ({err}); recomputing it",
                CheckpointWarning,
                stacklevel=2,
            )
            return None
        if not intact:
            warnings.warn(
                f"checkpoint block {path} fails its checksum; recomputing it",
                CheckpointWarning,
                stacklevel=2,
            )
            return None
        wrong = self._mismatch(index, block, found, result)
        if wrong is None:
            return result
        message = f"checkpoint block {path} is not block {index} of this run: {wrong}"
        if strict:
            raise ValueError(
                f"{message}; delete it and score the block again (a resumed run or the job "
                "array's parts score only the blocks missing from the directory)"
            )
        warnings.warn(f"{message}; recomputing it", CheckpointWarning, stacklevel=2)
        return None

    def _mismatch(
        self, index: int, block: Block | None, found: Any, result: BlockResult
    ) -> str | None:
        """Why a file with identity ``found`` (None: a file of format 1) is not block ``index``
        (the plan's ``block``, when known) of this run; None when it is."""
        if found is None:
            if not self.legacy:
                return "it records no identity (written by cgfast 0.2.0 or earlier)"
            if block is not None and not np.array_equal(result.positives, block.positives):
                return "it scores other examples than the plan's block"
            return None
        if not isinstance(found, dict):
            return "its identity is malformed"
        if found.get("run") != self.digest:
            return "it was written by another run (its manifest differs)"
        if found.get("index") != index:
            return f"it holds block {found.get('index')}"
        if block is not None and found != _identity(index, block, self.digest):
            return "it holds other rows than the plan's block"
        return None


def _create(path: Path, text: bytes) -> bool:
    """Writes ``path`` whole, unless it exists; False when it does (another run made it first).

    The file is written under a temporary name and linked to ``path``: a link, unlike a rename,
    fails on an existing name, so of two runs only one creates it, and nobody reads it half
    written. Where the file system has no hard links, an exclusive create does the same.
    """
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(path.name), dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), file_mode())
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(text)
                os.fsync(handle.fileno())
    finally:
        temporary.unlink(missing_ok=True)
    sync_folder(path.parent)
    return True


# What every manifest holds, whatever run wrote it.
_REQUIRED = ("data", "blocks")


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` as it reads today; ValueError if it is unreadable, not a
    manifest, or was edited after its run wrote it."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"checkpoint manifest {path} is unreadable: {err}") from err
    if not isinstance(found, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        raise ValueError(
            f"checkpoint manifest {path} is not a cgfast manifest: it holds "
            f"{kind.get(type(found), 'a number')}, not a JSON object"
        )
    missing = [key for key in _REQUIRED if key not in found]
    if "arguments" not in found and "suggest" not in found:
        missing.append("arguments")
    if missing:
        raise ValueError(
            f"checkpoint manifest {path} is incomplete: it has no {', '.join(missing)}"
        )
    version = found.get("format", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise ValueError(
            f"checkpoint manifest {path} has format {version!r}; this cgfast reads formats 1 "
            f"to {FORMAT}"
        )
    if version >= 2 and found.get("digest") != manifest_digest(found):
        raise ValueError(
            f"checkpoint manifest {path} was edited after its run wrote it (its digest does not "
            "match its content): restore it, or use a new directory"
        )
    return _upgrade(found)
