"""Papercuts a new user hits (issue 24, item 4): each refused with a message that says what to
do before any arithmetic, or accepted as scikit-learn and torch users pass it."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import cgfast


def data(n=40, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % classes


class FakeTensor:
    """What cgfast sees of a torch tensor: ``__array__`` fails while it requires grad, as
    torch's does, and ``detach().cpu().numpy()`` gives the values."""

    def __init__(self, values, requires_grad=True):
        self.values = np.asarray(values)
        self.requires_grad = requires_grad
        self.shape = self.values.shape
        self.dtype = self.values.dtype

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        return (FakeTensor(v, self.requires_grad) for v in self.values)

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy()"
            )
        return self.values if dtype is None else self.values.astype(dtype)

    def detach(self):
        return FakeTensor(self.values, requires_grad=False)

    def cpu(self):
        return self

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return self.values


# Labels.


def test_a_column_of_labels_scores_as_the_flat_labels():
    X, y = data()
    flat = cgfast.score(X, y, repeats=2)
    assert np.array_equal(cgfast.score(X, y[:, None], repeats=2), flat)
    assert np.array_equal(cgfast.score(X, y[:, None].tolist(), repeats=2), flat)
    names = np.array(["cat", "dog", "emu"])[y]
    assert np.array_equal(cgfast.score(X, names[:, None].astype(object), repeats=2), flat)


def test_a_column_of_labels_makes_the_same_table():
    pytest.importorskip("pandas")
    X, y = data()
    flat = cgfast.score_table(X, y, repeats=2)
    column = cgfast.score_table(X, y[:, None], repeats=2)
    assert column.equals(flat)


@pytest.mark.parametrize(
    "one_hot",
    [
        lambda y: np.eye(3)[y],
        lambda y: np.eye(3, dtype=np.int64)[y],
        lambda y: np.eye(3, dtype=bool)[y],
        lambda y: np.eye(3, dtype=np.float32)[y].tolist(),
        lambda y: FakeTensor(np.eye(3)[y]),
    ],
    ids=["float", "int", "bool", "list", "tensor"],
)
def test_one_hot_labels_are_refused_with_what_to_pass(no_heavy_work, one_hot):
    X, y = data()
    with pytest.raises(ValueError, match=r"y looks one-hot \(shape \(40, 3\).*pass y\.argmax\(1\)"):
        cgfast.score(X, one_hot(y))


def test_a_one_hot_label_file_is_named_as_one_hot(tmp_path):
    from cgfast._files import read_labels

    X, y = data()
    np.save(tmp_path / "y.npy", np.eye(3)[y])
    with pytest.raises(ValueError, match=r"y\.npy: y looks one-hot.*pass y\.argmax\(1\)"):
        read_labels(tmp_path / "y.npy")
    np.save(tmp_path / "p.npy", np.full((40, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"p\.npy: .*one label per example.*got shape \(40, 3\)"):
        read_labels(tmp_path / "p.npy")


def test_other_matrices_of_labels_are_refused_by_their_shape(no_heavy_work):
    X, y = data()
    probabilities = np.full((40, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"one label per example.*got shape \(40, 3\)"):
        cgfast.score(X, probabilities)


def test_tuples_stay_labels():
    X, y = data(classes=2)
    pairs = [("dog", "out") if c else ("cat", "in") for c in y]
    assert np.array_equal(cgfast.score(X, pairs, repeats=2), cgfast.score(X, y, repeats=2))


@pytest.mark.parametrize(
    "missing,message",
    [
        (None, r"missing label \(None\) at index 7"),
        (float("nan"), r"(NaN|non-finite) label \(nan\) at index 7"),
    ],
)
@pytest.mark.parametrize("others", ["ints", "strings"])
def test_none_is_a_missing_label_like_nan(no_heavy_work, missing, message, others):
    X, y = data()
    labels = list(y) if others == "ints" else [["a", "b", "c"][c] for c in y]
    labels[7] = missing
    with pytest.raises(ValueError, match=message):
        cgfast.score(X, labels)
    with pytest.raises(ValueError, match=message):
        cgfast.score(X, np.array(labels, dtype=object))


def test_pandas_na_is_a_missing_label(no_heavy_work):
    pandas = pytest.importorskip("pandas")
    X, y = data()
    labels = pandas.Series(y, dtype="Int64")
    labels[3] = pandas.NA
    with pytest.raises(ValueError, match=r"missing label \(<NA>\) at index 3"):
        cgfast.score(X, labels.astype(object))


def test_a_real_valued_target_is_refused_naming_its_values(no_heavy_work):
    X, _ = data()
    target = np.random.default_rng(1).uniform(20, 60, size=40).round(3)
    with pytest.raises(
        ValueError,
        match=r"y has 40 distinct float values, 40 of them not whole "
        rf"numbers \(e\.g\. {target[0]:.4g}, {target[1]:.4g}, {target[2]:.4g}, "
        r"\.\.\.\).*needs class labels",
    ):
        cgfast.score(X, target)


def test_whole_floats_are_labels():
    X, y = data()
    assert np.array_equal(
        cgfast.score(X, y.astype(np.float32) + 1, repeats=2), cgfast.score(X, y, repeats=2)
    )


def test_a_class_of_one_example_warns_naming_it():
    X, y = data()
    y = np.array(["a", "b"])[y % 2].astype(object)
    y[11] = "lone"
    with pytest.warns(cgfast.SingleExampleWarning, match=r"class 'lone' \(index 11\)"):
        s = cgfast.score(X, y, repeats=2)
    assert np.isfinite(s).all()
    y[12], y[13] = 5, 6
    with pytest.warns(cgfast.SingleExampleWarning, match=r"3 classes have a single example"):
        cgfast.score(X, y, repeats=2)


def test_no_warning_when_every_class_has_two_examples():
    X, _ = data(n=6, classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cgfast.SingleExampleWarning)
        cgfast.score(X, np.arange(6) % 3, ratio="all")


# Paths.


@pytest.mark.parametrize("name", ["no_such_folder/", "missing.npy", "missing.zarr", "typo"])
def test_a_path_that_does_not_exist_is_named(no_heavy_work, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    _, y = data()
    with pytest.raises(FileNotFoundError, match=rf"X path '{name}' does not exist"):
        cgfast.score(name, y)


def test_a_missing_labels_or_scores_file_is_named(tmp_path):
    from cgfast._files import read_labels, read_scores

    with pytest.raises(FileNotFoundError, match=r"y path .*labels\.txt' does not exist"):
        read_labels(tmp_path / "labels.txt")
    with pytest.raises(FileNotFoundError, match=r"scores path .*s\.npy' does not exist"):
        read_scores(tmp_path / "s.npy")


# Seeds as scikit-learn users pass them.


def test_seed_none_draws_a_seed_the_result_reports():
    X, y = data()
    first = cgfast.score(X, y, seed=None, repeats=2, return_terms=True)
    assert isinstance(first.seed, int) and first.seed >= 0
    again = cgfast.score(X, y, seed=first.seed, repeats=2, return_terms=True)
    assert np.array_equal(again.score, first.score) and again.seed == first.seed
    assert cgfast.score(X, y, repeats=2, return_terms=True).seed == 0


@pytest.mark.parametrize(
    "make,draw",
    [
        (np.random.default_rng, lambda r: int(r.integers(2**32))),
        (np.random.RandomState, lambda r: int(r.randint(0, 2**32, dtype=np.int64))),
    ],
    ids=["Generator", "RandomState"],
)
def test_a_numpy_generator_gives_the_seed_it_draws(make, draw):
    X, y = data()
    terms = cgfast.score(X, y, seed=make(5), repeats=2, return_terms=True)
    assert terms.seed == draw(make(5))
    assert np.array_equal(terms.score, cgfast.score(X, y, seed=terms.seed, repeats=2))


def test_a_drawn_seed_cannot_resume_a_checkpoint(no_heavy_work, tmp_path):
    X, y = data()
    with pytest.raises(ValueError, match=r"seed=None .* never resume the checkpoint"):
        cgfast.score(X, y, seed=None, checkpoint=tmp_path)
    for seed in (None, np.random.default_rng(0)):
        with pytest.raises(ValueError, match=r"score_part needs an int seed"):
            cgfast.score_part(X, y, checkpoint=tmp_path, part=0, parts=2, seed=seed)


def test_assemble_reports_the_seed(tmp_path):
    X, y = data()
    for part in range(2):
        cgfast.score_part(X, y, checkpoint=tmp_path, part=part, parts=2, repeats=2, seed=9)
    assert cgfast.assemble(tmp_path, return_terms=True).seed == 9


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cgfast", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_prints_the_seed_it_drew(tmp_path):
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y[:, None])
    run = cli(
        "score", "X.npy", "y.npy", "--seed", "random", "--repeats", "2", "-o", "a.npy", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    seed = re.search(r", seed (\d+) \(drawn; --seed \1 repeats this run\) -> a\.npy", run.stdout)
    assert seed, run.stdout
    again = cli(
        "score", "X.npy", "y.npy", "--seed", seed[1], "--repeats", "2", "-o", "b.npy", cwd=tmp_path
    )
    assert again.returncode == 0 and "drawn" not in again.stdout
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    refused = cli(
        "score",
        "X.npy",
        "y.npy",
        "--seed",
        "random",
        "--checkpoint",
        "ck",
        "-o",
        "c.npy",
        cwd=tmp_path,
    )
    assert refused.returncode == 2 and "give --seed INT" in refused.stderr


# The advice of the StabilityWarning at the cap.


def cap_warning(**kwargs):
    X, y = data(n=60)
    with pytest.warns(cgfast.StabilityWarning) as caught:
        cgfast.score(X, y, stability=0.999, max_repeats=4, **kwargs)
    return str(caught[0].message)


def test_at_the_cap_whole_class_blocks_are_not_told_to_grow():
    message = cap_warning()
    assert "larger blocks" not in message.replace("larger blocks cannot help", "")
    assert "every block already holds a whole class" in message
    assert re.search(
        r"raise max_repeats \(Spearman–Brown puts the target at about \d+ repeats", message
    )
    reached = float(re.search(r"estimated stability of (0\.\d+)", message)[1])
    accept = float(re.search(r"stability=(0\.\d\d) stops there", message)[1])
    assert accept <= reached


def test_at_the_cap_chunked_classes_may_raise_max_block():
    message = cap_warning(max_block=16)
    assert "raise max_block above 16" in message and "whole class" not in message


def test_following_the_cap_advice_silences_the_warning():
    X, y = data(n=60)
    message = cap_warning()
    accept = re.search(r"stability=(0\.\d\d) stops there", message)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", cgfast.StabilityWarning)
        cgfast.score(X, y, stability=float(accept), max_repeats=4)


# Tensors.


def test_a_tensor_that_requires_grad_is_detached():
    X, y = data()
    want = cgfast.score(X, y, repeats=2)
    assert np.array_equal(cgfast.score(FakeTensor(X), FakeTensor(y), repeats=2), want)


# Documentation.


def test_score_says_how_to_read_it_as_a_data_value():
    # Data-valuation frameworks read a low value as harmful; cgfast's high scores are the harmful.
    assert "value of an example is ``-score``" in " ".join(cgfast.score.__doc__.split())
