"""Row-for-row comparison of two tables (tests only)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import MapType


def comparable(frame: DataFrame) -> DataFrame:
    """The frame with each map column as its entries sorted by key: set operations refuse maps."""
    return frame.select(*[
        F.array_sort(F.map_entries(field.name)).alias(field.name)
        if isinstance(field.dataType, MapType) else F.col(field.name)
        for field in frame.schema.fields
    ])


def rows_only_in(left: DataFrame, right: DataFrame) -> tuple[int, int]:
    """(rows of left missing from right, rows of right missing from left), duplicates counted."""
    a, b = comparable(left), comparable(right.select(*left.columns))
    return a.exceptAll(b).count(), b.exceptAll(a).count()
