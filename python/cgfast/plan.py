"""The block plan: which examples are scored together, as a pure function of labels and arguments.

For every repeat and class, the class's examples are the positives. When positives plus their
negative sample fit in ``max_block`` rows, the block is exactly the authors' protocol; otherwise the
positives are shuffled and cut into near-equal chunks, each with its own negative sample. Every
random draw comes from a generator seeded by (seed, repeat, class, chunk), never by execution
order, so any executor that runs the blocks gives the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .options import Ratio, check_count, check_ratio

# Tags that keep the streams of one (seed, repeat, class, chunk) key apart.
_NEGATIVES, _SHUFFLE = 1, 2


@dataclass(frozen=True)
class Block:
    """One factorisation: ``negatives`` first (label -1), then ``positives`` (label +1, scored)."""

    repeat: int
    label: int
    chunk: int
    negatives: np.ndarray
    positives: np.ndarray

    @property
    def size(self) -> int:
        return len(self.negatives) + len(self.positives)

    @property
    def rows(self) -> np.ndarray:
        """The examples of the block in the order they are factorised."""
        return np.concatenate([self.negatives, self.positives])

    @property
    def flops(self) -> int:
        """The block's arithmetic without the Gram (which depends on d): k³/3 + p³/3."""
        return (self.size**3 + len(self.positives) ** 3) // 3


def negatives_for(size: int, others: int, ratio: Ratio) -> int:
    """How many negatives a chunk of ``size`` positives gets from a pool of ``others``.

    At least one: a block without negatives has every label +1 and its scores mean nothing.
    """
    if ratio == "all":
        return others
    return min(max(1, int(round(float(ratio) * size))), others)


def chunk_count(size: int, others: int, ratio: Ratio, max_block: int) -> int:
    """The fewest near-equal chunks of a class of ``size`` whose blocks fit ``max_block`` rows."""
    for chunks in range(1, size + 1):
        largest = -(-size // chunks)
        if largest + negatives_for(largest, others, ratio) <= max_block:
            return chunks
    raise ValueError(
        f"a class of {size} examples cannot be split into blocks of at most {max_block} rows: "
        f"with ratio={ratio!r} even one positive brings "
        f"{negatives_for(1, others, ratio)} negatives; raise max_block or lower ratio"
    )


def _rng(seed: int, repeat: int, label: int, chunk: int, tag: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, repeat, label, chunk, tag]))


def plan_blocks(
    codes: Sequence[int] | np.ndarray,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    max_block: int,
    seed: int = 0,
) -> list[Block]:
    """The blocks that score every example once per repeat.

    Parameters
    ----------
    codes : (n,) array of int
        Class of each example, 0..C-1.
    ratio : float or "all"
        Negatives per positive; "all" takes every example of the other classes.
    repeats : int
        Independent negative samples; each example is scored once per repeat.
    max_block : int
        Largest number of rows in one block.
    seed : int
        Non-negative seed of every draw.

    Examples
    --------
    >>> blocks = plan_blocks(np.array([0, 0, 1, 1, 1]), ratio="all", max_block=10)
    >>> [(b.label, b.positives.tolist(), b.negatives.tolist()) for b in blocks]
    [(0, [0, 1], [2, 3, 4]), (1, [2, 3, 4], [0, 1])]
    """
    codes = np.asarray(codes, dtype=np.intp)
    ratio = check_ratio(ratio)
    repeats = check_count("repeats", repeats, 1)
    max_block = check_count("max_block", max_block, 2)
    seed = check_count("seed", seed, 0)
    members = [np.flatnonzero(codes == c) for c in range(int(codes.max()) + 1)]
    layout = []
    for label, positives in enumerate(members):
        if len(positives) == 0:
            continue
        pool = np.flatnonzero(codes != label)
        layout.append(
            (label, positives, pool, chunk_count(len(positives), len(pool), ratio, max_block))
        )
    blocks = []
    for repeat in range(repeats):
        for label, positives, pool, chunks in layout:
            if chunks > 1:
                positives = _rng(seed, repeat, label, 0, _SHUFFLE).permutation(positives)
            for chunk, part in enumerate(np.array_split(positives, chunks)):
                want = negatives_for(len(part), len(pool), ratio)
                if want == len(pool):
                    negatives = pool
                else:
                    rng = _rng(seed, repeat, label, chunk, _NEGATIVES)
                    negatives = np.sort(rng.choice(pool, size=want, replace=False))
                blocks.append(Block(repeat, label, chunk, negatives, np.sort(part)))
    return blocks
