"""Candidate flag rules on the same predictions: symmetric precision against pairwise recall.

Issue 33 asks the default flags for precision >= 0.85 under symmetric noise (recall >= 0.90)
and, under confusions between similar classes (pairwise noise), recall >= cleanlab-LR's at
precision >= LR's - 0.05. The default confusion rule is at 0.82 / 0.96 and 0.66 / 0.85. This
bench asks whether another rule, computed from the same suggestion pass, meets both bars.

For each noise seed and each noise model of ``benches/noise.py`` (symmetric 20%, pairwise 30%,
instance 20%) on Fashion-MNIST pixels (the first 2000 training images per class; ``--data``
takes the bench's other sets), it runs
``cgfast.suggest_labels`` once per ``max_block`` and evaluates on its probabilities:

- ``confusion``: the default rule (``issue > 1/2``, the larger of the pooled and the
  confusion-weighted posteriors; see ``cgfast.noise``);
- ``pooled``: the pooled test alone (the paper's negatives, all other classes pooled);
- ``pooled ∪ confused > t``: the confusion-weighted test at a stricter threshold ``t``;
- ``confusion, agreeing thresholds``: the default rule with confident learning's per-class
  thresholds taken over the rows whose most probable class is their label (not over all rows
  of the class, which under noise lowers them and counts more ambiguous rows as errors);
- ``pooled ∪ Bayes s``: the pooled test, or the posterior that the label is wrong under the
  estimated noise: the transitions ``A[i, j] = P(given i | true j)`` from the confident joint
  (its errors shrunk by the factor ``s``), the clean-label posterior ``p = A⁻¹ p̃`` (clipped at 0,
  renormalised; ``p̃`` the calibrated probabilities), a row of given class ``i`` flagged when
  ``1 − A[i, i] p_i / (A p)_i > 1/2`` (backward correction; Patrini et al., CVPR 2017);
- ``pooled ∪ Bayes > t``: the same posterior (no shrinking) at a threshold ``t`` below 1/2;
- ``pooled ∪ Bayes > t, self-consistent matrix``: the same posterior under the noise matrix
  re-estimated from its own posteriors (the rows labelled ``i`` summed into the true classes
  they are likely from) until it reproduces itself, starting from the confident joint;
- ``pooled ∪ Bayes, true matrix`` (also ``> t``): the same with the noise draw's own
  transitions in place of the estimate, a bound on what a better estimate of the noise matrix
  could give;
- ``confusion, true matrix``: the default rule with its confusion weights taken from the noise
  draw's own transitions, the same bound for the default's form;

and, for reference, cleanlab's ``find_label_issues`` on a 5-fold logistic regression on PCA-50
(the bench's ``cleanlab LR``). A rule meets the symmetric bar when its precision is >= 0.85 and
its recall >= 0.90 under symmetric noise, the pairwise bar when its recall is >= LR's and its
precision >= LR's - 0.05 under pairwise noise (same seed).

Precision counts every flagged row that was not flipped as a false positive, though the
original labels have suspects of their own. A last table sets apart the rows that cgfast's
default rule and cleanlab LR both flag on the original labels, before any flip (one more
suggestion pass and one more cross-validation per seed): each rule's precision when those rows
count neither way, and the share of its false positives that are among them. With
``--models``, the decision the flags serve: the bench's cleaning model (for Fashion-MNIST an MLP
784-256-10 on the pixels) trained without the rows a few rules flag, and on the noisy labels.

    python benches/noise_rules.py                     # seeds 0 and 1, blocks of 2048 and 4096
    python benches/noise_rules.py --seeds 0 --blocks 2048 --output ''
    python benches/noise_rules.py --data digits --blocks 2048 --output ''
    python benches/noise_rules.py --suspects docs/img/suspects.png  # and draw 24 suspects
    python benches/noise_rules.py --models            # and the model trained after each drop

Writes benches/RESULTS-noise-rules.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import noise as bench  # noqa: E402  (benches/noise.py)

import cgfast  # noqa: E402
from cgfast import noise as cgnoise  # noqa: E402

THRESHOLDS = (0.55, 0.6, 0.65)
SHRINKS = (1.0, 0.9, 0.8)
# Thresholds below 1/2 on the backward-corrected posterior: more recall, less precision.
BAYES_THRESHOLDS = (0.4, 0.35)
# The rules whose flags --models drops before training the bench's cleaning model.
MODEL_RULES = (
    "confusion (default)",
    "pooled",
    "pooled ∪ Bayes > 0.5, self-consistent matrix",
    "pooled ∪ Bayes > 0.4, self-consistent matrix",
    "pooled ∪ Bayes > 0.4, true matrix",
    "confusion, true matrix",
)
TRAINING_SEEDS = (0, 1, 2)
# The noise-matrix estimates of :func:`noise_matrices`, in the order of its table.
MATRICES = ("confident joint (cgfast)", "agreeing thresholds", "self-consistent")


def corrected(probabilities: np.ndarray, joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transitions ``A[i, j] = P(given i | true j)`` of a joint (C x C, given x true, any
    scale) and every row's clean-label posterior ``A⁻¹ p̃``, clipped at 0 and renormalised."""
    transitions = joint / joint.sum(axis=0, keepdims=True)  # columns: true classes
    clean = np.clip(np.linalg.solve(transitions, probabilities.T).T, 1e-12, None)
    clean /= clean.sum(axis=1, keepdims=True)
    return transitions, clean


def backward_wrong(probabilities: np.ndarray, codes: np.ndarray, counts: np.ndarray,
                   shrink: float = 1.0) -> np.ndarray:  # fmt: skip
    """The posterior that each row's label is wrong, by backward correction (module docstring)."""
    joint = counts / counts.sum()
    joint = shrink * joint + (1.0 - shrink) * np.diag(joint.sum(axis=1))
    transitions, clean = corrected(probabilities, joint)
    rows = np.arange(len(codes))
    mixed = clean @ transitions.T
    return 1.0 - transitions[codes, codes] * clean[rows, codes] / mixed[rows, codes]


def self_consistent(probabilities: np.ndarray, codes: np.ndarray, counts: np.ndarray,
                    steps: int = 500, tolerance: float = 1e-10) -> np.ndarray:  # fmt: skip
    """The noise matrix (counts, C x C) that the backward-corrected posteriors reproduce: from
    the confident joint, ``counts[i, j] = Σ_{rows labelled i} P(true j | x, given i)`` under
    the current matrix, repeated until no transition moves by more than ``tolerance``."""
    for _ in range(steps):
        transitions, clean = corrected(probabilities, counts / counts.sum())
        posterior = transitions[codes] * clean
        posterior /= posterior.sum(axis=1, keepdims=True)
        updated = np.zeros_like(counts)
        np.add.at(updated, codes, posterior)
        moved = np.abs(updated / updated.sum(axis=0) - transitions).max()
        counts = updated
        if moved <= tolerance:
            break
    return counts


def agreeing_joint(probabilities: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The confident joint with each class's threshold the mean probability of that class over
    the rows labelled with it whose most probable class is their label."""
    classes = probabilities.shape[1]
    agree = probabilities.argmax(axis=1) == codes
    own = probabilities[np.arange(len(codes)), codes]
    sums = np.bincount(codes[agree], own[agree], minlength=classes)
    thresholds = sums / np.maximum(np.bincount(codes[agree], minlength=classes), 1)
    return cgnoise.confident_joint(probabilities, codes, thresholds)


def noise_matrices(suggestions) -> dict[str, np.ndarray]:
    """The estimates of the noise matrix (counts, C x C) that the rules read: confident
    learning's joint (cgfast's), the joint with thresholds over the rows that agree with their
    label, and the self-consistent matrix."""
    p, codes = suggestions.noise.probabilities, suggestions.codes
    counts = suggestions.noise.matrix.counts
    estimates = (counts, agreeing_joint(p, codes), self_consistent(p, codes, counts))
    return dict(zip(MATRICES, estimates))


def rules(suggestions, matrices: dict, true_codes: np.ndarray) -> dict[str, np.ndarray]:
    """Every candidate rule's flags (bool, n) from one suggestion pass and its
    :func:`noise_matrices`; ``true_codes`` (the clean labels' codes) serve only the rules that
    are told the true noise matrix."""
    found = suggestions.noise
    p, codes, counts = found.probabilities, suggestions.codes, found.matrix.counts
    shares = np.bincount(codes, minlength=p.shape[1]) / len(codes)
    pooled = (
        cgnoise.issue_probability(
            p, codes, cgnoise.confusion_weights(np.diag(np.diag(counts)), shares), shares
        )
        > 0.5
    )
    confused = cgnoise.issue_probability(
        p, codes, cgnoise.confusion_weights(counts, shares), shares
    )
    out = {"confusion (default)": found.flags, "pooled": pooled}
    agreeing = cgnoise.issue_probability(
        p, codes, cgnoise.confusion_weights(matrices["agreeing thresholds"], shares), shares
    )
    out["confusion, agreeing thresholds"] = pooled | (agreeing > 0.5)
    for t in THRESHOLDS:
        out[f"pooled ∪ confused > {t}"] = pooled | (confused > t)
    wrong = backward_wrong(p, codes, counts)
    for s in SHRINKS:
        shrunk = wrong if s == 1.0 else backward_wrong(p, codes, counts, s)
        out[f"pooled ∪ Bayes s={s}"] = pooled | (shrunk > 0.5)
    for t in BAYES_THRESHOLDS:
        out[f"pooled ∪ Bayes > {t}"] = pooled | (wrong > t)
    wrong = backward_wrong(p, codes, matrices["self-consistent"])
    for t in (0.5, *BAYES_THRESHOLDS):
        out[f"pooled ∪ Bayes > {t}, self-consistent matrix"] = pooled | (wrong > t)
    true = np.zeros_like(counts)
    np.add.at(true, (codes, true_codes), 1.0)
    told = cgnoise.issue_probability(p, codes, cgnoise.confusion_weights(true, shares), shares)
    out["confusion, true matrix"] = pooled | (told > 0.5)
    wrong = backward_wrong(p, codes, true)
    out["pooled ∪ Bayes, true matrix"] = pooled | (wrong > 0.5)
    for t in BAYES_THRESHOLDS:
        out[f"pooled ∪ Bayes > {t}, true matrix"] = pooled | (wrong > t)
    return out


def precision_recall(flags: np.ndarray, wrong: np.ndarray) -> tuple[float, float]:
    hits = int((flags & wrong).sum())
    return hits / max(int(flags.sum()), 1), hits / int(wrong.sum())


def disputed_precision(flags: np.ndarray, wrong: np.ndarray, disputed: np.ndarray) -> tuple:
    """The flags' precision when the rows ``disputed`` on the original labels count neither way
    (left out unless flipped), and the share of the false positives that are disputed."""
    false = flags & ~wrong
    kept = flags & (wrong | ~disputed)
    share = int((false & disputed).sum()) / max(int(false.sum()), 1)
    return int((kept & wrong).sum()) / max(int(kept.sum()), 1), share


def original_disputes(data, seed: int, block: int, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """The rows (bool, n) that cgfast's default rule and cleanlab LR both flag on the original
    labels, before any noise is added, and cgfast's suggested labels there; ``record[seed]``
    gets the counts (cgfast's, cleanlab's, both)."""
    found = cgfast.suggest_labels(data.X, data.y, seed=seed, max_block=block)
    ours = found.noise.flags
    detection, _ = bench.cleanlab_detect("LR", data.X, data.y, seed, data.cleanlab_pca)
    theirs = np.zeros(len(data.y), dtype=bool)
    theirs[detection.flags] = True
    record[seed] = (int(ours.sum()), int(theirs.sum()), int((ours & theirs).sum()))
    return ours & theirs, np.asarray(found.suggested_label)


def draw_suspects(data, disputed: np.ndarray, suggested: np.ndarray, path: str) -> None:
    """A grid of 24 of the ``disputed`` rows (28 x 28 images), drawn at random (seed 0), each
    titled with its given label and cgfast's suggestion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = np.flatnonzero(disputed)
    rows = np.sort(np.random.default_rng(0).choice(rows, min(24, len(rows)), replace=False))
    figure, axes = plt.subplots(3, 8, figsize=(13, 6.6))
    for axis in axes.ravel():
        axis.axis("off")
    for axis, row in zip(axes.ravel(), rows):
        axis.imshow(np.asarray(data.X_model[row]).reshape(28, 28), cmap="gray")
        given, suggestion = data.classes[data.y[row]], data.classes[suggested[row]]
        axis.set_title(f"#{row} {given}\n→ {suggestion}", fontsize=9)
    figure.suptitle("Original labels both cgfast and cleanlab flag (given → cgfast's suggestion)")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def noise_columns(first: str) -> list[str]:
    """The head of a Markdown table with ``first``'s column and one column a noise model."""
    return [f"| {first} | {' | '.join(bench.NOISES)} |", "|---|" + "---|" * len(bench.NOISES)]


def trained(data, keep: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Test accuracy (%, mean and sd over the training seeds) of the bench's cleaning model
    trained on the rows ``keep`` (bool) with their ``labels``."""
    rows = np.flatnonzero(keep)
    scores = [bench.test_accuracy(data, rows, labels[rows], s)[0] for s in TRAINING_SEEDS]
    return 100 * float(np.mean(scores)), 100 * float(np.std(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fmnist-pixels", choices=sorted(bench.LOADERS))
    parser.add_argument("--seeds", default="0,1", help="noise and detector seeds (0,1)")
    parser.add_argument("--blocks", default="2048,4096", help="max_block values (2048,4096)")
    parser.add_argument(
        "--output",
        default=str(Path(__file__).parent / "RESULTS-noise-rules.md"),
        help="Markdown file for the tables (benches/RESULTS-noise-rules.md; '' for none)",
    )
    parser.add_argument(
        "--suspects",
        default="",
        help="PNG path: draw 24 of the original labels' suspects (28 x 28 images; first seed)",
    )
    parser.add_argument(
        "--models",
        action="store_true",
        help="also train the bench's cleaning model after dropping the flags of a few rules "
        "(first max_block, every seed; about 3 min more a seed on Fashion-MNIST)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    blocks = [int(b) for b in args.blocks.split(",")]
    data = bench.LOADERS[args.data]()
    if args.suspects and np.shape(data.X_model)[1] != 28 * 28:
        parser.error(f"--suspects draws 28 x 28 images; {args.data} rows are not")
    lr_name = "cleanlab LR" + (" (PCA-50)" if data.cleanlab_pca else "")
    print(f"{bench.versions()}; {bench.machine()}", file=sys.stderr)
    results: dict[str, dict[tuple[str, int], tuple[float, float]]] = {}
    counts: dict[tuple[str, int], tuple[int, float, float, float]] = {}
    disputes: dict[tuple[str, tuple[str, int]], tuple[float, float]] = {}
    models: dict[tuple[str, tuple[str, int]], tuple[float, float]] = {}
    disputed_rows: dict[int, tuple[int, int, int]] = {}
    for seed in seeds:
        disputed, suggested = original_disputes(data, seed, blocks[0], disputed_rows)
        if args.suspects and seed == seeds[0]:
            draw_suspects(data, disputed, suggested, args.suspects)
        for noise in bench.NOISES:
            noisy_y, _ = bench.NOISE_MODELS[noise](data.y, bench.RATES[noise], seed, data.Z_noise)
            wrong = noisy_y != data.y
            for block in blocks:
                start = time.perf_counter()
                found = cgfast.suggest_labels(data.X, noisy_y, seed=seed, max_block=block)
                spent = time.perf_counter() - start
                true_codes = np.searchsorted(found.classes, data.y)
                matrices = noise_matrices(found)
                candidates = rules(found, matrices, true_codes)
                if args.models and block == blocks[0]:
                    for name in MODEL_RULES:
                        models[name, (noise, seed)] = trained(data, ~candidates[name], noisy_y)
                    everything = np.ones(len(wrong), dtype=bool)
                    models["none (the noisy labels)", (noise, seed)] = trained(
                        data, everything, noisy_y
                    )
                for name, flags in candidates.items():
                    suffix = "" if block == blocks[0] else f", max_block {block}"
                    results.setdefault(name + suffix, {})[noise, seed] = precision_recall(
                        flags, wrong
                    )
                    if block == blocks[0]:
                        disputes[name, (noise, seed)] = disputed_precision(flags, wrong, disputed)
                if block == blocks[0]:
                    estimates = [m.sum() - np.trace(m) for m in matrices.values()]
                    counts[noise, seed] = (int(wrong.sum()), *estimates)
                print(f"seed {seed} {noise} max_block {block}: {spent:.1f} s", file=sys.stderr)
            detection, _ = bench.cleanlab_detect("LR", data.X, noisy_y, seed, data.cleanlab_pca)
            flags = np.zeros(len(wrong), dtype=bool)
            flags[detection.flags] = True
            results.setdefault(lr_name, {})[noise, seed] = precision_recall(flags, wrong)
            disputes[lr_name, (noise, seed)] = disputed_precision(flags, wrong, disputed)
            if args.models:
                models[lr_name, (noise, seed)] = trained(data, ~flags, noisy_y)
    lr = results[lr_name]
    head = " | ".join(f"{n} P / R" for n in bench.NOISES)
    command = shlex.join(["python", "benches/noise_rules.py", *sys.argv[1:]])
    lines = [
        "## Candidate flag rules: symmetric precision against pairwise recall",
        "",
        f"`{command}`, {datetime.now(timezone.utc):%d %B %Y}; {bench.versions()}; "
        f"{bench.machine()}. Data: {args.data}, {len(data.y)} rows, max_block "
        f"{', '.join(map(str, blocks))}. Each cell gives the seeds' precision / recall in turn "
        "(seed = the noise draw and cgfast's seed). The bars count the seeds on which the rule "
        "meets them (module docstring).",
        "",
        f"| rule | {head} | symmetric bar | pairwise bar |",
        "|---|" + "---|" * (len(bench.NOISES) + 2),
    ]
    for name, cells in results.items():
        text = []
        for noise in bench.NOISES:
            pairs = [cells[noise, s] for s in seeds]
            text.append(", ".join(f"{p:.3f} / {r:.3f}" for p, r in pairs))
        sym = sum(cells["symmetric", s][0] >= 0.85 and cells["symmetric", s][1] >= 0.90
                  for s in seeds)  # fmt: skip
        pair = sum(
            cells["pairwise", s][1] >= lr["pairwise", s][1]
            and cells["pairwise", s][0] >= lr["pairwise", s][0] - 0.05
            for s in seeds
        )
        lines.append(
            f"| {name} | {' | '.join(text)} | {sym} of {len(seeds)} | {pair} of {len(seeds)} |"
        )
    lines += [
        "",
        f"Wrong labels the noise matrix estimates (max_block {blocks[0]}), against the rows "
        "flipped:",
        "",
        f"| noise | seed | flipped | {' | '.join(MATRICES)} |",
        "|---|---|---|" + "---|" * len(MATRICES),
    ]
    for (noise, seed), (flipped, *estimates) in counts.items():
        cells = " | ".join(f"{e:.0f}" for e in estimates)
        lines.append(f"| {noise} | {seed} | {flipped} | {cells} |")
    lines += [
        "",
        "The original labels' own suspects: rows that cgfast's default rule and "
        f"{lr_name} both flag before any label is flipped (seed by seed: "
        + ", ".join(
            f"{both} rows; cgfast flags {ours}, cleanlab {theirs}"
            for ours, theirs, both in disputed_rows.values()
        )
        + f"; max_block {blocks[0]}). Each cell gives, seed by seed, the precision when those "
        "rows count neither way (left out unless flipped), then the share of the false "
        "positives that are among them.",
        "",
        *noise_columns("rule"),
    ]
    for name in dict.fromkeys(name for name, _ in disputes):
        text = [
            ", ".join("{:.3f} ({:.0%})".format(*disputes[name, (noise, s)]) for s in seeds)
            for noise in bench.NOISES
        ]
        lines.append(f"| {name} | {' | '.join(text)} |")
    if models:
        lines += [
            "",
            f"The model trained after dropping each rule's flags ({data.model}, "
            f"{len(TRAINING_SEEDS)} training seeds, max_block {blocks[0]}): test accuracy (%), "
            "mean ± sd over the training seeds, for each noise seed in turn, then the mean over "
            "the noise seeds.",
            "",
            *noise_columns("flags dropped"),
        ]
        for name in dict.fromkeys(name for name, _ in models):
            cells = []
            for noise in bench.NOISES:
                runs = [models[name, (noise, s)] for s in seeds]
                text = ", ".join("{:.2f} ± {:.2f}".format(*run) for run in runs)
                cells.append(f"{text}; mean {np.mean([run[0] for run in runs]):.2f}")
            lines.append(f"| {name} | {' | '.join(cells)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
