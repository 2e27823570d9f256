"""The smaller cases of the hostile tester (issue 34, item 10): each gives a correct result or a
clear cgfast error that names the problem and the way out, before any heavy work."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgfast
from cgfast import cli

CHILD_TIMEOUT = 120


def data(n=60, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % classes


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )


def test_a_billion_bins_prune_in_memory_that_grows_with_the_rows():
    # `prune --bins 1000000000` counted rows into a billion bins (8 GB) and died with a
    # MemoryError traceback. Under a 3 GiB address-space limit it must give the same rows as
    # a thousand bins do when every row already sits in a bin of its own.
    code = """
        import resource
        import numpy as np, cgfast
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        rng = np.random.default_rng(1)
        scores = rng.permutation(np.arange(300.0))  # one row per bin from 300 bins up
        y = np.arange(300) % 3
        few = cgfast.prune(scores, y, keep=0.5, bins=1000, beta=0.0, seed=3)
        many = cgfast.prune(scores, y, keep=0.5, bins=10**9, beta=0.0, seed=3)
        print(sorted(few.tolist()) == sorted(many.tolist()), len(many))
    """
    result = run_child(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "150"]


def test_more_bins_than_float64_resolves_are_refused():
    scores, y = np.arange(30.0), np.arange(30) % 2
    with pytest.raises(ValueError, match=r"bins=9007199254740993 is more than float64"):
        cgfast.prune(scores, y, keep=0.5, bins=2**53 + 1)


def test_a_float128_x_scores_as_its_float64_values():
    # It gave NumPy's casting TypeError.
    X, y = data()
    wide = X.astype(np.longdouble)
    assert np.array_equal(cgfast.score(wide, y), cgfast.score(X, y))


def test_a_block_past_the_address_space_limit_is_refused_naming_max_block():
    # Under `ulimit -v` the run tried to allocate a 3.4 GiB kernel and said "shape mismatch".
    code = """
        import resource
        import numpy as np, cgfast
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        X = np.random.default_rng(0).normal(size=(30000, 20)).astype(np.float32)
        y = np.arange(30000) % 2
        try:
            cgfast.score(X, y, max_block=20000, repeats=1)
        except MemoryError as error:
            print(type(error).__name__, error)
        try:
            cgfast.gram(X)
        except MemoryError as error:
            print(type(error).__name__, error)
    """
    result = run_child(code)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert re.match(r"BlockTooLargeError a block of \d+ rows needs .* pass max_block=", lines[0])
    assert lines[1].startswith("BlockTooLargeError the kernel matrix of all 30000 rows"), lines[1]
    assert "shape mismatch" not in result.stdout


def test_suggestions_with_a_drawn_seed_cannot_take_a_checkpoint(no_heavy_work, tmp_path):
    # The checkpoint written could never resume: a rerun draws another seed.
    X, y = data()
    with pytest.raises(ValueError, match=r"seed=None draws a new seed .* pass an int seed"):
        cgfast.suggest_labels(X, y, seed=None, checkpoint=tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("option", ["suggest", "return_terms", "progress"])
@pytest.mark.parametrize("value", ["no", "False", 0, None, [False]])
def test_a_yes_no_option_takes_only_a_bool(no_heavy_work, option, value):
    # The string "no" counted as True. progress also takes a callable (tests/test_progress.py).
    X, y = data()
    allowed = "True, False or a callable" if option == "progress" else "True or False"
    with pytest.raises(TypeError, match=rf"^{option} must be {allowed}\b.*, got "):
        cgfast.score(X, y, **{option: value})


def test_suggestions_progress_takes_only_a_bool(no_heavy_work):
    X, y = data()
    with pytest.raises(TypeError, match=r"^progress must be True, False or a callable.*, got 'no'"):
        cgfast.suggest_labels(X, y, progress="no")


def test_numpy_bools_are_bools():
    X, y = data()
    terms = cgfast.score(X, y, return_terms=np.True_, repeats=2)
    assert isinstance(terms, cgfast.ScoreTerms)
    assert isinstance(cgfast.score(X, y, return_terms=np.False_, repeats=2), np.ndarray)


@pytest.mark.parametrize(
    "make, kind",
    [(lambda y: dict(enumerate(y)), "dict"), (lambda y: set(range(len(y))), "set")],
)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_dict_or_set_y_is_refused(no_heavy_work, make, kind, task):
    # A dict y was scored by its keys.
    X, y = data()
    with pytest.raises(TypeError, match=rf"y must be a sequence of .*, got a {kind}, .*row order"):
        cgfast.score(X, make(y), task=task)


def test_a_report_named_pdf_is_refused_before_any_work(tmp_path, capsys):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    for name in ("r.pdf", "report"):
        args = ["report", tmp_path / "X.npy", tmp_path / "y.npy", "-o", tmp_path / name]
        with pytest.raises(SystemExit) as stop:
            cli.main([str(a) for a in args])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "the report is an HTML page, so its file name must end in .html" in err, err
        assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match=r"must end in \.html; .*r\.pdf ends in \.pdf"):
        cgfast.write_report(tmp_path / "r.pdf", X, y)


def test_a_table_x_holding_its_label_column_names_it(no_heavy_work):
    pd = pytest.importorskip("pandas")
    X, y = data()
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["label"] = np.array(["cat", "dog", "eel"])[y]
    with pytest.raises(TypeError, match=r"column\(s\) 'label' of the table are not numbers"):
        cgfast.score(frame, y)


def cut_mid_run(tmp_path, *, when: str, setup: str = "") -> str:
    """What a child prints that scores X.npy (400 rows, read a block at a time, as a file too
    large to hold is) while its progress callback cuts the file to half once ``when`` holds:
    "finished", or the ValueError it met. In a child, since a SIGBUS would kill it."""
    X, _ = data(n=400, d=8)
    np.save(tmp_path / "X.npy", X)
    code = f"""
        import os, numpy as np, cgfast
        from cgfast import _data
        path = {str(tmp_path / "X.npy")!r}
        y = np.arange(400) % 3
        _data.LOAD_BYTES = 0
        {setup}
        cut = []
        def progress(update):
            if {when} and not cut:
                os.truncate(path, os.path.getsize(path) // 2)
                cut.append(True)
        try:
            cgfast.score(path, y, max_block=40, repeats=2, n_jobs=1, progress=progress)
            print("finished")
        except ValueError as error:
            print("ValueError", error)
    """
    result = run_child(code)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    return result.stdout


def test_a_memory_mapped_x_cut_short_between_blocks_is_refused_not_a_sigbus(tmp_path):
    # Issue 34, item 9: truncating X.npy while a run read it killed the process with SIGBUS.
    # The file is cut after the first block; the next block's read must refuse with a
    # ValueError naming the file.
    out = cut_mid_run(tmp_path, when="update.done > 0")
    assert out.startswith("ValueError X's file "), out
    assert "was cut short while this run read it" in out


def test_a_cleaned_table_of_one_class_has_a_summary():
    # Found by the property suite on CPython 3.13: clean accepted a score table whose labels are
    # all one class, then its summary refused them ("needs at least two").
    rng = np.random.default_rng(0)
    table = {
        "id": np.array(["row0", "row1", "row2"]),
        "label": np.zeros(3, dtype=np.int64),
        "score": rng.random(3),
        "label_issue": np.array([True, False, False]),
    }
    cleaned = cgfast.clean(terms=table)
    summary = cleaned.summary()
    assert summary["rows"].tolist() == [3] and summary["dropped"].tolist() == [1]
    assert summary["kept"].tolist() == [2]


def test_a_memory_mapped_x_cut_short_while_a_block_is_read_is_refused_not_a_sigbus(tmp_path):
    # Issue 34, item 9, the rest: the size check before each block cannot see a file cut short
    # during the block's read. Here the check is switched off and the file cut before the
    # first block, so the rows are read past the file's end: through the memory map that was a
    # SIGBUS (the child died with -7); rows are now read with positioned reads, and a short
    # read is a ValueError naming the file.
    out = cut_mid_run(tmp_path, when="True", setup="_data.Rows._check_file = lambda self: None")
    assert out.startswith("ValueError X's file "), out
    assert "was cut short while this run read it" in out


def test_rows_of_a_memory_mapped_file_are_read_as_the_map_holds_them(tmp_path):
    # The positioned reads against the map itself: any order, repeats, runs, big-endian, a
    # header of another length, and views of a map (read through the array, not the file).
    from cgfast._data import Rows

    rng = np.random.default_rng(3)
    for dtype, shape in [("<f4", (500, 6)), (">f8", (300, 2, 3)), ("<f8", (50, 1))]:
        np.save(tmp_path / "X.npy", rng.normal(size=shape).astype(dtype))
        mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
        rows = Rows(mapped)
        assert rows._reads_file()
        n = shape[0]
        for index in [rng.permutation(n), np.arange(n), np.array([3, 3, 0, n - 1, 4, 5, 6]),
                      np.array([], dtype=np.int64)]:  # fmt: skip
            expected = np.asarray(mapped[index]).reshape(len(index), rows.d).astype(rows.dtype)
            assert np.array_equal(rows.take(index), expected)
        assert np.array_equal(rows.whole(), np.asarray(mapped).reshape(n, -1).astype(rows.dtype))
        view = Rows(mapped[10:40])
        assert not view._reads_file()
        assert np.array_equal(view.take(np.arange(5)), rows.take(np.arange(10, 15)))
        with pytest.raises(IndexError):
            rows.take(np.array([n]))


def test_a_small_memory_mapped_x_is_read_once_and_a_later_cut_does_not_matter(tmp_path):
    # A .npy small enough to hold is read into memory when the run opens it: no block reads the
    # file again, so the scores are the uncut file's even when it is cut short mid-run.
    X, y = data(n=400, d=8)
    np.save(tmp_path / "X.npy", X)
    expected = cgfast.score(X, y, max_block=40, repeats=2, n_jobs=1)
    code = f"""
        import os, numpy as np, cgfast
        path = {str(tmp_path / "X.npy")!r}
        y = np.load({str(tmp_path / "y.npy")!r})
        cut = []
        def progress(update):
            if update.done > 0 and not cut:
                os.truncate(path, os.path.getsize(path) // 2)
                cut.append(True)
        scores = cgfast.score(path, y, max_block=40, repeats=2, n_jobs=1, progress=progress)
        np.save({str(tmp_path / "scores.npy")!r}, scores)
        print("cut" if cut else "not cut")
    """
    np.save(tmp_path / "y.npy", y)
    result = run_child(code)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "cut"
    assert np.array_equal(np.load(tmp_path / "scores.npy"), expected)
