"""The report of a regression run: its target issues, prediction plot and rows, with no class."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

import cgfast

pytest.importorskip("matplotlib")

from cgfast import cli  # noqa: E402
from cgfast.regression import target_issues  # noqa: E402

PNG = re.compile(r"""data:image/png;base64,([^"']*)""")
# One row of a suspects table: rank, index or id, target, prediction, residual, z, score.
ROW = re.compile(r"<tr>" + r"<td>([^<]*)</td>" * 7)
# Sections and words of the classification page that a regression page must not have.
CLASS_ONLY = (
    "Complexity of each class",
    "Score distribution per class",
    "Given × suggested",
    "Estimated label noise",
    "<h3>Class",
    "label issue",
    "suggested label",
    "<th>class</th>",
)
BAD = [3, 50, 99, 150, 199]


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


def corrupted(n=200, d=5, seed=0):
    """X random, t = X @ w + small noise, and the rows of BAD shifted by +10 std."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    t = X @ rng.normal(size=d) + 0.05 * rng.normal(size=n)
    t[BAD] += 10 * t.std()
    return X, t


@pytest.fixture(scope="module")
def run():
    X, t = corrupted()
    terms = cgfast.score(X, t, task="regression", repeats=4, return_terms=True)
    return X, t, terms


def review(page):
    return page.split("<section id='review'>", 1)[1].split("</section>", 1)[0]


def rows_of(part):
    """(index, target, prediction, residual, score) of each table row in ``part``."""
    return [
        (int(name.lstrip("#")), target, prediction, residual, score)
        for _, name, target, prediction, residual, _, score in ROW.findall(part)
    ]


def suspect_rows(page):
    """The rows of the review's suspects table."""
    return rows_of(review(page).split("<table class='suspects'>", 1)[1].split("</table>", 1)[0])


def expected_suspects(terms, limit=24):
    """The flagged rows (find_target_issues), highest score first, computed here."""
    flagged = cgfast.find_target_issues(terms=terms)
    return sorted(flagged.tolist(), key=lambda i: (-terms.score[i], i))[:limit]


def assert_self_contained(page):
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing fetched from outside
    assert "<script" not in page and "<link" not in page
    for data in PNG.findall(page):
        assert base64.b64decode(data).startswith(b"\x89PNG")


def assert_rows_match(rows, t, terms):
    """Every shown row's target, prediction and residual are those of the terms."""
    assert rows
    for index, target, prediction, residual, score in rows:
        assert target == f"{t[index]:.4g}"
        assert prediction == f"{t[index] - terms.residual[index]:.4g}"
        assert residual == f"{terms.residual[index]:.4g}"
        assert score == f"{terms.score[index]:.4g}"


def test_the_page_reviews_the_target_issues_of_the_terms(run, tmp_path):
    X, t, terms = run
    page = cgfast.write_report(tmp_path / "r.html", X, t, terms).read_text(encoding="utf-8")
    assert_self_contained(page)
    # The prediction plot and the score histogram; rows are tables.
    assert len(PNG.findall(page)) == 2
    assert "alt='prediction against target'" in page and "alt='score distribution'" in page
    flagged = cgfast.find_target_issues(terms=terms)
    assert set(BAD) <= set(flagged.tolist())
    assert f"<strong>{len(flagged)}</strong> of 200 examples" in review(page)
    rows = suspect_rows(page)
    assert [row[0] for row in rows] == expected_suspects(terms)
    assert set(BAD) <= {row[0] for row in rows}
    assert_rows_match(rows, t, terms)
    # A corrupted row is predicted near the clean trend: its residual is about the shift.
    shift = {row[0]: float(row[3]) for row in rows}
    assert all(shift[i] > 5 * np.std(np.delete(terms.residual, BAD)) for i in BAD)
    assert "<h2>Score distribution</h2>" in page and "Stability of the ranking" in page
    assert "<h2>Highest- and lowest-scored examples</h2>" in page
    assert "<th>task</th>" not in page  # the terms do not say; they carry repeats and seed
    for words in CLASS_ONLY:
        assert words not in page, words


def test_the_ends_of_the_ranking_are_all_rows_highest_and_lowest(run, tmp_path):
    X, t, terms = run
    page = cgfast.write_report(tmp_path / "r.html", X, t, terms, per_class=3).read_text()
    ends = page.split("<h2>Highest- and lowest-scored examples</h2>", 1)[1]
    highest, lowest = ends.split("Lowest scores", 1)
    order = cgfast.rank(terms.score)
    assert [row[0] for row in rows_of(highest)] == order[:3].tolist()
    assert [row[0] for row in rows_of(lowest)] == order[::-1][:3].tolist()
    assert_rows_match(rows_of(highest) + rows_of(lowest), t, terms)
    assert "<tr><td>200</td>" in lowest  # the lowest score is ranked last of all rows


def test_scoring_here_with_the_task_gives_the_same_review(run, tmp_path):
    X, t, terms = run
    options = {"task": "regression", "repeats": 4}
    page = cgfast.write_report(tmp_path / "r.html", X, t, score_kwargs=options).read_text()
    assert_self_contained(page)
    assert suspect_rows(page) == suspect_rows(
        cgfast.write_report(tmp_path / "s.html", X, t, terms).read_text()
    )
    assert "<th>task</th><td>regression</td>" in page
    assert "round by round" in page
    for words in CLASS_ONLY:
        assert words not in page, words


def test_a_table_of_the_run_gives_the_same_review(run, tmp_path):
    X, t, terms = run
    table = cgfast.to_table(terms, t)
    page = cgfast.write_report(tmp_path / "r.html", X, t, table).read_text()
    assert "read from a score table" in page
    rows = suspect_rows(page)
    assert [row[0] for row in rows] == expected_suspects(terms)
    assert_rows_match(rows, t, terms)
    other = t.copy()
    other[7] += 1.0
    with pytest.raises(ValueError, match="target in row 7"):
        cgfast.write_report(tmp_path / "s.html", X, other, table)


def test_suspects_are_the_top_flagged_rows_by_score(run, tmp_path):
    X, t, terms = run
    page = cgfast.write_report(tmp_path / "r.html", X, t, terms, suspects=2).read_text()
    flagged = target_issues(terms.residual)
    rows = suspect_rows(page)
    assert [row[0] for row in rows] == expected_suspects(terms, 2)
    assert f"The 2 highest-scored of the {int(flagged.sum())} flagged examples" in page


def test_a_float_target_is_never_taken_for_regression_unasked(run, tmp_path):
    X, t, terms = run
    with pytest.raises(ValueError, match="task='regression'"):
        cgfast.write_report(tmp_path / "r.html", X, t, terms.score)
    with pytest.raises(ValueError, match="task='regression'"):
        cgfast.write_report(tmp_path / "r.html", X, t, score_kwargs={"repeats": 2})
    # Whole-number targets without the task are classes: the classification page.
    y = np.arange(200) % 2
    page = cgfast.write_report(tmp_path / "c.html", X, y, score_kwargs={"repeats": 2})
    text = page.read_text()
    assert "<h2>Suspects to review</h2>" in text and "Target issues" not in text


def test_image_rows_are_thumbnails_with_target_and_prediction(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((120, 8, 8))
    t = X[:, :4, :4].sum(axis=(1, 2)) + 0.05 * rng.normal(size=120)
    t[[5, 60]] += 8.0
    terms = cgfast.score(X, t, task="regression", repeats=3, return_terms=True)
    page = cgfast.write_report(tmp_path / "r.html", X, t, terms, per_class=2).read_text()
    assert_self_contained(page)
    flagged = expected_suspects(terms)
    assert {5, 60} <= set(flagged)
    # Thumbnails of the flagged rows and of both ends, and the two plots.
    assert len(PNG.findall(page)) == len(flagged) + 2 * 2 + 2
    for index in (5, 60):
        caption = (
            f'<span class="labels">{t[index]:.4g} → {t[index] - terms.residual[index]:.4g}'
            f"</span><span>{terms.residual[index]:+.3g} · {terms.score[index]:.3g}</span>"
        )
        assert caption in review(page)


def test_command_line_scores_here_or_reads_the_score_table(tmp_path, monkeypatch):
    X, t = corrupted()
    monkeypatch.chdir(tmp_path)
    np.save("X.npy", X)
    np.save("y.npy", t)
    base = ["X.npy", "y.npy", "--no-progress"]
    assert run_cli("report", *base, "--task", "regression", "--repeats", "4", "-o", "a.html") == 0
    scored = (tmp_path / "a.html").read_text()
    assert_self_contained(scored)
    assert "<th>task</th><td>regression</td>" in scored and "<th>ratio</th>" not in scored
    terms = cgfast.score(X, t, task="regression", repeats=4, return_terms=True)
    rows = suspect_rows(scored)
    assert [row[0] for row in rows] == expected_suspects(terms)
    assert_rows_match(rows, t, terms)

    assert run_cli("score", *base, "--task", "regression", "--repeats", "4", "-o", "s.csv") == 0
    assert run_cli("score", *base, "--task", "regression", "--repeats", "4", "--terms",
                   "-o", "terms.npz") == 0  # fmt: skip
    for source in ("s.csv", "terms.npz"):  # the table, or the --terms file with its residuals
        for task in ([], ["--task", "regression"]):
            assert run_cli("report", *base, "--scores", source, *task, "-o", "b.html") == 0
            page = (tmp_path / "b.html").read_text()
            assert_self_contained(page)
            assert suspect_rows(page) == rows, source  # the same scores, residuals and flags
            assert "read from a score table" in page
            for words in CLASS_ONLY:
                assert words not in page, words


def test_command_line_refuses_scores_that_do_not_fit_the_task(tmp_path, monkeypatch, capsys):
    X, t = corrupted()
    monkeypatch.chdir(tmp_path)
    np.save("X.npy", X)
    np.save("y.npy", t)
    base = ["X.npy", "y.npy", "--no-progress"]
    assert run_cli("score", *base, "--task", "regression", "--repeats", "2", "-o", "s.csv") == 0
    assert run_cli("score", *base, "--task", "regression", "--repeats", "2", "-o", "s.npy") == 0
    capsys.readouterr()
    assert run_cli("report", *base, "--scores", "s.csv", "--task", "classification",
                   "-o", "r.html") != 0  # fmt: skip
    assert "table of a regression run" in capsys.readouterr().err
    assert run_cli("report", *base, "--scores", "s.npy", "--task", "regression", "-o", "r.html")
    assert "without the residuals" in capsys.readouterr().err
    assert run_cli("score", *base, "--task", "regression", "--repeats", "2", "--terms",
                   "-o", "t.npz") == 0  # fmt: skip
    capsys.readouterr()
    assert run_cli("report", *base, "--scores", "t.npz", "--task", "classification",
                   "-o", "r.html") != 0  # fmt: skip
    assert "holds the terms of a regression run" in capsys.readouterr().err
    assert run_cli("report", *base, "--scores", "s.csv", "--repeats", "3", "-o", "r.html")
    assert "--repeats applies only when report scores X itself" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
