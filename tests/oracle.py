"""A plain NumPy oracle of the CG score, written from the definition; it never calls cgfast.

Slow on purpose: every leave-one-out score is an explicit re-solve without example i.
"""

from __future__ import annotations

import numpy as np


def gram(X) -> np.ndarray:
    """H_ij = u (π − arccos u) / (2π), u the cosine of rows i and j (clipped), H_ii = 1/2."""
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(len(X), -1)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    U = np.clip(Z @ Z.T, -1.0, 1.0)
    H = U * (np.pi - np.arccos(U)) / (2 * np.pi)
    np.fill_diagonal(H, 0.5)
    return H


def complexity(H: np.ndarray, y: np.ndarray) -> float:
    """yᵀ H⁻¹ y."""
    return float(y @ np.linalg.solve(H, y))


def loo_scores(H: np.ndarray, y: np.ndarray, which) -> np.ndarray:
    """CG(i) = yᵀH⁻¹y − y₋ᵢᵀ(H₋ᵢ)⁻¹y₋ᵢ for each i in ``which``, by re-solving without i."""
    full = complexity(H, y)
    out = []
    for i in which:
        keep = np.arange(len(y)) != i
        out.append(full - complexity(H[np.ix_(keep, keep)], y[keep]))
    return np.array(out)


def loo_terms(H: np.ndarray, y: np.ndarray, which) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The authors' three terms (a2, ab, b2) for each i in ``which``.

    D = (H⁻¹)_ii, b = (H⁻¹)_{i,−i} y_{−i}; a2 = b²/D, ab = y_i b, b2 = y_i² D.
    """
    G = np.linalg.inv(H)
    a2, ab, b2 = [], [], []
    for i in which:
        keep = np.arange(len(y)) != i
        D = G[i, i]
        b = G[i, keep] @ y[keep]
        a2.append(b * b / D)
        ab.append(y[i] * b)
        b2.append(y[i] ** 2 * D)
    return np.array(a2), np.array(ab), np.array(b2)


def binary_scores(X, y) -> np.ndarray:
    """The paper's binary definition: the two labels of y mapped to ±1, every example scored."""
    classes = np.unique(y)
    assert len(classes) == 2
    signs = np.where(np.asarray(y) == classes[1], 1.0, -1.0)
    return loo_scores(gram(X), signs, range(len(signs)))


def block_scores(X, positives, negatives, terms: bool = False):
    """Scores of ``positives`` (y = +1) in the block they form with ``negatives`` (y = −1)."""
    rows = np.concatenate([np.asarray(negatives, dtype=int), np.asarray(positives, dtype=int)])
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    H = gram(X[rows])
    signs = np.r_[-np.ones(len(negatives)), np.ones(len(positives))]
    which = range(len(negatives), len(rows))
    if terms:
        return loo_scores(H, signs, which), *loo_terms(H, signs, which)
    return loo_scores(H, signs, which)


def class_scores(X, y, terms: bool = False):
    """The authors' per-class protocol with every other-class example a negative (ratio="all").

    For each class c: positives = class c (y = +1), negatives = all other examples (y = −1);
    the positives are scored. Returns scores (and, with ``terms``, a2, ab, b2) in input order.
    """
    y = np.asarray(y)
    out = np.full((4, len(y)), np.nan)
    for c in np.unique(y):
        positives = np.flatnonzero(y == c)
        negatives = np.flatnonzero(y != c)
        result = block_scores(X, positives, negatives, terms=True)
        out[:, positives] = result
    return tuple(out) if terms else out[0]


def loo_predictions(H: np.ndarray, Y: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """Kernel regression fitted without row i, evaluated at row i, for every row and column of
    ``Y`` (k x m): ``H[i, −i] (H₋ᵢ + λI)⁻¹ Y₋ᵢ``, by an explicit re-solve per row; ``λ`` is
    ``shift`` times the mean of the whole block's diagonal (kernel ridge regression)."""
    out = np.empty_like(Y, dtype=np.float64)
    ridge = shift * np.mean(np.diag(H))
    for i in range(len(Y)):
        keep = np.arange(len(Y)) != i
        inner = H[np.ix_(keep, keep)] + ridge * np.eye(len(Y) - 1)
        out[i] = H[i, keep] @ np.linalg.solve(inner, Y[keep])
    return out


def fitted_predictions(H: np.ndarray, Y: np.ndarray, fitted: int) -> np.ndarray:
    """Kernel regression fitted to the first ``fitted`` rows (targets ``Y``, fitted x m),
    evaluated at the other rows: ``H[q, f] H[f, f]⁻¹ Y``, by an explicit solve."""
    f = np.arange(fitted)
    q = np.arange(fitted, len(H))
    return H[np.ix_(q, f)] @ np.linalg.solve(H[np.ix_(f, f)], Y)
