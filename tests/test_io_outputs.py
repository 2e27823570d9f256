"""Outputs are written whole or not at all: a failed write leaves no file and no temporary."""

from __future__ import annotations

import errno
import os
import re

import numpy as np
import pytest

from cgfast import cli


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)) + np.repeat(np.eye(2, 4), 20, axis=0) * 2
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.repeat([0, 1], 20))
    return tmp_path


def full_disk(real):
    """A writer that puts some bytes down, then fails as a full disk does."""

    def write(target, *args, **kwargs):
        target.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize("name, terms", [("s.npy", False), ("t.npz", True)])
def test_a_failed_score_write_leaves_nothing(data, monkeypatch, capsys, name, terms):
    monkeypatch.setattr(np, "save", full_disk(np.save))
    monkeypatch.setattr(np, "savez", full_disk(np.savez))
    extra = ["--terms"] if terms else []
    status = run_cli("score", data / "X.npy", data / "y.npy", *extra, "--repeats", "1",
                     "--no-progress", "-o", data / name)  # fmt: skip
    assert status == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == ["X.npy", "y.npy"]


def test_a_failed_write_keeps_the_previous_file(data, monkeypatch):
    previous = np.arange(40.0)
    np.save(data / "s.npy", previous)
    monkeypatch.setattr(np, "save", full_disk(np.save))
    status = run_cli("score", data / "X.npy", data / "y.npy", "--repeats", "1", "--no-progress",
                     "-o", data / "s.npy")  # fmt: skip
    monkeypatch.undo()
    assert status == 2
    np.testing.assert_array_equal(np.load(data / "s.npy"), previous)
    assert sorted(p.name for p in data.iterdir()) == ["X.npy", "s.npy", "y.npy"]


def test_a_failed_report_leaves_nothing(data, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import cgfast.report

    def fails(path, *args, **kwargs):
        with open(path, "w") as handle:
            handle.write("<html>")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cgfast.report, "write_report", fails)
    status = run_cli("report", data / "X.npy", data / "y.npy", "--repeats", "1", "--no-progress",
                     "-o", data / "r.html")  # fmt: skip
    assert status == 2
    assert sorted(p.name for p in data.iterdir()) == ["X.npy", "y.npy"]


def test_a_successful_write_leaves_only_the_output(data):
    assert run_cli("score", data / "X.npy", data / "y.npy", "--repeats", "1", "--no-progress",
                   "-o", data / "s.npy") == 0  # fmt: skip
    assert sorted(p.name for p in data.iterdir()) == ["X.npy", "s.npy", "y.npy"]
    assert np.load(data / "s.npy").shape == (40,)


def test_outputs_get_the_permissions_of_a_new_file(data):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    assert run_cli("score", data / "X.npy", data / "y.npy", "--repeats", "1", "--no-progress",
                   "-o", data / "s.csv") == 0  # fmt: skip
    assert (data / "s.csv").stat().st_mode & 0o777 == 0o666 & ~umask


def no_work(*args, **kwargs):
    raise AssertionError("the command started work before refusing its output")


@pytest.fixture
def inputs(data):
    """X and y as .npy, a .csv table, a score table and parquet shards, with their bytes."""
    import csv

    X, y = np.load(data / "X.npy"), np.load(data / "y.npy")
    with open(data / "table.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["f0", "f1", "f2", "f3", "label"])
        writer.writerows([*map(float, row), int(label)] for row, label in zip(X, y))
    with open(data / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label", "score"])
        writer.writerows([i, int(label), float(i)] for i, label in enumerate(y))
    return data


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "args, named",
    [
        (["score", "X.npy", "y.npy", "-o", "y.npy"], "y.npy"),
        (["score", "X.npy", "y.npy", "-o", "X.npy"], "X.npy"),
        (["score", "table.csv", "--y-key", "label", "-o", "table.csv"], "table.csv"),
        (["score", "X.npy", "y.npy", "-o", "sub/../y.npy"], "y.npy"),  # another spelling
        (["score", "X.npy", "y.npy", "-o", "link.npy"], "y.npy"),  # a symbolic link to it
        (["score", "X.npy", "y.npy", "-o", "hard.npy"], "y.npy"),  # a hard link to it
        (["prune", "scores.csv", "--keep", "0.5", "-o", "scores.csv"], "scores.csv"),
        (["prune", "scores.csv", "--keep", "0.5", "-o", "s.npy"], None),  # s.npy is new
        (["prune", "s.npy", "y.npy", "--keep", "0.5", "-o", "y.npy"], "y.npy"),
        (["report", "X.npy", "y.npy", "-o", "y.npy"], "y.npy"),
        (["report", "X.npy", "y.npy", "--scores", "scores.csv", "-o", "scores.csv"], "scores.csv"),
        (["score", "shards", "--y-key", "label", "-o", "shards/scores.parquet"], "shards"),
    ],
)
def test_an_output_that_is_an_input_is_refused_before_any_work(
    inputs, monkeypatch, capsys, args, named
):
    # Issue 34, item 5: `cgfast score X.npy y.npy -o y.npy` replaced the labels with scores.
    (inputs / "sub").mkdir()
    (inputs / "link.npy").symlink_to(inputs / "y.npy")
    os.link(inputs / "y.npy", inputs / "hard.npy")  # Path.hardlink_to needs Python 3.10
    (inputs / "shards").mkdir()
    arrow_csv = pytest.importorskip("pyarrow.csv")
    parquet = pytest.importorskip("pyarrow.parquet")
    parquet.write_table(arrow_csv.read_csv(inputs / "table.csv"), inputs / "shards/a.parquet")
    np.save(inputs / "s.npy", np.arange(40.0))
    monkeypatch.chdir(inputs)
    before = snapshot(inputs)
    from cgfast.cli import prune, report, score

    for command in (score, report):
        monkeypatch.setattr(command, "run_score", no_work)
    monkeypatch.setattr(prune, "write", no_work)
    if named is None:  # the control: a new output goes ahead (and reaches the stub)
        with pytest.raises(AssertionError, match="started work"):
            cli.main(args)
        return
    status = run_cli(*args)
    err = capsys.readouterr().err
    assert status == 2
    assert "is also an input" in err and named in err, err
    assert snapshot(inputs) == before


def test_an_interrupted_checkpointed_run_says_what_is_saved_and_how_to_resume(
    data, monkeypatch, capsys
):
    # Issue 34, item 8: Ctrl-C printed only "cgfast: aborted". Now it counts the finished blocks
    # on disk and gives the command that resumes from them; that command finishes the run.
    import shlex

    import cgfast
    from cgfast.checkpoint import Checkpoint

    monkeypatch.chdir(data)
    real_save, saves = Checkpoint.save, []

    def save_then_interrupt(self, index, *rest):
        real_save(self, index, *rest)
        saves.append(index)
        if len(saves) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_interrupt)
    args = ["score", "X.npy", "y.npy", "--repeats", "3", "--max-block", "20", "--no-progress",
            "--checkpoint", "run dir", "-o", "s.npy"]  # fmt: skip
    assert run_cli(*args) == 130
    err = capsys.readouterr().err.strip()
    on_disk = len(list((data / "run dir" / "blocks").glob("*.npz")))
    assert on_disk >= 3
    found = re.fullmatch(
        r"cgfast: aborted: (\d+) finished block\(s\) are saved in run dir; to resume, run the "
        r"same command again: (.*)",
        err,
    )
    assert found, err
    assert int(found.group(1)) == on_disk
    command = shlex.split(found.group(2))
    assert command == ["cgfast", *args]
    assert not (data / "s.npy").exists()

    monkeypatch.setattr(Checkpoint, "save", real_save)
    saves.clear()
    monkeypatch.setattr(Checkpoint, "save", lambda *a: (saves.append(a[1]), real_save(*a))[1])
    assert run_cli(*command[1:]) == 0
    X, y = np.load(data / "X.npy"), np.load(data / "y.npy")
    expected = cgfast.score(X, y, repeats=3, max_block=20)
    assert np.array_equal(np.load(data / "s.npy"), expected)
    total = len(cgfast.plan_blocks(y, repeats=3, max_block=20))
    assert len(saves) == total - on_disk  # the saved blocks were read, not scored again


@pytest.mark.parametrize("flag", ["--checkpoint", "--cache"])
def test_an_empty_folder_name_is_refused_not_taken_as_the_working_directory(
    data, monkeypatch, capsys, flag
):
    monkeypatch.chdir(data)
    before = snapshot(data)
    status = run_cli("score", "X.npy", "y.npy", flag, "", "--no-progress", "-o", "s.npy")
    assert status == 2
    err = capsys.readouterr().err
    assert flag in err and "empty" in err, err
    assert snapshot(data) == before


def test_assemble_refuses_to_write_into_its_checkpoint(data, monkeypatch, capsys):
    # `cgfast assemble C -o C/blocks/000000.npz --terms` replaced a block with the scores.
    monkeypatch.chdir(data)
    assert (
        run_cli("score", "X.npy", "y.npy", "--repeats", "2", "--checkpoint", "C", "-o", "s.npy")
        == 0
    )
    before = snapshot(data / "C")
    block = sorted((data / "C").rglob("*.npz"))[0].relative_to(data)
    import cgfast

    assemble = cgfast.assemble
    monkeypatch.setattr(cgfast, "assemble", no_work)
    for output in (block, f"C/blocks/../blocks/{block.name}", "C/blocks/new.npz"):
        status = run_cli("assemble", "C", "--terms", "-o", output)
        err = capsys.readouterr().err
        assert status == 2 and "is also an input (C/blocks)" in err, err
    assert snapshot(data / "C") == before
    # A new file beside the run's own is not one of them.
    monkeypatch.setattr(cgfast, "assemble", assemble)
    assert run_cli("assemble", "C", "-o", "C/scores.npy") == 0
    assert np.array_equal(np.load(data / "C" / "scores.npy"), np.load(data / "s.npy"))
