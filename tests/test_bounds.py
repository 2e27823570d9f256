"""Repeats are bounded by the memory their results take (issue 34, item 2).

A run keeps every repeat's results until it adds them up, so ``repeats=10**9`` on 300 rows grew
to 21.5 GB before the kernel killed it. It must be refused with a ValueError that names the
option, the memory and a value that fits, before any pass over X.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgfast
from cgfast import _memory

# Seconds the refusal may take in a child: it does no arithmetic, so this only tells a refusal
# from a run that allocates without end (which the child's address-space limit stops first).
CHILD_TIMEOUT = 120


def small_problem(n: int = 300):
    rng = np.random.default_rng(34)
    return rng.normal(size=(n, 5)), np.arange(n) % 3


def test_a_billion_repeats_are_refused_before_anything_is_allocated():
    # In a child with 4 GiB of address space: before the fix its plan lists hit MemoryError
    # (or the limit killed it) instead of a ValueError naming the option.
    code = textwrap.dedent(
        """
        import resource
        import numpy as np, cgfast
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        rng = np.random.default_rng(34)
        X, y = rng.normal(size=(300, 5)), np.arange(300) % 3
        for kwargs in ({"repeats": 10**9}, {"max_repeats": 10**9}):
            try:
                cgfast.score(X, y, **kwargs)
            except ValueError as error:
                print(type(error).__name__, error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    for line, name in zip(lines, ("repeats", "max_repeats")):
        assert line.startswith(f"ValueError {name}=1000000000 would keep about "), line
        assert "this process may use about" in line and f"pass {name}=" in line, line


def test_the_refusal_comes_before_the_pass_over_x():
    X, y = small_problem()
    X[7, 2] = np.nan  # the pass over X would name this row; the repeats are refused first
    with pytest.raises(ValueError, match=r"^repeats=1000000000 would keep"):
        cgfast.score(X, y, repeats=10**9)
    with pytest.raises(ValueError, match=r"row 7"):
        cgfast.score(X, y, repeats=2)


@pytest.mark.parametrize("option", ["repeats", "max_repeats"])
def test_the_repeats_the_message_offers_fit_and_those_past_the_bound_do_not(monkeypatch, option):
    # With 2 MiB to spare: the bound is the results of every repeat (48 bytes an example, 1 KiB
    # a block, computed here independently) against 90% of it, and the offered value runs.
    room = 2 << 20
    monkeypatch.setattr(_memory, "available_bytes", lambda: room)
    X, y = small_problem()
    one = 48 * 300 + 1024 * 3  # 300 examples in 3 blocks a repeat (ratio 1: a block a class)
    past = int(0.9 * room) // one + 1
    with pytest.raises(ValueError, match=rf"^{option}={past} would keep") as refused:
        cgfast.score(X, y, **{option: past})
    offered = int(re.search(rf"pass {option}=(\d+) or fewer", str(refused.value)).group(1))
    assert offered == int(0.5 * room) // one
    terms = cgfast.score(X, y, **{option: offered}, return_terms=True)
    assert np.isfinite(terms.score).all()
    if option == "repeats":
        assert terms.repeats == offered
    cgfast.score(X, y, **{option: past - 1})  # the largest value the bound lets through


def test_suggestion_repeats_are_bounded_by_the_classes_they_predict(monkeypatch):
    room = 2 << 20
    monkeypatch.setattr(_memory, "available_bytes", lambda: room)
    X, y = small_problem()
    # 3 blocks of 100 rows a repeat; each keeps 3 float64 predictions and an index an example.
    one = (8 * 3 + 8) * 300 + 1024 * 3
    past = int(0.9 * room) // one + 1
    with pytest.raises(ValueError, match=rf"^repeats={past} would keep"):
        cgfast.suggest_labels(X, y, repeats=past, max_block=100)
