"""The report's review section on Fashion-MNIST with flipped labels, and its screenshot.

Scores 1000 training images per class (10,000) whose labels are 5% flipped, with suggested
labels, writes the report (``--output``, default ``benches/results/review.html``) and, with
headless Chromium, a screenshot of its top (``--screenshot``, default ``docs/img/review.png``,
the picture the documentation shows). Prints how many flagged examples were flipped and how
many of the flipped ones the suggestion restores.

    python benches/review_page.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import cgfast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

NAMES = np.array(
    [
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
)


def screenshot(page: Path, picture: Path, width: int, height: int) -> None:
    browser = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    if browser is None:
        raise SystemExit("no chromium found (Debian: apt-get install chromium): no screenshot")
    picture.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={picture.resolve()}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=300,
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--output", type=Path, default=Path("benches/results/review.html"))
    parser.add_argument("--screenshot", type=Path, default=Path("docs/img/review.png"))
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()

    X, y = fashion_mnist(per_class=args.per_class)
    noisy, flipped = flip_labels(y, args.flip, seed=0)
    start = time.perf_counter()
    terms = cgfast.score(X, NAMES[noisy], suggest=True)
    seconds = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cgfast.write_report(args.output, X.reshape(-1, 28, 28), NAMES[noisy], terms)
    screenshot(args.output, args.screenshot, args.width, args.height)

    issues = cgfast.find_label_issues(terms=terms)
    restored = (np.asarray(terms.suggested_label)[flipped] == NAMES[y[flipped]]).mean()
    print(
        f"{len(y)} images, {flipped.sum()} labels flipped; scored with suggestions in "
        f"{seconds:.0f} s ({terms.repeats} repeats, stability {terms.stability:.3f}); "
        f"{len(issues)} flagged, {flipped[issues].sum()} of them flipped; the suggestion "
        f"restores {100 * restored:.1f}% of the flipped labels"
    )
    print(f"report: {args.output}, screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
