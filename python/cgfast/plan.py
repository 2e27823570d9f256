"""The block plan: which examples are scored together, as a pure function of labels and arguments.

For every repeat and class, the class's examples are the positives. When positives plus their
negative sample fit in ``max_block`` rows, the block is exactly the authors' protocol; otherwise the
positives are shuffled and cut into near-equal chunks, each with its own negative sample. Every
random draw comes from a generator seeded by (seed, repeat, class, chunk), never by execution
order, so any executor that runs the blocks gives the same scores.

Two samplers draw the negatives. ``"independent"`` (release 0.1.0) draws each block's sample
afresh. ``"cover"`` (the default) reads them off two streams per class, one for the even
repeats and one for the odd: each lists the class's pool of other-class examples in one random
order, then another, and so on. The even (odd) repeats take consecutive stretches of their
stream, and every chunk of a class in one repeat takes the same stretch (the shorter chunks its
first rows). So every positive, whichever chunk it falls in, meets the stretches of each stream
in turn: R repeats show it every pool example R·M/N times (±1 per stream), M negatives per
repeat out of a pool of N. Averaging over repeats then covers the pool evenly for each example
instead of by chance. The two halves of the repeats are independent draws of the same design, so
the stability estimate that correlates them (cgfast.stability) measures what another seed would
give, rather than the lower agreement of two complementary halves of one cover. (In 0.2.0 one
stream served all repeats and the chunks of a repeat took consecutive stretches of it; the
checkpoint's ``plan`` entry, :data:`PLAN_VERSION`, tells the two apart.)
Blocks are listed repeat by repeat, each repeat with the same number of blocks, so the plan with
R repeats is the first blocks of the plan with more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .options import Ratio, check_count, check_ratio, check_sampler

# Tags that keep the streams of one (seed, repeat, class, chunk) key apart.
_NEGATIVES, _SHUFFLE, _COVER, _SUGGEST = 1, 2, 3, 4  # _SUGGEST: cgfast.suggest's plan
_TARGETS = 5  # TargetPlan: the plan of task="regression"
# The version of the "cover" sampler's plan: 2 since even and odd repeats read their own stream
# and the chunks of a class share a repeat's stretch. A checkpoint records it, so that one written
# by an older plan is not mixed in.
PLAN_VERSION = 2


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
    wanted = float(ratio) * size  # compared as a float first: a huge ratio overflows an int
    return others if wanted >= others else min(max(1, int(round(wanted))), others)


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


class _CoverStream:
    """The ``"cover"`` sampler's stream of one class's pool: random orders of it, end to end.

    ``window(start, length)`` is the stretch ``[start, start + length)`` of the stream, as pool
    examples. A stretch never holds an example twice: when one straddles the end of an order,
    the next order puts the examples of the straddling stretch's first part last. Each order is
    seeded by (seed, class, order number, half), so the stream is a pure function of its
    arguments; ``half`` tells the streams of the even (0) and the odd (1) repeats apart.
    ``stretches`` are the lengths of the stretches one repeat reads, in order (the plan's own
    stream reads one stretch a repeat, of its half of the repeats; benchmarks of other designs
    read several).
    """

    def __init__(
        self, pool: np.ndarray, seed: int, label: int, stretches: Sequence[int], half: int = 0
    ):
        self.pool = pool
        self.seed, self.label, self.half = seed, label, half
        self.stretches = stretches  # lengths of the consecutive stretches of one repeat
        self.orders: list[np.ndarray] = []

    def _order(self, number: int) -> np.ndarray:
        while len(self.orders) <= number:
            g = len(self.orders)
            order = self._shuffled(g)
            if g > 0:
                tail = self._straddling_tail(g)
                if len(tail):
                    last = np.isin(order, tail)
                    order = np.concatenate([order[~last], order[last]])
            self.orders.append(order)
        return self.orders[number]

    def _shuffled(self, g: int) -> np.ndarray:
        """Order number ``g``, before the straddling stretch is moved out of its way."""
        order = _rng(self.seed, g, self.label, self.half, _COVER).permutation(len(self.pool))
        return order.astype(self.pool.dtype)  # positions in the pool: the pool's index type

    def _straddling_tail(self, g: int) -> np.ndarray:
        """The examples of order g - 1 in the stretch that runs over into order g, if one does."""
        n = len(self.pool)
        boundary = g * n
        start = boundary // sum(self.stretches) * sum(self.stretches)
        for length in self.stretches:
            if start < boundary < start + length:
                return self.orders[g - 1][start - (g - 1) * n :]
            start += length
        return np.empty(0, dtype=np.intp)

    def window(self, start: int, length: int) -> np.ndarray:
        n = len(self.pool)
        first, offset = divmod(start, n)
        picked = self._order(first)[offset : offset + length]
        if offset + length > n:
            picked = np.concatenate([picked, self._order(first + 1)[: offset + length - n]])
        return self.pool[picked]


class _Repeats(Sequence[Block]):
    """A plan made a repeat at a time: ``repeats`` repeats of ``per`` blocks each, a repeat's
    blocks made by ``_make`` when first asked for and kept."""

    repeats: int
    per: int
    _made: dict[int, list[Block]]

    def __len__(self) -> int:
        return self.repeats * self.per

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"block {i} of a plan of {len(self)}")
        repeat, j = divmod(i % len(self), self.per)
        return self.repeat(repeat)[j]

    def repeat(self, repeat: int) -> list[Block]:
        """The blocks of repeat ``repeat``, made now if they were not yet."""
        if not 0 <= repeat < self.repeats:
            raise IndexError(f"repeat {repeat} of a plan of {self.repeats}")
        if repeat not in self._made:
            self._made[repeat] = self._make(repeat)
        return self._made[repeat]

    def made(self) -> int:
        """How many repeats have been made so far (what the plan holds in memory)."""
        return len(self._made)

    def _make(self, repeat: int) -> list[Block]:
        raise NotImplementedError


class Plan(_Repeats):
    """The blocks of a run, made a repeat at a time: repeat r's blocks exist once one is asked for.

    ``plan[i]`` is block ``i``; repeat r holds blocks ``r * per`` to ``(r + 1) * per``, the same
    blocks :func:`plan_blocks` lists. A run of ``repeats="auto"`` plans ``max_repeats`` repeats
    but asks only for those of the rounds it runs, so it holds only them (the indices of 32
    repeats of a million rows would take about half a gigabyte). Every repeat is a pure
    function of (labels, arguments, repeat), so the order in which repeats are made changes
    nothing.
    """

    def __init__(
        self,
        codes: Sequence[int] | np.ndarray,
        *,
        ratio: Ratio = 1.0,
        repeats: int = 1,
        max_block: int,
        seed: int = 0,
        sampler: str = "cover",
    ) -> None:
        codes = np.asarray(codes, dtype=np.intp)
        ratio = check_ratio(ratio)
        self.repeats = check_count("repeats", repeats, 1)
        max_block = check_count("max_block", max_block, 2)
        self.seed = check_count("seed", seed, 0)
        sampler = check_sampler(sampler)
        # Row indices as int32 where they fit: a plan of many repeats over a million rows holds
        # each row's index twice per repeat, and int64 would double that memory for nothing.
        index = np.int32 if len(codes) < 2**31 else np.int64
        members = [np.flatnonzero(codes == c).astype(index) for c in range(int(codes.max()) + 1)]
        self._layout = []
        for label, positives in enumerate(members):
            if len(positives) == 0:
                continue
            pool = np.flatnonzero(codes != label).astype(index)
            chunks = chunk_count(len(positives), len(pool), ratio, max_block)
            # Every repeat cuts the class into chunks of the same sizes, so it takes the same
            # numbers of negatives; with the cover, one stretch of the longest of them a repeat,
            # which every chunk reads from its start.
            sizes = [len(part) for part in np.array_split(positives, chunks)]
            wants = [negatives_for(size, len(pool), ratio) for size in sizes]
            streams = None
            if sampler == "cover":
                streams = tuple(
                    _CoverStream(pool, self.seed, label, [max(wants)], half) for half in (0, 1)
                )
            self._layout.append((label, positives, pool, chunks, wants, streams))
        self.per = sum(chunks for _, _, _, chunks, _, _ in self._layout)
        self._made: dict[int, list[Block]] = {}

    def first(self, repeats: int) -> Plan:
        """The plan of the first ``repeats`` repeats, sharing this one's layout and blocks."""
        out = object.__new__(Plan)
        out.__dict__.update(self.__dict__)
        out.repeats = check_count("repeats", repeats, 1)
        out._made = {r: b for r, b in self._made.items() if r < repeats}
        return out

    def _make(self, repeat: int) -> list[Block]:
        seed, blocks = self.seed, []
        for label, positives, pool, chunks, wants, streams in self._layout:
            if chunks > 1:
                positives = _rng(seed, repeat, label, 0, _SHUFFLE).permutation(positives)
            for chunk, part in enumerate(np.array_split(positives, chunks)):
                want = wants[chunk]
                if want == len(pool):
                    negatives = pool
                elif streams is not None:
                    stream = streams[repeat % 2]
                    start = repeat // 2 * stream.stretches[0]
                    negatives = np.sort(stream.window(start, want))
                else:
                    rng = _rng(seed, repeat, label, chunk, _NEGATIVES)
                    negatives = np.sort(rng.choice(pool, size=want, replace=False))
                blocks.append(Block(repeat, label, chunk, negatives, np.sort(part)))
        return blocks


def plan_blocks(
    codes: Sequence[int] | np.ndarray,
    *,
    ratio: Ratio = 1.0,
    repeats: int = 1,
    max_block: int,
    seed: int = 0,
    sampler: str = "cover",
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
    sampler : {"cover", "independent"}
        How negatives are drawn: afresh for every block, or along a stream that covers the
        pool evenly over repeats and chunks (see the module's description).

    Returns
    -------
    list of Block
        Every block, repeat by repeat (:class:`Plan` makes them a repeat at a time).

    Examples
    --------
    >>> blocks = plan_blocks(np.array([0, 0, 1, 1, 1]), ratio="all", max_block=10)
    >>> [(b.label, b.positives.tolist(), b.negatives.tolist()) for b in blocks]
    [(0, [0, 1], [2, 3, 4]), (1, [2, 3, 4], [0, 1])]
    """
    plan = Plan(codes, ratio=ratio, repeats=repeats, max_block=max_block, seed=seed,
                sampler=sampler)  # fmt: skip
    return list(plan)


class TargetPlan(_Repeats):
    """The plan of a real-valued target (``task="regression"``): no classes, so no negatives.

    Each repeat deals all ``n`` rows, in a random order drawn from (seed, repeat), into
    ``ceil(n / max_block)`` near-equal blocks (sizes differ by at most one), so every row is
    scored once per repeat, against a fresh random share of the others. A block's rows are its
    ``positives`` (every one is scored), in increasing order, with no ``negatives``; ``label``
    is -1. When one block holds every row, every repeat would be that block: the plan then has
    one repeat, whatever was asked, and its scores are exact.

    A pure function of (n, repeats, max_block, seed), made a repeat at a time like
    :class:`Plan`, with its ``per``, :meth:`repeat` and :meth:`first`.

    Examples
    --------
    >>> plan = TargetPlan(5, repeats=2, max_block=3, seed=0)
    >>> len(plan), plan.per, sorted(len(b.positives) for b in plan.repeat(0))
    (4, 2, [2, 3])
    >>> sorted(np.concatenate([b.positives for b in plan.repeat(1)]).tolist())
    [0, 1, 2, 3, 4]
    """

    def __init__(self, n: int, *, repeats: int = 1, max_block: int, seed: int = 0) -> None:
        self.n = check_count("n", n, 1)
        max_block = check_count("max_block", max_block, 2)
        self.seed = check_count("seed", seed, 0)
        self.per = -(-self.n // max_block)
        self.repeats = 1 if self.per == 1 else check_count("repeats", repeats, 1)
        self._made: dict[int, list[Block]] = {}

    def _make(self, repeat: int) -> list[Block]:
        index = np.int32 if self.n < 2**31 else np.int64
        order = _rng(self.seed, repeat, 0, 0, _TARGETS).permutation(self.n).astype(index)
        none = order[:0]
        return [
            Block(repeat, -1, chunk, none, np.sort(order[chunk :: self.per]))
            for chunk in range(self.per)
        ]

    def first(self, repeats: int) -> TargetPlan:
        """The plan of the first ``repeats`` repeats, sharing this one's blocks."""
        out = object.__new__(TargetPlan)
        out.__dict__.update(self.__dict__)
        out.repeats = min(self.repeats, check_count("repeats", repeats, 1))
        out._made = {r: b for r, b in self._made.items() if r < out.repeats}
        return out
