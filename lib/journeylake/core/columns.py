"""The check every public transform makes at its boundary: the columns it needs are there.
Spark's own analysis error would come later and name neither the function nor what is present."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame


def require_columns(frame: DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming `what`, the missing columns and the ones present."""
    needed = list(columns)
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {needed}; missing {missing}, "
                         f"present {frame.columns}")
