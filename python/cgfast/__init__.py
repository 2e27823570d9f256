"""cgfast: complexity-gap data valuation without training a model, one Cholesky per block.

>>> import numpy as np, cgfast
>>> scores = cgfast.score(np.random.rand(100, 5), np.arange(100) % 2)
"""

from importlib.metadata import version as _version

from ._errors import (
    BlockTooLargeError,
    CacheWarning,
    CgfastWarning,
    CheckpointLockedError,
    CheckpointWarning,
    InternalError,
    PrecisionWarning,
    RidgeWarning,
    SingleExampleWarning,
    SingularKernelError,
    StabilityWarning,
)
from ._files import open_dataset
from ._progress import Progress
from ._score import complexity, gram, score, suggest_labels
from ._table import score_table, to_table
from .clean import Cleaned, clean
from .engine import ScoreTerms
from .noise import NoiseMatrix
from .parts import assemble, score_part
from .plan import Block, plan_blocks
from .prune import prune
from .rank import find_label_issues, noise_matrix, rank
from .regression import find_target_issues
from .report import write_report
from .suggest import LabelSuggestions
from .tabular import prepare_tabular

__version__ = _version("cgfast")  # Cargo.toml's version, through the package metadata

__all__ = [
    "Block",
    "BlockTooLargeError",
    "CacheWarning",
    "CgfastWarning",
    "CheckpointLockedError",
    "CheckpointWarning",
    "Cleaned",
    "InternalError",
    "LabelSuggestions",
    "NoiseMatrix",
    "PrecisionWarning",
    "Progress",
    "RidgeWarning",
    "ScoreTerms",
    "SingleExampleWarning",
    "SingularKernelError",
    "StabilityWarning",
    "assemble",
    "clean",
    "complexity",
    "find_label_issues",
    "find_target_issues",
    "gram",
    "noise_matrix",
    "open_dataset",
    "plan_blocks",
    "prepare_tabular",
    "prune",
    "rank",
    "score",
    "score_part",
    "score_table",
    "suggest_labels",
    "to_table",
    "write_report",
]
