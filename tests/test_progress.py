"""One progress report per run: every round of repeats="auto" and the suggestion pass make one
sequence (one bar) that never goes back and ends at exactly 100%; a callable sees the same."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cgfast
from cgfast import engine
from cgfast._progress import LAST, Progress, Tracker, check_progress
from cgfast.cli import main as cli_main
from cgfast.options import Options
from cgfast.suggest import DEFAULT_REPEATS


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    X = rng.normal(size=(len(y), 8)) + 1.5 * np.eye(3, 8)[y]
    flip = rng.choice(len(y), len(y) // 10, replace=False)
    y[flip] = (y[flip] + 1) % 3
    return X, y


# Several rounds on this set: 4 repeats, then more, then the suggestion pass.
AUTO = {"max_block": 60, "stability": 0.93, "seed": 0}


def check_one_sequence(updates: list[Progress]) -> None:
    """What every run's updates must satisfy: one sequence from 0 that never goes back."""
    assert updates, "no update at all"
    assert updates[0].done == 0 and updates[0].fraction == 0
    fractions = [u.fraction for u in updates]
    done = [u.done for u in updates]
    assert all(a <= b for a, b in zip(fractions, fractions[1:])), "the fraction went back"
    assert all(a <= b for a, b in zip(done, done[1:])), "the work done went back"
    assert all(0 <= f <= 1 for f in fractions)
    last = updates[-1]
    assert last.fraction == 1.0 and last.done == last.total and last.remaining == 0
    assert all(u.fraction < 1.0 for u in updates[:-1]), "100% before the run ended"


def phases(updates: list[Progress]) -> list[str]:
    """The phases in the order they came, each once."""
    out: list[str] = []
    for update in updates:
        if not out or out[-1] != update.phase:
            out.append(update.phase)
    return out


def run_work(X, y, repeats: int, **arguments) -> tuple[int, int]:
    """The work of the scoring blocks of ``repeats`` repeats, and of the suggestion pass."""
    run = engine.prepare(X, y, Options(repeats=repeats, **arguments))
    scoring = sum(run.work(run.blocks[i]) for i in range(repeats * run.per_repeat))
    suggesting = engine.suggestion_run(run, DEFAULT_REPEATS)
    return scoring, sum(suggesting.work(block) for block in suggesting.blocks)


def test_auto_rounds_and_suggestions_are_one_monotonic_sequence():
    X, y = data()
    updates: list[Progress] = []
    terms = cgfast.score(X, y, suggest=True, progress=updates.append, **AUTO)
    rounds = [repeats for repeats, _ in terms.history]
    assert len(rounds) >= 2, "the set was meant to take several rounds"
    check_one_sequence(updates)
    starts = [0, *rounds[:-1]]
    want = [
        f"scoring, round {k} (repeats {a + 1}-{b})"
        for k, (a, b) in enumerate(zip(starts, rounds), start=1)
    ]
    assert phases(updates) == [*want, "suggesting labels"]
    # The last update counts exactly the work the run did: every block of every round and of
    # the suggestion pass, by its flops.
    scoring, suggesting = run_work(X, y, terms.repeats, max_block=60, seed=0)
    assert updates[-1].done == updates[-1].total == scoring + suggesting
    # Time left is estimated once work is done, and is 0 at the end.
    assert any(u.remaining is not None and u.remaining > 0 for u in updates[:-1])
    assert str(updates[-1]).startswith("cgfast: 100% suggesting labels, ")


def test_the_suggestion_pass_is_expected_from_the_start():
    # The total counts the suggestion pass from the first update on, to the flop: a run that
    # reaches its last round knows its whole total, which the suggestion pass does not move.
    X, y = data()
    updates: list[Progress] = []
    cgfast.score(X, y, suggest=True, progress=updates.append, **AUTO)
    run = engine.prepare(X, y, Options(**AUTO))
    suggesting = engine.suggestion_run(run, DEFAULT_REPEATS)
    assert engine.suggestion_work(run, DEFAULT_REPEATS) == sum(
        suggesting.work(block) for block in suggesting.blocks
    )
    in_suggestions = [u.total for u in updates if u.phase == "suggesting labels"]
    assert len(set(in_suggestions)) == 1
    first_suggestion = next(u for u in updates if u.phase == "suggesting labels")
    assert first_suggestion.total - first_suggestion.done == engine.suggestion_work(
        run, DEFAULT_REPEATS
    )


def test_fixed_repeats_without_suggestions_count_every_block():
    X, y = data()
    updates: list[Progress] = []
    cgfast.score(X, y, repeats=3, max_block=60, progress=updates.append)
    check_one_sequence(updates)
    assert phases(updates) == ["scoring (3 repeats)"]
    scoring, _ = run_work(X, y, 3, max_block=60)
    assert updates[-1].done == scoring
    # Fixed repeats: the total is known from the start and never changes.
    assert {u.total for u in updates[:-1]} == {scoring}


def test_a_growing_estimate_holds_the_fraction_and_a_shrinking_one_moves_it_on():
    updates: list[Progress] = []
    tracker = Tracker(updates.append)
    tracker.expect("scoring", 100)  # work still to come, by part
    tracker.phase("scoring, round 1 (repeats 1-4)")
    tracker.advance("scoring", 50)
    # Half the work: half the bar, which keeps its last 1% for the end of the run.
    assert updates[-1].fraction == pytest.approx(0.5 * LAST)
    tracker.expect("later rounds", 100)  # more rounds than expected: the bar must not go back
    tracker.phase("scoring, round 2 (repeats 5-8)")
    assert updates[-1].fraction == pytest.approx(0.5 * LAST) and updates[-1].total == 200
    tracker.advance("later rounds", 75)  # the rest of the bar stands for the rest: 75 of 150
    assert updates[-1].fraction == pytest.approx(0.75 * LAST)
    tracker.expect("scoring", 0)  # less than expected: 125 of 150 done, the bar moves on
    tracker.phase("scoring, round 3")
    assert updates[-1].fraction == pytest.approx(125 / 150 * LAST) and updates[-1].total == 150
    tracker.advance("later rounds", 25)  # all the work expected: held short of 100% ...
    assert updates[-1].fraction == LAST < 1.0
    tracker.finish()  # ... until the run says it is over
    check_one_sequence(updates)
    assert updates[-1].done == updates[-1].total == 150


def test_a_part_given_as_a_function_is_asked_again_when_blocks_cost_less():
    # A kept kernel makes every block after it cheaper: the parts that gave a function for
    # their work say it again, and the total follows without the bar going back.
    updates: list[Progress] = []
    tracker = Tracker(updates.append)
    cost = {"block": 10}
    tracker.expect("suggesting", lambda: 4 * cost["block"])
    tracker.expect("kernel", 20)
    tracker.phase("scoring, building the kernel")
    tracker.advance("kernel", 20)
    assert updates[-1].total == 60
    cost["block"] = 5
    tracker.reweigh()
    tracker.phase("suggesting labels")
    assert updates[-1].total == 40 and updates[-1].fraction == pytest.approx(0.5 * LAST)
    for _ in range(4):
        tracker.advance("suggesting", 5)
    tracker.finish()
    check_one_sequence(updates)
    assert updates[-1].done == 40


def test_a_round_that_another_follows_leaves_the_bar_room_to_move():
    # Without suggestions the scoring is all the work: a round ending where the total expected
    # the run to end would bring the bar to its end while another round still runs.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    X = rng.normal(size=(600, 8)) + 2 * np.eye(3, 8)[y]
    updates: list[Progress] = []
    terms = cgfast.score(X, y, max_block=100, seed=0, progress=updates.append, return_terms=True)
    assert len(terms.history) >= 3, "the set was meant to take three rounds or more"
    check_one_sequence(updates)
    for name in phases(updates)[1:]:
        during = [u.fraction for u in updates if u.phase == name]
        assert during[0] < during[-1], f"the bar did not move in {name!r}"
    # The bar reaches the end of the work expected (short of 100% until the run is over) with
    # the last block, not before: held there, it would stand still through later rounds.
    assert sum(u.fraction == LAST for u in updates) <= 1


def test_a_run_stopped_early_ends_at_what_it_did():
    # A larger estimate than the run needs (the prior of "auto" before its first estimate)
    # shrinks when it stops: the bar jumps forward to 100%, never back.
    updates: list[Progress] = []
    tracker = Tracker(updates.append)
    tracker.expect("scoring", 1000)
    tracker.phase("scoring")
    tracker.advance("scoring", 100)
    tracker.finish()
    assert [u.fraction for u in updates] == [0.0, pytest.approx(0.1 * LAST), 1.0]
    assert updates[-1].total == 100


def test_a_kept_kernel_counts_once_and_its_blocks_count_without_their_gram():
    X, y = data()
    run = engine.prepare(X, y, Options(**AUTO))
    updates: list[Progress] = []
    executor = engine.LocalExecutor(cache=True)
    terms = engine.score_run(run, executor, progress=updates.append, suggest=True)
    check_one_sequence(updates)
    assert phases(updates)[:2] == [
        "scoring, round 1 (repeats 1-4), building the kernel",
        "scoring, round 1 (repeats 1-4)",
    ]
    assert phases(updates)[-1] == "suggesting labels"
    rows = run.rows
    scoring = sum(engine.block_weight(run, i, rows) for i in range(terms.repeats * run.per_repeat))
    suggesting = engine.suggestion_run(run, DEFAULT_REPEATS)
    predicted = sum(engine.block_weight(suggesting, i, rows) for i in range(len(suggesting.blocks)))
    assert engine.suggestion_work(run, DEFAULT_REPEATS, rows) == predicted
    assert updates[-1].done == engine.kernel_work(run) + scoring + predicted
    # A block that copies its H out of the kernel counts its factorisation and the copy, not
    # its Gram; without the kernel it counts its Gram.
    block = run.blocks[0]
    assert engine.block_weight(run, 0, rows) == block.flops + engine.COPY_WORK * block.size**2
    assert engine.block_weight(run, 0, None) == block.flops + block.size**2 * X.shape[1]


def test_a_resumed_run_counts_its_checkpoint_as_done(tmp_path):
    X, y = data()
    first: list[Progress] = []
    cgfast.score(X, y, suggest=True, checkpoint=tmp_path, progress=first.append, **AUTO)
    again: list[Progress] = []
    cgfast.score(X, y, suggest=True, checkpoint=tmp_path, progress=again.append, **AUTO)
    check_one_sequence(again)
    assert again[-1].done == first[-1].done
    assert phases(again)[-1] == "suggesting labels"


def test_suggest_labels_reports_its_blocks():
    X, y = data()
    updates: list[Progress] = []
    cgfast.suggest_labels(X, y, max_block=60, progress=updates.append)
    check_one_sequence(updates)
    assert phases(updates) == ["suggesting labels"]
    _, suggesting = run_work(X, y, 1, max_block=60)
    assert updates[-1].done == suggesting


def test_a_part_reports_its_suggestions_then_its_share_of_the_round(tmp_path):
    X, y = data()
    updates: list[Progress] = []
    cgfast.score_part(X, y, checkpoint=tmp_path, part=0, parts=2, suggest=True,
                      progress=updates.append, max_block=60, seed=0)  # fmt: skip
    check_one_sequence(updates)
    assert phases(updates) == ["suggesting labels, part 0 of 2", "scoring repeats 1-4, part 0 of 2"]


def test_progress_takes_a_bool_or_a_callable():
    assert check_progress(np.True_) is True and check_progress(False) is False
    assert check_progress(print) is print
    for bad in ("no", None, 0, [False]):
        with pytest.raises(TypeError, match="progress must be True, False or a callable"):
            check_progress(bad)


def percentages(stderr: str) -> list[int]:
    """The percentages a tqdm bar drew, in order (one per redraw)."""
    return [int(p) for p in re.findall(r"(\d+)%\|", stderr)]


def test_the_bar_is_one_bar_from_0_to_100(capsys):
    X, y = data()
    cgfast.score(X, y, suggest=True, progress=True, **AUTO)
    err = capsys.readouterr().err
    shown = percentages(err)
    assert shown[0] == 0 and shown[-1] == 100
    assert all(a <= b for a, b in zip(shown, shown[1:])), shown
    assert "cgfast scoring, round 1 (repeats 1-4)" in err
    assert "cgfast suggesting labels" in err and "ETA" in err
    # One bar: it is drawn on one line, redrawn in place, and left there once at the end.
    assert err.count("\n") == 1 and err.endswith("\n")


@pytest.fixture
def files(tmp_path):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


def cli_args(folder, output):
    return ["score", str(folder / "X.npy"), str(folder / "y.npy"), "--max-block", "60",
            "--stability", "0.93", "-o", str(folder / output)]  # fmt: skip


def test_the_cli_draws_no_bar_when_stderr_is_not_a_terminal(files):
    result = subprocess.run(
        [sys.executable, "-m", "cgfast.cli", *cli_args(files, "s.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "%|" not in result.stderr and "cgfast scoring" not in result.stderr
    assert result.stdout.startswith("cgfast score: 300 examples")


def run_cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(SystemExit) as stop:
            cli_main(args)
    return stop.value.code, err.getvalue()


def test_the_cli_draws_one_bar_when_asked(files):
    status, err = run_cli([*cli_args(files, "s.csv"), "--progress"])
    assert status == 0
    shown = percentages(err)
    assert shown[0] == 0 and shown[-1] == 100
    assert all(a <= b for a, b in zip(shown, shown[1:])), shown
    assert "suggesting labels" in err
    status, err = run_cli([*cli_args(files, "t.csv"), "--no-progress"])
    assert status == 0 and "%|" not in err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_cli_draws_the_bar_on_a_terminal(files):
    import fcntl
    import select
    import struct
    import termios

    leader, follower = os.openpty()
    # A terminal of 100 columns (a new pseudo-terminal has none, and a bar fits in none).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "cgfast.cli", *cli_args(files, "s.csv")],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        shown = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                child.kill()
                pytest.fail("the command went quiet for two minutes")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        assert child.wait(timeout=120) == 0
    finally:
        os.close(leader)
    text = shown.decode("utf-8", "replace")
    assert percentages(text)[-1] == 100
    assert "cgfast suggesting labels" in text
