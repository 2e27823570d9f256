"""Label noise: calibration, the confident joint and the confusion rule against plain NumPy
versions of their definitions; a planted noise matrix recovered; confusions between similar
classes found where the score's sign rule misses them; clean and prune on noisy labels."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import cgfast
from cgfast import noise
from cgfast.cli import main as cli_main


def confusable(n_per: int = 300, seed: int = 0, spread: float = 1.0):
    """Six Gaussian classes in three close pairs (0,1), (2,3), (4,5), pairs far apart."""
    rng = np.random.default_rng(seed)
    d = 12
    pair_centres = 6.0 * np.eye(3, d)
    offsets = 1.2 * np.eye(d)[3:5]
    centres = np.array([pair_centres[c // 2] + offsets[c % 2] for c in range(6)])
    y = np.repeat(np.arange(6), n_per)
    X = centres[y] + spread * rng.normal(size=(len(y), d))
    return X, y


def pairwise(y: np.ndarray, rate: float, seed: int = 1) -> np.ndarray:
    """``rate`` of each class of the pairs (0,1), (2,3), (4,5) moved to its partner."""
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        moved = rng.choice(rows, int(round(rate * len(rows))), replace=False)
        noisy[moved] = c ^ 1
    return noisy


# --- oracles: the definitions, row by row ------------------------------------------------


def oracle_joint(p: np.ndarray, given: np.ndarray) -> np.ndarray:
    classes = p.shape[1]
    thresholds = [
        np.mean([p[i, j] for i in range(len(given)) if given[i] == j]) for j in range(classes)
    ]
    joint = np.zeros((classes, classes))
    for i in range(len(given)):
        candidates = [j for j in range(classes) if p[i, j] >= thresholds[j]]
        if candidates:
            joint[given[i], max(candidates, key=lambda j: (p[i, j], -j))] += 1
    for i in range(classes):
        size = np.sum(given == i)
        if joint[i].sum() == 0:
            joint[i, i] = 1
        joint[i] *= size / joint[i].sum()
    return joint


def oracle_issue(p: np.ndarray, given: np.ndarray, joint: np.ndarray) -> np.ndarray:
    classes = p.shape[1]
    n = len(given)
    sizes = np.bincount(given, minlength=classes)
    shares = sizes / n
    out = np.empty(n)
    for r in range(n):
        i = given[r]
        # the paper's block at ratio 1: as many negatives as positives, at most all the others
        positive = sizes[i] / (sizes[i] + min(sizes[i], n - sizes[i]))
        own = positive * p[r, i] / shares[i]
        best = 0.0
        for source in ("pooled", "confused"):
            weights = np.array(
                [
                    0.0 if j == i else (shares[j] if source == "pooled" else joint[i, j])
                    for j in range(classes)
                ]
            )
            if weights.sum() == 0:
                weights = np.array([0.0 if j == i else shares[j] for j in range(classes)])
            weights /= weights.sum()
            other = (1 - positive) * sum(weights[j] * p[r, j] / shares[j] for j in range(classes))
            best = max(best, other / (own + other))
        out[r] = best
    return out


def random_probabilities(n: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    given = rng.integers(0, classes, n)
    given[:classes] = np.arange(classes)  # every class present
    logits = rng.normal(size=(n, classes)) + 2.0 * np.eye(classes)[given]
    return logits, given


@pytest.mark.parametrize("n, classes", [(2, 2), (7, 3), (50, 4), (301, 6), (40, 2)])
def test_joint_and_issue_match_their_definitions(n, classes):
    predictions, given = random_probabilities(n, classes, seed=n)
    if n == 40:  # one class holds most of the data: its block keeps its share
        given = np.where(np.arange(n) < 8, 0, 1)
    found = noise.analyse(predictions, given, np.arange(classes))
    p = found.probabilities
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(found.matrix.counts, oracle_joint(p, given), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(found.issue, oracle_issue(p, given, found.matrix.counts), rtol=1e-12)
    np.testing.assert_allclose(
        found.matrix.counts.sum(axis=1), np.bincount(given, minlength=classes)
    )


def test_the_temperature_maximises_the_likelihood_of_the_given_labels():
    predictions, given = random_probabilities(400, 5, seed=3)
    t = noise.temperature(predictions, given)

    def nll(temperature):
        z = predictions / temperature
        z = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(given)), given])

    grid = np.exp(np.linspace(np.log(t) - 1, np.log(t) + 1, 201))
    assert nll(t) <= min(nll(g) for g in grid) + 1e-12
    assert 0.05 < t < 20


def test_prune_by_noise_rate_is_cleanlabs():
    filters = pytest.importorskip("cleanlab.filter")
    predictions, given = random_probabilities(600, 4, seed=5)
    found = noise.analyse(predictions, given, np.arange(4))
    ours = noise.prune_by_noise_rate(found.probabilities, given, found.matrix.counts)
    theirs = filters.find_label_issues(given, found.probabilities, filter_by="prune_by_noise_rate")
    assert ours.sum() > 0
    # cleanlab breaks margin ties and rounds its calibrated joint its own way: a row or two
    assert np.sum(ours != theirs) <= 2, (ours.sum(), theirs.sum())


def test_a_planted_noise_matrix_is_recovered():
    X, y = confusable(400, seed=2, spread=0.5)
    rng = np.random.default_rng(3)
    # planted transitions: 25% of class 0 labelled 1, 20% of class 3 labelled 2, 10% of 4 → 0
    noisy = y.copy()
    planted = np.zeros((6, 6))
    for true, given, rate in [(0, 1, 0.25), (3, 2, 0.20), (4, 0, 0.10)]:
        rows = np.flatnonzero(y == true)
        moved = rng.choice(rows, int(rate * len(rows)), replace=False)
        noisy[moved] = given
        planted[given, true] = len(moved)
    matrix = cgfast.noise_matrix(X, noisy, max_block=2400)
    assert matrix.classes.tolist() == list(range(6))
    for given, true in [(1, 0), (2, 3), (0, 4)]:
        estimate = matrix.counts[given, true]
        assert abs(estimate - planted[given, true]) <= 0.25 * planted[given, true], (
            given, true, estimate, planted[given, true])  # fmt: skip
        # the cell in the other direction (given `true`, true `given`) holds under half of it
        assert matrix.counts[true, given] < 0.5 * estimate
    # every cell of a pair that was not planted in either direction is near empty
    quiet = (planted == 0) & (planted.T == 0) & (np.eye(6) == 0)
    assert matrix.counts[quiet].max() < 0.3 * planted[planted > 0].min()
    assert abs(matrix.errors - planted.sum()) <= 0.25 * planted.sum()
    # the classes given wrong rows have the largest estimated shares; untouched ones near none
    assert matrix.error_share[[0, 1, 2]].min() > 0.1
    assert matrix.error_share[[4, 5]].max() < 0.02
    frame = matrix.to_frame()
    assert frame.loc["1", "0"] == round(matrix.counts[1, 0])
    assert matrix.confusions(1)[0][:2] == (1, 0)


def test_the_confusion_rule_finds_confusions_the_sign_rule_misses():
    X, y = confusable(300, seed=4, spread=0.5)
    noisy = pairwise(y, 0.3)
    wrong = noisy != y
    terms = cgfast.score(X, noisy, suggest=True, repeats=4, max_block=600)

    def precision_recall(found):
        flags = np.zeros(len(y), dtype=bool)
        flags[found] = True
        return (flags & wrong).sum() / max(flags.sum(), 1), (flags & wrong).sum() / wrong.sum()

    sign = precision_recall(cgfast.find_label_issues(terms=terms, rule="sign"))
    confusion = precision_recall(cgfast.find_label_issues(terms=terms))
    confident = precision_recall(cgfast.find_label_issues(terms=terms, rule="confident"))
    # measured: sign 0.98 / 0.09, confusion 0.73 / 0.90, confident 0.75 / 0.87
    assert confusion[1] >= 0.8 and confusion[0] >= 0.65, confusion
    assert confusion[1] > sign[1] + 0.5, (confusion, sign)
    assert confident[1] >= 0.75 and confident[0] >= 0.65, confident


def test_random_flips_are_still_found_with_high_precision():
    X, y = confusable(250, seed=6, spread=0.5)
    rng = np.random.default_rng(7)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 6, len(flipped))) % 6
    found = cgfast.find_label_issues(X, noisy, max_block=500)
    # measured 0.79 / 1.00 (the sign rule: 0.89 / 0.95): the close pairs' natural overlap is
    # read as confusion, the price of seeing it
    assert np.isin(found, flipped).mean() >= 0.7 and np.isin(flipped, found).mean() >= 0.95


def test_issues_and_the_matrix_are_the_same_bits_on_any_thread_count():
    X, y = confusable(150, seed=8)
    noisy = pairwise(y, 0.2)
    want = cgfast.suggest_labels(X, noisy, max_block=300, n_jobs=1)
    for n_jobs in (2, 3):
        got = cgfast.suggest_labels(X, noisy, max_block=300, n_jobs=n_jobs)
        assert np.array_equal(got.noise.issue, want.noise.issue)
        assert np.array_equal(got.noise.matrix.counts, want.noise.matrix.counts)


def test_clean_drops_or_relabels_the_flagged_rows():
    X, y = confusable(200, seed=9, spread=0.5)
    noisy = pairwise(y, 0.25)
    found = cgfast.suggest_labels(X, noisy, max_block=400)
    flagged = cgfast.find_label_issues(suggestions=found)
    dropped = cgfast.clean(suggestions=found)
    assert np.array_equal(dropped.dropped, np.sort(flagged))
    assert np.array_equal(dropped.keep, np.setdiff1d(np.arange(len(y)), flagged))
    assert np.array_equal(dropped.labels, noisy[dropped.keep]) and not dropped.changed.any()
    fixed = cgfast.clean(suggestions=found, action="relabel")
    sure = np.zeros(len(y), dtype=bool)
    sure[flagged] = found.probabilities[flagged].max(axis=1) >= 0.5
    sure &= found.suggested_label != noisy
    assert np.array_equal(fixed.relabelled, np.flatnonzero(sure))
    assert np.array_equal(fixed.dropped, np.setdiff1d(flagged, np.flatnonzero(sure)))
    assert np.array_equal(fixed.labels[fixed.changed], found.suggested_label[fixed.relabelled])
    # the relabelled rows are mostly right, and the cleaned set has fewer wrong labels
    assert (fixed.labels[fixed.changed] == y[fixed.relabelled]).mean() >= 0.7
    wrong_before = (noisy != y).mean()
    assert (fixed.labels != y[fixed.keep]).mean() < wrong_before / 2
    summary = fixed.summary()
    assert summary["flagged"].sum() == len(flagged)
    assert summary["kept"].sum() == len(fixed.keep)
    assert summary["relabelled"].sum() == summary["relabelled_in"].sum() == len(fixed.relabelled)
    assert (summary["rows"] - summary["dropped"] - summary["relabelled"]
            + summary["relabelled_in"] == summary["kept"]).all()  # fmt: skip


def test_clean_refuses_bad_arguments_before_work():
    X, y = confusable(20)
    with pytest.raises(ValueError, match="action must be one of"):
        cgfast.clean(X, y, action="fix")
    with pytest.raises(ValueError, match="rule must be one of"):
        cgfast.clean(X, y, rule="margin")
    with pytest.raises(TypeError, match="takes no ratio"):
        cgfast.clean(X, y, ratio=2)
    with pytest.raises(ValueError, match="relabel' needs the table's suggested_label"):
        cgfast.clean(terms={"score": [1.0, 2.0], "label": [0, 1], "label_issue": [1, 0]},
                     action="relabel")  # fmt: skip


def test_prune_on_noisy_labels_never_raises_the_share_of_wrong_labels():
    X, y = confusable(200, seed=10, spread=0.7)
    rng = np.random.default_rng(11)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 6, len(flipped))) % 6
    table = cgfast.score_table(X, noisy, max_block=400, repeats=3)
    wrong = noisy != y
    for keep in (0.1, 0.3, 0.5, 0.7, 0.9):
        for strategy in ("coverage", "keep-hard", "keep-easy"):
            kept = cgfast.prune(table, keep=keep, strategy=strategy)["index"].to_numpy()
            assert wrong[kept].mean() <= wrong.mean(), (keep, strategy)
        # without leaving the issues out, keeping the hardest keeps the flips
        hard = cgfast.prune(table, keep=keep, strategy="keep-hard", issues=False)["index"]
        if keep <= 0.5:
            assert wrong[hard.to_numpy()].mean() > wrong.mean()


def test_clean_round_trips_the_ids_of_an_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("pandas")
    X, y = confusable(40, seed=12, spread=0.5)
    noisy = pairwise(y, 0.2)
    pixels = ((X - X.min()) / (X.max() - X.min()) * 255).astype(np.uint8).reshape(-1, 3, 4)
    folder = tmp_path / "images"
    for i, (image, label) in enumerate(zip(pixels, noisy)):
        (folder / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"c{label}" / f"{i:03d}.png")
    data = cgfast.open_dataset(folder)
    table = cgfast.score_table(data.X, data.y, ids=data.ids, repeats=2)
    cleaned = cgfast.clean(terms=table, action="relabel")
    frame = cleaned.to_frame()
    assert frame["id"].tolist() == [data.ids[i] for i in cleaned.keep]
    assert all(str(i).startswith(f"{g}/") for i, g in zip(frame["id"], frame["given_label"]))
    # the command line writes the same rows from the table cgfast score wrote
    table.to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        cli_main(["clean", str(tmp_path / "scores.csv"), "--action", "relabel",
                  "-o", str(tmp_path / "clean.csv")])  # fmt: skip
    assert stop.value.code == 0
    with open(tmp_path / "clean.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [str(i) for i in frame["id"]]
    assert [r["label"] for r in rows] == [str(v) for v in frame["label"]]
    assert sum(r["changed"] == "true" for r in rows) == int(cleaned.changed.sum())


def test_cgfast_clean_refuses_to_write_over_its_table(tmp_path):
    X, y = confusable(20, seed=13, spread=0.5)
    table = cgfast.score_table(X, y, repeats=2)
    path = tmp_path / "scores.csv"
    table.to_csv(path, index=False)
    before = path.read_bytes()
    with pytest.raises(SystemExit) as stop:
        cli_main(["clean", str(path), "-o", str(path)])
    assert stop.value.code == 2
    assert path.read_bytes() == before
