"""The options of a scoring run, validated once, in one frozen object."""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

Ratio = Union[float, str]
# What a seed argument takes (check_seed turns it into the int a run records).
Seed = Union[int, np.random.Generator, np.random.RandomState, None]

# "single": H built and factorised in float32 (the default: the same ranking, twice the rate);
# "double": float64 throughout, the exact reference. docs/guide/precision.md has the measurements.
PRECISIONS = ("single", "double")
# 0.2.0's "mixed" (float32 factor, float64 refinement): "single" was faster on every block measured
# with the same ranking, so the name now runs "single" and warns.
RETIRED_PRECISIONS = {"mixed": "single"}
# How negatives are drawn: along a stream that covers the pool evenly, or afresh (0.1.0).
SAMPLERS = ("cover", "independent")
# What y is: class labels (blocks of a class against the others), or a real-valued target
# (blocks of all rows; cgfast.regression). Never guessed from y's dtype.
TASKS = ("classification", "regression")
# Options of the classification plan, with the value a regression run takes (it has no classes,
# so no negatives to draw).
_CLASS_ONLY = {"ratio": 1.0, "sampler": "cover"}


def check_ratio(ratio: Ratio) -> Ratio:
    """A positive finite number of negatives per positive (as a float), or ``"all"``."""
    if isinstance(ratio, str):
        if ratio != "all":
            raise ValueError(f"ratio must be a positive number or 'all', got {ratio!r}")
        return ratio
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise TypeError(f"ratio must be a positive number or 'all', got {ratio!r}")
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive number or 'all', got {ratio!r}")
    return float(ratio)


def check_flag(name: str, value: object) -> bool:
    """A yes/no option: ``True`` or ``False`` (NumPy's bool too), as a Python bool.

    Anything else is refused rather than read by its truth value: the string ``"no"`` is true.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_count(name: str, value: object, minimum: int) -> int:
    """An integer (not a bool) of at least ``minimum``, as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_seed(seed: object) -> int:
    """A seed as scikit-learn's ``random_state`` takes it, as the non-negative int the run uses.

    An int is kept; ``None`` draws a fresh seed from the operating system's entropy; a NumPy
    ``Generator`` or ``RandomState`` draws one from itself (advancing it). The int is what a
    checkpoint records and :class:`cgfast.ScoreTerms` reports, so the run can be repeated.

    Examples
    --------
    >>> import numpy as np
    >>> check_seed(7), check_seed(np.random.default_rng(0)) == check_seed(np.random.default_rng(0))
    (7, True)
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32))
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, 2**32, dtype=np.int64))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be an integer, None or a numpy Generator or RandomState, got {seed!r}"
        )
    return check_count("seed", seed, 0)


def check_n_jobs(n_jobs: object) -> int | None:
    """``None`` or ``-1`` (every available CPU) or a positive integer."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (numbers.Integral, type(None))):
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs!r}")
    if n_jobs is None or n_jobs == -1:
        return None
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs!r}")
    return int(n_jobs)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of the named ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def check_precision(precision: object) -> str:
    """One of :data:`PRECISIONS`; a retired name warns and gives the precision that replaced it."""
    if isinstance(precision, str) and precision in RETIRED_PRECISIONS:
        replacement = RETIRED_PRECISIONS[precision]
        warnings.warn(
            f'precision="{precision}" is retired and runs precision="{replacement}", which was '
            "faster on every block measured with the same ranking; pass it instead",
            DeprecationWarning,
            stacklevel=4,
        )
        return replacement
    return check_choice("precision", precision, PRECISIONS)


def check_sampler(sampler: object) -> str:
    return check_choice("sampler", sampler, SAMPLERS)


def check_repeats(repeats: object) -> int | str:
    if isinstance(repeats, str) and repeats == "auto":
        return "auto"
    return check_count("repeats", repeats, 1)


def check_target(stability: object) -> float:
    if isinstance(stability, bool) or not isinstance(stability, numbers.Real):
        raise TypeError(f"stability must be a number in (0, 1), got {stability!r}")
    if not 0 < stability < 1:
        raise ValueError(f"stability must be a number in (0, 1), got {stability!r}")
    return float(stability)


# Fields that say how a run executes, not what it computes: kept out of checkpoint manifests.
_EXECUTION = {"execution": True}
# Fields that matter only with repeats="auto".
_AUTO = {"auto": True}


@dataclass(frozen=True)
class Options:
    """What a scoring run computes (and with how many threads), checked when it is made.

    Every public entry point (``score``, ``score_part``, ``find_label_issues``, the CLI) builds
    one of these; the engine, the checkpoint manifest and the Dask tasks read it. Invalid values
    raise ``TypeError`` or ``ValueError`` naming the option. ``seed`` may be given as None or a
    NumPy ``Generator``/``RandomState`` (see :func:`check_seed`); it is always an int once made.

    Examples
    --------
    >>> Options(repeats=3).repeats
    3
    >>> Options(ratio=0)
    Traceback (most recent call last):
    ...
    ValueError: ratio must be a positive number or 'all', got 0
    """

    ratio: Ratio = 1.0
    repeats: int | str = "auto"
    seed: int = 0
    max_block: int | None = None
    precision: str = "single"
    sampler: str = "cover"
    stability: float = field(default=0.95, metadata=_AUTO)
    max_repeats: int = field(default=32, metadata=_AUTO)
    n_jobs: int | None = field(default=None, metadata=_EXECUTION)
    task: str = "classification"

    def __post_init__(self) -> None:
        checked = {
            "ratio": check_ratio(self.ratio),
            "repeats": check_repeats(self.repeats),
            "seed": check_seed(self.seed),
            "precision": check_precision(self.precision),
            "max_block": None
            if self.max_block is None
            else check_count("max_block", self.max_block, 2),
            "sampler": check_sampler(self.sampler),
            "stability": check_target(self.stability),
            "max_repeats": check_count("max_repeats", self.max_repeats, 2),
            "n_jobs": check_n_jobs(self.n_jobs),
            "task": check_choice("task", self.task, TASKS),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.task == "regression":
            for name, value in _CLASS_ONLY.items():
                if getattr(self, name) != value:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} draws the negatives of a class; "
                        "task='regression' has no classes (every block is a random share of all "
                        f"rows): leave {name} out"
                    )

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> Options:
        """Options from the entries of ``values`` named like a field; other entries are ignored.

        ``Options.pick(locals())`` is how a public function with one keyword per option (and
        the CLI, from its parsed flags) makes its options without naming each one again.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)

    def manifest(self) -> dict[str, Any]:
        """What the scores depend on, as JSON-ready values: a checkpoint's ``arguments``.

        A classification run's are those of every release (no ``task``); a regression run's
        name its task instead of the class options it has no use for.
        """
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not f.metadata.get("execution") and (self.auto or not f.metadata.get("auto"))
        }
        if self.task == "classification":
            del out["task"]
        else:
            for name in _CLASS_ONLY:
                del out[name]
        return out

    @property
    def auto(self) -> bool:
        """Whether repeats are added in rounds until the ranking is stable."""
        return self.repeats == "auto"

    @property
    def planned_repeats(self) -> int:
        """Repeats the plan holds: all of them, or with ``repeats="auto"`` the most it may run."""
        return self.max_repeats if self.repeats == "auto" else int(self.repeats)
