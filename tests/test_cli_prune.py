"""`cgfast prune`: the library's strategies from the command line, ids from a score table, and
outputs refused by their extension before any work."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import cgfast
from cgfast import cli


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def scored(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [30, 31, 29])
    X = rng.normal(size=(len(y), 5)) + 2 * np.eye(3, 5)[y]
    scores = cgfast.score(X, y, repeats=2)
    np.save(tmp_path / "s.npy", scores)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, scores, y


@pytest.mark.parametrize("strategy", [None, "coverage", "keep-hard", "keep-easy"])
def test_indices_are_the_library_s(scored, capsys, strategy):
    tmp, scores, y = scored
    extra = [] if strategy is None else ["--strategy", strategy]
    assert run_cli("prune", tmp / "s.npy", tmp / "y.npy", "--keep", "0.3", *extra, "-o",
                   tmp / "k.npy") == 0  # fmt: skip
    kept = np.load(tmp / "k.npy")
    assert kept.dtype == np.int64
    np.testing.assert_array_equal(kept, cgfast.prune(scores, y, keep=0.3, strategy=strategy))
    out = capsys.readouterr().out
    assert f"kept {len(kept)} of 90 examples (0.3 of each class, {strategy or 'coverage'})" in out


def test_coverage_options_and_seed_reach_the_library(scored, capsys):
    tmp, scores, y = scored
    args = ["prune", tmp / "s.npy", tmp / "y.npy", "--keep", "0.4", "--beta", "0.2"]
    assert run_cli(*args, "--bins", "5", "--seed", "3", "-o", tmp / "k.npy") == 0
    expected = cgfast.prune(scores, y, keep=0.4, beta=0.2, bins=5, seed=3)
    np.testing.assert_array_equal(np.load(tmp / "k.npy"), expected)
    assert run_cli(*args, "--seed", "random", "-o", tmp / "r.npy") == 0
    drawn = int(capsys.readouterr().out.split("seed ")[1].split()[0])
    np.testing.assert_array_equal(
        np.load(tmp / "r.npy"), cgfast.prune(scores, y, keep=0.4, beta=0.2, seed=drawn)
    )


def test_the_older_drop_flag_is_a_strategy(scored, capsys):
    tmp, scores, y = scored
    assert run_cli("prune", tmp / "s.npy", tmp / "y.npy", "--keep", "0.5", "--drop", "hard",
                   "-o", tmp / "k.npy") == 0  # fmt: skip
    assert "--strategy keep-easy" in capsys.readouterr().err
    np.testing.assert_array_equal(
        np.load(tmp / "k.npy"), cgfast.prune(scores, y, keep=0.5, strategy="keep-easy")
    )


@pytest.fixture
def image_folder(tmp_path):
    """Three classes of 8x8 grayscale PNGs, 10 to 14 per class, in subfolders a, b, c."""
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(1)
    folder = tmp_path / "images"
    for c, (label, count) in enumerate(zip("abc", (10, 14, 12))):
        (folder / label).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 120, (8, 8))
            pixels[:, 3 * c : 3 * c + 2] += 120
            Image.fromarray(pixels.astype(np.uint8)).save(folder / label / f"{label}{i:02d}.png")
    return folder


def test_ids_round_trip_from_an_image_folder(image_folder, tmp_path):
    pandas = pytest.importorskip("pandas")
    table = tmp_path / "scores.csv"
    assert run_cli("score", image_folder, "--repeats", "2", "--no-progress", "-o", table) == 0
    assert run_cli("prune", table, "--keep", "0.5", "-o", tmp_path / "keep.csv") == 0
    rows = read_rows(tmp_path / "keep.csv")
    assert list(rows[0]) == ["index", "id", "label", "score"]
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids) == 5 + 7 + 6
    for row in rows:
        assert (image_folder / row["id"]).is_file()  # the ids are the images' paths
        assert row["id"].startswith(row["label"] + "/")
    scored = read_rows(table)
    assert [scored[int(row["index"])]["id"] for row in rows] == ids
    library = cgfast.prune(pandas.read_csv(table), keep=0.5)
    assert library["id"].tolist() == ids
    assert library["index"].tolist() == [int(row["index"]) for row in rows]
    assert run_cli("prune", table, "--keep", "0.5", "-o", tmp_path / "keep.npy") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "keep.npy"), library["index"])
    pytest.importorskip("pyarrow")
    assert run_cli("prune", table, "--keep", "0.5", "-o", tmp_path / "keep.parquet") == 0
    parquet = pandas.read_parquet(tmp_path / "keep.parquet")
    assert parquet["id"].tolist() == ids


def test_a_table_from_npy_scores_has_the_index_as_id(scored):
    tmp, scores, y = scored
    assert run_cli("prune", tmp / "s.npy", tmp / "y.npy", "--keep", "0.2", "-o",
                   tmp / "k.csv") == 0  # fmt: skip
    rows = read_rows(tmp / "k.csv")
    kept = cgfast.prune(scores, y, keep=0.2)
    assert [int(r["index"]) for r in rows] == [int(r["id"]) for r in rows] == kept.tolist()
    assert [int(r["label"]) for r in rows] == y[kept].tolist()
    np.testing.assert_allclose([float(r["score"]) for r in rows], scores[kept])


@pytest.mark.parametrize("name", ["keep.txt", "keep", "keep.npz", "keep.json"])
def test_an_unknown_output_extension_is_refused_before_reading(tmp_path, capsys, name):
    (tmp_path / "s.npy").write_bytes(b"not an array")  # reading it would fail differently
    (tmp_path / "y.npy").write_bytes(b"not an array")
    status = run_cli("prune", tmp_path / "s.npy", tmp_path / "y.npy", "--keep", "0.5", "-o",
                     tmp_path / name)  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "cannot tell what to write" in err and name in err
    assert not (tmp_path / name).exists()
    # A known extension gets as far as reading the scores.
    assert run_cli("prune", tmp_path / "s.npy", tmp_path / "y.npy", "--keep", "0.5", "-o",
                   tmp_path / "keep.csv") == 2  # fmt: skip
    assert "cannot tell" not in capsys.readouterr().err


def test_a_bad_extension_is_refused_before_scoring(image_folder, tmp_path, capsys):
    cache = tmp_path / "cache"  # reading the folder, the first work, converts it into here
    args = ("score", image_folder, "--repeats", "1", "--no-progress", "--cache", cache, "-o")
    assert run_cli(*args, tmp_path / "scores.txt") == 2
    assert "cannot tell what to write" in capsys.readouterr().err
    assert not cache.exists() or not any(cache.iterdir())
    assert run_cli(*args, tmp_path / "scores.csv") == 0
    assert any(cache.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["s.npy", "--keep", "0.5"], "Missing argument 'Y'"),
        (["scores.csv", "y.npy", "--keep", "0.5"], "leave out Y"),
        (["nolabel.csv", "--keep", "0.5"], "no 'label' column"),
        (["badscore.csv", "--keep", "0.5"], "'high' in row 1 is not a number"),
        (
            ["s.npy", "y.npy", "--keep", "0.5", "--drop", "easy", "--strategy", "coverage"],
            "not both",
        ),
        (
            ["s.npy", "y.npy", "--keep", "0.5", "--strategy", "keep-hard", "--beta", "0.1"],
            "coverage strategy only",
        ),
        (["s.npy", "y.npy", "--keep", "0.5", "--strategy", "middle"], "--strategy"),
        (["s.npy", "y.npy", "--keep", "0.5", "--beta", "1"], "--beta"),
        (["s.npy", "y.npy", "--keep", "0.5", "--bins", "0"], "--bins"),
    ],
)
def test_bad_arguments_are_one_line(scored, capsys, args, message):
    tmp, scores, y = scored
    with open(tmp / "scores.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["id", "label", "score"], ["a", 0, 0.5], ["b", 1, 0.2]])
    with open(tmp / "nolabel.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["id", "score"], ["a", 0.5], ["b", 0.2]])
    with open(tmp / "badscore.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["label", "score"], [0, 0.5], [1, "high"]])
    status = run_cli("prune", *[tmp / a if a.endswith((".npy", ".csv")) else a for a in args],
                     "-o", tmp / "k.npy")  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert not (tmp / "k.npy").exists()
