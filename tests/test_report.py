"""The HTML report: its content, image handling, and how it renders in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import cgfast

pytest.importorskip("matplotlib")

from cgfast.report import _complexities, image_shape, parse_shape  # noqa: E402


def labelled(n, d, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n // classes)
    X = rng.random((len(y), d)) + 0.5 * np.eye(classes, d)[y]
    return X, y


@pytest.mark.parametrize(
    "sample, given, expected",
    [
        # A flat row is never guessed to be an image: 256 or 1024 features are often embeddings.
        ((64,), None, None),
        ((256,), None, None),
        ((784,), None, None),
        ((3072,), None, None),
        ((8, 8), None, (8, 8)),
        ((28, 28), None, (28, 28)),
        ((32, 32, 3), None, (32, 32, 3)),
        ((3, 32, 32), None, (3, 32, 32)),
        ((4, 4), None, None),  # too small to be taken for an image
        ((2, 3), None, None),
        ((10, 10, 7), None, None),
        ((10,), None, None),
        ((16,), None, None),
        ((50,), None, None),
        ((64,), (8, 8), (8, 8)),
        ((3072,), (3, 32, 32), (3, 32, 32)),
        ((12,), (3, 4), (3, 4)),
    ],
)
def test_image_shape(sample, given, expected):
    assert image_shape(sample, given) == expected


def test_shape_errors():
    with pytest.raises(ValueError, match="holds 49"):
        image_shape((64,), (7, 7))
    with pytest.raises(ValueError, match="28x28"):
        parse_shape("big")
    assert parse_shape("3x32X32") == (3, 32, 32)


def test_table_report_is_self_contained(tmp_path):
    X, y = labelled(60, 5)
    scores = cgfast.score(X, y)
    path = cgfast.write_report(tmp_path / "r.html", X, y, scores, arguments={"ratio": 1.0})
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing fetched from outside
    assert page.count("data:image/png;base64,") == 1  # the distribution plot; rows are tables
    assert page.count("<h3>Class") == 3
    assert "<th>ratio</th>" in page and "Computed on all 60 examples" in page
    top = cgfast.rank(scores, y)[0][0]
    assert f"<tr><td>{top}</td><td>0</td>" in page


def test_image_report_has_thumbnails_and_says_when_it_subsamples(tmp_path):
    X, y = labelled(60, 3072, seed=1)
    page = cgfast.write_report(
        tmp_path / "r.html",
        X.reshape(60, 32, 32, 3),
        y,
        np.arange(60.0),
        per_class=4,
        complexity_rows=30,
    ).read_text()
    assert page.count('<img src="data:image/png;base64,') == 3 * 2 * 4
    assert "32×32×3 images" in page
    assert "subsample of 30 of the 60 examples" in page


def test_complexity_of_each_class_is_cgfast_complexity(tmp_path):
    from cgfast._data import open_rows

    X, y = labelled(45, 4, seed=2)
    values, used, notes = _complexities(open_rows(X), y, limit=1000, seed=0)
    assert used == 45 and notes == []
    for c, (value, bound) in enumerate(values):
        assert value == pytest.approx(cgfast.complexity(X, y == c))
        assert bound == pytest.approx(np.sqrt(2 * value / 45))


def test_report_rejects_mismatched_scores(tmp_path):
    X, y = labelled(30, 4)
    with pytest.raises(ValueError, match="scores"):
        cgfast.write_report(tmp_path / "r.html", X, y, np.zeros(29))


CHECKER = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target.src)),
                        true);
window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0));
  document.body.dataset.images = document.images.length;
  document.body.dataset.broken = broken.length;
  document.body.dataset.errors = window.__errors.length;
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(
    chromium() is None, reason="no chromium binary found (Debian: apt-get install chromium)"
)
def test_report_renders_in_a_headless_browser(tmp_path):
    from PIL import Image

    X, y = labelled(90, 64, seed=3)
    page = cgfast.write_report(
        tmp_path / "r.html", X.reshape(-1, 8, 8), y, cgfast.score(X, y), per_class=4
    )
    browser = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,1400",
    ]
    # The page as served, with a probe that records load errors and broken images.
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + CHECKER, 1))
    dom = subprocess.run(
        [*browser, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    attributes = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    assert int(attributes["images"]) == 1 + 3 * 2 * 4
    assert attributes["broken"] == "0" and attributes["errors"] == "0"

    shot = tmp_path / "shot.png"
    subprocess.run(
        [*browser, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (1400, 1000)
    assert pixels.std() > 10  # not blank
    assert (pixels < 128).mean() > 0.01  # ink: text, plot and thumbnails drawn
