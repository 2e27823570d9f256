"""_native.complexities: yᵀH⁻¹y for many label vectors from one factorisation, vs the oracle."""

from __future__ import annotations

import numpy as np
import oracle
import pytest

from cgfast import _native


@pytest.mark.parametrize(
    "k, m, dtype", [(1, 1, np.float64), (9, 3, np.float64), (300, 4, np.float32)]
)
def test_every_column_matches_the_oracle_and_its_own_factorisation(k, m, dtype):
    rng = np.random.default_rng(k)
    x = rng.normal(size=(k, 7)).astype(dtype)
    labels = rng.choice([-1.0, 1.0], size=(k, m))
    values, ridge = _native.complexities(x, labels, 2)
    assert values.shape == (m,) and ridge == 0.0
    h = oracle.gram(x)
    for c in range(m):
        want = oracle.complexity(h, labels[:, c])
        assert abs(values[c] - want) <= 1e-9 * want
        alone, _ = _native.complexity(x, labels[:, c], 3)
        assert alone == values[c]  # one column alone: the same bits


def test_a_label_count_that_does_not_fit_is_a_value_error():
    x = np.ones((4, 2)) + np.eye(4, 2)
    with pytest.raises(ValueError, match="3 labels for a block of 4"):
        _native.complexities(x, np.ones((3, 2)), 1)
