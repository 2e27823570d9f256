"""The visual report: one self-contained HTML page about a scored data set (needs matplotlib)."""

from __future__ import annotations

import base64
import datetime
import html
import io
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _native
from ._atomic import write_atomic
from ._data import Rows, open_rows
from ._labels import encode_labels, label_column
from ._memory import check_fits
from ._review import (
    Suspects,
    is_target_source,
    review_section,
    shown,
    suspects_from,
    target_legend,
    target_pictures_html,
    target_review_section,
    target_rows_html,
    target_suspects_from,
)
from ._targets import target_column
from ._threads import resolve_threads
from .engine import ScoreTerms
from .options import Options
from .rank import _descending, rank

# Smallest side of an example drawn as an image without an explicit shape.
_MIN_SIDE = 8
# Features of a tabular row shown in the examples tables.
_TABLE_FEATURES = 12
# Scores of one class drawn as markers on the distribution plot; the density uses every score.
_PLOT_MARKERS = 2000
# Bins of the per-class density of log10 scores.
_PLOT_BINS = 60
# Longest class name written in full under the plot; longer ones end in an ellipsis.
_NAME_CHARS = 24
# Rows not flagged drawn on a regression run's prediction plot; the flagged ones are all drawn.
_SCATTER_POINTS = 20000


def parse_shape(text: str) -> tuple[int, ...]:
    """Reads an image shape such as ``"8x8"``, ``"32x32x3"`` or ``"3x32x32"`` (channels first).

    Examples
    --------
    >>> parse_shape("28x28")
    (28, 28)
    """
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"image shape must look like 28x28 or 32x32x3, got {text!r}") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"image shape must look like 28x28 or 32x32x3, got {text!r}")
    return shape


def image_shape(
    sample_shape: Sequence[int], shape: Sequence[int] | None = None
) -> tuple[int, ...] | None:
    """How to draw one example: ``(h, w)`` grey, ``(h, w, c)`` colour, or None for a table row.

    ``shape`` wins when given (``(c, h, w)`` with c in 1, 3, 4 is read channels first).
    Otherwise only an example that already has an image's shape is drawn as one: 2-D
    ``(h, w)``, or 3-D with 1, 3 or 4 channels last or first, each side at least 8. A flat
    row is never taken for an image, whatever its length: 256 or 1024 features are as likely
    an embedding as a 16×16 or 32×32 picture, so it is shown as a table row.

    Examples
    --------
    >>> image_shape((28, 28)), image_shape((3, 32, 32)), image_shape((64,))
    ((28, 28), (3, 32, 32), None)
    >>> image_shape((64,), (8, 8))
    (8, 8)
    """
    d = int(np.prod(sample_shape))
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != d:
            raise ValueError(
                f"image shape {shape} holds {int(np.prod(shape))} values, rows have {d}"
            )
        return shape
    sample = tuple(int(s) for s in sample_shape)
    if len(sample) == 2:
        sides = sample
    elif len(sample) == 3 and sample[-1] in (1, 3, 4):
        sides = sample[:2]
    elif len(sample) == 3 and sample[0] in (1, 3, 4):
        sides = sample[1:]
    else:
        return None
    return sample if min(sides) >= _MIN_SIDE else None


def _as_image(row: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    picture = row.reshape(shape)
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        picture = np.moveaxis(picture, 0, -1)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    return picture


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnail(picture: np.ndarray, low: float, high: float) -> str:
    import matplotlib.image

    scaled = np.clip((picture.astype(np.float64) - low) / (high - low or 1.0), 0.0, 1.0)
    buffer = io.BytesIO()
    if scaled.ndim == 2:
        matplotlib.image.imsave(buffer, scaled, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        matplotlib.image.imsave(buffer, scaled, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _by_class(values: np.ndarray, codes: np.ndarray, classes: int) -> list[np.ndarray]:
    """Indices of each class's examples, lowest score first (one sort, not one scan a class)."""
    by_class = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=classes)
    members = np.split(by_class, np.cumsum(counts)[:-1])
    return [order[np.argsort(values[order], kind="stable")] for order in members]


def _plot_sample(members: list[np.ndarray], limit: int = _PLOT_MARKERS) -> list[np.ndarray]:
    """At most ``limit`` of each class's examples, evenly spread over its ranking.

    ``members`` holds each class's indices sorted by score (see :func:`_by_class`); the
    lowest and the highest score of every class are always kept. Deterministic.
    """
    picked = []
    for order in members:
        if len(order) <= limit:
            picked.append(order)
        else:
            ranks = np.unique(np.linspace(0, len(order) - 1, limit).round().astype(np.intp))
            picked.append(order[ranks])
    return picked


def _density(group: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """A Gaussian kernel density of ``group`` at the bin centres, from its histogram.

    Binning first makes it one pass over the scores however many there are; the bandwidth is
    Scott's rule, so a class of 30 scores gets a smooth shape rather than a comb.
    """
    counts, _ = np.histogram(group, bins=edges)
    width = edges[1] - edges[0]
    sigma = max(0.5, 1.06 * float(np.std(group)) * len(group) ** -0.2 / width)
    offsets = np.arange(len(counts))
    kernel = np.exp(-0.5 * ((offsets[:, None] - offsets[None, :]) / sigma) ** 2)
    return kernel @ counts


def _wrapped(name: str, fits: Any) -> str:
    """``name`` broken after spaces, slashes and hyphens into lines that each ``fits``; a part
    that fits on no line stays whole (the caller then turns the labels instead)."""
    pieces = re.findall(r"[^ /-]+[ /-]*", name) or [name]
    lines: list[str] = []
    for piece in pieces:
        if lines and fits(lines[-1] + piece.rstrip()):
            lines[-1] += piece
        else:
            lines.append(piece)
    return "\n".join(line.rstrip() for line in lines)


def _fit_class_names(figure: Any, axes: Any, names: list[str]) -> None:
    """Puts the class names under their columns so that no two overlap.

    Tried in order, each measured with the figure's renderer against the width of one column:
    the names as they are; wrapped at spaces, slashes and hyphens (three lines at most); turned
    upright; upright in smaller type, down to 5 points; past that, only every k-th name is
    written. Upright rather than slanted, so that each name's box is the one it is drawn in.
    Names longer than ``_NAME_CHARS`` characters are shortened with an ellipsis.
    """
    from matplotlib.font_manager import FontProperties

    short = [n if len(n) <= _NAME_CHARS else n[: _NAME_CHARS - 1] + "…" for n in names]
    renderer = figure.canvas.get_renderer()
    column = axes.get_window_extent(renderer).width / max(1, len(names))
    size = float(_rc_points("xtick.labelsize"))

    def width(text: str) -> float:
        font = FontProperties(size=size)
        return max(
            renderer.get_text_width_height_descent(line, font, ismath=False)[0]
            for line in text.split("\n")
        )

    room = 0.92 * column
    if all(width(n) <= room for n in short):
        axes.set_xticks(range(len(names)), short)
        return
    wrapped = [_wrapped(n, lambda text: width(text) <= room) for n in short]
    if all(width(n) <= room for n in wrapped) and max(n.count("\n") for n in wrapped) < 3:
        axes.set_xticks(range(len(names)), wrapped)
        return
    # Turned upright, a name takes one line's height across, and ticks sit a column apart.
    font = FontProperties(size=size)
    line = 1.15 * renderer.get_text_width_height_descent("Ag", font, ismath=False)[1]
    while column < line and size > 5:
        size, line = size - 1, line * (size - 1) / size
    step = max(1, int(np.ceil(line / column)))
    ticks = list(range(0, len(names), step))
    axes.set_xticks(ticks, [short[t] for t in ticks], rotation=90, fontsize=size)


def _rc_points(name: str) -> float:
    """A font size from matplotlib's settings in points (named sizes such as "medium" too)."""
    import matplotlib
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=matplotlib.rcParams[name]).get_size_in_points()


def _log_bins(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log10 of the scores (a zero as the smallest positive score) and the edges of
    :data:`_PLOT_BINS` equal bins over their range (one unit wide when all are equal)."""
    positive = values[values > 0]
    floor = positive.min() if positive.size else 1e-12
    logs = np.log10(np.maximum(values, floor))
    low, high = float(logs.min()), float(logs.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return logs, np.linspace(low, high, _PLOT_BINS + 1)


def _distribution_figure(values: np.ndarray, members: list[np.ndarray], names: list[str]) -> Any:
    """Each class's log10 scores: the density of all of them, a bounded sample as dots, the
    middle half as a bar and the median as a circle. The caller closes the figure."""
    import matplotlib.pyplot as plt

    logs, edges = _log_bins(values)
    centres = (edges[:-1] + edges[1:]) / 2
    width = min(40.0, 2.0 + 0.75 * len(names))
    figure, axes = plt.subplots(figsize=(max(6.0, width), 4.5))
    for c, (order, sample) in enumerate(zip(members, _plot_sample(members))):
        group = logs[order]
        density = _density(group, edges)
        # Cut at the class's own extremes, as a violin plot does.
        inside = (edges[1:] >= group[0]) & (edges[:-1] <= group[-1])
        half = np.where(inside, 0.4 * density / density[inside].max(), 0.0)
        axes.fill_betweenx(centres, c - half, c + half, color="C0", alpha=0.35, lw=0)
        # Each marker spread sideways within the density at its height, so thousands of
        # them do not pile up into one black stripe; seeded, so the page is reproducible.
        points = logs[sample]
        bins = np.searchsorted(edges, points, side="right") - 1
        spread = half[np.clip(bins, 0, _PLOT_BINS - 1)]
        jitter = np.random.default_rng(c).uniform(-0.9, 0.9, len(points)) * spread
        axes.plot(c + jitter, points, ".", color="k", alpha=0.3, ms=2)
        q1, median, q3 = np.quantile(group, [0.25, 0.5, 0.75])
        axes.vlines(c, q1, q3, color="C3", lw=3)
        axes.plot([c], [median], "o", color="w", mec="C3", ms=5)
    axes.set_xlim(-0.6, len(names) - 0.4)
    _fit_class_names(figure, axes, names)
    axes.set_xlabel("class")
    axes.set_ylabel("log10 CG score  (high = irregular)")
    axes.grid(axis="y", alpha=0.3)
    return figure


def _distribution_plot(values: np.ndarray, members: list[np.ndarray], names: list[str]) -> str:
    """:func:`_distribution_figure` as a base64 PNG."""
    import matplotlib.pyplot as plt

    figure = _distribution_figure(values, members, names)
    try:
        return _png(figure)
    finally:
        plt.close(figure)


def _stratified(codes: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` indices, each class in proportion and at least one of each."""
    n = len(codes)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    parts = []
    for c in range(int(codes.max()) + 1):
        members = np.flatnonzero(codes == c)
        want = max(1, int(round(limit * len(members) / n)))
        parts.append(rng.choice(members, size=min(want, len(members)), replace=False))
    return np.sort(np.concatenate(parts))


def _complexities(
    rows: Rows, codes: np.ndarray, limit: int, seed: int
) -> tuple[list[tuple[float, float]], int, list[str]]:
    """``(yᵀH⁻¹y, sqrt(2 yᵀH⁻¹y / m))`` of each class against the rest, on one subsample.

    H does not depend on the labels: it is built and factorised once for all classes. The
    subsample is checked as :func:`cgfast.complexity` checks X: it must fit in memory and no
    row may be non-finite or zero.
    """
    subset = _stratified(codes, limit, seed)
    check_fits(len(subset), 0, rows.d, rows.dtype.itemsize, whole=True)
    x = rows.take(subset)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1) | ~np.any(x, axis=1))
    if bad.size:
        raise ValueError(
            f"row {subset[bad[0]]} of X is non-finite or all zeros: its complexity is undefined"
        )
    sub_codes = codes[subset]
    classes = np.arange(int(codes.max()) + 1)
    labels = np.where(sub_codes[:, None] == classes[None, :], 1.0, -1.0)
    values, ridge = _native.complexities(x, labels, resolve_threads(None))
    notes = []
    if ridge > 0:
        notes.append(
            f"the kernel matrix was singular and needed a ridge of {ridge:.0e} x mean(diag H): "
            "X has duplicate rows"
        )
    bounds = np.sqrt(2.0 * values / len(subset))
    return [(float(v), float(b)) for v, b in zip(values, bounds)], len(subset), notes


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return html.escape(str(value))


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (a checkpoint manifest) as one level of dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _settings_table(settings: Mapping[str, Any]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{_cell(value)}</td></tr>"
        for key, value in _flat(settings).items()
    )
    return f"<table>{cells}</table>"


def _examples_html(
    block: Mapping[int, np.ndarray],
    indices: np.ndarray,
    values: np.ndarray,
    label: str,
    shape: tuple[int, ...] | None,
    intensity: tuple[float, float],
    ids: Sequence[Any] | None,
) -> str:
    if len(indices) == 0:
        return "<p>(none)</p>"
    if shape is not None:
        cells = []
        for index in indices:
            data = _thumbnail(_as_image(block[index], shape), *intensity)
            name = f"#{index}" if ids is None else html.escape(str(ids[index]))
            cells.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="example {index}">'
                f'<figcaption><span class="id" title="{name}">{name}</span>'
                f"<span>{values[index]:.3g}</span></figcaption></figure>"
            )
        return '<div class="thumbs">' + "".join(cells) + "</div>"
    d = len(block[indices[0]])
    shown = min(d, _TABLE_FEATURES)
    head = "".join(f"<th>x{j}</th>" for j in range(shown)) + ("<th>…</th>" if d > shown else "")
    body = []
    for index in indices:
        features = "".join(f"<td>{_cell(float(v))}</td>" for v in block[index][:shown])
        more = "<td>…</td>" if d > shown else ""
        name = index if ids is None else html.escape(str(ids[index]))
        body.append(
            f"<tr><td>{name}</td><td>{html.escape(label)}</td><td>{values[index]:.4g}</td>"
            f"{features}{more}</tr>"
        )
    return (
        f"<table><tr><th>{'index' if ids is None else 'id'}</th><th>label</th><th>score</th>"
        f"{head}</tr>" + "".join(body) + "</table>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; } .muted { color: #666; } .stability { font-size: 1.15em; }
.lead { font-size: 1.15em; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.5em; }
figure { margin: 0; text-align: center; font-size: 0.75em; flex: 0 0 6rem; width: 6rem; }
figure img { width: 64px; height: 64px; object-fit: contain; image-rendering: pixelated;
             border: 1px solid #ccc; background: #fff; }
figcaption span { display: block; overflow-wrap: anywhere; }
figcaption .id { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.confusion th.col, .confusion th.corner { font-size: 0.85em; vertical-align: bottom;
             overflow-wrap: anywhere; }
.confusion td.same { background: #eee; color: #666; font-style: italic; }
img.plot { max-width: 100%; }
"""


def _header_section(rows: Rows, classes: int) -> str:
    from . import __version__

    return (
        "<h1>cgfast report</h1>"
        f"<p class='muted'>cgfast {__version__} · "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}</p>"
        f"<p>{rows.n} examples, {rows.d} features, {classes} classes. "
        "The complexity-gap (CG) score of an example is how much the complexity "
        "yᵀH⁻¹y of its class against the others drops when it is removed (Ki, Choi &amp; "
        "Chung, ICLR 2023): high scores are irregular and often mislabelled, low scores easy "
        "and redundant.</p>"
    )


def _run_section(
    run: Mapping[str, Any] | None, arguments: Mapping[str, Any] | None, note: str | None = None
) -> str:
    parts = ["<h2>Run</h2>"]
    if note is not None:
        parts.append(f"<p>{html.escape(note)}</p>")
    if run is None:
        parts.append(
            "<p>The settings of the run that produced these scores are unknown: the scores "
            "were given to the report without a description of their run (such as the "
            "arguments in its checkpoint manifest).</p>"
        )
    else:
        settings = dict(run)
        if "stability" in settings:
            stability = settings.pop("stability")
            shown = "not estimated (one repeat)" if stability is None else f"{stability:.3g}"
            parts.append(
                "<p class='stability'>Stability of the ranking (estimated from the repeats): "
                f"<strong>{shown}</strong></p>"
            )
        if settings:
            parts.append("<p>Settings of the run that produced the scores:</p>")
            parts.append(_settings_table(settings))
    if arguments:
        parts.append("<h3>Report command</h3>")
        parts.append(
            "<p class='muted'>The options of the command that wrote this page; only those "
            "listed above describe how the scores were computed.</p>"
        )
        parts.append(_settings_table(arguments))
    return "".join(parts)


def _distribution_section(values: np.ndarray, codes: np.ndarray, names: list[str]) -> str:
    members = _by_class(values, codes, len(names))
    plot = _distribution_plot(values, members, names)
    sampled = max(len(order) for order in members) > _PLOT_MARKERS
    parts = [
        "<h2>Score distribution per class</h2>",
        f"<img class='plot' src='data:image/png;base64,{plot}' alt='score distributions'>",
        "<p class='muted'>Shaded: the density of every score of the class; bar: its middle "
        "half; circle: its median; dots: "
        + (
            f"at most {_PLOT_MARKERS} scores of each class, evenly spread over its ranking "
            "from the lowest to the highest."
            if sampled
            else "every score."
        )
        + "</p>",
        "<table><tr><th>class</th><th>examples</th><th>median</th><th>90%</th><th>max</th></tr>",
    ]
    for name, order in zip(names, members):
        group = values[order]
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{len(group)}</td>"
            f"<td>{np.median(group):.4g}</td><td>{np.quantile(group, 0.9):.4g}</td>"
            f"<td>{group[-1]:.4g}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _complexity_section(
    rows: Rows, codes: np.ndarray, names: list[str], limit: int, seed: int
) -> str:
    cx, used, notes = _complexities(rows, codes, limit, seed)
    parts = ["<h2>Complexity of each class against the rest</h2>"]
    if used < rows.n:
        parts.append(
            f"<p>Computed on a stratified random subsample of {used} of the {rows.n} examples "
            f"(seed {seed}), the same subsample for every class.</p>"
        )
    else:
        parts.append(f"<p>Computed on all {rows.n} examples.</p>")
    parts.append(
        "<p class='muted'>y = +1 for the class, −1 for every other; H is the arc-cosine "
        "kernel. √(2·yᵀH⁻¹y/m) is the data-dependent term of the generalisation bound "
        "of Arora et al. (2019): higher means harder to learn.</p>"
        "<table><tr><th>class</th><th>yᵀH⁻¹y</th><th>√(2·yᵀH⁻¹y/m)</th></tr>"
    )
    for name, (value, bound) in zip(names, cx):
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{value:.4g}</td><td>{bound:.4g}</td></tr>"
        )
    parts.append("</table>")
    parts.extend(f"<p class='muted'>Warning: {html.escape(note)}</p>" for note in notes)
    return "".join(parts)


def _examples_section(
    rows: Rows,
    ranking: Mapping[Any, np.ndarray],
    values: np.ndarray,
    picture_shape: tuple[int, ...] | None,
    per_class: int,
    max_classes: int,
    ids: Sequence[Any] | None,
) -> str:
    shown = list(ranking.items())[:max_classes]
    ends = {label: (order[:per_class], order[::-1][:per_class]) for label, order in shown}
    picked = np.unique(np.concatenate([np.concatenate(pair) for pair in ends.values()]))
    block = dict(zip(picked.tolist(), rows.take(picked)))
    intensity = (0.0, 1.0)
    if picture_shape is not None and block:
        pixels = np.stack(list(block.values()))
        intensity = (float(pixels.min()), float(pixels.max()))

    parts = ["<h2>Highest- and lowest-scored examples of each class</h2>"]
    if len(ranking) > max_classes:
        parts.append(f"<p>Shown for the first {max_classes} of {len(ranking)} classes.</p>")
    if picture_shape is not None:
        parts.append(
            f"<p class='muted'>Rows drawn as {'×'.join(map(str, picture_shape))} images; "
            f"captions give the {'index' if ids is None else 'id'} and the score.</p>"
        )
    for label, (highest, lowest) in ends.items():
        name = str(label)
        parts.append(f"<h3>Class {html.escape(name)}</h3>")
        parts.append("<p>Highest scores (irregular, possibly mislabelled):</p>")
        parts.append(_examples_html(block, highest, values, name, picture_shape, intensity, ids))
        parts.append("<p>Lowest scores (typical, redundant):</p>")
        parts.append(_examples_html(block, lowest, values, name, picture_shape, intensity, ids))
    return "".join(parts)


def _check_counts(**counts: tuple[Any, int]) -> None:
    for name, (value, least) in counts.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")


def _check_run(run: Mapping[str, Any] | None) -> None:
    if run is None:
        return
    if not isinstance(run, Mapping):
        raise TypeError(f"run must be a mapping of settings or None, got {type(run).__name__}")
    stability = run.get("stability")
    if stability is not None and (
        isinstance(stability, bool) or not isinstance(stability, numbers.Real)
    ):
        raise TypeError(f"run['stability'] must be a number or None, got {stability!r}")


def _check_score_kwargs(scores: Any, score_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    if score_kwargs is None:
        return {}
    if scores is not None:
        raise TypeError("score_kwargs apply only when the report scores X itself (scores=None)")
    if not isinstance(score_kwargs, Mapping):
        raise TypeError(f"score_kwargs must be a mapping, got {type(score_kwargs).__name__}")
    for name in ("return_terms", "suggest"):
        if name in score_kwargs:
            raise TypeError(f"the report sets {name} itself; do not pass it in score_kwargs")
    return dict(score_kwargs)


def _scored_here(X: Any, y: Any, score_kwargs: dict[str, Any]) -> tuple[ScoreTerms, dict[str, Any]]:
    """Scores X with suggestions, and describes the run: the options given (the rest at their
    defaults), the repeats it took, the seed it used and the stability it reached."""
    from ._score import score

    if score_kwargs.get("task") == "regression":
        # A real-valued target has no labels to suggest: its terms carry the residuals.
        terms = score(X, y, return_terms=True, **score_kwargs)
    else:
        terms = score(X, y, suggest=True, **score_kwargs)
    options = Options.pick({**score_kwargs, "seed": terms.seed})
    return terms, run_settings(options.manifest(), terms)


def run_settings(manifest: Mapping[str, Any], terms: ScoreTerms) -> dict[str, Any]:
    """A run's settings as the Run section shows them: its options (``Options.manifest()``,
    unset ones left out), the repeats it took and the stability it reached; with
    ``repeats="auto"``, ``repeats`` says so and the target is kept apart from what was reached.

    Examples
    --------
    >>> from cgfast.engine import ScoreTerms
    >>> terms = ScoreTerms(*[None] * 4, stability=0.96, repeats=8)
    >>> run_settings({"repeats": "auto", "stability": 0.95, "seed": 0}, terms)
    {'repeats': 'auto: 8', 'target stability': 0.95, 'seed': 0, 'stability': 0.96}
    """
    auto = manifest.get("repeats") == "auto"
    settings: dict[str, Any] = {}
    for key, value in manifest.items():
        if key == "repeats":
            settings["repeats"] = f"auto: {terms.repeats}" if auto else terms.repeats
            if auto and manifest.get("stability") is not None:
                settings["target stability"] = manifest["stability"]
        elif key != "stability" and value is not None:
            settings[key] = value
    settings["stability"] = terms.stability
    return settings


def _pictures(
    rows: Rows, indices: np.ndarray, shape: tuple[int, ...] | None
) -> tuple[dict[int, np.ndarray], dict[int, str] | None]:
    """The rows at ``indices``, and drawn as thumbnails (one grey scale for all) when they are
    images."""
    if not len(indices):
        return {}, None
    order = np.sort(indices)
    block = dict(zip(order.tolist(), rows.take(order)))
    if shape is None:
        return block, None
    pixels = np.stack(list(block.values()))
    low, high = float(pixels.min()), float(pixels.max())
    return block, {i: _thumbnail(_as_image(row, shape), low, high) for i, row in block.items()}


def _target_header_section(rows: Rows) -> str:
    from . import __version__

    return (
        "<h1>cgfast report</h1>"
        f"<p class='muted'>cgfast {__version__} · "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}</p>"
        f"<p>{rows.n} examples, {rows.d} features, a real-valued target (regression). "
        "The complexity-gap (CG) score of an example is how much the complexity zᵀH⁻¹z of "
        "the standardised target z drops when it is removed: G_ii · (z_i − f_i)², the squared "
        "leave-one-out residual of the kernel regressor, weighted by how closely the other "
        "rows surround it (the user guide's “Regression targets”). High scores are rows whose "
        "target the others predict badly, often a wrong target; low scores are typical and "
        "redundant.</p>"
    )


def _scatter_sample(flags: np.ndarray, limit: int = _SCATTER_POINTS) -> np.ndarray:
    """The rows drawn on the prediction plot: every flagged row and at most ``limit`` others,
    picked at random with a fixed seed (the page is reproducible)."""
    others = np.flatnonzero(~flags)
    if len(others) > limit:
        others = np.sort(np.random.default_rng(0).choice(others, size=limit, replace=False))
    return others


def _prediction_figure(target: np.ndarray, prediction: np.ndarray, flags: np.ndarray) -> Any:
    """The leave-one-out prediction of every row against its given target, the flagged rows in
    red, and the line where the two are equal. The caller closes the figure."""
    import matplotlib.pyplot as plt

    others = _scatter_sample(flags)
    figure, axes = plt.subplots(figsize=(6.0, 5.0))
    axes.plot(
        target[others], prediction[others], ".", color="C0", alpha=0.4, ms=3, label="not flagged"
    )
    axes.plot(
        target[flags],
        prediction[flags],
        "o",
        color="C3",
        mfc="none",
        ms=6,
        label=f"flagged as target issues ({int(flags.sum())})",
    )
    low = float(min(target.min(), prediction.min()))
    high = float(max(target.max(), prediction.max()))
    axes.plot([low, high], [low, high], "--", color="0.5", lw=1, label="prediction = target")
    axes.set_xlabel("given target")
    axes.set_ylabel("leave-one-out prediction")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def _prediction_plot(suspects: Suspects, flags: np.ndarray) -> tuple[str, str]:
    """:func:`_prediction_figure` as a base64 PNG, and the sentence under it."""
    import matplotlib.pyplot as plt

    assert suspects.target is not None
    figure = _prediction_figure(suspects.target, suspects.prediction, flags)
    try:
        plot = _png(figure)
    finally:
        plt.close(figure)
    others = int((~flags).sum())
    drawn = (
        f"every flagged example and {_SCATTER_POINTS} of the {others} others, picked at random"
        if others > _SCATTER_POINTS
        else "every example"
    )
    note = (
        f"Dots: {drawn}. The vertical distance of a dot from the dashed line is its residual; "
        "circled in red, the examples flagged as target issues."
    )
    return plot, note


def _histogram_figure(values: np.ndarray, flags: np.ndarray) -> Any:
    """One histogram of the log10 scores, the flagged examples stacked in red. The caller
    closes the figure."""
    import matplotlib.pyplot as plt

    logs, edges = _log_bins(values)
    figure, axes = plt.subplots(figsize=(7.0, 3.5))
    axes.hist(
        [logs[~flags], logs[flags]],
        bins=edges.tolist(),
        stacked=True,
        color=["C0", "C3"],
        label=["not flagged", "flagged as target issues"],
    )
    axes.set_xlabel("log10 CG score  (high = irregular)")
    axes.set_ylabel("examples")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def _target_distribution_section(values: np.ndarray, flags: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    figure = _histogram_figure(values, flags)
    try:
        plot = _png(figure)
    finally:
        plt.close(figure)
    return (
        "<h2>Score distribution</h2>"
        f"<img class='plot' src='data:image/png;base64,{plot}' alt='score distribution'>"
        "<p class='muted'>Every example's score; the flagged ones stacked in red.</p>"
        "<table><tr><th>examples</th><th>median</th><th>90%</th><th>max</th></tr>"
        f"<tr><td>{len(values)}</td><td>{np.median(values):.4g}</td>"
        f"<td>{np.quantile(values, 0.9):.4g}</td><td>{values.max():.4g}</td></tr></table>"
    )


def _target_examples_section(
    suspects: Suspects,
    order: np.ndarray,
    per_end: int,
    picture_shape: tuple[int, ...] | None,
    thumbnails: Mapping[int, str] | None,
    block: Mapping[int, np.ndarray],
    ids: Sequence[Any] | None,
) -> str:
    """The ``per_end`` highest- and lowest-scored examples of all rows (``order``: highest score
    first), with target, prediction, residual and score."""
    n = len(order)
    ends = (
        ("Highest scores (the others predict their target worst):", order[:per_end], 1),
        ("Lowest scores (typical, redundant):", order[::-1][:per_end], -1),
    )
    parts = ["<h2>Highest- and lowest-scored examples</h2>"]
    if picture_shape is not None:
        parts.append(
            f"<p class='muted'>Rows drawn as {'×'.join(map(str, picture_shape))} images.</p>"
        )
        parts.append(target_legend(ids))
    for title, indices, step in ends:
        parts.append(f"<p>{title}</p>")
        if thumbnails is not None:
            parts.append(target_pictures_html(indices, suspects, thumbnails, ids))
        else:
            places = range(1, len(indices) + 1) if step > 0 else range(n, n - len(indices), -1)
            parts.append(target_rows_html(indices, suspects, places, block, ids, _TABLE_FEATURES))
    return "".join(parts)


def _target_report(
    X: Any,
    y: npt.ArrayLike,
    scores: Any,
    rows: Rows,
    *,
    shape: Sequence[int] | None,
    per_class: int,
    suspects: int,
    run: Mapping[str, Any] | None,
    arguments: Mapping[str, Any] | None,
    ids: Sequence[Any] | None,
    kwargs: dict[str, Any],
) -> list[str]:
    """The sections of a regression run's page: its target issues (with the prediction plot
    and the stability), the run, one score distribution and the rows at both ends of the
    ranking. The sections about classes are left out."""
    target = target_column(y, rows.n)
    picture_shape = image_shape(rows.array.shape[1:], shape)
    described = None
    if scores is None:
        scores, described = _scored_here(X, y, kwargs)
    found = target_suspects_from(scores, target)
    assert found.flagged is not None
    note = None
    if run is None:
        run, note = (described, None) if described is not None else found.run()
    if ids is None and found.ids is not None:
        ids = found.ids
    values = found.score
    flags = np.zeros(rows.n, dtype=bool)
    flags[found.flagged] = True

    top = shown(found, suspects)
    order = _descending(values)
    ends = np.concatenate([order[:per_class], order[::-1][:per_class]])
    block, thumbnails = _pictures(rows, np.unique(np.concatenate([top, ends])), picture_shape)
    plot, plot_note = _prediction_plot(found, flags)
    return [
        _target_header_section(rows),
        target_review_section(
            found,
            top,
            thumbnails=thumbnails,
            block=block,
            ids=ids,
            features=_TABLE_FEATURES,
            plot=plot,
            plot_note=plot_note,
        ),
        _run_section(run, arguments, note),
        _target_distribution_section(values, flags),
        _target_examples_section(found, order, per_class, picture_shape, thumbnails, block, ids),
    ]


PAGE_SUFFIXES = (".html", ".htm")


def check_page_name(path: str | os.PathLike[str]) -> None:
    """Refuses an output whose name says another format: the report is an HTML page, and a
    ``report.pdf`` holding HTML opens in no PDF reader."""
    suffix = Path(path).suffix.lower()
    if suffix not in PAGE_SUFFIXES:
        ends = f"ends in {suffix}" if suffix else "has no suffix"
        raise ValueError(
            f"the report is an HTML page, so its file name must end in .html; "
            f"{os.fspath(path)} {ends} (a browser prints the page to PDF)"
        )


def write_report(
    path: str | os.PathLike[str],
    X: Any,
    y: npt.ArrayLike,
    scores: Any = None,
    *,
    shape: Sequence[int] | None = None,
    per_class: int = 8,
    max_classes: int = 20,
    suspects: int = 24,
    complexity_rows: int = 2000,
    run: Mapping[str, Any] | None = None,
    arguments: Mapping[str, Any] | None = None,
    ids: Sequence[Any] | None = None,
    seed: int = 0,
    score_kwargs: Mapping[str, Any] | None = None,
) -> Path:
    """Writes one self-contained HTML page about scored data: plots and images are embedded.

    The page opens with the suspects to review: how many examples are flagged as label issues,
    the ``suspects`` highest-scored of them across all classes (thumbnails for images, rows
    otherwise) with their given → suggested label, score and label quality, a given ×
    suggested matrix of the flagged examples, and the stability the run reached round by
    round. It then describes the run, shows the score distribution of every class, the
    complexity ``yᵀH⁻¹y`` of each class against the rest, and the ``per_class`` highest- and
    lowest-scored examples of each class.

    A regression run's page (``score_kwargs={"task": "regression"}``, or ``scores`` from a
    regression run: its terms carry ``residual``, its table has a ``residual`` column; never
    guessed from y's values) opens with the target issues instead: how many rows
    :func:`cgfast.find_target_issues`' rule flags, the ``suspects`` highest-scored of them with
    their given target, leave-one-out prediction (``y_i − residual_i``), residual in the
    target's units and score, a plot of the prediction against the target with the flagged rows
    circled, and the stability reached. Then the run, one distribution of all scores and the
    ``per_class`` highest- and lowest-scored rows; the sections about classes are left out.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write the ``.html`` file.
    X : array-like of shape (n, ...), np.memmap, Zarr array, or path
        The examples that were scored, read as :func:`cgfast.score` reads them.
    y : array-like of shape (n,)
        Their labels, or their real-valued targets for a regression run.
    scores : ScoreTerms, table, or array-like of shape (n,), optional
        What an earlier run gave: the :class:`ScoreTerms` of ``cgfast.score(...,
        suggest=True)`` (flags, suggested labels, stability rounds), the table of
        :func:`cgfast.score_table` / :func:`cgfast.to_table` / ``cgfast score -o scores.csv``
        (a DataFrame, a pyarrow Table or a mapping of columns: flags, suggested labels and the
        stability reached, its ``label`` column checked against ``y``), or plain scores (no
        flags or suggestions: the review then says what gives them). For a regression run: the
        terms of ``cgfast.score(..., task="regression", return_terms=True)`` or the table of
        :func:`cgfast.score_table` / ``cgfast score --task regression -o scores.csv`` (its
        ``target`` column checked against ``y``). Default: X is scored here, with
        ``score_kwargs`` and suggested labels (none for ``task="regression"``).
    shape : sequence of int, optional
        Image shape of one example, ``(h, w)``, ``(h, w, c)`` or ``(c, h, w)``. Default: the
        shape of X's examples when it is an image's (see :func:`image_shape`); flat rows are
        shown as tables unless a shape is given.
    per_class : int, default 8
        Examples shown at each end of every class's ranking (of the ranking of all rows, for a
        regression run).
    max_classes : int, default 20
        Classes whose examples are shown (the first ones in sorted order); the plots and the
        complexity table cover every class. Unused for a regression run.
    suspects : int, default 24
        Flagged examples (label issues, or target issues for a regression run) shown at the top
        of the page, highest score first.
    complexity_rows : int, default 2000
        Largest number of examples the complexities are computed on. A larger set is
        subsampled (stratified by class, with ``seed``), and the report says so. Unused for a
        regression run.
    run : mapping, optional
        The settings of the run that produced the scores (e.g. a checkpoint manifest's
        ``arguments``), and optionally ``"stability"``: the ranking's estimated stability, or
        None when it was not estimated. Default: what ``scores`` carries (the terms' repeats,
        seed and stability; a table's stability; nothing for plain scores, and the page says
        the settings are unknown), or the settings of the scoring done here.
    arguments : mapping, optional
        The options of the command writing the report, listed apart from the run's settings.
    ids : sequence of n names, optional
        What to call each example (an image's path in its folder, an id column) in captions and
        tables, instead of its row index. Default: a table's ``id`` column, else the index.
    seed : int, default 0
        Seed of the complexity subsample.
    score_kwargs : mapping, optional
        Options of :func:`cgfast.score` (``repeats``, ``ratio``, ``seed``, ``n_jobs``,
        ``task``, ...) when the report scores X itself; refused with ``scores``.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> X = np.random.default_rng(0).random((100, 64)); y = np.arange(100) % 2
    >>> cgfast.write_report("report.html", X, y, score_kwargs={"repeats": 3})  # doctest: +SKIP
    PosixPath('report.html')
    >>> terms = cgfast.score(X, y, suggest=True)
    >>> cgfast.write_report("report.html", X, y, terms)  # doctest: +SKIP
    PosixPath('report.html')
    >>> t = X[:, 0] - X[:, 1]                          # a real-valued target
    >>> regression = {"task": "regression"}
    >>> cgfast.write_report("report.html", X, t, score_kwargs=regression)  # doctest: +SKIP
    PosixPath('report.html')
    """
    check_page_name(path)
    import matplotlib

    matplotlib.use("Agg")

    rows = open_rows(X)
    regression = _regression(scores, score_kwargs)
    if not regression:
        classes, codes = encode_labels(y, rows.n)
        labels = label_column(y)
    _check_counts(
        per_class=(per_class, 1),
        max_classes=(max_classes, 1),
        suspects=(suspects, 1),
        complexity_rows=(complexity_rows, 2),
    )
    _check_run(run)
    kwargs = _check_score_kwargs(scores, score_kwargs)
    if ids is not None and len(ids) != rows.n:
        raise ValueError(f"X has {rows.n} rows but ids has {len(ids)} entries")
    if regression:
        sections = _target_report(
            X,
            y,
            scores,
            rows,
            shape=shape,
            per_class=per_class,
            suspects=suspects,
            run=run,
            arguments=arguments,
            ids=ids,
            kwargs=kwargs,
        )
        return _write_page(path, sections)
    picture_shape = image_shape(rows.array.shape[1:], shape)
    names = [str(c) for c in classes.tolist()]

    described = None
    if scores is None:
        scores, described = _scored_here(X, y, kwargs)
    found = suspects_from(scores, labels)
    note = None
    if run is None:
        run, note = (described, None) if described is not None else found.run()
    if ids is None and found.ids is not None:
        ids = found.ids
    values = found.score

    top = shown(found, suspects)
    block, thumbnails = _pictures(rows, top, picture_shape)
    sections = [
        _header_section(rows, len(classes)),
        review_section(
            found,
            labels,
            names,
            top,
            thumbnails=thumbnails,
            block=block,
            ids=ids,
            features=_TABLE_FEATURES,
        ),
        _run_section(run, arguments, note),
        _distribution_section(values, codes, names),
        _complexity_section(rows, codes, names, complexity_rows, seed),
        _examples_section(
            rows, rank(values, y), values, picture_shape, per_class, max_classes, ids
        ),
    ]
    return _write_page(path, sections)


def _regression(scores: Any, score_kwargs: Mapping[str, Any] | None) -> bool:
    """Whether the page is a regression run's: ``score_kwargs`` ask for ``task="regression"``
    (when the report scores X itself), or ``scores`` are a regression run's terms or table.
    Never guessed from y's values."""
    if scores is None:
        return isinstance(score_kwargs, Mapping) and score_kwargs.get("task") == "regression"
    return is_target_source(scores)


def _write_page(path: str | os.PathLike[str], sections: list[str]) -> Path:
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>cgfast report</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>"
    )
    target = Path(path)
    data = page.encode("utf-8")
    write_atomic(target, lambda handle: handle.write(data))
    return target
