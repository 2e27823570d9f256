"""How much memory this process may use, and the largest block that fits in it."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ._errors import BlockTooLargeError

# The default largest block. At equal cost, smaller blocks with more repeats give a steadier
# ranking than one large block (a block of k rows costs about k·d + k²/3 flops per example);
# blocks much smaller than this converge to a score further from the one-block-per-class
# protocol. The stability table of docs/benchmarks/index.md (benches/stability.py) is the
# measurement.
DEFAULT_BLOCK_CAP = 2048
# Fraction of the available memory one block's working set may take by default.
DEFAULT_FRACTION = 0.5
# Fraction an explicit max_block may take before it is refused.
HARD_FRACTION = 0.9
# What a run keeps of every repeat until it ends, per example scored: its four float64 terms and
# its row index (measured: 14 to 45 bytes), and per block: the plan's entry, the result, their
# arrays' headers and list slots (measured: about 250 bytes, 1,300 with few large blocks).
REPEAT_BYTES_PER_ROW = 48
REPEAT_BYTES_PER_BLOCK = 1024


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit, if it has one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_file)
        if limit is not None and limit < (1 << 60):
            usage = _read_int(usage_file) or 0
            return max(0, limit - usage)
    return None


def _physical_room() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_room() -> int | None:
    """Bytes left under this process's address-space limit (``ulimit -v``, RLIMIT_AS), if any.

    The limit counts every mapping (libraries, thread stacks, reserved arenas), not only what is
    used, so the room is the limit less the current virtual size.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def available_bytes() -> int:
    """Bytes this process may still allocate: the smallest of free RAM, its cgroup's room and
    its address-space limit's room."""
    known = [b for b in (_physical_room(), _cgroup_room(), _address_space_room()) if b is not None]
    return min(known) if known else 4 << 30


def block_bytes(k: int, d: int, itemsize: int, positives: int | None = None) -> int:
    """Peak bytes of scoring one block of ``k`` rows of ``d`` features with ``positives`` scored.

    H (k x k float64), the normalised rows (k x d float64), the gathered rows in their own dtype,
    and the inverse of the trailing p x p factor.
    """
    p = k if positives is None else positives
    return 8 * k * k + 8 * k * d + itemsize * k * d + 8 * p * p


def largest_block(d: int, itemsize: int, budget: int) -> int:
    """The largest k (with half of it positives) whose working set fits ``budget`` bytes."""
    # 8k² + 2k² (p = k/2) + (8 + itemsize) k d <= budget, solved for k.
    a, b = 10.0, float((8 + itemsize) * d)
    k = int((-b + math.sqrt(b * b + 4 * a * budget)) / (2 * a))
    while k > 2 and block_bytes(k, d, itemsize, k // 2) > budget:
        k -= 1
    return max(k, 0)


def default_max_block(d: int, itemsize: int) -> int:
    """The default ``max_block``: as large as memory allows, up to :data:`DEFAULT_BLOCK_CAP`."""
    fit = largest_block(d, itemsize, int(available_bytes() * DEFAULT_FRACTION))
    return max(2, min(DEFAULT_BLOCK_CAP, fit))


def kernel_bytes(n: int, d: int, itemsize: int, entry: int = 8) -> int:
    """Peak bytes of the n x n kernel the local executor caches, and the rows it is built from.

    Only the entries on and right of the diagonal are written (``_native.gram(whole=False)``):
    the pages wholly left of it are never touched and take no memory, so what counts is that
    half of H (``entry`` bytes each: 8 in float64, 4 in float32), one page per row it partly
    fills, and the rows (in float64, and in float32 too for a float32 kernel's Gram).
    """
    rows = 8 * n * d + itemsize * n * d + (4 * n * d if entry == 4 else 0)
    return entry * (n * (n + 1) // 2) + 4096 * n + rows


def kernel_fits(n: int, d: int, itemsize: int, block: int, entry: int = 8) -> bool:
    """Whether the whole kernel (``entry`` bytes an entry) and the largest block's working set
    fit the default budget."""
    need = kernel_bytes(n, d, itemsize, entry) + block_bytes(block, d, itemsize)
    return need <= available_bytes() * DEFAULT_FRACTION


def check_fits(
    k: int, p: int, d: int, itemsize: int, whole: bool = False, need: int | None = None
) -> None:
    """Refuses, before any allocation, a block that would not fit in this process's memory.

    ``whole``: the block is all of X (``gram``, ``complexity``), which cannot be split.
    ``need``: the block's peak bytes where they are not :func:`block_bytes`' (a suggestion
    block's predicted rows besides its fit of ``k``).
    """
    room = available_bytes()
    need = block_bytes(k, d, itemsize, p) if need is None else need
    if need > room * HARD_FRACTION:
        fit = max(2, largest_block(d, itemsize, int(room * DEFAULT_FRACTION)))
        what = f"a block of {k} rows" if not whole else f"the kernel matrix of all {k} rows"
        advice = (
            f"pass max_block={fit} or smaller"
            if not whole
            else f"use a subsample of at most {fit} rows"
        )
        raise BlockTooLargeError(
            f"{what} needs {_size(need)} but this process may use about {_size(room)}; {advice}"
        )


def repeats_bytes(n: int, blocks: int, per_row: int = REPEAT_BYTES_PER_ROW) -> int:
    """Bytes a run keeps for each repeat of ``blocks`` blocks over ``n`` examples (scores and
    row indices: ``per_row`` bytes per example) until it ends."""
    return per_row * n + REPEAT_BYTES_PER_BLOCK * blocks


def check_repeats_fit(
    name: str, repeats: int, n: int, blocks: int, per_row: int = REPEAT_BYTES_PER_ROW
) -> None:
    """Refuses, before any allocation, ``repeats`` whose results would not fit in memory.

    A run keeps every repeat's results until it adds them up (:func:`repeats_bytes` each);
    ``name`` is the option that set ``repeats`` (``repeats`` or ``max_repeats``).
    """
    room = available_bytes()
    one = repeats_bytes(n, blocks, per_row)
    need = repeats * one
    if need > room * HARD_FRACTION:
        fit = max(1, int(room * DEFAULT_FRACTION) // one)
        raise ValueError(
            f"{name}={repeats} would keep about {_size(need)} of results ({_size(one)} a repeat "
            f"of {blocks} block(s) over {n} examples) but this process may use about "
            f"{_size(room)}; pass {name}={fit} or fewer"
        )


def _size(nbytes: float) -> str:
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:.1f} GiB"
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.1f} KiB"
