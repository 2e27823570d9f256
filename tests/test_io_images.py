"""Image folders (one subfolder per class): cached, normalised per channel, scored like the same
rows as an array; planted wrong-class images ranked on top; bad folders named before work."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

import cgfast
from cgfast import cli
from cgfast._files import open_dataset

Image = pytest.importorskip("PIL.Image")


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


def save(folder, label, name, pixels):
    (folder / label).mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / label / name)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """scikit-learn's digits as 8x8 grayscale PNGs, 5% of them planted in a wrong folder."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    rng = np.random.default_rng(0)
    labels = data.target.copy()
    planted = rng.random(len(labels)) < 0.05
    labels[planted] = (labels[planted] + rng.integers(1, 10, planted.sum())) % 10
    folder = tmp_path_factory.mktemp("digits") / "digits"
    pixels = (data.images * 16).clip(0, 255).astype(np.uint8)
    for i, (image, label) in enumerate(zip(pixels, labels)):
        save(folder, str(label), f"{i:04d}.png", image)
    return folder, pixels, labels, planted


def test_planted_images_rank_on_top_of_the_cli_table(digits, tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    folder, _, labels, planted = digits
    status = run_cli("score", folder, "--repeats", "3", "--no-progress", "-o", tmp_path / "s.csv")
    assert status == 0
    with open(tmp_path / "s.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(labels)
    index = [int(r["id"].split("/")[1][:4]) for r in rows]
    assert sorted(index) == list(range(len(labels)))
    assert all(r["id"].startswith(r["label"] + "/") for r in rows)
    assert [r["label"] for r in rows] == [str(labels[i]) for i in index]
    scores = np.array([float(r["score"]) for r in rows])
    ap = metrics.average_precision_score(planted[index], scores)
    assert ap >= 0.8, ap


def test_rows_are_the_normalised_pixels_and_score_like_them(digits):
    folder, pixels, labels, _ = digits
    data = open_dataset(folder)
    index = np.array([int(name.split("/")[1][:4]) for name in data.ids])
    assert data.X.shape == (len(labels), 8, 8) and data.X.dtype == np.float32
    assert data.y.tolist() == [str(labels[i]) for i in index]
    raw = pixels[index].astype(np.float64) / 255
    mean, std = raw.mean(), raw.std()
    expected = ((raw - mean) / std).astype(np.float32)
    np.testing.assert_allclose(data.X, expected, atol=1e-5)
    assert abs(float(np.mean(data.X))) < 1e-5 and abs(float(np.std(data.X)) - 1) < 1e-4
    same = np.array(data.X)  # the same rows as an in-memory array
    kwargs = dict(repeats=2, max_block=500)
    np.testing.assert_array_equal(
        cgfast.score(data.X, data.y, **kwargs), cgfast.score(same, data.y, **kwargs)
    )


def test_the_cache_is_reused_until_the_folder_changes(tmp_path, cache_folder):
    folder = tmp_path / "imgs"
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        for k in range(5):
            save(folder, label, f"{k}.png", rng.integers(0, 255, (6, 5, 3), dtype=np.uint8))
    first = open_dataset(folder)
    assert first.X.shape == (10, 6, 5, 3)
    assert np.allclose(first.X.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)
    assert np.allclose(first.X.reshape(-1, 3).std(axis=0), 1, atol=1e-4)
    stamp = os.stat(first.X.filename).st_mtime_ns
    again = open_dataset(folder)
    assert again.X.filename == first.X.filename
    assert os.stat(again.X.filename).st_mtime_ns == stamp
    save(folder, "b", "5.png", rng.integers(0, 255, (6, 5, 3), dtype=np.uint8))
    changed = open_dataset(folder)
    assert changed.X.shape == (11, 6, 5, 3) and changed.X.filename != first.X.filename
    assert not [p for p in cache_folder.iterdir() if ".raw." in p.name or "~" in p.name]
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]  # never in the data
    # The older version is deleted once the new one is complete; the open map still reads.
    caches = sorted(p.name for p in cache_folder.glob(".cgfast-cache-*"))
    current = Path(changed.X.filename)
    assert caches == sorted([current.name, current.with_suffix(".json").name])
    assert first.X.shape == (10, 6, 5, 3) and np.isfinite(np.asarray(first.X)).all()
    # Another image size is another dataset: both caches stay.
    small = open_dataset(folder, image_size="4x4")
    assert os.path.exists(changed.X.filename) and os.path.exists(small.X.filename)


def test_image_size_resizes_mixed_sizes(tmp_path):
    folder = tmp_path / "imgs"
    save(folder, "a", "big.png", np.full((10, 12), 200, dtype=np.uint8))
    save(folder, "a", "x.png", np.arange(16, dtype=np.uint8).reshape(4, 4) * 10)
    save(folder, "b", "small.png", np.full((4, 4), 30, dtype=np.uint8))
    data = open_dataset(folder, image_size="4x4")
    assert data.X.shape == (3, 4, 4)
    status = run_cli("score", folder, "--image-size", "4x4", "--repeats", "1", "--no-progress",
                     "-o", tmp_path / "s.csv")  # fmt: skip
    assert status == 0


def make_bad(tmp_path, case):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(2)

    def noise(size=(4, 4)):
        return rng.integers(0, 255, size, dtype=np.uint8)

    if case == "empty":
        return folder
    save(folder, "a", "0.png", noise())
    save(folder, "a", "1.png", noise())
    if case == "one class":
        return folder
    if case == "empty class":
        (folder / "b").mkdir()
        (folder / "b" / "notes.txt").write_text("no images here")
        return folder
    save(folder, "b", "0.png", noise())
    save(folder, "b", "1.png", noise())
    if case == "unreadable":
        (folder / "b" / "2.png").write_bytes(b"not a png at all")
    elif case == "truncated":
        for name in ("0", "1"):
            save(folder, "a", f"{name}.png", noise((64, 64)))
            save(folder, "b", f"{name}.png", noise((64, 64)))
        save(folder, "b", "2.png", noise((64, 64)))
        whole = (folder / "b" / "2.png").read_bytes()
        (folder / "b" / "2.png").write_bytes(whole[: len(whole) // 2])
    elif case == "sizes":
        save(folder, "b", "2.png", np.zeros((5, 7), dtype=np.uint8))
    elif case == "modes":
        save(folder, "b", "2.png", np.zeros((4, 4, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "has no class subfolders"),
        ("one class", "one class subfolder (a)"),
        ("empty class", "b holds no image"),
        ("unreadable", "2.png (UnidentifiedImageError"),
        ("truncated", "cannot decode the image"),
        ("sizes", "0.png is 4x4, "),
        ("modes", "different modes"),
    ],
)
def test_bad_folders_are_named_before_scoring(tmp_path, capsys, cache_folder, case, message):
    folder = make_bad(tmp_path, case)
    status = run_cli("score", folder, "--repeats", "1", "--no-progress", "-o", tmp_path / "s.csv")
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    if case in ("unreadable", "truncated"):
        assert "--skip-unreadable" in err and str(folder / "b" / "2.png") in err
    if case == "sizes":
        assert "--image-size" in err and "2.png is 7x5" in err
    assert not (tmp_path / "s.csv").exists()
    assert not list(folder.glob(".cgfast-cache-*")) and not list(cache_folder.iterdir())


@pytest.mark.parametrize("case", ["unreadable", "truncated"])
def test_skip_unreadable_leaves_the_file_out(tmp_path, case):
    folder = make_bad(tmp_path, case)
    data = open_dataset(folder, skip_unreadable=True)
    assert data.ids.tolist() == ["a/0.png", "a/1.png", "b/0.png", "b/1.png"]
    assert data.y.tolist() == ["a", "a", "b", "b"] and data.X.shape[0] == 4
    again = open_dataset(folder, skip_unreadable=True)  # from the cache
    assert again.ids.tolist() == data.ids.tolist() and again.X.filename == data.X.filename
    status = run_cli("score", folder, "--skip-unreadable", "--repeats", "1", "--no-progress",
                     "-o", tmp_path / "s.csv")  # fmt: skip
    assert status == 0
    with open(tmp_path / "s.csv", newline="") as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == data.ids.tolist()


def test_image_options_are_refused_elsewhere(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.ones((4, 2)))
    np.save(tmp_path / "y.npy", np.array([0, 0, 1, 1]))
    status = run_cli("score", tmp_path / "X.npy", tmp_path / "y.npy", "--image-size", "4x4",
                     "-o", tmp_path / "s.csv")  # fmt: skip
    assert status == 2 and "image folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="HxW"):
        open_dataset(make_bad(tmp_path, "sizes"), image_size="4by4")
