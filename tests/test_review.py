"""The report's review section: what it lists from terms, tables and plain scores, the given ×
suggested counts, the stability rounds, `cgfast report --scores scores.csv`, and class names
that never overlap under the plot."""

from __future__ import annotations

import re

import numpy as np
import pytest

import cgfast
from cgfast import cli

pytest.importorskip("matplotlib")

from cgfast.report import _distribution_figure  # noqa: E402

FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


@pytest.fixture(scope="module")
def noisy():
    """Three separated classes of 40 rows, 9 labels moved to another class."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 16)) + 6.0 * np.eye(3, 16)[y]
    flipped = rng.choice(120, 9, replace=False)
    given = y.copy()
    given[flipped] = (y[flipped] + 1 + rng.integers(0, 2, 9)) % 3
    return X, given, y, flipped


def review(page):
    return page.split("<section id='review'>", 1)[1].split("</section>", 1)[0]


def test_terms_list_the_flagged_with_given_and_suggested_labels(noisy, tmp_path):
    X, given, truth, flipped = noisy
    terms = cgfast.score(X, given, repeats=2, suggest=True, seed=1)
    part = review(cgfast.write_report(tmp_path / "r.html", X, given, terms).read_text())
    issues = cgfast.find_label_issues(terms=terms)
    assert f"<strong>{len(issues)}</strong> of 120 examples" in part
    other = int((terms.suggested_label[issues] != given[issues]).sum())
    assert f"<strong>{other}</strong> of them have another suggested label" in part
    # The rows, highest score first, each with given and suggested label.
    rows = re.findall(r"<tr><td>(\d+)</td><td>#(\d+)</td><td>(\d)</td><td>(\d)", part)
    assert [int(r[1]) for r in rows] == issues[:24].tolist()
    for _, index, label, suggested in rows:
        assert int(label) == given[int(index)]
        assert int(suggested) == terms.suggested_label[int(index)]
    # On this easy set every planted flip is flagged, and the suggestion restores it.
    assert set(flipped.tolist()) <= set(issues.tolist())
    assert (terms.suggested_label[flipped] == truth[flipped]).all()


def test_given_by_suggested_counts_are_the_flagged_pairs(noisy, tmp_path):
    X, given, _, _ = noisy
    terms = cgfast.score(X, given, repeats=2, suggest=True, seed=1)
    part = review(cgfast.write_report(tmp_path / "r.html", X, given, terms).read_text())
    matrix = part.split("<table class='confusion'>", 1)[1].split("</table>", 1)[0]
    issues = cgfast.find_label_issues(terms=terms)
    for g in range(3):
        row = re.search(rf"<tr><th>{g}</th>(.*?)</tr>", matrix)
        if row is None:
            assert not (given[issues] == g).any() and not (terms.suggested_label[issues] == g).any()
            continue
        cells = re.findall(r"<td[^>]*>(\d*)</td>", row.group(1))
        counts = [int(c) if c else 0 for c in cells]
        expected = [
            int(((given[issues] == g) & (terms.suggested_label[issues] == s)).sum())
            for s in np.unique(np.concatenate([given[issues], terms.suggested_label[issues]]))
        ]
        assert counts[:-1] == expected and counts[-1] == sum(expected)


def test_stability_rounds_are_the_terms_history(noisy, tmp_path):
    X, given, _, _ = noisy
    terms = cgfast.score(X, given, suggest=True, stability=0.93, max_repeats=12, seed=0)
    part = review(cgfast.write_report(tmp_path / "r.html", X, given, terms).read_text())
    rounds = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>([^<]+)</td></tr>", part)
    assert len(rounds) == len(terms.history) >= 2
    for (_, repeats, shown), (made, stability) in zip(rounds, terms.history):
        assert int(repeats) == made
        assert shown == ("not estimated (one repeat)" if stability is None else f"{stability:.3f}")
    assert int(rounds[-1][1]) == terms.repeats
    assert "<h3>Stability of the ranking, round by round</h3>" in part


def test_plain_scores_say_what_gives_flags(noisy, tmp_path):
    X, given, _, _ = noisy
    scores = cgfast.score(X, given, repeats=2)
    part = review(cgfast.write_report(tmp_path / "r.html", X, given, scores).read_text())
    assert "Flags and suggested labels need more than scores" in part
    assert "The 24 highest scores, across all classes" in part
    assert "confusion" not in part
    assert "<h3>Stability of the ranking</h3><p>Plain scores carry no stability.</p>" in part


def test_a_table_of_other_labels_is_refused(noisy, tmp_path):
    X, given, _, _ = noisy
    terms = cgfast.score(X, given, repeats=2, suggest=True)
    table = cgfast.to_table(terms, given)
    table["label"] = (given + 1) % 3
    with pytest.raises(ValueError, match="label in row 0"):
        cgfast.write_report(tmp_path / "r.html", X, given, table)


def test_cli_report_reads_the_score_table_and_shows_what_it_carries(noisy, tmp_path):
    X, given, _, _ = noisy
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", given)
    assert run_cli(
        "score", tmp_path / "X.npy", tmp_path / "y.npy", "--repeats", "3", "--no-progress",
        "-o", tmp_path / "s.csv",
    ) == 0  # fmt: skip
    assert run_cli(
        "report", tmp_path / "X.npy", tmp_path / "y.npy", "--scores", tmp_path / "s.csv",
        "--no-progress", "-o", tmp_path / "r.html",
    ) == 0  # fmt: skip
    page = (tmp_path / "r.html").read_text()
    rows = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True, dtype=None, encoding=None)
    flagged = int(np.asarray(rows["label_issue"]).astype(str).tolist().count("True"))
    assert f"<strong>{flagged}</strong> of 120 examples" in review(page)
    # A table carries the stability reached, not the rounds: no empty rounds heading over it.
    assert "round by round</h3>" not in review(page)
    assert "<h3>Stability of the ranking</h3>" in review(page)
    reached = f"carries the stability its run reached, <strong>{float(rows['stability'][0]):.3f}"
    assert reached in review(page)
    run = page.split("<h2>Run</h2>", 1)[1].split("<h2>", 1)[0]
    assert "read from a score table" in run
    stability = float(rows["stability"][0])
    assert f"{stability:.3f}" in run
    # The report command's scoring defaults did nothing here: they are not shown as the run's.
    for default in ("ratio", "max_block", "sampler"):
        assert f"<th>{default}</th>" not in run


@pytest.mark.parametrize(
    "names",
    [
        FASHION,
        [f"class number {i} of a long list" for i in range(60)],
        [str(i) for i in range(300)],
    ],
    ids=["fashion-mnist", "60-long", "300-short"],
)
def test_class_names_under_the_plot_never_overlap(names):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    codes = np.arange(20 * len(names)) % len(names)
    values = rng.lognormal(size=len(codes))
    members = [
        np.flatnonzero(codes == c)[np.argsort(values[codes == c])] for c in range(len(names))
    ]
    figure = _distribution_figure(values, members, names)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        axes = figure.axes[0]
        labels = [t for t in axes.get_xticklabels() if t.get_text()]
        assert labels
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        for left, right in zip(boxes, boxes[1:]):
            assert left.x1 <= right.x0 + 0.5, (left, right)
        if len(names) <= 60:
            assert len(labels) == len(names)  # every class named while type can shrink
    finally:
        plt.close(figure)


def test_the_noise_matrix_names_the_planted_confusion(tmp_path):
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(3), 60)
    X = rng.normal(size=(180, 16)) + 6.0 * np.eye(3, 16)[y]
    given = y.copy()
    given[np.flatnonzero(y == 2)[:15]] = 0  # 15 of class 2 labelled 0
    terms = cgfast.score(X, given, repeats=2, suggest=True)
    part = review(cgfast.write_report(tmp_path / "r.html", X, given, terms).read_text())
    matrix = terms.suggestions.noise.matrix
    assert "<h3>Estimated label noise</h3>" in part
    assert f"about <strong>{matrix.counts[0, 2]:.0f}</strong> labelled 0 look like 2" in part
    # the planted cell is the largest off the diagonal (confident learning counts 9 of the 15:
    # a tight cluster of wrong labels lowers its own rows' probability of their true class)
    assert matrix.confusions(1)[0][:2] == (0, 2) and matrix.counts[0, 2] >= 5
    wrong = np.flatnonzero(y != given)
    found = np.isin(wrong, cgfast.find_label_issues(terms=terms)).mean()
    sign = np.isin(wrong, cgfast.find_label_issues(terms=terms, rule="sign")).mean()
    assert found >= 0.75 and found >= sign, (found, sign)  # measured 0.80 and 0.67
    # scores without suggestions say where the matrix comes from instead
    plain = cgfast.score(X, given, repeats=2, return_terms=True)
    part = review(cgfast.write_report(tmp_path / "p.html", X, given, plain).read_text())
    assert "cgfast.noise_matrix" in part
