"""The report's review section: the flagged suspects, given → suggested, and the stability rounds.

:func:`suspects_from` reads what a run left (its terms, the table ``cgfast score -o`` wrote, or
plain scores) into one :class:`Suspects`; :func:`review_section` writes it as HTML. A regression
run's terms or table (:func:`is_target_source`) are read by :func:`target_suspects_from` and
written by :func:`target_review_section`: the target issues, each with its target, leave-one-out
prediction and residual. Pictures and plots are drawn by the report and handed in, so this module
knows no plotting.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .engine import ScoreTerms
from .noise import NoiseMatrix
from .rank import (
    _check_scores,
    _descending,
    _from_table,
    _issues_from_terms,
    _table_columns,
    flag_column,
    is_table,
)
from .regression import BOUND, robust_z, target_issues

# Distinct classes among the flagged examples up to which the given × suggested counts are a
# matrix; above it, the most frequent pairs are listed instead.
_MATRIX_CLASSES = 20
# Pairs listed when there are too many classes for a matrix.
_PAIRS = 20

# What the review says when the scores came without terms: which sources carry the flags.
_NEEDS_TERMS = (
    "Flags and suggested labels need more than scores: the table that "
    "<code>cgfast score ... -o scores.csv</code> writes, the terms of "
    "<code>cgfast.score(..., suggest=True)</code>, or a report that scores X itself."
)


@dataclass(frozen=True)
class Suspects:
    """What the review shows, whichever source the scores came from.

    ``flagged`` holds the indices of the label issues, highest score first (None when the
    source has no terms to flag them by); ``suggested`` and ``quality`` are per example (None
    without suggestions). ``history`` is the (repeats, stability) after each round when the
    source records it; ``stability`` is the one the run reached, when known, and
    ``stability_known`` says whether the source carries a stability at all.
    """

    score: np.ndarray
    source: str  # "terms", "table" or "scores"
    flagged: np.ndarray | None = None
    suggested: np.ndarray | None = None
    quality: np.ndarray | None = None
    history: tuple[tuple[int, float | None], ...] | None = None
    stability: float | None = None
    stability_known: bool = False
    ids: np.ndarray | None = None
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    noise: NoiseMatrix | None = None  # the estimated noise matrix, from a run's suggestions
    rule: str | None = None  # the rule that flagged, where known
    # task="regression": the given target and each row's leave-one-out residual in its units.
    target: np.ndarray | None = None
    residual: np.ndarray | None = None

    @property
    def prediction(self) -> np.ndarray:
        """A regression run's leave-one-out prediction of every row: ``target − residual``."""
        assert self.target is not None and self.residual is not None
        return self.target - self.residual

    def run(self) -> tuple[dict[str, Any] | None, str | None]:
        """The run's settings this source carries, and a sentence saying what it leaves out,
        for the report's Run section when the caller gives no description of the run."""
        if self.source == "scores":
            return None, None
        carried: dict[str, Any] = dict(self.settings)
        if self.stability_known:
            carried["stability"] = self.stability
        if self.source == "table":
            others = "ratio, repeats, seed" if self.residual is None else "repeats, seed, max_block"
            return carried, (
                "These scores were read from a score table. It carries the stability its run "
                "reached"
                + ("" if self.stability_known else " (this one has no stability column)")
                + f" and none of the run's other settings ({others}, ...)."
            )
        others = "ratio, max_block" if self.residual is None else "max_block, precision"
        return carried, (
            f"The settings these terms carry; the run's other options ({others}, ...) "
            "are not recorded in them."
        )


def suspects_from(scores: Any, labels: np.ndarray) -> Suspects:
    """The :class:`Suspects` of ``scores``: a :class:`ScoreTerms`, a table, or plain scores.

    A table's ``label`` column must be ``labels`` (compared as text, as a .csv gives them back),
    so a table of other data is refused naming the first row that differs.
    """
    n = len(labels)
    if isinstance(scores, ScoreTerms):
        values = _checked(scores.score, n)
        return Suspects(
            score=values,
            source="terms",
            flagged=_issues_from_terms(scores),
            suggested=_array(scores.suggested_label),
            quality=_quality(scores.label_quality),
            history=tuple(scores.history),
            stability=scores.stability,
            stability_known=True,
            settings={"repeats": scores.repeats, "seed": scores.seed},
            noise=None if scores.suggestions is None else scores.suggestions.noise.matrix,
            rule="confusion" if scores.suggestions is not None else "sign",
        )
    if is_table(scores):
        return _table_suspects(scores, labels)
    return Suspects(score=_checked(scores, n), source="scores")


def _checked(scores: Any, n: int) -> np.ndarray:
    values = _check_scores(scores)
    if values.shape != (n,):
        raise ValueError(f"X has {n} rows but scores has shape {values.shape}")
    return values


def _array(values: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values)


def _quality(values: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


def _table_suspects(table: Any, labels: np.ndarray) -> Suspects:
    values, flags, columns = _from_table(table)
    n = len(labels)
    if values.shape != (n,):
        raise ValueError(f"X has {n} rows but the score table has {len(values)}")
    if "label" in columns:
        given = np.asarray(columns["label"]).astype(str)
        differ = np.flatnonzero(given != labels.astype(str))
        if differ.size:
            row = int(differ[0])
            raise ValueError(
                f"the score table's label in row {row} is {given[row]!r} but y's is "
                f"{str(labels[row])!r}: give the table that was scored from these X and y"
            )
    suggested = columns.get("suggested_label")
    quality = columns.get("label_quality")
    stability, known = _table_stability(columns, n)
    order = _descending(values)
    return Suspects(
        score=values,
        source="table",
        flagged=order[flags[order]],
        suggested=_array(suggested),
        quality=_quality(quality),
        stability=stability,
        stability_known=known,
        ids=columns.get("id"),
    )


def shown(suspects: Suspects, limit: int) -> np.ndarray:
    """The examples the review draws: the ``limit`` highest-scored flagged ones, or, without
    flags, the ``limit`` highest scores across all classes."""
    if suspects.flagged is not None:
        return suspects.flagged[:limit]
    return _descending(suspects.score)[:limit]


def _name(index: int, ids: Sequence[Any] | None) -> str:
    return f"#{index}" if ids is None else str(ids[index])


def _labels_text(given: str, suggested: str | None) -> str:
    if suggested is None:
        return html.escape(given)
    if suggested == given:
        return f"{html.escape(given)} · irregular"
    return f"{html.escape(given)} → {html.escape(suggested)}"


def _summary(suspects: Suspects, labels: np.ndarray) -> str:
    n = len(suspects.score)
    if suspects.flagged is None:
        return f"<p>{_NEEDS_TERMS}</p>"
    flagged = suspects.flagged
    share = 100.0 * len(flagged) / n if n else 0.0
    rule = {
        "confusion": "its class's own examples, fitted without it, place it with the classes "
        "that class is confused with, or plainly in another class (the confusion rule of "
        "<code>cgfast.find_label_issues</code>)",
        "sign": "without it, the rest of the data places it among the other classes (the sign "
        "rule of <code>cgfast.find_label_issues</code>)",
    }.get(suspects.rule or "", "the <code>label_issue</code> column of the score table")
    parts = [
        f"<p class='lead'><strong>{len(flagged)}</strong> of {n} examples ({share:.1f}%) are "
        f"flagged as label issues: {rule}.</p>"
    ]
    if suspects.suggested is None:
        parts.append(
            "<p>Suggested labels were not computed for these scores: the table that "
            "<code>cgfast score ... -o scores.csv</code> writes, "
            "<code>cgfast.score(..., suggest=True)</code>, or a report that scores X itself "
            "gives them.</p>"
        )
    elif len(flagged):
        same = suspects.suggested[flagged].astype(str) == labels[flagged].astype(str)
        parts.append(
            f"<p><strong>{int((~same).sum())}</strong> of them have another suggested label: "
            f"likely mislabelled. <strong>{int(same.sum())}</strong> keep their own: they are "
            "irregular rather than mislabelled (atypical or ambiguous examples of their class, "
            "which relabelling will not fix).</p>"
        )
    return "".join(parts)


def _caption_legend(suspects: Suspects, ids: Sequence[Any] | None) -> str:
    what = ["the " + ("index" if ids is None else "id")]
    if suspects.suggested is None:
        what.append("the given label")
    else:
        what.append("given → suggested label (“irregular” where they are the same)")
    quality = " · label quality (low = likely wrong)" if suspects.quality is not None else ""
    what.append("the score" + quality)
    return f"<p class='muted'>Captions: {'; '.join(what)}.</p>"


def _pictures_html(
    indices: np.ndarray,
    suspects: Suspects,
    labels: np.ndarray,
    thumbnails: Mapping[int, str],
    ids: Sequence[Any] | None,
) -> str:
    cells = []
    for index in indices.tolist():
        name = html.escape(_name(index, ids))
        suggested = None if suspects.suggested is None else str(suspects.suggested[index])
        numbers = f"{suspects.score[index]:.3g}"
        if suspects.quality is not None:
            numbers += f" · q {suspects.quality[index]:.2f}"
        cells.append(
            f'<figure><img src="data:image/png;base64,{thumbnails[index]}" alt="example '
            f'{index}"><figcaption><span class="id" title="{name}">{name}</span>'
            f'<span class="labels">{_labels_text(str(labels[index]), suggested)}</span>'
            f"<span>{numbers}</span></figcaption></figure>"
        )
    return '<div class="thumbs review">' + "".join(cells) + "</div>"


def _rows_html(
    indices: np.ndarray,
    suspects: Suspects,
    labels: np.ndarray,
    block: Mapping[int, np.ndarray],
    ids: Sequence[Any] | None,
    features: int,
) -> str:
    d = len(block[int(indices[0])]) if len(indices) else 0
    shown_features = min(d, features)
    head = ["rank", "index" if ids is None else "id", "given label"]
    if suspects.suggested is not None:
        head.append("suggested label")
    head.append("score")
    if suspects.quality is not None:
        head.append("label quality")
    head += [f"x{j}" for j in range(shown_features)] + (["…"] if d > shown_features else [])
    body = []
    for place, index in enumerate(indices.tolist(), start=1):
        cells = [str(place), html.escape(_name(index, ids)), html.escape(str(labels[index]))]
        if suspects.suggested is not None:
            suggested = str(suspects.suggested[index])
            same = suggested == str(labels[index])
            cells.append(html.escape(suggested) + (" (irregular)" if same else ""))
        cells.append(f"{suspects.score[index]:.4g}")
        if suspects.quality is not None:
            cells.append(f"{suspects.quality[index]:.3f}")
        cells += [f"{float(v):.4g}" for v in block[index][:shown_features]]
        if d > shown_features:
            cells.append("…")
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    return f"<table class='suspects'><tr>{header}</tr>{''.join(body)}</table>"


def _confusion(suspects: Suspects, labels: np.ndarray, names: list[str]) -> str:
    """Counts of the flagged examples by given (rows) and suggested (columns) label."""
    assert suspects.flagged is not None and suspects.suggested is not None
    flagged = suspects.flagged
    code = {name: c for c, name in enumerate(names)}
    given = [code[str(label)] for label in labels[flagged]]
    proposed = []
    for index, label in zip(flagged.tolist(), suspects.suggested[flagged].astype(str)):
        if label not in code:
            raise ValueError(f"suggested label {label!r} of row {index} is not one of y's classes")
        proposed.append(code[label])
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (np.asarray(given, dtype=np.intp), np.asarray(proposed, dtype=np.intp)), 1)
    involved = np.flatnonzero(counts.sum(0) + counts.sum(1))
    parts = ["<h3>Given × suggested label of the flagged examples</h3>"]
    if len(involved) > _MATRIX_CLASSES:
        pairs = [(counts[g, s], g, s) for g in involved for s in involved if counts[g, s]]
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        parts.append(
            f"<p>{len(involved)} classes take part, too many for a matrix: the "
            f"{min(_PAIRS, len(pairs))} most frequent pairs.</p><table class='confusion'>"
            "<tr><th>given</th><th>suggested</th><th>flagged</th></tr>"
        )
        for count, g, s in pairs[:_PAIRS]:
            parts.append(
                f"<tr><td>{html.escape(names[g])}</td><td>{html.escape(names[s])}"
                f"{' (irregular)' if g == s else ''}</td><td>{count}</td></tr>"
            )
        parts.append("</table>")
        return "".join(parts)
    top = max(1, int(max((counts[g, s] for g in involved for s in involved if g != s), default=1)))
    header = "".join(f"<th class='col'>{html.escape(names[s])}</th>" for s in involved)
    parts.append(
        "<table class='confusion'><tr><th class='corner'>given ↓ · suggested →</th>"
        f"{header}<th>flagged</th></tr>"
    )
    for g in involved:
        cells = []
        for s in involved:
            count = int(counts[g, s])
            if g == s:
                cells.append(f"<td class='same'>{count or ''}</td>")
            elif count:
                alpha = 0.15 + 0.6 * count / top
                cells.append(f"<td style='background: rgba(200, 40, 40, {alpha:.2f})'>{count}</td>")
            else:
                cells.append("<td></td>")
        parts.append(
            f"<tr><th>{html.escape(names[g])}</th>{''.join(cells)}"
            f"<td>{int(counts[g].sum())}</td></tr>"
        )
    parts.append(
        "</table><p class='muted'>Rows: the given label; columns: the suggested one. The "
        "diagonal (grey) counts the irregular examples, whose suggested label is their own; "
        "off it, which classes the flagged examples seem to belong to instead. Only the "
        "classes that take part are shown.</p>"
    )
    return "".join(parts)


def noise_html(matrix: NoiseMatrix | None) -> str:
    """The estimated noise matrix: the largest confusions in words, then given × true counts of
    the classes that take part, with each class's estimated share of wrong labels."""
    parts = ["<h3>Estimated label noise</h3>"]
    if matrix is None:
        parts.append(
            "<p>The noise matrix is estimated from the suggestion pass's probabilities, which a "
            "score table does not hold: <code>cgfast.score(..., suggest=True)</code> or a report "
            "that scores X itself shows it (<code>cgfast.noise_matrix</code> in Python).</p>"
        )
        return "".join(parts)
    names = [str(c) for c in matrix.classes.tolist()]
    total = float(matrix.counts.sum())
    share = 100.0 * matrix.errors / total if total else 0.0
    parts.append(
        f"<p>About <strong>{matrix.errors:.0f}</strong> labels ({share:.1f}%) are estimated "
        "wrong (confident learning on the out-of-sample probabilities; it counts ambiguous "
        "examples of look-alike classes too, and misses wrong labels that look like the class "
        "they were given).</p>"
    )
    cells = [c for c in matrix.confusions(5) if c[2] >= 0.5]
    if cells:
        items = "".join(
            f"<li>about <strong>{count:.0f}</strong> labelled {html.escape(str(given))} look "
            f"like {html.escape(str(true))}</li>"
            for given, true, count in cells
        )
        parts.append(f"<ul class='confusions'>{items}</ul>")
    off = np.rint(matrix.counts * (1 - np.eye(len(names))))
    involved = np.flatnonzero(off.sum(0) + off.sum(1))
    if 0 < len(involved) <= _MATRIX_CLASSES:
        top = max(1.0, float(off.max()))
        header = "".join(f"<th class='col'>{html.escape(names[t])}</th>" for t in involved)
        parts.append(
            "<table class='confusion'><tr><th class='corner'>given ↓ · true →</th>"
            f"{header}<th>wrong</th></tr>"
        )
        for g in involved:
            row = []
            for t in involved:
                count = int(np.rint(matrix.counts[g, t]))
                if g == t:
                    row.append(f"<td class='same'>{count}</td>")
                elif count:
                    alpha = 0.15 + 0.6 * count / top
                    row.append(
                        f"<td style='background: rgba(200, 40, 40, {alpha:.2f})'>{count}</td>"
                    )
                else:
                    row.append("<td></td>")
            parts.append(
                f"<tr><th>{html.escape(names[g])}</th>{''.join(row)}"
                f"<td>{100.0 * matrix.error_share[g]:.1f}%</td></tr>"
            )
        parts.append(
            "</table><p class='muted'>Rows: the given label; columns: the class the rows "
            "truly seem to belong to, estimated; each row adds up to the class's size. Only "
            "the classes that take part are shown.</p>"
        )
    return "".join(parts)


def _stability(suspects: Suspects) -> str:
    # The rounds' heading only over a table of rounds: a score table or a run without a
    # history has one figure (or none) to show, under a heading that says so.
    if suspects.history:
        parts = [
            "<h3>Stability of the ranking, round by round</h3>"
            "<p class='muted'>The expected Spearman correlation between this ranking and that "
            "of a run with another seed, estimated from the repeats after each round.</p>"
            "<table class='rounds'><tr><th>round</th><th>repeats</th><th>stability</th></tr>"
        ]
        for place, (repeats, stability) in enumerate(suspects.history, start=1):
            shown_value = "not estimated (one repeat)" if stability is None else f"{stability:.3f}"
            parts.append(f"<tr><td>{place}</td><td>{repeats}</td><td>{shown_value}</td></tr>")
        parts.append("</table>")
        return "".join(parts)
    heading = "<h3>Stability of the ranking</h3>"
    if suspects.source == "scores":
        return heading + "<p>Plain scores carry no stability.</p>"
    if suspects.source == "table":
        if not suspects.stability_known:
            return heading + "<p>The score table has no stability column.</p>"
        if suspects.stability is None:
            return heading + (
                "<p>The table's stability column is empty: its run had a single repeat, so "
                "no stability was estimated.</p>"
            )
        return heading + (
            "<p>The score table carries the stability its run reached, "
            f"<strong>{suspects.stability:.3f}</strong>, not the rounds that led to it; a "
            "report that scores X itself shows them round by round.</p>"
        )
    reached = "not estimated" if suspects.stability is None else f"{suspects.stability:.3f}"
    return heading + f"<p>Stability reached: {reached} (the rounds were not recorded).</p>"


def review_section(
    suspects: Suspects,
    labels: np.ndarray,
    names: list[str],
    indices: np.ndarray,
    *,
    thumbnails: Mapping[int, str] | None,
    block: Mapping[int, np.ndarray],
    ids: Sequence[Any] | None,
    features: int,
) -> str:
    """The review section's HTML: how many are flagged, the top suspects (``indices``, from
    :func:`shown`) as ``thumbnails`` or as rows of ``block``, the given × suggested counts and
    the stability reached (round by round where the rounds are known)."""
    flagged = suspects.flagged
    parts = ["<section id='review'><h2>Suspects to review</h2>", _summary(suspects, labels)]
    if len(indices):
        if flagged is None:
            title = f"The {len(indices)} highest scores, across all classes"
        elif len(indices) < len(flagged):
            title = f"The {len(indices)} most suspicious of the {len(flagged)} flagged examples"
        else:
            title = f"The {len(indices)} flagged examples, most suspicious first"
        parts.append(f"<h3>{title}</h3>")
        if thumbnails is not None:
            parts.append(_caption_legend(suspects, ids))
            parts.append(_pictures_html(indices, suspects, labels, thumbnails, ids))
        else:
            parts.append(_rows_html(indices, suspects, labels, block, ids, features))
    if flagged is not None and suspects.suggested is not None and len(flagged):
        parts.append(_confusion(suspects, labels, names))
    parts.append(noise_html(suspects.noise))
    parts.append(_stability(suspects))
    parts.append("</section>")
    return "".join(parts)


def is_target_source(scores: Any) -> bool:
    """Whether ``scores`` come from a regression run: its terms (``residual`` set), or a table
    with a ``residual`` column. Never guessed from the target's values."""
    if isinstance(scores, ScoreTerms):
        return scores.residual is not None
    return is_table(scores) and "residual" in _table_columns(scores)


def target_suspects_from(scores: Any, target: np.ndarray) -> Suspects:
    """The :class:`Suspects` of a regression run's terms or table (:func:`is_target_source`):
    its scores and residuals, and the target issues (:func:`cgfast.find_target_issues`' rule,
    or a table's ``target_issue`` column) highest score first.

    A table's ``target`` column must be ``target``, so a table of other data is refused naming
    the first row that differs.
    """
    n = len(target)
    if isinstance(scores, ScoreTerms):
        values = _checked(scores.score, n)
        residual = _residual(scores.residual, n)
        order = _descending(values)
        return Suspects(
            score=values,
            source="terms",
            flagged=order[target_issues(residual)[order]],
            history=tuple(scores.history),
            stability=scores.stability,
            stability_known=True,
            settings={"repeats": scores.repeats, "seed": scores.seed},
            rule="target",
            target=target,
            residual=residual,
        )
    columns = _table_columns(scores)
    missing = [name for name in ("score", "residual") if name not in columns]
    if missing:
        raise ValueError(
            f"the table has no {' or '.join(missing)} column: pass the table of a regression "
            "run (cgfast.score_table(..., task='regression') or `cgfast score --task regression "
            f"-o scores.csv`; its columns: {list(columns)})"
        )
    values = _check_scores(columns["score"])
    if values.shape != (n,):
        raise ValueError(f"X has {n} rows but the score table has {len(values)}")
    residual = _residual(columns["residual"], n)
    if "target" in columns:
        given = np.asarray(columns["target"], dtype=np.float64)
        differ = np.flatnonzero(~np.isclose(given, target, rtol=1e-9, atol=0.0))
        if differ.size:
            row = int(differ[0])
            raise ValueError(
                f"the score table's target in row {row} is {given[row]!r} but y's is "
                f"{float(target[row])!r}: give the table that was scored from these X and y"
            )
    flags = (
        flag_column(np.asarray(columns["target_issue"]))
        if "target_issue" in columns
        else target_issues(residual)
    )
    stability, known = _table_stability(columns, n)
    order = _descending(values)
    return Suspects(
        score=values,
        source="table",
        flagged=order[flags[order]],
        stability=stability,
        stability_known=known,
        ids=columns.get("id"),
        rule="target" if "target_issue" not in columns else None,
        target=target,
        residual=residual,
    )


def _residual(values: Any, n: int) -> np.ndarray:
    residual = np.asarray(values, dtype=np.float64)
    if residual.shape != (n,):
        raise ValueError(f"X has {n} rows but the residuals have shape {residual.shape}")
    bad = np.flatnonzero(~np.isfinite(residual))
    if bad.size:
        raise ValueError(f"the residual of row {bad[0]} is not finite ({residual[bad[0]]})")
    return residual


def _target_summary(suspects: Suspects) -> str:
    assert suspects.flagged is not None
    n = len(suspects.score)
    flagged = suspects.flagged
    share = 100.0 * len(flagged) / n if n else 0.0
    rule = (
        "the modified z-score of their leave-one-out residual among all residuals, "
        f"|r − median(r)| / (1.4826 · MAD(r)), is above {BOUND:g} (the rule of "
        "<code>cgfast.find_target_issues</code>)"
        if suspects.rule == "target"
        else "the <code>target_issue</code> column of the score table (the modified z-score of "
        f"the residual above {BOUND:g}, the rule of <code>cgfast.find_target_issues</code>)"
    )
    return (
        f"<p class='lead'><strong>{len(flagged)}</strong> of {n} examples ({share:.1f}%) are "
        f"flagged as target issues: {rule}.</p>"
        "<p>The prediction of a row is that of the score's kernel regressor fitted to the "
        "other rows of each block, averaged over the repeats; no model is trained. Its residual "
        "is the given target minus that prediction, in the target's units: a row whose target "
        "is wrong (a typo, a unit slip, a swapped value) sits far from its prediction.</p>"
    )


def target_legend(ids: Sequence[Any] | None) -> str:
    """What the captions of a regression run's thumbnails say."""
    return (
        f"<p class='muted'>Captions: the {'index' if ids is None else 'id'}; given target → "
        "leave-one-out prediction; residual (target − prediction) · score.</p>"
    )


def target_pictures_html(
    indices: np.ndarray,
    suspects: Suspects,
    thumbnails: Mapping[int, str],
    ids: Sequence[Any] | None,
) -> str:
    """The rows at ``indices`` of a regression run as thumbnails, each captioned with its
    target, prediction, residual and score."""
    assert suspects.target is not None and suspects.residual is not None
    prediction = suspects.prediction
    cells = []
    for index in indices.tolist():
        name = html.escape(_name(index, ids))
        cells.append(
            f'<figure><img src="data:image/png;base64,{thumbnails[index]}" alt="example '
            f'{index}"><figcaption><span class="id" title="{name}">{name}</span>'
            f'<span class="labels">{suspects.target[index]:.4g} → {prediction[index]:.4g}</span>'
            f"<span>{suspects.residual[index]:+.3g} · {suspects.score[index]:.3g}</span>"
            "</figcaption></figure>"
        )
    return '<div class="thumbs review">' + "".join(cells) + "</div>"


def target_rows_html(
    indices: np.ndarray,
    suspects: Suspects,
    places: Sequence[int],
    block: Mapping[int, np.ndarray],
    ids: Sequence[Any] | None,
    features: int,
) -> str:
    """The rows at ``indices`` of a regression run as a table: ``places`` (their rank), index
    or id, target, leave-one-out prediction, residual, the residual's modified z-score, score
    and the first ``features`` features."""
    assert suspects.target is not None and suspects.residual is not None
    prediction = suspects.prediction
    z = robust_z(suspects.residual)
    d = len(block[int(indices[0])]) if len(indices) else 0
    shown_features = min(d, features)
    head = ["rank", "index" if ids is None else "id", "target", "prediction", "residual"]
    head += ["modified z", "score"]
    head += [f"x{j}" for j in range(shown_features)] + (["…"] if d > shown_features else [])
    body = []
    for place, index in zip(places, indices.tolist()):
        cells = [str(place), html.escape(_name(index, ids))]
        cells += [
            f"{suspects.target[index]:.4g}",
            f"{prediction[index]:.4g}",
            f"{suspects.residual[index]:.4g}",
            f"{z[index]:.2f}",
            f"{suspects.score[index]:.4g}",
        ]
        cells += [f"{float(v):.4g}" for v in block[index][:shown_features]]
        if d > shown_features:
            cells.append("…")
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    return f"<table class='suspects'><tr>{header}</tr>{''.join(body)}</table>"


def target_review_section(
    suspects: Suspects,
    indices: np.ndarray,
    *,
    thumbnails: Mapping[int, str] | None,
    block: Mapping[int, np.ndarray],
    ids: Sequence[Any] | None,
    features: int,
    plot: str,
    plot_note: str,
) -> str:
    """The review section of a regression run: how many rows are flagged as target issues, the
    top ones (``indices``, from :func:`shown`) with target, prediction, residual and score, the
    prediction plotted against the target (``plot``, a base64 PNG the report drew, described by
    ``plot_note``) and the stability reached (round by round where the rounds are known)."""
    flagged = suspects.flagged
    assert flagged is not None
    parts = ["<section id='review'><h2>Target issues to review</h2>", _target_summary(suspects)]
    if len(indices):
        if len(indices) < len(flagged):
            title = f"The {len(indices)} highest-scored of the {len(flagged)} flagged examples"
        else:
            title = f"The {len(indices)} flagged examples, highest score first"
        parts.append(f"<h3>{title}</h3>")
        if thumbnails is not None:
            parts.append(target_legend(ids))
            parts.append(target_pictures_html(indices, suspects, thumbnails, ids))
        else:
            places = range(1, len(indices) + 1)
            parts.append(target_rows_html(indices, suspects, places, block, ids, features))
    else:
        parts.append("<p>No example is flagged: every residual is within the bound.</p>")
    parts.append(
        "<h3>Leave-one-out prediction against the given target</h3>"
        f"<img class='plot' src='data:image/png;base64,{plot}' alt='prediction against target'>"
        f"<p class='muted'>{plot_note}</p>"
    )
    parts.append(_stability(suspects))
    parts.append("</section>")
    return "".join(parts)


def _table_stability(columns: Mapping[str, Any], n: int) -> tuple[float | None, bool]:
    """A score table's stability (the same on every row; None where it was not estimated) and
    whether the table has the column at all."""
    if "stability" not in columns:
        return None, False
    first = float(np.asarray(columns["stability"], dtype=np.float64)[0]) if n else math.nan
    return (None if math.isnan(first) else first), True
