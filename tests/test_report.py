"""The HTML report: its content, image handling, and how it renders in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import cgfast

pytest.importorskip("matplotlib")

from cgfast import cli  # noqa: E402
from cgfast.report import _complexities, image_shape, parse_shape  # noqa: E402


def run_cli(*args):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in args])
    return stop.value.code


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
    thumbnail = '<img src="data:image/png;base64,'
    review, rest = page.split("</section>", 1)
    # Plain scores carry no flags: the review draws the 24 highest scores across all classes.
    assert review.count(thumbnail) == 24 and "The 24 highest scores, across all classes" in review
    assert rest.split("Highest- and lowest-scored examples", 1)[1].count(thumbnail) == 3 * 2 * 4
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
  const data = document.body.dataset;
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0));
  data.images = document.images.length;
  data.broken = broken.length;
  data.errors = window.__errors.length;
  // The review's thumbnails: every figure as wide as the others, no caption line wider than
  // its figure, and as many figures on each full row as the row's width holds.
  const figures = [...document.querySelectorAll('#review .thumbs figure')];
  data.figures = figures.length;
  const box = f => f.getBoundingClientRect();
  data.widths = new Set(figures.map(f => Math.round(box(f).width))).size;
  data.overflowing = figures.filter(f => [...f.querySelectorAll('figcaption span')]
      .some(s => s.scrollWidth > s.clientWidth + 1 && !s.classList.contains('id'))).length;
  const tops = figures.map(f => Math.round(box(f).top));
  data.rows = new Set(tops).size;
  data.perrow = tops.filter(t => t === tops[0]).length;
  if (figures.length) {
    const row = box(figures[0].parentElement).width;
    const width = box(figures[0]).width;
    const pitch = figures.length > 1 && tops[1] === tops[0]
      ? box(figures[1]).left - box(figures[0]).left : width;
    data.fits = Math.floor((row + pitch - width + 1) / pitch);
  }
  data.suspects = document.querySelectorAll('#review table.suspects tr').length;
  const table = document.querySelector('#review table.confusion');
  data.confusion = table ? table.querySelectorAll('tr').length : 0;
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(page, tmp_path, width=1000, height=1400):
    """The page's DOM probe (the ``data-*`` numbers CHECKER sets) after checking that a
    screenshot of it is not blank."""
    from PIL import Image

    browser = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},{height}",
    ]
    # The page as served, with a probe that records load errors, broken images and layout.
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
    probe = {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', body.group(1))}
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*browser, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (height, width)
    assert pixels.std() > 10  # not blank
    assert (pixels < 128).mean() > 0.01  # ink: text, plot and thumbnails drawn
    return probe


needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="no chromium binary found (Debian: apt-get install chromium)"
)


def flipped(y, count, seed=0):
    """y with ``count`` labels moved to another class."""
    rng = np.random.default_rng(seed)
    where = rng.choice(len(y), count, replace=False)
    classes = int(y.max()) + 1
    noisy = y.copy()
    noisy[where] = (noisy[where] + rng.integers(1, classes, count)) % classes
    return noisy


@needs_chromium
def test_review_of_an_image_folder_renders_in_a_headless_browser(tmp_path):
    from PIL import Image

    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    keep = np.flatnonzero(digits.target < 5)[:400]
    noisy = flipped(digits.target[keep], 20)
    folder = tmp_path / "digits"
    names = ["zero", "one", "two", "three", "four"]
    for i, (image, label) in enumerate(zip(digits.images[keep], noisy)):
        (folder / names[label]).mkdir(parents=True, exist_ok=True)
        pixels = (image * 16).clip(0, 255).astype(np.uint8)
        # Long file names: captions must not widen the figures.
        Image.fromarray(pixels).save(folder / names[label] / f"scan-{i:04d}-very-long-name.png")
    page = tmp_path / "r.html"
    assert run_cli("report", folder, "--repeats", "2", "--no-progress", "-o", page) == 0
    text = page.read_text()
    review = text.split("</section>", 1)[0]
    shown = review.count('<img src="data:image/png;base64,')
    probe = browse(page, tmp_path)
    assert probe["images"] == text.count("<img ")
    assert probe["broken"] == 0 and probe["errors"] == 0
    assert probe["figures"] == shown > 0
    assert probe["widths"] == 1 and probe["overflowing"] == 0
    # Full rows hold as many figures as fit: nothing wrapped early.
    assert probe["perrow"] == min(shown, probe["fits"])
    assert probe["rows"] == -(-shown // probe["perrow"])
    assert probe["confusion"] >= 2  # a header and at least one given label
    assert "scan-" in review and "very-long-name.png" in review  # ids: the images' paths


@needs_chromium
def test_review_of_flat_rows_renders_in_a_headless_browser(tmp_path):
    X, y = labelled(90, 64, seed=3)
    noisy = flipped(y, 6, seed=1)
    terms = cgfast.score(X, noisy, repeats=2, suggest=True)
    page = cgfast.write_report(tmp_path / "r.html", X, noisy, terms, per_class=4)
    probe = browse(page, tmp_path)
    flagged = len(cgfast.find_label_issues(terms=terms))
    assert probe["broken"] == 0 and probe["errors"] == 0
    assert probe["figures"] == 0
    assert probe["suspects"] == 1 + min(24, flagged)
    assert probe["images"] == page.read_text().count("<img ")
