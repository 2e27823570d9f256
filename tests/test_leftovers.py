"""What a killed run leaves is removed when cgfast next opens the folder; caches of image folders
and parquet shards live in a cache folder, never in the data's, and one that is damaged or was
changed after it was written is rebuilt with a CacheWarning naming it; a .npy X shorter than its
header says is refused before the run (issue 34, item 9)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import cgfast
from cgfast import cli
from cgfast._files import open_dataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ARGS = {"max_block": 60, "repeats": 2}


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(180, 6)) + np.repeat(np.eye(3, 6), 60, axis=0) * 2
    return X, np.repeat([0, 1, 2], 60)


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def ended_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# Scores with a checkpoint and is killed (SIGKILL, as `kill -9`) halfway through writing its
# third block file.
KILLED_IN_A_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import cgfast

    X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
    real, calls = np.savez, []

    def dying(handle, **arrays):
        calls.append(1)
        if len(calls) == 3:
            handle.write(b"half a block")
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real(handle, **arrays)

    np.savez = dying
    cgfast.score(X, y, max_block=60, repeats=2, checkpoint=sys.argv[3], n_jobs=1)
    """
)


def test_a_block_file_half_written_by_a_killed_run_is_removed_on_resume(tmp_path):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    ck = tmp_path / "ck"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_IN_A_WRITE, tmp_path / "X.npy", tmp_path / "y.npy", ck],
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    (left,) = hidden(ck / "blocks")
    assert left.startswith(".000002.npz.")  # what `kill -9` left
    assert (ck / "blocks" / left).read_bytes() == b"half a block"
    resumed = cgfast.score(X, y, checkpoint=ck, **ARGS)
    np.testing.assert_array_equal(resumed, cgfast.score(X, y, **ARGS))
    assert hidden(ck / "blocks") == [] and hidden(ck) == []


def test_a_part_removes_only_what_ended_writers_of_its_host_left_and_a_run_alone_all(tmp_path):
    X, y = data()
    ck = tmp_path / "ck"
    assert cgfast.score_part(X, y, checkpoint=ck, part=0, parts=2, **ARGS) > 0
    here, gone = socket.gethostname(), ended_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        names = {
            "live": f".000000.npz.~{sleeper.pid}@{here}~abcd1234",
            "ended": f".000001.npz.~{gone}@{here}~abcd1234",
            "other host": f".000002.npz.~{gone}@elsewhere.example~abcd1234",
            "release 0.2": ".000003.npz.abcd_123",
            "not a block": f".notes.txt.~{gone}@{here}~abcd1234",
        }
        for name in names.values():
            (ck / "blocks" / name).write_bytes(b"partial")
        (ck / f".manifest.json.~{gone}@{here}~abcd1234").write_bytes(b"{")
        # A job-array part shares the directory with parts that may be writing: it removes only
        # the temporaries whose writer it knows to have ended.
        assert cgfast.score_part(X, y, checkpoint=ck, part=1, parts=2, **ARGS) > 0
        kept = {names[k] for k in ("live", "other host", "release 0.2", "not a block")}
        assert set(hidden(ck / "blocks")) == kept
        assert hidden(ck) == []
        # A run that holds the directory alone knows that no writer is left.
        cgfast.score(X, y, checkpoint=ck, **ARGS)
        assert hidden(ck / "blocks") == [names["not a block"]]
    finally:
        sleeper.kill()
        sleeper.wait()


def shards(tmp_path, X, y):
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(y)), 3)):
        table = {f"f{j}": X[part, j] for j in range(X.shape[1])}
        pq.write_table(pa.table({**table, "label": y[part]}), folder / f"p{i}.parquet")
    return folder


def everything(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_the_cache_is_in_the_cache_folder_never_in_the_data(tmp_path, monkeypatch):
    X, y = data()
    folder = shards(tmp_path, X, y)
    before = everything(folder)
    monkeypatch.setenv("CGFAST_CACHE", str(tmp_path / "mine"))
    first = open_dataset(folder, y_key="label")
    assert os.path.dirname(first.X.filename) == str(tmp_path / "mine")
    monkeypatch.delenv("CGFAST_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    second = open_dataset(folder, y_key="label")
    assert os.path.dirname(second.X.filename) == str(tmp_path / "xdg" / "cgfast")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    third = open_dataset(folder, y_key="label")
    assert os.path.dirname(third.X.filename) == str(tmp_path / "home" / ".cache" / "cgfast")
    status = run_cli("score", folder, "--y-key", "label", "--cache", tmp_path / "chosen",
                     "--repeats", "1", "--no-progress", "-o", tmp_path / "s.npy")  # fmt: skip
    assert status == 0 and list((tmp_path / "chosen").glob(".cgfast-cache-*.npy"))
    for dataset in (first, second, third):
        np.testing.assert_array_equal(dataset.X, X)
    assert everything(folder) == before  # nothing written beside the data


def test_an_unwritable_cache_folder_is_named_with_the_way_out(tmp_path, monkeypatch):
    X, y = data()
    folder = shards(tmp_path, X, y)
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CGFAST_CACHE", str(tmp_path / "file" / "cache"))
    with pytest.raises(OSError, match=r"cannot create the cache folder .*file/cache.*--cache DIR"):
        open_dataset(folder, y_key="label")


def damage(path, how):
    data = bytearray(path.read_bytes())
    stat = path.stat()
    if how == "cut short":
        path.write_bytes(data[: len(data) - 100])
    elif how == "header":
        path.write_bytes(b"not a .npy file at all" + data[22:])
    elif how == "no record":
        path.with_suffix(".json").unlink()
    elif how == "record":
        path.with_suffix(".json").write_text("{")
    elif how == "edited":
        data[-8:] = np.float64(1e6).tobytes()  # one value changed, the size kept
        path.write_bytes(data)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its time put back


@pytest.mark.parametrize(
    "how, says",
    [
        ("cut short", r"holds \d+ bytes but its header .* was cut short"),
        ("header", "is damaged"),
        ("no record", "has no readable record of its digest"),
        ("record", "has no readable record of its digest"),
        ("edited", "was changed after cgfast wrote it"),
    ],
)
def test_a_damaged_or_edited_cache_is_rebuilt_naming_it(tmp_path, how, says):
    X, y = data()
    folder = shards(tmp_path, X, y)
    cache = str(open_dataset(folder, y_key="label").X.filename)
    damage(Path(cache), how)
    with pytest.warns(
        cgfast.CacheWarning, match=f"the cache {re.escape(cache)} {says}.*rebuilding"
    ):
        again = open_dataset(folder, y_key="label")
    assert str(again.X.filename) == cache
    np.testing.assert_array_equal(again.X, X)
    with cgfast_warnings_as_errors():
        np.testing.assert_array_equal(open_dataset(folder, y_key="label").X, X)


def test_a_copied_cache_whose_bytes_match_is_used_without_a_word(tmp_path):
    X, y = data()
    folder = shards(tmp_path, X, y)
    cache = Path(open_dataset(folder, y_key="label").X.filename)
    copy = cache.with_name("copy")
    copy.write_bytes(cache.read_bytes())
    os.replace(copy, cache)  # another inode and other times, the same bytes
    with cgfast_warnings_as_errors():
        np.testing.assert_array_equal(open_dataset(folder, y_key="label").X, X)


@contextmanager
def cgfast_warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", cgfast.CgfastWarning)
        yield


# Opens an image folder and is killed (SIGKILL) while decoding its images, when the full-size
# raw file of its pixels exists.
KILLED_WHILE_DECODING = textwrap.dedent(
    """
    import os, signal, sys
    from cgfast import _images

    real, calls = _images._decode, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    _images._decode = dying
    _images.open_images(sys.argv[1], workers=1)
    """
)


def test_the_raw_pixels_a_killed_conversion_left_are_removed(tmp_path, cache_folder):
    Image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "imgs"
    rng = np.random.default_rng(2)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for k in range(6):
            pixels = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{k}.png")
    before = everything(folder)
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_DECODING, folder],
        capture_output=True,
        timeout=300,
        env={**os.environ, "CGFAST_CACHE": str(cache_folder)},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    (raw,) = [p for p in cache_folder.iterdir() if ".raw." in p.name]
    assert raw.stat().st_size == 12 * 40 * 30 * 3  # full size, never removed before
    dataset = open_dataset(folder)
    assert dataset.X.shape == (12, 40, 30, 3)
    assert [p for p in cache_folder.iterdir() if "~" in p.name] == []
    assert everything(folder) == before  # the image folder is only read


def test_a_npy_x_shorter_than_its_header_says_is_refused_before_the_run(tmp_path, capsys):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    size = os.path.getsize(tmp_path / "X.npy")
    os.truncate(tmp_path / "X.npy", size - 8 * 6 * 10)  # ten rows short
    with pytest.raises(ValueError, match=rf"X.npy holds {size - 480} bytes but its header"):
        cgfast.score(str(tmp_path / "X.npy"), y)
    status = run_cli("score", tmp_path / "X.npy", tmp_path / "y.npy", "--no-progress",
                     "-o", tmp_path / "s.npy")  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "was cut short" in err and "X.npy" in err, err
