"""pandas, imported when a table is asked for, with a message that says how to get it."""

from __future__ import annotations

from typing import Any


def pandas() -> Any:
    """The pandas module; ImportError saying what to install (or do instead) without it."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "the score table is a pandas DataFrame: pip install pandas "
            "(or write it with `cgfast score ... -o scores.csv`)"
        ) from None
    return pandas
