"""Label-error detection and cleaning under realistic noise: cgfast's rules against cleanlab.

Three noise models, each with a fixed seed, applied to the training labels of six data sets:

- ``symmetric``: 20% of the rows moved to another class at random;
- ``pairwise``: class-conditional noise between the classes a classifier confuses most. A 5-fold
  logistic regression on the clean labels gives a confusion matrix; the largest symmetric
  off-diagonal entries, taken greedily as disjoint pairs (3 pairs with 10 classes, 1 with
  fewer), name the pairs, and 30% of each class of a pair is moved to its partner;
- ``instance``: 20% of the rows, drawn with probability proportional to their ambiguity
  (1 − the out-of-fold probability of the true class under that logistic regression), each moved
  to the regression's most likely *wrong* class.

Data sets: Fashion-MNIST (the first 2000 training images per class, as pixels and as a PCA-50 of
them; the 10,000 test images for the test accuracy), scikit-learn's digits, and three tabular
sets that ship offline (a heavily imbalanced breast-cancer set, the 1996 American National
Election Study with one-hot categorical columns, the Palmer penguins' four measurements). The
tabular sets and digits hold out a stratified 25% for the test accuracy.

Detections, each timed in this process (wall seconds): cgfast's ``find_label_issues`` with each
rule (``confusion``, the default, ``sign`` and ``confident``), the plain CG-score ranking
(``ab > 0`` flags), cleanlab's ``find_label_issues`` on 5-fold out-of-fold probabilities of a
logistic regression and of a 10-nearest-neighbour classifier (time includes the PCA and the
cross-validation), and a random baseline flagging as many rows as were flipped. Metrics:
precision, recall and F1 of the flags, average precision (AP) of each ranking, time. Cleaning:
the test accuracy of a model trained on the clean labels, on the noisy ones, without each
method's flags, and after ``cgfast.clean`` (``action="drop"`` and ``"relabel"``), over several
training seeds. scikit-learn runs on one BLAS thread (on a shared 2-core machine two threads made
an MLP fit 4x slower); cgfast uses its defaults.

Every (data set, noise) cell is written to the JSON as it finishes; ``--resume`` skips the cells
already there (unless a method that exists now is missing from them).

    python benches/noise.py                  # full run: benches/noise.json, docs/img/noise.png
    python benches/noise.py --quick          # digits and penguins, symmetric noise, 1 seed
    python benches/noise.py --only digits --noise pairwise
    python benches/noise.py --resume         # go on with an interrupted full run
    python benches/noise.py --report         # the tables and plot again from the JSON
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, fashion_mnist_test  # noqa: E402

import cgfast  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benches" / "noise.json"
PLOT = ROOT / "docs" / "img" / "noise.png"
QUICK_OUTPUT = Path("/tmp/noise-quick.json")

FOLDS = 5
COMPONENTS = 50
NEIGHBOURS = 10
NOISE_SEED = 0
SPLIT_SEED = 0
RATES = {"symmetric": 0.2, "pairwise": 0.3, "instance": 0.2}
NOISES = tuple(RATES)
RULES = ("confusion", "sign", "confident")
DEFAULT_RULE = "confusion"
METHODS = (
    *(f"cgfast {rule}" for rule in RULES),
    "cgfast CG score",
    "cleanlab LR",
    "cleanlab kNN",
    "random",
)
# Training sets for the test accuracy: clean, noisy, without each method's flags, cgfast.clean.
VARIANTS = (
    "oracle (clean)",
    "noisy",
    *(f"drop: {m}" for m in METHODS),
    "cgfast.clean drop",
    "cgfast.clean relabel",
)
DATASETS = ("fmnist-pixels", "fmnist-pca50", "digits", "imbalanced", "anes96", "penguins")


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def digest(*arrays: np.ndarray) -> str:
    hasher = hashlib.sha1()
    for array in arrays:
        array = np.ascontiguousarray(array)
        hasher.update(str((array.dtype, array.shape)).encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


# --- Data sets ------------------------------------------------------------------------------


@dataclass
class Dataset:
    """One training set with its test set. ``X`` is what the detectors see, ``X_model`` what the
    cleaning model trains on (the same but for Fashion-MNIST's PCA view and the tabular sets'
    constant column, which only the detectors see), ``Z_noise`` what the
    noise models' logistic regression sees (PCA-50 for Fashion-MNIST, so both views get the same
    noise)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    X_model: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    Z_noise: np.ndarray
    classes: list
    model: str  # "mlp256" (Fashion-MNIST) or "mlp64"
    shape: str
    why: str
    cleanlab_pca: bool = False  # cleanlab fits its PCA-50 inside its timed run
    notes: list = field(default_factory=list)

    def describe(self) -> dict:
        shares = np.bincount(self.y, minlength=len(self.classes)) / len(self.y)
        return {
            "shape": self.shape,
            "why": self.why,
            "train_rows": int(len(self.y)),
            "test_rows": int(len(self.y_test)),
            "features": int(self.X.shape[1]),
            "classes": [str(c) for c in self.classes],
            "class_shares": [round(float(s), 4) for s in shares],
            "notes": self.notes,
        }


def pca(X: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    with one_thread():
        return PCA(COMPONENTS, random_state=seed).fit_transform(X).astype(np.float32)


@lru_cache(maxsize=1)
def _fmnist():
    X, y = fashion_mnist(per_class=2000)
    X_test, y_test = fashion_mnist_test()
    return X, y, X_test, y_test, pca(X)


FMNIST_CLASSES = [
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


def fmnist(view: str) -> Dataset:
    X, y, X_test, y_test, Z = _fmnist()
    pixels = view == "pixels"
    return Dataset(
        name=f"fmnist-{view}",
        X=X if pixels else Z,
        y=y,
        X_model=X,
        X_test=X_test,
        y_test=y_test,
        Z_noise=Z,
        classes=FMNIST_CLASSES,
        model="mlp256",
        shape=(
            "images, 784 pixels, 10 balanced classes"
            if pixels
            else "the same images as a 50-component PCA (fit on the 20,000 rows)"
        ),
        why="the images of the issue; several classes (shirts, coats, pullovers) look alike",
        cleanlab_pca=pixels,
        notes=[] if pixels else ["detectors see the PCA; the cleaning model trains on pixels"],
    )


def _split(X: np.ndarray, y: np.ndarray):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=SPLIT_SEED)


def _standardise(train: np.ndarray, test: np.ndarray):
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _tabular(name, X, y, classes, shape, why, notes=(), numeric=None) -> Dataset:
    """Split 75/25 (stratified), standardise the ``numeric`` columns (all by default) by the
    training split's mean and std; one-hot columns stay 0/1. The detectors see the training
    split as ``cgfast.prepare_tabular`` prepares it (its constant column appended, the one-hot
    columns left as they are); the models train on it without the column."""
    X_train, X_test, y_train, y_test = _split(np.asarray(X, dtype=np.float64), np.asarray(y))
    columns = np.arange(X.shape[1]) if numeric is None else np.asarray(numeric)
    X_train[:, columns], X_test[:, columns] = _standardise(X_train[:, columns], X_test[:, columns])
    onehot = np.setdiff1d(np.arange(X.shape[1]), columns)
    detected = cgfast.prepare_tabular(X_train, unscaled=onehot.tolist()).astype(np.float32)
    X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)
    return Dataset(
        name,
        detected,
        y_train.astype(np.int64),
        X_train,
        X_test,
        y_test.astype(np.int64),
        X_train,
        list(classes),
        "mlp64",
        shape,
        why,
        notes=list(notes),
    )


def digits() -> Dataset:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean()) / X.std()  # the set's own mean and std, as the README does
    X_train, X_test, y_train, y_test = _split(X.astype(np.float32), y)
    return Dataset(
        "digits",
        X_train,
        y_train,
        X_train,
        X_test,
        y_test,
        X_train,
        [str(c) for c in range(10)],
        "mlp64",
        "8x8 images, 64 pixels, 10 balanced classes",
        "the README's example: small real images, the case cgfast is tuned on",
        notes=["pixels standardised by one mean and one std over the whole set"],
    )


def imbalanced() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(SPLIT_SEED)
    benign, malignant = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    kept = np.sort(
        np.concatenate([benign, rng.choice(malignant, len(benign) // 10, replace=False)])
    )
    return _tabular(
        "imbalanced",
        X[kept],
        y[kept],
        ["malignant", "benign"],
        "30 numeric columns, 2 classes, 1 malignant to 10 benign",
        "heavy class imbalance: the 20% noise rates exceed the minority class's share",
        notes=[
            f"scikit-learn's breast cancer set with its malignant class subsampled at random "
            f"(seed {SPLIT_SEED}) to {len(benign) // 10} rows beside the {len(benign)} benign"
        ],
    )


ANES_CATEGORICAL = ("TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "educ", "income")
ANES_NUMERIC = ("age", "logpopul")


def anes96() -> Dataset:
    import pandas as pd
    from statsmodels.datasets import anes96 as source

    frame = source.load_pandas().data
    onehot = pd.get_dummies(
        frame[list(ANES_CATEGORICAL)].astype(int).astype(str), prefix=list(ANES_CATEGORICAL)
    )
    X = np.hstack([frame[list(ANES_NUMERIC)].to_numpy(), onehot.to_numpy(dtype=np.float64)])
    return _tabular(
        "anes96",
        X,
        frame["vote"].to_numpy().astype(int),
        ["Clinton", "Dole"],
        f"{len(ANES_NUMERIC)} numeric + {onehot.shape[1]} one-hot columns (from "
        f"{len(ANES_CATEGORICAL)} categorical), 2 classes",
        "survey answers: many one-hot categorical columns, as in business tables",
        notes=[
            "statsmodels' anes96 (1996 US election survey), target: vote; categorical: "
            + ", ".join(ANES_CATEGORICAL)
            + "; numeric: "
            + ", ".join(ANES_NUMERIC)
        ],
        numeric=np.arange(len(ANES_NUMERIC)),
    )


PENGUIN_COLUMNS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


def penguins() -> Dataset:
    from palmerpenguins import load_penguins

    frame = load_penguins().dropna(subset=list(PENGUIN_COLUMNS))
    classes = sorted(frame["species"].unique())
    y = frame["species"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    return _tabular(
        "penguins",
        frame[list(PENGUIN_COLUMNS)].to_numpy(),
        y,
        classes,
        "4 numeric columns, 3 classes",
        "few numeric columns: the kernel sees a 4-dimensional space",
        notes=["the palmerpenguins package; rows with a missing measurement dropped"],
    )


LOADERS = {
    "fmnist-pixels": lambda: fmnist("pixels"),
    "fmnist-pca50": lambda: fmnist("pca50"),
    "digits": digits,
    "imbalanced": imbalanced,
    "anes96": anes96,
    "penguins": penguins,
}


# --- Noise models ---------------------------------------------------------------------------

_OOF: dict[str, np.ndarray] = {}


def out_of_fold(model, Z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities (n, C) of ``model``, 5 stratified folds, one BLAS thread."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_val_predict(model, Z, y, cv=folds, method="predict_proba", n_jobs=1)


def clean_probabilities(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A 5-fold logistic regression's out-of-fold probabilities on the clean labels (cached)."""
    from sklearn.linear_model import LogisticRegression

    key = digest(Z, y)
    if key not in _OOF:
        _OOF[key] = out_of_fold(LogisticRegression(max_iter=1000), Z, y, NOISE_SEED)
    return _OOF[key]


def symmetric(y: np.ndarray, rate: float, seed: int, Z=None) -> tuple[np.ndarray, dict]:
    """``rate`` of the rows, drawn at random, each moved to another class at random."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    noisy = y.copy()
    for i in rng.choice(len(y), size=int(round(rate * len(y))), replace=False):
        noisy[i] = rng.choice(classes[classes != y[i]])
    return noisy, {}


def confusable_pairs(y: np.ndarray, probabilities: np.ndarray, count: int) -> list:
    """Disjoint class pairs, most confused first: greedily the largest entry of C + Cᵀ (C the
    confusion matrix of the out-of-fold predictions) whose classes are both still free."""
    from sklearn.metrics import confusion_matrix

    classes = probabilities.shape[1]
    matrix = confusion_matrix(y, probabilities.argmax(axis=1), labels=np.arange(classes))
    both = (matrix + matrix.T).astype(float)
    cells = sorted(
        ((both[i, j], i, j) for i in range(classes) for j in range(i + 1, classes)),
        key=lambda cell: (-cell[0], cell[1], cell[2]),
    )
    pairs, used = [], set()
    for confused, i, j in cells:
        if len(pairs) == count:
            break
        if i not in used and j not in used:
            pairs.append((int(i), int(j), int(confused)))
            used |= {i, j}
    return pairs


def pairwise(y: np.ndarray, rate: float, seed: int, Z=None) -> tuple[np.ndarray, dict]:
    """``rate`` of each class of the most confused pairs moved to its partner (3 pairs with 10
    or more classes, else 1)."""
    probabilities = clean_probabilities(Z, y)
    classes = probabilities.shape[1]
    pairs = confusable_pairs(y, probabilities, 3 if classes >= 10 else 1)
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for i, j, _ in pairs:
        for source, target in ((i, j), (j, i)):
            members = np.flatnonzero(y == source)
            noisy[rng.choice(members, int(round(rate * len(members))), replace=False)] = target
    return noisy, {"pairs": pairs}


def instance(y: np.ndarray, rate: float, seed: int, Z=None) -> tuple[np.ndarray, dict]:
    """``rate`` of the rows, drawn with probability ∝ 1 − p(true class) (out-of-fold logistic
    regression on the clean labels), each moved to the regression's most likely wrong class."""
    probabilities = clean_probabilities(Z, y)
    rows = np.arange(len(y))
    ambiguity = np.maximum(1.0 - probabilities[rows, y], 1e-12)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(
        len(y), int(round(rate * len(y))), replace=False, p=ambiguity / ambiguity.sum()
    )
    wrong = probabilities.copy()
    wrong[rows, y] = -np.inf
    noisy = y.copy()
    noisy[chosen] = wrong[chosen].argmax(axis=1)
    return noisy, {
        "mean_ambiguity_of_chosen": float(ambiguity[chosen].mean()),
        "mean_ambiguity": float(ambiguity.mean()),
    }


NOISE_MODELS = {"symmetric": symmetric, "pairwise": pairwise, "instance": instance}


# --- Detection ------------------------------------------------------------------------------


@dataclass
class Detection:
    flags: np.ndarray  # indices flagged
    order: np.ndarray  # every index, most suspicious first
    seconds: float
    how: str


def _parameters(function) -> set:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def available_methods() -> tuple[str, ...]:
    """The methods this cgfast can run: a rule is missing until ``find_label_issues`` takes
    ``rule=``."""
    rules = "rule" in _parameters(cgfast.find_label_issues)
    return tuple(m for m in METHODS if rules or m.split()[-1] not in RULES)


def cgfast_rules(X, y, seed: int, rules=RULES, scored=None) -> tuple[dict, dict]:
    """Each rule's flags and ranking, from one suggestion pass and one scoring run.

    ``suggest_labels`` runs once and each rule that reads it (``suggestions=``) is timed as
    that pass plus its own call; a rule that refuses it (``sign``) gets ``terms=`` from the
    scoring run ``scored`` (its terms and seconds), timed as that run plus its call; a rule that
    refuses both is run from ``X, y`` (twice: its flags, then ``top=n`` for its ranking, the
    first call timed). Returns the detections and the shared passes' seconds."""
    find = cgfast.find_label_issues
    parameters = _parameters(find)
    if "rule" not in parameters:
        return {}, {}
    n = len(y)
    shared, found = {}, {}
    sources = []
    if "suggestions" in parameters:
        suggestions, shared["suggest_labels"] = timed(cgfast.suggest_labels, X, y, seed=seed)
        sources.append(("suggestions", suggestions, shared["suggest_labels"]))
    if scored is not None and "terms" in parameters:
        sources.append(("terms", scored[0], scored[1]))
    for rule in rules:
        detection = None
        for keyword, value, before in sources:
            try:
                flags, spent = timed(find, y=y, rule=rule, **{keyword: value})
            except (TypeError, ValueError):
                continue
            order = find(y=y, rule=rule, top=n, **{keyword: value})
            what = "suggest_labels" if keyword == "suggestions" else "score(return_terms=True)"
            how = f"{what} + find_label_issues({keyword}=)"
            detection = Detection(flags, order, before + spent, how)
            break
        if detection is None:
            flags, spent = timed(find, X, y, rule=rule, seed=seed)
            order = find(X, y, rule=rule, seed=seed, top=n)
            detection = Detection(flags, order, spent, "find_label_issues(X, y)")
        found[f"cgfast {rule}"] = detection
    return found, shared


def cg_score(X, y, seed: int) -> tuple[Detection, tuple]:
    """The plain CG score: highest first, flags ``ab > 0``; and (terms, seconds) for reuse."""
    terms, spent = timed(cgfast.score, X, y, return_terms=True, seed=seed)
    order = np.asarray(cgfast.rank(terms.score))
    flags = order[(np.asarray(terms.ab) > 0)[order]]
    how = f"score(return_terms=True), repeats {terms.repeats}"
    return Detection(flags, order, spent, how), (terms, spent)


def cleanlab_detect(kind: str, X, y, seed: int, reduce: bool) -> tuple[Detection, np.ndarray]:
    """cleanlab's flags and label-quality ranking (lowest first) from 5-fold out-of-fold
    probabilities; the time includes the PCA (when ``reduce``) and the cross-validation."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    start = time.perf_counter()
    features = pca(X, seed) if reduce else X
    model = LogisticRegression(max_iter=1000) if kind == "LR" else KNeighborsClassifier(NEIGHBOURS)
    probabilities = out_of_fold(model, features, y, seed)
    with one_thread():
        flags = np.flatnonzero(find_label_issues(y, probabilities))
        quality = get_label_quality_scores(y, probabilities)
    spent = time.perf_counter() - start
    order = np.lexsort((np.arange(len(y)), quality))
    features_name = "PCA-50 of X" if reduce else "X"
    model_name = "logistic regression" if kind == "LR" else f"{NEIGHBOURS}-NN"
    return Detection(flags, order, spent, f"{model_name} on {features_name}"), quality


def random_detect(n: int, count: int, seed: int) -> Detection:
    rng = np.random.default_rng(10_000 + seed)
    start = time.perf_counter()
    flags, order = rng.choice(n, count, replace=False), rng.permutation(n)
    return Detection(flags, order, time.perf_counter() - start, "random")


def positions(order: np.ndarray) -> np.ndarray:
    where = np.empty(len(order), dtype=np.int64)
    where[np.asarray(order)] = np.arange(len(order))
    return where


def scores_of(detection: Detection, noisy: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score

    flagged = np.zeros(len(noisy), dtype=bool)
    flagged[np.asarray(detection.flags, dtype=np.int64)] = True
    hits = int((flagged & noisy).sum())
    precision = hits / flagged.sum() if flagged.any() else 0.0
    recall = hits / noisy.sum() if noisy.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    suspicion = -positions(detection.order).astype(np.float64)
    return {
        "flagged": int(flagged.sum()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "ap": float(average_precision_score(noisy, suspicion)),
        "seconds": float(detection.seconds),
        "how": detection.how,
    }


# --- Cleaning -------------------------------------------------------------------------------

_FITS: dict[tuple, tuple[float, float]] = {}


def test_accuracy(data: Dataset, keep: np.ndarray, labels: np.ndarray, seed: int):
    """(accuracy, balanced accuracy) on the test set of a model trained on ``X_model[keep]``
    with ``labels``; cached, so the same training set and seed is fitted once per process."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.neural_network import MLPClassifier

    keep = np.asarray(keep, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    key = (data.model, digest(data.X_model), digest(keep, labels), seed)
    if key in _FITS:
        return _FITS[key]
    if np.unique(labels).size < 2:
        return None
    if data.model == "mlp256":
        model = MLPClassifier(
            hidden_layer_sizes=(256,), max_iter=15, early_stopping=False, random_state=seed
        )
    else:
        model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.X_model[keep], labels)
        predicted = model.predict(data.X_test)
    result = (
        float(np.mean(predicted == data.y_test)),
        float(balanced_accuracy_score(data.y_test, predicted)),
    )
    _FITS[key] = result
    return result


def cgfast_clean(X, y, action: str, seed: int):
    """``cgfast.clean(X, y, action=...)``: (kept indices, their labels, seconds), or None when
    this cgfast has no ``clean``."""
    clean = getattr(cgfast, "clean", None)
    if clean is None:
        return None
    kwargs = {"seed": seed} if "seed" in _parameters(clean) else {}
    result, spent = timed(clean, X, y, action=action, **kwargs)
    return np.asarray(result.keep), np.asarray(result.labels), spent


# --- One cell -------------------------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def fit_all(data: Dataset, sets: dict, training_seeds: list[int]) -> dict:
    """The test accuracy of the cleaning model trained on each set (kept rows, their labels),
    once per training seed, and how many wrong labels each set keeps."""
    cleaning = {}
    for name, (keep, labels) in sets.items():
        fits = [test_accuracy(data, keep, labels, s) for s in training_seeds]
        wrong = int((labels != data.y[keep]).sum())
        cleaning[name] = {
            "rows": int(len(keep)),
            "wrong_labels_left": wrong,
            "accuracy": [f[0] for f in fits if f is not None],
            "balanced_accuracy": [f[1] for f in fits if f is not None],
        }
        acc = cleaning[name]["accuracy"]
        shown = f"{100 * np.mean(acc):.2f}%" if acc else "–"
        print(
            f"  train on {name:28s} {len(keep):6d} rows, {wrong:5d} wrong: test {shown}",
            file=sys.stderr,
            flush=True,
        )
    return cleaning


def clean_sets(data: Dataset, noisy_y: np.ndarray, seed: int) -> tuple[dict, dict]:
    """The training sets of ``cgfast.clean`` (drop, relabel) and their seconds; empty when this
    cgfast has no ``clean``."""
    sets, seconds = {}, {}
    for action in ("drop", "relabel"):
        result = cgfast_clean(data.X, noisy_y, action, seed)
        if result is not None:
            keep, labels, seconds[action] = result
            sets[f"cgfast.clean {action}"] = (keep, labels)
    return sets, seconds


def complete_clean(data: Dataset, cell: dict) -> None:
    """Adds ``cgfast.clean``'s training sets to a cell recorded before ``clean`` existed (the
    noise is regenerated: it is a function of its seed)."""
    noisy_y, _ = NOISE_MODELS[cell["noise"]](data.y, cell["rate"], NOISE_SEED, data.Z_noise)
    print(f"{data.name} / {cell['noise']}: adding cgfast.clean", file=sys.stderr)
    sets, seconds = clean_sets(data, noisy_y, cell["seed"])
    cell["cleaning"].update(fit_all(data, sets, cell["training_seeds"]))
    cell["clean_seconds"] = seconds
    cell["clean_added"] = {
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cgfast": version(),
    }


def run_cell(data: Dataset, noise: str, seed: int, training_seeds: list[int]) -> dict:
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    y = data.y
    n = len(y)
    noisy_y, info = NOISE_MODELS[noise](y, RATES[noise], NOISE_SEED, data.Z_noise)
    noisy = noisy_y != y
    count = int(noisy.sum())
    print(f"{data.name} / {noise}: {count} of {n} rows flipped ({count / n:.1%})", file=sys.stderr)
    if "pairs" in info:
        named = ", ".join(
            f"{data.classes[i]}/{data.classes[j]} ({c} confusions)" for i, j, c in info["pairs"]
        )
        print(f"  pairs: {named}", file=sys.stderr)
        info["pair_names"] = [[data.classes[i], data.classes[j]] for i, j, _ in info["pairs"]]

    detections: dict[str, Detection] = {}
    score_detection, scored = cg_score(data.X, noisy_y, seed)
    found, shared = cgfast_rules(data.X, noisy_y, seed, scored=scored)
    shared["score"] = scored[1]
    detections.update(found)
    detections["cgfast CG score"] = score_detection
    detections["cleanlab LR"], lr_quality = cleanlab_detect(
        "LR", data.X, noisy_y, seed, data.cleanlab_pca
    )
    detections["cleanlab kNN"], _ = cleanlab_detect("kNN", data.X, noisy_y, seed, data.cleanlab_pca)
    detections["random"] = random_detect(n, count, seed)
    methods = {name: scores_of(d, noisy) for name, d in detections.items()}
    for name, m in methods.items():
        print(
            f"  {name:18s} flagged {m['flagged']:6d}  P {m['precision']:.3f}  "
            f"R {m['recall']:.3f}  F1 {m['f1']:.3f}  AP {m['ap']:.3f}  "
            f"{m['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    # Seed to seed: the default rule and cleanlab's logistic regression at seed + 1.
    stability = {}
    if f"cgfast {DEFAULT_RULE}" in detections:
        other, _ = cgfast_rules(data.X, noisy_y, seed + 1, rules=(DEFAULT_RULE,))
        first, second = detections[f"cgfast {DEFAULT_RULE}"], other[f"cgfast {DEFAULT_RULE}"]
        a, b = set(np.asarray(first.flags).tolist()), set(np.asarray(second.flags).tolist())
        stability[f"cgfast {DEFAULT_RULE}"] = {
            "spearman": spearman(positions(first.order), positions(second.order)),
            "flags_jaccard": len(a & b) / max(len(a | b), 1),
        }
    lr_second, lr_other = cleanlab_detect("LR", data.X, noisy_y, seed + 1, data.cleanlab_pca)
    a = set(np.asarray(detections["cleanlab LR"].flags).tolist())
    b = set(np.asarray(lr_second.flags).tolist())
    stability["cleanlab LR"] = {
        "spearman": spearman(lr_quality, lr_other),
        "flags_jaccard": len(a & b) / max(len(a | b), 1),
    }
    for name, s in stability.items():
        print(
            f"  seed {seed} vs {seed + 1}, {name}: Spearman {s['spearman']:.3f}, "
            f"flags Jaccard {s['flags_jaccard']:.3f}",
            file=sys.stderr,
        )

    # Cleaning: the training sets, then one fit per training seed.
    everything = np.arange(n)
    sets = {"oracle (clean)": (everything, y), "noisy": (everything, noisy_y)}
    for name, d in detections.items():
        keep = np.setdiff1d(everything, np.asarray(d.flags, dtype=np.int64))
        sets[f"drop: {name}"] = (keep, noisy_y[keep])
    added, clean_seconds = clean_sets(data, noisy_y, seed)
    sets.update(added)
    cleaning = fit_all(data, sets, training_seeds)
    return {
        "dataset": data.name,
        "noise": noise,
        "rate": RATES[noise],
        "rows": n,
        "flipped": count,
        "noise_info": info,
        "methods": methods,
        "shared_seconds": shared,
        "clean_seconds": clean_seconds,
        "seed_to_seed": stability,
        "cleaning": cleaning,
        "training_seeds": list(training_seeds),
        "seed": seed,
        "cell_seconds": time.perf_counter() - started,
        "load_average": [load_start, os.getloadavg()[0]],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cgfast": version(),
    }


# --- Record ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def version() -> str:
    """cgfast's version and where it came from, read once (at start: the code this process
    imported). From this repository: its commit and, with uncommitted changes under python/ or
    src/, the first 8 hex digits of their diff's SHA-1. From a copy elsewhere (``git archive
    HEAD python | tar -x -C DIR``, the commit written to DIR/COMMIT, run with
    ``PYTHONPATH=DIR/python``, so that edits in the working tree cannot reach a long run): the
    commit in COMMIT."""
    source = Path(cgfast.__file__).resolve().parent.parent.parent
    if source != ROOT:
        commit = source / "COMMIT"
        if commit.exists():
            return f"cgfast {cgfast.__version__} (git {commit.read_text().strip()}, a copy)"
        return f"cgfast {cgfast.__version__} (from {source})"

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()

    diff = git("diff", "HEAD", "--", "python", "src")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "python", "src")
    changed = ""
    if diff or untracked:
        hasher = hashlib.sha1(diff.encode())
        for name in untracked.splitlines():
            hasher.update((ROOT / name).read_bytes())
        changed = f", uncommitted changes {hasher.hexdigest()[:8]}"
    return (
        f"cgfast {cgfast.__version__} (git {git('rev-parse', '--short', 'HEAD') or '?'}{changed})"
    )


def machine() -> str:
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        info = ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    name = fields.get("Model name", platform.processor() or "unknown CPU").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    return f"{name}, {cpus} CPUs (lscpu), {len(os.sched_getaffinity(0))} usable by this process"


def versions() -> str:
    import cleanlab
    import sklearn

    return (
        f"{version()}, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, cleanlab {cleanlab.__version__}"
    )


def load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"datasets": {}, "cells": {}, "runs": []}


def save(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, path)


# --- Tables and plot ------------------------------------------------------------------------

SHORT = {
    "cgfast confusion": "cgfast confusion",
    "cgfast sign": "cgfast sign",
    "cgfast confident": "cgfast confident",
    "cgfast CG score": "CG score",
    "cleanlab LR": "cleanlab LR",
    "cleanlab kNN": "cleanlab kNN",
    "random": "random",
}


def ordered_cells(record: dict) -> list[dict]:
    def key(cell):
        order = DATASETS.index(cell["dataset"]) if cell["dataset"] in DATASETS else 99
        return order, NOISES.index(cell["noise"])

    return sorted(record["cells"].values(), key=key)


def _row_methods(cells: list[dict]) -> list[str]:
    present = {m for cell in cells for m in cell["methods"]}
    return [m for m in METHODS if m in present]


def _bold_best(values: list, text: list[str], skip: set[int] = frozenset(), low=False) -> list:
    candidates = [v for k, v in enumerate(values) if v is not None and k not in skip]
    if not candidates:
        return text
    best = min(candidates) if low else max(candidates)
    return [
        f"**{t}**" if v is not None and k not in skip and v == best else t
        for k, (v, t) in enumerate(zip(values, text))
    ]


def seconds_text(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def method_table(cells: list[dict], metric: str, fmt, low=False) -> list[str]:
    methods = _row_methods(cells)
    lines = [
        "| data set | noise | flipped | " + " | ".join(SHORT[m] for m in methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for cell in cells:
        values = [cell["methods"].get(m, {}).get(metric) for m in methods]
        text = ["–" if v is None else fmt(v) for v in values]
        skip = {methods.index("random")} if "random" in methods else set()
        text = _bold_best(values, text, skip, low)
        lines.append(
            f"| {cell['dataset']} | {cell['noise']} | {cell['flipped']} "
            f"({cell['flipped'] / cell['rows']:.0%}) | " + " | ".join(text) + " |"
        )
    return lines


def precision_table(cells: list[dict]) -> list[str]:
    methods = _row_methods(cells)
    lines = [
        "| data set | noise | " + " | ".join(SHORT[m] for m in methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for cell in cells:
        text = []
        for m in methods:
            r = cell["methods"].get(m)
            text.append(
                "–" if r is None else f"{r['precision']:.2f} / {r['recall']:.2f} ({r['flagged']})"
            )
        lines.append(f"| {cell['dataset']} | {cell['noise']} | " + " | ".join(text) + " |")
    return lines


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f}"


def cleaning_table(cells: list[dict], metric: str = "accuracy") -> list[str]:
    present = {v for cell in cells for v in cell["cleaning"]}
    variants = [v for v in VARIANTS if v in present]
    names = [v.replace("drop: ", "drop ").replace("cgfast CG score", "CG score") for v in variants]
    lines = [
        "| data set | noise | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for cell in cells:
        values, text = [], []
        for v in variants:
            fits = cell["cleaning"].get(v, {}).get(metric, [])
            values.append(float(np.mean(fits)) if fits else None)
            text.append(_mean_std(fits))
        skip = {variants.index("oracle (clean)")} if "oracle (clean)" in variants else set()
        text = _bold_best(values, text, skip)
        lines.append(f"| {cell['dataset']} | {cell['noise']} | " + " | ".join(text) + " |")
    return lines


def wrong_left_table(cells: list[dict]) -> list[str]:
    present = {v for cell in cells for v in cell["cleaning"]}
    variants = [v for v in VARIANTS if v in present and v != "oracle (clean)"]
    names = [v.replace("drop: ", "drop ").replace("cgfast CG score", "CG score") for v in variants]
    lines = [
        "| data set | noise | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for cell in cells:
        text = []
        for v in variants:
            c = cell["cleaning"].get(v)
            text.append("–" if c is None else f"{c['wrong_labels_left']} / {c['rows']}")
        lines.append(f"| {cell['dataset']} | {cell['noise']} | " + " | ".join(text) + " |")
    return lines


def report(record: dict) -> str:
    cells = ordered_cells(record)
    if not cells:
        return "No cells measured yet.\n"
    lines = [
        "## Data sets",
        "",
        "| data set | shape | train rows | test rows | features | classes (smallest share) | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in DATASETS:
        d = record["datasets"].get(name)
        if d is None:
            continue
        lines.append(
            f"| {name} | {d['shape']} | {d['train_rows']} | {d['test_rows']} | "
            f"{d['features']} | {len(d['classes'])} ({min(d['class_shares']):.1%}) | "
            f"{d['why']} |"
        )
    lines += [
        "",
        "## Noise",
        "",
        "| data set | noise | rows flipped | pairs |",
        "|---|---|---|---|",
    ]
    for cell in cells:
        pairs = ", ".join("/".join(p) for p in cell["noise_info"].get("pair_names", [])) or "–"
        lines.append(
            f"| {cell['dataset']} | {cell['noise']} | {cell['flipped']} of "
            f"{cell['rows']} ({cell['flipped'] / cell['rows']:.1%}) | {pairs} |"
        )
    lines += ["", "## F1 of the flags", "", "Best per row in bold (random left out).", ""]
    lines += method_table(cells, "f1", lambda v: f"{v:.3f}")
    lines += ["", "## Average precision of the ranking", ""]
    lines += method_table(cells, "ap", lambda v: f"{v:.3f}")
    lines += ["", "## Precision / recall (rows flagged)", ""]
    lines += precision_table(cells)
    lines += [
        "",
        "## Detection time, seconds",
        "",
        "Wall seconds in this process; cgfast's rules share one `suggest_labels` pass, "
        "counted in each; cleanlab's include the cross-validation (and the PCA on "
        "fmnist-pixels).",
        "",
    ]
    lines += method_table(cells, "seconds", seconds_text, low=True)
    seeds = sorted({len(cell["training_seeds"]) for cell in cells})
    lines += [
        "",
        "## Test accuracy after cleaning, %",
        "",
        f"Mean ± standard deviation over {'/'.join(map(str, seeds))} training seeds; best "
        "per row (oracle left out) in bold.",
        "",
    ]
    lines += cleaning_table(cells)
    imbalanced_cells = [c for c in cells if c["dataset"] == "imbalanced"]
    if imbalanced_cells:
        lines += ["", "### Balanced accuracy on the imbalanced set, %", ""]
        lines += cleaning_table(imbalanced_cells, "balanced_accuracy")
    lines += ["", "## Wrong labels left in the training set / rows kept", ""]
    lines += wrong_left_table(cells)
    lines += [
        "",
        "## Seed to seed",
        "",
        "Spearman correlation of the rankings at seeds 0 and 1 (cgfast: the plan's seed; "
        "cleanlab: the folds' shuffle), and the Jaccard index of the two sets of flags.",
        "",
        "| data set | noise | "
        + " | ".join(
            f"{m}: Spearman | {m}: Jaccard" for m in (f"cgfast {DEFAULT_RULE}", "cleanlab LR")
        )
        + " |",
        "|---|---|---|---|---|---|",
    ]
    for cell in cells:
        text = []
        for m in (f"cgfast {DEFAULT_RULE}", "cleanlab LR"):
            s = cell["seed_to_seed"].get(m)
            text += (
                ["–", "–"] if s is None else [f"{s['spearman']:.3f}", f"{s['flags_jaccard']:.3f}"]
            )
        lines.append(f"| {cell['dataset']} | {cell['noise']} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"


def plot(record: dict, path: Path, dataset: str = "fmnist-pixels") -> bool:
    """F1 and AP per method per noise model, and the test accuracy after each cleaning, on one
    data set (Fashion-MNIST's pixels by default); a method's drop bar has the method's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in ordered_cells(record) if c["dataset"] == dataset]
    if not cells:
        return False
    methods = _row_methods(cells)
    variants = [v for v in VARIANTS if any(v in c["cleaning"] for c in cells)]
    tab = plt.get_cmap("tab10")
    colour = {m: tab(k) for k, m in enumerate(METHODS)}
    colour.update({f"drop: {m}": colour[m] for m in METHODS})
    colour.update({"oracle (clean)": "black", "noisy": tab(7),
                   "cgfast.clean drop": tab(8), "cgfast.clean relabel": tab(9)})  # fmt: skip
    figure, axes = plt.subplots(3, 1, figsize=(13, 11))
    where = np.arange(len(cells))
    for ax, metric, title in (
        (axes[0], "f1", "F1 of the flags"),
        (axes[1], "ap", "average precision of the ranking"),
    ):
        width = 0.8 / len(methods)
        for k, method in enumerate(methods):
            values = [c["methods"].get(method, {}).get(metric, np.nan) for c in cells]
            offset = (k - (len(methods) - 1) / 2) * width
            ax.bar(where + offset, values, width, label=SHORT[method], color=colour[method])
        ax.set_xticks(where, [c["noise"] for c in cells])
        ax.set_ylim(0, 1)
        ax.set_title(f"Fashion-MNIST ({dataset}): {title}")
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax = axes[2]
    width = 0.8 / len(variants)
    low = 100.0
    for k, variant in enumerate(variants):
        fits = [c["cleaning"].get(variant, {}).get("accuracy") or [np.nan] for c in cells]
        means = [100 * np.mean(f) for f in fits]
        errors = [100 * np.std(f, ddof=1) if len(f) > 1 else 0.0 for f in fits]
        low = min([low, *(m for m in means if np.isfinite(m))])
        offset = (k - (len(variants) - 1) / 2) * width
        label = variant.replace("drop: ", "drop ").replace("cgfast CG score", "CG score")
        ax.bar(where + offset, means, width, yerr=errors, label=label, color=colour[variant])
    ax.set_ylim(np.floor(low) - 2, None)
    ax.set_xticks(where, [c["noise"] for c in cells])
    ax.set_ylabel("test accuracy, %")
    seeds = len(cells[0]["training_seeds"])
    ax.set_title(
        "MLP (256) on the pixels after cleaning: test accuracy on the 10,000 test images "
        f"(mean ± sd, {seeds} seeds)"
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return True


# --- Main -----------------------------------------------------------------------------------


def _choices(text: str | None, allowed: tuple[str, ...], what: str) -> list[str]:
    if text is None:
        return list(allowed)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="digits and penguins, symmetric noise, 1 training seed"
    )
    parser.add_argument("--only", help=f"comma-separated data sets: {', '.join(DATASETS)}")
    parser.add_argument("--noise", help=f"comma-separated noise models: {', '.join(NOISES)}")
    parser.add_argument("--training-seeds", type=int, help="training seeds (3; --quick 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the detectors")
    parser.add_argument("--resume", action="store_true", help="skip the cells already recorded")
    parser.add_argument(
        "--report",
        action="store_true",
        help="only print the tables (and draw the plot) from the JSON",
    )
    parser.add_argument(
        "--output", type=Path, help=f"the JSON ({OUTPUT.relative_to(ROOT)}; --quick {QUICK_OUTPUT})"
    )
    parser.add_argument(
        "--plot", type=Path, help=f"the plot ({PLOT.relative_to(ROOT)}; --quick: none)"
    )
    args = parser.parse_args()
    output = args.output or (QUICK_OUTPUT if args.quick else OUTPUT)
    figure = args.plot or (None if args.quick else PLOT)
    record = load(output)
    if args.report:
        print(report(record))
        if figure is not None and plot(record, figure):
            print(f"plot: {figure}", file=sys.stderr)
        return

    datasets = (
        _choices(args.only, DATASETS, "data set")
        if args.only or not args.quick
        else ["digits", "penguins"]
    )
    noises = (
        _choices(args.noise, NOISES, "noise model")
        if args.noise or not args.quick
        else ["symmetric"]
    )
    training_seeds = list(range(args.training_seeds or (1 if args.quick else 3)))
    methods = available_methods()
    missing = [m for m in METHODS if m not in methods]
    if missing:
        print(f"not in this cgfast yet: {', '.join(missing)}", file=sys.stderr)
    has_clean = getattr(cgfast, "clean", None) is not None
    if not has_clean:
        print("not in this cgfast yet: cgfast.clean", file=sys.stderr)
    started = datetime.now(timezone.utc)
    wall = time.perf_counter()
    run = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python", "benches/noise.py", *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(),
        "load_average_start": os.getloadavg()[0],
        "methods": list(methods),
        "clean": getattr(cgfast, "clean", None) is not None,
    }
    record["runs"].append(run)
    print(f"{machine()}; {versions()}", file=sys.stderr)
    # Small sets first, so that a long run records them early.
    for name in sorted(datasets, key=lambda d: d.startswith("fmnist")):
        data = None
        for noise in noises:
            key = f"{name}/{noise}"
            done = record["cells"].get(key)
            if args.resume and done is not None and set(methods) <= set(done["methods"]):
                if has_clean and "cgfast.clean relabel" not in done["cleaning"]:
                    data = data or LOADERS[name]()
                    complete_clean(data, done)
                    save(record, output)
                print(f"{key}: recorded, skipped", file=sys.stderr)
                continue
            if data is None:
                data = LOADERS[name]()
                record["datasets"][name] = data.describe()
            record["cells"][key] = run_cell(data, noise, args.seed, training_seeds)
            run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            run["minutes"] = (time.perf_counter() - wall) / 60
            run["load_average_end"] = os.getloadavg()[0]
            save(record, output)
            print(
                f"{key}: done in {record['cells'][key]['cell_seconds'] / 60:.1f} min, "
                f"written to {output}",
                file=sys.stderr,
                flush=True,
            )
    run["minutes"] = (time.perf_counter() - wall) / 60
    save(record, output)
    print(report(record))
    print(f"{run['minutes']:.1f} min in all", file=sys.stderr)
    if figure is not None and plot(record, figure):
        print(f"plot: {figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
