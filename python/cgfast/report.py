"""The visual report: one self-contained HTML page about a scored data set (needs matplotlib)."""

from __future__ import annotations

import base64
import datetime
import html
import io
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._data import open_rows
from ._labels import encode_labels
from ._score import complexity
from .rank import rank

# Smallest side of an inferred square image: narrower rows are treated as tabular features.
_MIN_SIDE = 8
# Features of a tabular row shown in the examples tables.
_TABLE_FEATURES = 12


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

    ``shape`` wins when given (``(c, h, w)`` with c in 1, 3, 4 is read channels first). Otherwise
    an example that is already 2-D, or 3-D with 1, 3 or 4 channels last, is drawn as it is, and
    a flat row of ``s*s`` (grey) or ``s*s*3`` (RGB) values with ``s >= 8`` is drawn as a square.

    Examples
    --------
    >>> image_shape((64,)), image_shape((3072,)), image_shape((10,))
    ((8, 8), (32, 32, 3), None)
    """
    d = int(np.prod(sample_shape))
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != d:
            raise ValueError(
                f"image shape {shape} holds {int(np.prod(shape))} values, rows have {d}"
            )
        return shape
    if len(sample_shape) == 2 or (len(sample_shape) == 3 and sample_shape[-1] in (1, 3, 4)):
        return tuple(int(s) for s in sample_shape)
    for channels in (1, 3):
        side = int(round((d / channels) ** 0.5))
        if side >= _MIN_SIDE and side * side * channels == d:
            return (side, side) if channels == 1 else (side, side, channels)
    return None


def _as_image(row: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    picture = row.reshape(shape)
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        picture = np.moveaxis(picture, 0, -1)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    return picture


def _sample_shape(X: Any) -> tuple[int, ...]:
    """The shape of one example as given, before rows are flattened."""
    if isinstance(X, (str, os.PathLike)):
        return tuple(np.load(X, mmap_mode="r", allow_pickle=False).shape[1:])
    return tuple(np.shape(X)[1:])


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


def _distribution_plot(values: np.ndarray, codes: np.ndarray, names: list[str]) -> str:
    import matplotlib.pyplot as plt

    positive = values[values > 0]
    floor = positive.min() if positive.size else 1e-12
    logs = np.log10(np.maximum(values, floor))
    groups = [logs[codes == c] for c in range(len(names))]
    width = min(40.0, 2.0 + 0.6 * len(names))
    figure, axes = plt.subplots(figsize=(max(6.0, width), 4.5))
    try:
        drawn = [c for c, g in enumerate(groups) if len(g) > 1]
        if drawn:
            axes.violinplot([groups[c] for c in drawn], positions=drawn, showmedians=True)
        for c, g in enumerate(groups):
            axes.plot(np.full(len(g), c), g, "_", color="k", alpha=0.15, markersize=8)
        axes.set_xticks(range(len(names)), names, rotation=90 if len(names) > 20 else 0)
        axes.set_xlabel("class")
        axes.set_ylabel("log10 CG score  (high = irregular)")
        axes.grid(axis="y", alpha=0.3)
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
    rows: Any, codes: np.ndarray, limit: int, seed: int
) -> tuple[list[tuple[float, float]], int, list[str]]:
    """``(yᵀH⁻¹y, sqrt(2 yᵀH⁻¹y / m))`` of each class against the rest, on one subsample."""
    subset = _stratified(codes, limit, seed)
    x = rows.take(subset)
    sub_codes = codes[subset]
    values = []
    notes = []
    for c in range(int(codes.max()) + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = complexity(x, sub_codes == c)
        notes.extend(str(w.message) for w in caught)
        values.append((value, float(np.sqrt(2.0 * value / len(subset)))))
    return values, len(subset), sorted(set(notes))


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return html.escape(str(value))


def _examples_html(
    rows: Any,
    indices: np.ndarray,
    values: np.ndarray,
    label: str,
    shape: tuple[int, ...] | None,
    intensity: tuple[float, float],
) -> str:
    if len(indices) == 0:
        return "<p>(none)</p>"
    block = rows.array[np.asarray(indices, dtype=np.intp)]
    if shape is not None:
        cells = []
        for index, row in zip(indices, block):
            data = _thumbnail(_as_image(np.asarray(row), shape), *intensity)
            cells.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="example {index}">'
                f"<figcaption>#{index}<br>{values[index]:.3g}</figcaption></figure>"
            )
        return '<div class="thumbs">' + "".join(cells) + "</div>"
    d = block.shape[1]
    shown = min(d, _TABLE_FEATURES)
    head = "".join(f"<th>x{j}</th>" for j in range(shown)) + ("<th>…</th>" if d > shown else "")
    body = []
    for index, row in zip(indices, block):
        features = "".join(f"<td>{_cell(float(v))}</td>" for v in np.asarray(row)[:shown])
        more = "<td>…</td>" if d > shown else ""
        body.append(
            f"<tr><td>{index}</td><td>{html.escape(label)}</td><td>{values[index]:.4g}</td>"
            f"{features}{more}</tr>"
        )
    return (
        f"<table><tr><th>index</th><th>label</th><th>score</th>{head}</tr>"
        + "".join(body)
        + "</table>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; } .muted { color: #666; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.5em; }
figure { margin: 0; text-align: center; font-size: 0.75em; }
figure img { width: 64px; height: 64px; object-fit: contain; image-rendering: pixelated;
             border: 1px solid #ccc; background: #fff; }
img.plot { max-width: 100%; }
"""


def write_report(
    path: str | os.PathLike[str],
    X: Any,
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    shape: Sequence[int] | None = None,
    per_class: int = 8,
    max_classes: int = 20,
    complexity_rows: int = 2000,
    arguments: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Writes one self-contained HTML page about scored data: plots and images are embedded.

    The page shows the score distribution of every class, the complexity ``yᵀH⁻¹y`` of each
    class against the rest, the ``per_class`` highest- and lowest-scored examples of each class
    (as image thumbnails when rows are images, as table rows otherwise) and the run's arguments.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write the ``.html`` file.
    X : array-like of shape (n, ...), np.memmap, or path to a .npy file
        The examples that were scored.
    y : array-like of shape (n,)
        Their labels.
    scores : array-like of shape (n,)
        Their scores, e.g. from :func:`cgfast.score`.
    shape : sequence of int, optional
        Image shape of one example, ``(h, w)``, ``(h, w, c)`` or ``(c, h, w)``. Default:
        inferred (see :func:`image_shape`); rows that are not images are shown as tables.
    per_class : int, default 8
        Examples shown at each end of every class's ranking.
    max_classes : int, default 20
        Classes whose examples are shown (the first ones in sorted order); the plots and the
        complexity table cover every class.
    complexity_rows : int, default 2000
        Largest number of examples the complexities are computed on. A larger set is
        subsampled (stratified by class, with ``seed``), and the report says so.
    arguments : mapping, optional
        The arguments of the run that produced the scores, listed in the report.
    seed : int, default 0
        Seed of the complexity subsample.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import numpy as np, cgfast
    >>> X = np.random.default_rng(0).random((100, 64)); y = np.arange(100) % 2
    >>> cgfast.write_report("report.html", X, y, cgfast.score(X, y))  # doctest: +SKIP
    PosixPath('report.html')
    """
    import matplotlib

    from . import __version__

    matplotlib.use("Agg")

    rows = open_rows(X)
    classes, codes = encode_labels(y, rows.n)
    values = np.asarray(scores, dtype=np.float64)
    if values.shape != (rows.n,):
        raise ValueError(f"X has {rows.n} rows but scores has shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("scores has non-finite values")
    for name, value, least in (
        ("per_class", per_class, 1),
        ("max_classes", max_classes, 1),
        ("complexity_rows", complexity_rows, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
    picture_shape = image_shape(_sample_shape(X), shape)
    names = [str(c) for c in classes.tolist()]

    ranking = rank(values, y)
    shown = list(ranking.items())[:max_classes]
    picked = np.concatenate(
        [np.concatenate([order[:per_class], order[::-1][:per_class]]) for _, order in shown]
    )
    intensity = (0.0, 1.0)
    if picture_shape is not None and picked.size:
        pixels = np.asarray(rows.array[np.unique(picked)], dtype=np.float64)
        intensity = (float(pixels.min()), float(pixels.max()))

    plot = _distribution_plot(values, codes, names)
    cx, used, cx_notes = _complexities(rows, codes, complexity_rows, seed)

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>cgfast report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>cgfast report</h1>",
        f"<p class='muted'>cgfast {__version__} · "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}</p>",
        f"<p>{rows.n} examples, {rows.d} features, {len(classes)} classes. "
        "The complexity-gap (CG) score of an example is how much the complexity "
        "yᵀH⁻¹y of its class against the others drops when it is removed (Ki, Choi &amp; Chung, "
        "ICLR 2023): high scores are irregular and often mislabelled, low scores easy and "
        "redundant.</p>",
        "<h2>Run</h2><table>",
    ]
    listed = dict(arguments or {})
    listed.setdefault("examples", rows.n)
    for key, value in listed.items():
        parts.append(f"<tr><th>{html.escape(str(key))}</th><td>{_cell(value)}</td></tr>")
    parts.append("</table>")

    parts.append("<h2>Score distribution per class</h2>")
    parts.append(f"<img class='plot' src='data:image/png;base64,{plot}' alt='score distributions'>")
    parts.append("<table><tr><th>class</th><th>examples</th><th>median</th><th>90%</th>")
    parts.append("<th>max</th></tr>")
    for c, name in enumerate(names):
        group = values[codes == c]
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{len(group)}</td>"
            f"<td>{np.median(group):.4g}</td><td>{np.quantile(group, 0.9):.4g}</td>"
            f"<td>{group.max():.4g}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Complexity of each class against the rest</h2>")
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
    )
    parts.append("<table><tr><th>class</th><th>yᵀH⁻¹y</th><th>√(2·yᵀH⁻¹y/m)</th></tr>")
    for name, (value, bound) in zip(names, cx):
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{value:.4g}</td><td>{bound:.4g}</td></tr>"
        )
    parts.append("</table>")
    for note in cx_notes:
        parts.append(f"<p class='muted'>Warning: {html.escape(note)}</p>")

    parts.append("<h2>Highest- and lowest-scored examples of each class</h2>")
    if len(classes) > max_classes:
        parts.append(f"<p>Shown for the first {max_classes} of {len(classes)} classes.</p>")
    if picture_shape is not None:
        parts.append(
            f"<p class='muted'>Rows drawn as {'×'.join(map(str, picture_shape))} images; "
            "captions give the index and the score.</p>"
        )
    for label, order in shown:
        name = str(label)
        parts.append(f"<h3>Class {html.escape(name)}</h3>")
        parts.append("<p>Highest scores (irregular, possibly mislabelled):</p>")
        parts.append(
            _examples_html(rows, order[:per_class], values, name, picture_shape, intensity)
        )
        parts.append("<p>Lowest scores (typical, redundant):</p>")
        parts.append(
            _examples_html(rows, order[::-1][:per_class], values, name, picture_shape, intensity)
        )
    parts.append("</body></html>")

    target = Path(path)
    target.write_text("\n".join(parts), encoding="utf-8")
    return target
