"""A checkpoint directory: a manifest of the run, and one checksummed file per finished block.

Layout::

    DIR/manifest.json          arguments, data fingerprint, number of blocks
    DIR/blocks/000042.npz      positives, terms (score, a2, ab, b2), ridge, fallback, checksum

Every file is written to a temporary name and renamed into place, so a run killed at any moment
leaves only whole files; a block file that fails its checksum is reported and recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import write_atomic
from ._errors import CgfastWarning

FORMAT = 1


class CheckpointWarning(CgfastWarning):
    """A block file in the checkpoint directory was unreadable or corrupt and will be recomputed."""


@dataclass(frozen=True)
class BlockResult:
    """What one block contributes: scores and terms of its positives, and the ridge it needed."""

    positives: np.ndarray
    terms: np.ndarray  # (4, p): score, a2, ab, b2; a suggestion block: (classes, k) predictions
    ridge: float
    fallback: bool = False  # precision="single" asked, float64 used: float32 could not resolve it


def _checksum(positives: np.ndarray, terms: np.ndarray, ridge: float, fallback: bool) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(positives, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(terms, dtype=np.float64).tobytes())
    h.update(np.float64(ridge).tobytes())
    if fallback:  # absent from files of 0.1.0, which had no float32 factorisation
        h.update(b"fallback")
    return h.hexdigest()


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
    if isinstance(arguments, dict):
        for name, value in _BEFORE_OPTION.items():
            arguments.setdefault(name, value)
        # Before plan.PLAN_VERSION was recorded, "cover" runs had plan 1's blocks.
        if arguments.get("sampler") == "cover":
            manifest.setdefault("plan", 1)
    return manifest


class Checkpoint:
    """Finished blocks of one run, kept in a directory that survives crashes and restarts."""

    def __init__(self, directory: str | os.PathLike, manifest: dict[str, Any]):
        self.directory = Path(directory)
        self.blocks_dir = self.directory / "blocks"
        self.manifest = manifest

    @classmethod
    def open(cls, directory: str | os.PathLike, manifest: dict[str, Any]) -> Checkpoint:
        """Opens DIR for the run described by ``manifest``, creating it if new.

        Raises ValueError if DIR holds a checkpoint of a different run (other arguments or data).
        """
        self = cls(directory, {"format": FORMAT, **manifest})
        self.blocks_dir.mkdir(parents=True, exist_ok=True)
        path = self.directory / "manifest.json"
        if path.exists():
            try:
                found = _upgrade(json.loads(path.read_text()))
            except (OSError, ValueError) as err:
                raise ValueError(f"checkpoint manifest {path} is unreadable: {err}") from err
            if found != self.manifest:
                there, now = _flatten(found), _flatten(self.manifest)
                diffs = [
                    f"{key} {there.get(key)!r} there, {now.get(key)!r} now"
                    for key in sorted(set(there) | set(now))
                    if there.get(key) != now.get(key)
                ]
                raise ValueError(
                    f"checkpoint directory {str(self.directory)!r} belongs to a different run "
                    f"({'; '.join(diffs)}); use a new directory or the original arguments"
                )
        else:
            text = json.dumps(self.manifest, indent=1, sort_keys=True).encode()
            write_atomic(path, lambda f: f.write(text))
        return self

    @classmethod
    def existing(cls, directory: str | os.PathLike) -> Checkpoint:
        """Opens a checkpoint written earlier, for assembling its scores."""
        path = Path(directory) / "manifest.json"
        try:
            manifest = _upgrade(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            raise ValueError(f"{str(directory)!r} is not a cgfast checkpoint: {err}") from err
        return cls(directory, manifest)

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

    def save(self, index: int, result: BlockResult) -> None:
        """Writes block ``index`` atomically (temporary file, fsync, rename)."""
        payload = {
            "positives": np.asarray(result.positives, dtype=np.int64),
            "terms": np.asarray(result.terms, dtype=np.float64),
            "ridge": np.float64(result.ridge),
            "fallback": np.bool_(result.fallback),
            "checksum": np.array(
                _checksum(result.positives, result.terms, result.ridge, result.fallback)
            ),
        }
        write_atomic(self._path(index), lambda f: np.savez(f, **payload))

    def load(self, index: int, positives: np.ndarray | None = None) -> BlockResult | None:
        """Block ``index`` if it was finished and is intact; None if it must be (re)computed.

        A file that is truncated, fails its checksum, or scores other examples than the plan's
        ``positives`` is reported with a :class:`CheckpointWarning` and ignored.
        """
        path = self._path(index)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                fallback = bool(data["fallback"]) if "fallback" in data.files else False
                result = BlockResult(
                    data["positives"], data["terms"], float(data["ridge"]), fallback
                )
                stored = str(data["checksum"])
            intact = stored == _checksum(*dataclasses.astuple(result))
            # (4, p) for a scored block, (classes, k) for a suggestion block
            intact &= result.terms.ndim == 2 and result.terms.shape[1] == len(result.positives)
        except Exception as err:  # a damaged zip raises many types: all mean "recompute"
            warnings.warn(
                f"checkpoint block {path} is unreadable ({err}); recomputing it",
                CheckpointWarning,
                stacklevel=2,
            )
            return None
        if not intact or (
            positives is not None and not np.array_equal(result.positives, positives)
        ):
            warnings.warn(
                f"checkpoint block {path} fails its checksum; recomputing it",
                CheckpointWarning,
                stacklevel=2,
            )
            return None
        return result
