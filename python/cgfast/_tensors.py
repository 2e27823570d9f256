"""Tensors (torch and the like) as NumPy arrays: detached, on the CPU, torch never imported."""

from __future__ import annotations

from typing import Any

import numpy as np


def detached(value: Any) -> Any:
    """``value`` as a NumPy array if it is a tensor (has ``detach`` and ``numpy``), else itself.

    ``np.asarray`` fails on a torch tensor that requires grad or lives on a GPU; its own
    ``detach().cpu().numpy()`` does not. Recognised by those methods, so torch is never imported.

    Examples
    --------
    >>> detached([1, 2])
    [1, 2]
    """
    if isinstance(value, np.ndarray):
        return value
    detach, numpy = getattr(value, "detach", None), getattr(value, "numpy", None)
    if not (callable(detach) and callable(numpy)):
        return value
    tensor = detach()
    cpu = getattr(tensor, "cpu", None)
    if callable(cpu):
        tensor = cpu()
    return np.asarray(tensor.numpy())
