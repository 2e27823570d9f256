"""Suggested labels on Fashion-MNIST with flipped labels: cgfast against cleanlab's predicted label.

10% of the labels of 15,000 images (1500 per class) flipped (``benches/datasets.py``). For every
method it reports the share of the flipped examples whose suggested label is their *true* label,
the share of the clean examples whose suggestion is their given label, the agreement of the
suggestions between seed 0 and seed 1, and the average precision (AP) of the flipped labels
ranked by 1 − label quality (and, for cgfast, by the CG score):

- cgfast: ``suggest_labels(X, y)`` (the kernel regressor's leave-one-out prediction) and
  ``score(X, y, suggest=True)``, on the raw pixels and on a 50-component PCA of them;
- cleanlab's predicted label, the arg max of 5-fold out-of-fold probabilities
  (``cross_val_predict``), and its label quality (``get_label_quality_scores``, self-confidence):
  logistic regression and 10-nearest-neighbour on the PCA, logistic regression on the pixels.

Cost, in the same process: ``score(X, y)`` alone, ``score(X, y, suggest=True)`` and
``suggest_labels(X, y)`` alone, run in turn, ``--rounds`` times, the order reversed every other
round so that load which comes and goes on a shared machine moves them alike; each is reported as
its best time and as its ratio to ``score(X, y)`` alone in the same round. Then ``suggest_labels``
at repeats 1, 3 and 6 and at ``max_block=4096``, timed in turn in the same way
(``--sweep-rounds``). PCA time counts towards every PCA method. scikit-learn's models run with
BLAS on one thread: on a loaded machine, OpenBLAS's spinning threads made a logistic
regression fit many times slower than on one.

    python benches/suggest.py                                        # prints the tables
    python benches/suggest.py --output benches/RESULTS-suggest.md    # and writes them
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

import cgfast  # noqa: E402
from cgfast._memory import default_max_block  # noqa: E402

NEIGHBOURS = 10
FOLDS = 5
COMPONENTS = 50
REPEATS = (1, 3, 6)
LARGE_BLOCK = 4096


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def machine() -> str:
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        info = ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    name = fields.get("Model name", platform.processor() or "unknown CPU").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    usable = len(os.sched_getaffinity(0))
    return f"{name}, {cpus} CPUs (lscpu), {usable} usable by this process"


def versions() -> str:
    import cleanlab
    import sklearn

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    return (f"cgfast {cgfast.__version__} (git {commit or '?'}), "
            f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, cleanlab {cleanlab.__version__}")  # fmt: skip


def pca(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(COMPONENTS, random_state=seed).fit_transform(X).astype(np.float64)


def out_of_fold(model, Z: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, bool]:
    """Out-of-fold probabilities (n, C) on one BLAS thread, and whether every fit converged."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probabilities = cross_val_predict(model, Z, y, cv=folds, method="predict_proba", n_jobs=1)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return probabilities, converged


def cleanlab_suggestions(model, Z: np.ndarray, y: np.ndarray, seed: int):
    """cleanlab's predicted label (arg max of out-of-fold probabilities) and label quality."""
    from cleanlab.rank import get_label_quality_scores

    probabilities, converged = out_of_fold(model, Z, y, seed)
    return probabilities.argmax(axis=1), get_label_quality_scores(y, probabilities), converged


def alternate(steps: list, rounds: int) -> tuple[dict, dict, dict]:
    """Runs ``steps`` (name, function) in turn, ``rounds`` times, reversing the order every
    other round: each one's seconds per round, each one's last result, and per round the
    ratio of every step to the first step of ``steps``."""
    seconds: dict[str, list[float]] = {name: [] for name, _ in steps}
    results: dict[str, object] = {}
    for round_ in range(rounds):
        for name, function in steps if round_ % 2 == 0 else steps[::-1]:
            results[name], spent = timed(function)
            seconds[name].append(spent)
            print(f"  round {round_ + 1}: {name} {spent:.1f} s", file=sys.stderr, flush=True)
    base = seconds[steps[0][0]]
    ratios = {name: [s / b for s, b in zip(times, base)] for name, times in seconds.items()}
    return seconds, results, ratios


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def rounds(ratios: list[float]) -> str:
    """Per-round ratios and, in bold, their median."""
    each = ", ".join(f"{r:.2f}x" for r in ratios)
    return f"{each} (**{np.median(ratios):.2f}x**)" if len(ratios) > 1 else f"**{each}**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3, help="rounds timing score vs suggest")
    parser.add_argument("--sweep-rounds", type=int, default=2, help="rounds timing the repeats")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flips, PCA and folds")
    parser.add_argument("--output", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.neighbors import KNeighborsClassifier

    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()[0]
    X, clean = fashion_mnist(per_class=args.per_class)
    y, flipped = flip_labels(clean, args.noise, seed=args.seed)
    Z, pca_seconds = timed(pca, X, args.seed)
    n, d = X.shape
    default_block = default_max_block(d, X.dtype.itemsize)
    print(f"Fashion-MNIST, {n} images, {int(flipped.sum())} flipped; PCA-{COMPONENTS} "
          f"{pca_seconds:.1f} s; {machine()}", file=sys.stderr)  # fmt: skip

    def recovered(suggested) -> float:
        return float(np.mean(np.asarray(suggested)[flipped] == clean[flipped]))

    def kept(suggested) -> float:
        return float(np.mean(np.asarray(suggested)[~flipped] == y[~flipped]))

    def agree(a, b) -> float:
        return float(np.mean(np.asarray(a) == np.asarray(b)))

    def ap(suspicion) -> float:
        return float(average_precision_score(flipped, suspicion))

    # Cost: score alone, score + suggest, suggest alone, alternating, per feature set.
    features = {"raw pixels (784)": (X, 0.0), f"PCA-{COMPONENTS}": (Z, pca_seconds)}
    cost, runs = {}, {}
    for label, (F, extra) in features.items():
        print(f"{label}: timing", file=sys.stderr)
        steps = [
            ("score", lambda F=F: cgfast.score(F, y, seed=0, return_terms=True)),
            ("score+suggest", lambda F=F: cgfast.score(F, y, seed=0, suggest=True)),
            ("suggest", lambda F=F: cgfast.suggest_labels(F, y, seed=0)),
        ]
        seconds, results, ratios = alternate(steps, args.rounds)
        cost[label] = (seconds, ratios, extra)
        runs[label] = results
    baseline = min(cost["raw pixels (784)"][0]["score"])

    rows = []  # name, features, seconds, suggested, quality, suggested at seed 1, CG score
    recovery = {}  # (cgfast or the peer's model, features): flipped whose suggestion is true
    for label, (F, extra) in features.items():
        seconds, _, _ = cost[label]
        terms, together, alone = (runs[label][s] for s in ("score", "score+suggest", "suggest"))
        other = cgfast.suggest_labels(F, y, seed=1)
        same_scores = np.array_equal(terms.score, together.score)
        same_labels = np.array_equal(together.suggested_label, alone.suggested_label)
        note = "" if same_scores and same_labels else " (differs from the runs alone!)"
        recovery[("cgfast", label)] = recovered(alone.suggested_label)
        rows.append((f"cgfast `suggest_labels`, repeats {alone.repeats}", label,
                     min(seconds["suggest"]) + extra, alone.suggested_label, alone.label_quality,
                     other.suggested_label, None))  # fmt: skip
        rows.append((f"cgfast `score(suggest=True)`, score repeats {together.repeats}{note}",
                     label, min(seconds["score+suggest"]) + extra, together.suggested_label,
                     together.label_quality, other.suggested_label, together.score))  # fmt: skip

    peers = [
        ("logistic regression", lambda: LogisticRegression(max_iter=300), Z, pca_seconds, True),
        (f"{NEIGHBOURS}-NN", lambda: KNeighborsClassifier(NEIGHBOURS), Z, pca_seconds, True),
        ("logistic regression", lambda: LogisticRegression(max_iter=300), X, 0.0, False),
    ]
    for name, model, F, extra, second_seed in peers:
        label = "raw pixels (784)" if F is X else f"PCA-{COMPONENTS}"
        print(f"cleanlab, {name}, {label}", file=sys.stderr, flush=True)
        (suggested, quality, converged), spent = timed(cleanlab_suggestions, model(), F, y, 0)
        other = cleanlab_suggestions(model(), F, y, 1)[0] if second_seed else None
        note = "" if converged else " (not converged at max_iter=300)"
        recovery[(name, label)] = recovered(suggested)
        rows.append((f"cleanlab, {name}, {FOLDS}-fold{note}", label, spent + extra, suggested,
                     quality, other, None))  # fmt: skip

    # Repeats and block size of suggest_labels, raw pixels.
    print("suggest_labels: repeats and max_block", file=sys.stderr, flush=True)
    sweep_steps = [(f"{r}", r, default_block) for r in REPEATS if r == 3]
    sweep_steps += [(f"{r}", r, default_block) for r in REPEATS if r != 3]
    sweep_steps.append((f"3, {LARGE_BLOCK}", 3, LARGE_BLOCK))
    steps = [
        (key, lambda r=r, b=b: cgfast.suggest_labels(X, y, repeats=r, seed=0, max_block=b))
        for key, r, b in sweep_steps
    ]
    sweep_seconds, sweep_first, sweep_ratios = alternate(steps, args.sweep_rounds)
    sweep = []
    for key, repeats, block in sorted(sweep_steps, key=lambda step: (step[2], step[1])):
        second = cgfast.suggest_labels(X, y, repeats=repeats, seed=1, max_block=block)
        sweep.append((repeats, block, sweep_ratios[key], sweep_first[key], second))

    bars = []
    raw, reduced = "raw pixels (784)", f"PCA-{COMPONENTS}"
    for feature in (raw, reduced):
        ours, theirs = recovery[("cgfast", feature)], recovery[("logistic regression", feature)]
        verdict = "meets" if ours >= theirs else "misses"
        bars.append(
            f"- Bar, {feature}: cgfast's suggestion is the true label of {percent(ours)} of the "
            f"flipped examples, cleanlab's (logistic regression, same features) of "
            f"{percent(theirs)}: {verdict} issue 24's bar (cgfast ≥ cleanlab)."
        )
    for feature, (seconds, ratios, _) in cost.items():
        best = min(seconds["score+suggest"]) / min(seconds["score"])
        bound = 1.0 + min(seconds["suggest"]) / min(seconds["score"])
        verdict = (
            "meets" if max(best, float(np.median(ratios["score+suggest"]))) <= 1.5 else "misses"
        )
        bars.append(
            f"- Bar, {feature}: `score(suggest=True)` takes {best:.2f}x `score` alone (best of "
            f"each), {np.median(ratios['score+suggest']):.2f}x (median per round); "
            f"`suggest_labels` alone costs {bound - 1:.2f}x `score`, so suggesting adds at most "
            f"about that ({bound:.2f}x): {verdict} the bar of 1.5x."
        )

    finished = datetime.now(timezone.utc)
    lines = [
        f"Fashion-MNIST, first {args.per_class} training images per class ({n} rows, "
        f"{d} features), {percent(args.noise)} of the labels flipped ({int(flipped.sum())} "
        f"examples), seed {args.seed}.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC, {(finished - started).total_seconds() / 60:.1f} "
        "min in all",
        f"- Machine: {machine()}; load average {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end (shared with other work)",
        f"- {versions()}",
        f"- Baseline: `cgfast.score(X, y)` on the raw pixels, defaults (repeats auto), best of "
        f"{args.rounds}: {baseline:.1f} s. PCA-{COMPONENTS} fit: {pca_seconds:.1f} s, counted in "
        "every PCA row. scikit-learn models on one BLAS thread.",
        "",
        "## Against issue 24's bars",
        "",
        *bars,
        "",
        "## Suggested labels",
        "",
        "| method | features | time vs `score(X, y)` | seconds | flipped: suggestion = true "
        "label | clean: suggestion = given | same suggestion, seed 0 vs 1 | AP, 1 − label "
        "quality | AP, CG score |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label, spent, suggested, quality, other, cg in rows:
        agreement = "–" if other is None else percent(agree(suggested, other))
        cg_ap = "–" if cg is None else f"{ap(cg):.3f}"
        lines.append(
            f"| {name} | {label} | {spent / baseline:.2f}x | {spent:.1f} | "
            f"**{percent(recovered(suggested))}** | {percent(kept(suggested))} | {agreement} | "
            f"{ap(1.0 - quality):.3f} | {cg_ap} |"
        )
    lines += [
        "",
        "cgfast's seed is that of its block plan; cleanlab's that of the folds' shuffle.",
        "",
        "## Cost of suggesting with scoring",
        "",
        f"Run in turn, {args.rounds} rounds, order reversed every other round. Ratio to "
        "`score(X, y)` alone: per round (the two runs of a round lie side by side, so load that "
        "comes and goes moves both alike), their median in bold; seconds: best of the rounds.",
        "",
        "| features | `score(X, y)` s | `score(X, y, suggest=True)` s | ratio per round | "
        "`suggest_labels(X, y)` s | ratio per round |",
        "|---|---|---|---|---|---|",
    ]
    for label, (seconds, ratios, _) in cost.items():
        lines.append(
            f"| {label} | {min(seconds['score']):.1f} | {min(seconds['score+suggest']):.1f} | "
            f"{rounds(ratios['score+suggest'])} | {min(seconds['suggest']):.1f} | "
            f"{rounds(ratios['suggest'])} |"
        )
    lines += [
        "",
        "## Repeats and block size of `suggest_labels`, raw pixels",
        "",
        f"Timed in turn, {args.sweep_rounds} rounds as above; time as a ratio to repeats 3 "
        "per round, median in bold.",
        "",
        "| repeats | max_block (blocks per repeat) | time vs repeats 3 | flipped: suggestion = "
        "true label | clean: suggestion = given | same suggestion, seed 0 vs 1 | AP, 1 − label "
        "quality |",
        "|---|---|---|---|---|---|---|",
    ]
    for repeats, block, ratios, first, second in sweep:
        default = " (default)" if block == default_block else ""
        lines.append(
            f"| {repeats} | {block}{default} ({-(-n // block)}) | "
            f"{rounds(ratios)} | {percent(recovered(first.suggested_label))} | "
            f"{percent(kept(first.suggested_label))} | "
            f"{percent(agree(first.suggested_label, second.suggested_label))} | "
            f"{ap(1.0 - first.label_quality):.3f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        command = " ".join(["python", "benches/suggest.py", *sys.argv[1:]])
        header = f"# Suggested labels: cgfast against cleanlab\n\nCommand: `{command}`\n\n"
        args.output.write_text(header + table)


if __name__ == "__main__":
    main()
