"""The report's sections: the rows it reads, when it draws images, the plot at scale, the run."""

from __future__ import annotations

import re

import numpy as np
import pytest

import cgfast

pytest.importorskip("matplotlib")

from cgfast import report  # noqa: E402
from cgfast._data import open_rows  # noqa: E402

THUMBNAIL = '<img src="data:image/png;base64,'


def labelled(n, d, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n // classes)
    X = rng.random((len(y), d)) + 0.5 * np.eye(classes, d)[y]
    return X, y


def examples_part(page):
    return page.split("Highest- and lowest-scored examples", 1)[1]


def test_report_of_a_zarr_store_path(tmp_path):
    zarr = pytest.importorskip("zarr")
    X, y = labelled(60, 64, seed=4)
    store = str(tmp_path / "X.zarr")
    z = zarr.open_array(store, mode="w", shape=(60, 8, 8), chunks=(16, 8, 8), dtype="f8")
    z[:] = X.reshape(60, 8, 8)
    scores = cgfast.score(store, y)
    page = cgfast.write_report(tmp_path / "r.html", store, y, scores, per_class=2).read_text()
    assert examples_part(page).count(THUMBNAIL) == 3 * 2 * 2
    assert "8×8 images" in page and "Computed on all 60 examples" in page
    same = cgfast.write_report(tmp_path / "s.html", X.reshape(60, 8, 8), y, scores, per_class=2)
    thumbs = re.compile(r'<img src="data:image/png;base64,[^"]*"')
    assert thumbs.findall(page) == thumbs.findall(same.read_text())


def test_flat_rows_are_tables_even_when_d_is_a_square(tmp_path):
    X, y = labelled(60, 256, seed=5)
    page = cgfast.write_report(tmp_path / "r.html", X, y, np.arange(60.0), per_class=3)
    examples = examples_part(page.read_text())
    assert THUMBNAIL not in examples and "images" not in examples
    assert examples.count("<th>index</th><th>label</th><th>score</th>") == 3 * 2
    assert "<th>x11</th><th>…</th>" in examples


@pytest.mark.parametrize("given", ["3-D X", "explicit shape"])
def test_images_are_drawn_for_image_shaped_x_or_an_explicit_shape(tmp_path, given):
    X, y = labelled(60, 64, seed=6)
    if given == "3-D X":
        path = cgfast.write_report(tmp_path / "r.html", X.reshape(60, 8, 8), y, np.arange(60.0))
    else:
        path = cgfast.write_report(tmp_path / "r.html", X, y, np.arange(60.0), shape=(8, 8))
    examples = examples_part(path.read_text())
    assert examples.count(THUMBNAIL) == 3 * 2 * 8
    assert "8×8 images" in examples and "<th>index</th>" not in examples


def test_complexities_are_each_class_against_the_rest_on_one_subsample():
    X, y = labelled(300, 5, seed=7, classes=4)
    codes = y
    values, used, notes = report._complexities(open_rows(X), codes, limit=120, seed=3)
    subset = report._stratified(codes, 120, 3)
    assert used == len(subset) < 300 and notes == []
    x_sub = X[subset]
    for c, (value, bound) in enumerate(values):
        expected = cgfast.complexity(x_sub, codes[subset] == c)
        assert value == pytest.approx(expected, rel=1e-10)
        assert bound == pytest.approx(np.sqrt(2 * expected / used), rel=1e-10)


def test_duplicate_rows_are_noted_on_the_page_not_raised(tmp_path, recwarn):
    X, y = labelled(30, 4, seed=8)
    X[1] = X[0]
    values, used, notes = report._complexities(open_rows(X), y, limit=100, seed=0)
    assert len(notes) == 1 and "ridge" in notes[0] and "duplicate rows" in notes[0]
    assert all(np.isfinite(v) for v, _ in values)
    page = cgfast.write_report(tmp_path / "r.html", X, y, np.arange(30.0)).read_text()
    assert "Warning: the kernel matrix was singular" in page
    assert not [w for w in recwarn if issubclass(w.category, cgfast.RidgeWarning)]


def test_plot_sample_is_bounded_spread_and_deterministic():
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 3, size=200_000)
    codes[:3] = [0, 1, 2]
    values = rng.lognormal(size=codes.size)
    members = report._by_class(values, codes, 3)
    for c, order in enumerate(members):
        assert np.array_equal(np.sort(order), np.flatnonzero(codes == c))
        assert np.all(np.diff(values[order]) >= 0)
    sample = report._plot_sample(members, limit=500)
    assert [len(s) for s in sample] == [500, 500, 500]
    for order, picked in zip(members, sample):
        assert set(picked) <= set(order)
        assert picked[0] == order[0] and picked[-1] == order[-1]  # lowest and highest kept
        ranks = np.searchsorted(values[order], values[picked])
        assert np.diff(ranks).max() <= 2 * len(order) / 500  # evenly spread over the ranking
    again = report._plot_sample(report._by_class(values, codes, 3), limit=500)
    assert all(np.array_equal(a, b) for a, b in zip(sample, again))
    small = [np.arange(4), np.arange(4, 6)]
    assert [s.tolist() for s in report._plot_sample(small, limit=500)] == [[0, 1, 2, 3], [4, 5]]


def test_distribution_plot_of_200k_scores_draws_bounded_markers(tmp_path, monkeypatch):
    rng = np.random.default_rng(10)
    n = 200_000
    y = np.repeat(np.arange(4), n // 4)
    X = rng.random((n, 3)) + 0.5 * np.eye(4, 3)[y]
    scores = rng.lognormal(size=n)
    drawn = []
    real_png = report._png

    def counting_png(figure):
        drawn.append(sum(len(line.get_xdata()) for ax in figure.axes for line in ax.lines))
        return real_png(figure)

    monkeypatch.setattr(report, "_png", counting_png)
    page = cgfast.write_report(
        tmp_path / "r.html", X, y, scores, per_class=2, complexity_rows=200
    ).read_text()
    assert len(drawn) == 1
    # markers (at most _PLOT_MARKERS a class) plus one median dot a class
    assert 4 * 2 < drawn[0] <= 4 * (report._PLOT_MARKERS + 1)
    assert page.count("data:image/png;base64,") == 1
    assert f"at most {report._PLOT_MARKERS} scores of each class" in page
    assert f"<tr><td>0</td><td>{n // 4}</td>" in page


def run_part(page):
    return page.split("<h2>Run</h2>", 1)[1].split("<h2>", 1)[0]


def test_run_is_unknown_without_a_description(tmp_path):
    X, y = labelled(30, 4)
    page = cgfast.write_report(
        tmp_path / "r.html", X, y, np.arange(30.0), arguments={"ratio": 1.0, "repeats": 1}
    ).read_text()
    run = run_part(page)
    assert "settings of the run that produced these scores are unknown" in run
    assert "Stability" not in run
    command = run.split("<h3>Report command</h3>", 1)[1]
    assert "<th>ratio</th><td>1</td>" in command and "<th>repeats</th><td>1</td>" in command


def test_run_shows_the_given_settings_and_stability(tmp_path):
    X, y = labelled(30, 4)
    settings = {"ratio": 0.5, "repeats": 5, "seed": 3, "stability": 0.95}
    page = cgfast.write_report(tmp_path / "r.html", X, y, np.arange(30.0), run=settings)
    run = run_part(page.read_text())
    assert "unknown" not in run and "Report command" not in run
    assert "Stability of the ranking (estimated from the repeats): <strong>0.95</strong>" in run
    for key, value in (("ratio", "0.5"), ("repeats", "5"), ("seed", "3")):
        assert f"<th>{key}</th><td>{value}</td>" in run
    assert "<th>stability</th>" not in run


def test_run_from_a_manifest_and_unestimated_stability(tmp_path):
    X, y = labelled(30, 4)
    manifest = {"arguments": {"ratio": 1.0, "repeats": 1}, "data": {"n": 30}}
    page = cgfast.write_report(
        tmp_path / "r.html", X, y, np.arange(30.0), run={**manifest, "stability": None}
    )
    run = run_part(page.read_text())
    assert "not estimated (one repeat)" in run
    assert "<th>arguments.repeats</th><td>1</td>" in run and "<th>data.n</th><td>30</td>" in run


def test_run_is_checked_before_any_work(tmp_path):
    X, y = labelled(30, 4)
    with pytest.raises(TypeError, match="run must be a mapping"):
        cgfast.write_report(tmp_path / "r.html", X, y, np.arange(30.0), run=[("ratio", 1)])
    with pytest.raises(TypeError, match="stability"):
        cgfast.write_report(tmp_path / "r.html", X, y, np.arange(30.0), run={"stability": "hi"})
    assert not (tmp_path / "r.html").exists()


def test_a_zero_row_in_the_complexity_subsample_is_named(tmp_path):
    X, y = labelled(30, 4)
    X[7] = 0.0
    with pytest.raises(ValueError, match="row 7 of X"):
        cgfast.write_report(tmp_path / "r.html", X, y, np.arange(30.0))


def test_ids_name_the_examples_and_the_page_is_written_whole(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.random((40, 8, 8))
    y = np.arange(40) % 2
    ids = np.array([f"class{c}/img{i:03d}.png" for i, c in enumerate(y)])
    scores = rng.random(40)
    out = cgfast.write_report(tmp_path / "r.html", X, y, scores, ids=ids, per_class=2)
    page = out.read_text()
    top = int(np.argmax(np.where(y == 0, scores, -1)))
    assert ids[top] in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary left
    with pytest.raises(ValueError, match="ids has 3 entries"):
        cgfast.write_report(tmp_path / "s.html", X, y, scores, ids=ids[:3])
    assert not (tmp_path / "s.html").exists()
