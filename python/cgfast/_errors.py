"""Exception and warning classes of cgfast, in one place."""

from __future__ import annotations

from ._core import InternalError, SingularKernelError

__all__ = [
    "BlockTooLargeError",
    "CacheWarning",
    "CgfastWarning",
    "CheckpointLockedError",
    "CheckpointWarning",
    "InternalError",
    "PrecisionWarning",
    "RidgeWarning",
    "SingleExampleWarning",
    "SingularKernelError",
    "StabilityWarning",
]


class CgfastWarning(UserWarning):
    """Base class of every warning cgfast emits."""


class RidgeWarning(CgfastWarning):
    """A block's kernel matrix was singular (duplicate rows) and was scored with a small ridge."""


class PrecisionWarning(CgfastWarning):
    """precision="single" was asked for, but some blocks needed float64 and were scored in it."""


class StabilityWarning(CgfastWarning):
    """repeats="auto" reached max_repeats before its estimated stability reached the target."""


class SingleExampleWarning(CgfastWarning):
    """A class has a single example: with no other example of its class, its score means little."""


class CheckpointWarning(CgfastWarning):
    """A block file in the checkpoint directory was unreadable, corrupt or not the block's, and
    will be recomputed; or the directory could not be locked."""


class CacheWarning(CgfastWarning):
    """The .npy cache of an image folder or of parquet shards was damaged, or changed after
    cgfast wrote it, and is rebuilt; the message names the cache."""


class BlockTooLargeError(ValueError, MemoryError):
    """A block would not fit in the memory this process may use.

    The message names a ``max_block`` that does fit.
    """


class CheckpointLockedError(ValueError):
    """Another run holds the checkpoint directory: its lock file, ``DIR/lock``, names the
    process. Raised before the run writes anything."""
