"""How stable an averaged ranking is, estimated from its own repeats, and how many repeats to run.

A score averaged over R repeats is one draw of the expected score. Its reliability is the rank
correlation (Spearman) a user would see between two independent runs. It is estimated from the
run itself: the repeats are split in two halves (even and odd repeats), the mean of each half is
ranked, the two rankings are correlated, and that half-length correlation is stepped up to R
repeats with the Spearman–Brown formula ``rel(m) = m·r / (1 + (m − 1)·r)``, ``r`` the agreement
of single repeats. With the cover sampler's two streams the halves are independent runs of half
the length; the step-up is what errs, a little optimistic for ranks (on Fashion-MNIST 0.951
estimated against 0.946 measured between seeds at 12 repeats; docs/guide/stability.md).
"""

from __future__ import annotations

import math

import numpy as np


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two score vectors (ties ranked by index).

    Examples
    --------
    >>> spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))
    0.5
    """
    ra = np.empty(len(a))
    rb = np.empty(len(b))
    ra[np.argsort(a, kind="stable")] = np.arange(len(a))
    rb[np.argsort(b, kind="stable")] = np.arange(len(b))
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / denominator if denominator > 0 else 1.0


def reliability(single: float, repeats: int) -> float:
    """Spearman–Brown: the reliability of a mean of ``repeats`` draws of agreement ``single``."""
    return repeats * single / (1 + (repeats - 1) * single)


def single_agreement(correlation: float, a: int, b: int) -> float:
    """The single-repeat agreement ``r`` under which means of ``a`` and ``b`` repeats correlate
    at ``correlation``: ``sqrt(rel(a)·rel(b)) = correlation``, solved by bisection."""
    if correlation >= 1:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if math.sqrt(reliability(middle, a) * reliability(middle, b)) < correlation:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def split_half(halves: np.ndarray, counts: tuple[int, int]) -> float | None:
    """Estimated reliability of the mean of all repeats, from the sums of its two halves.

    ``halves`` is (2, n): the score summed over the even and over the odd repeats; ``counts``
    how many repeats each half holds. None with fewer than two repeats. The estimate is 0 when
    the halves do not agree at all (correlation ≤ 0), and 1 when they rank alike.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=500)
    >>> halves = np.stack([truth + rng.normal(size=500), truth + rng.normal(size=500)])
    >>> round(split_half(halves, (1, 1)), 2)   # two noisy repeats of signal-to-noise 1
    0.66
    """
    a, b = counts
    if a < 1 or b < 1:
        return None
    correlation = spearman(halves[0] / a, halves[1] / b)
    if correlation <= 0:
        return 0.0
    return reliability(single_agreement(correlation, a, b), a + b)


def repeats_for(target: float, stability: float | None, repeats: int) -> int:
    """Repeats that Spearman–Brown predicts reach ``target``, from ``stability`` at ``repeats``.

    Doubles the repeats when the estimate says nothing (None or 0).
    """
    if not stability:
        return 2 * repeats
    if stability >= 1:
        return repeats
    single = stability / (repeats - (repeats - 1) * stability)
    return math.ceil(target * (1 - single) / (single * (1 - target)))


def advice_at_cap(
    target: float,
    stability: float | None,
    repeats: int,
    *,
    whole_classes: bool,
    max_block: int,
    cut: str = "classes are cut into chunks, and fewer, larger chunks are steadier per repeat",
) -> str:
    """What a run that reached ``max_repeats`` below ``target`` can do, as one clause.

    At equal repeats larger blocks are steadier (docs/benchmarks/index.md, Stability), so raising
    ``max_block`` helps only while classes are cut into chunks; more repeats always help.
    ``cut`` says why larger blocks would help, where they would.

    Examples
    --------
    >>> advice_at_cap(0.95, 0.9, 32, whole_classes=True, max_block=2048)[:56]
    'every block already holds a whole class, so larger block'
    """
    more = (
        f"raise max_repeats (Spearman–Brown puts the target at about "
        f"{repeats_for(target, stability, repeats)} repeats)"
    )
    reached = math.floor(100 * (stability or 0.0)) / 100
    accept = (
        f", or accept what was reached (stability={reached:.2f} stops there without this warning)"
        if reached > 0
        else ""
    )
    if not whole_classes:
        return f"{more}, or raise max_block above {max_block} where memory allows ({cut}){accept}"
    whole = "every block already holds a whole class, so larger blocks cannot help"
    return f"{whole}: {more}{accept}"
