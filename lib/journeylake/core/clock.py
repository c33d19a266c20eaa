"""Time, defined once: the current UTC time as Spark wants it, and timestamps as epoch seconds
or UTC dates whatever the session time zone is."""

from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import Column
from pyspark.sql import functions as F

_MICROS_PER_SECOND = 1_000_000
_MICROS_PER_DAY = 86_400 * _MICROS_PER_SECOND


def utc_now() -> datetime:
    """Now in UTC, without a time zone: Spark reads a naive datetime in the session time zone,
    which journeylake pins to UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _column(ts: Column | str) -> Column:
    return F.col(ts) if isinstance(ts, str) else ts


def epoch_seconds(ts: Column | str) -> Column:
    """Seconds since the epoch as a double, keeping the microseconds."""
    return F.unix_micros(_column(ts)) / F.lit(_MICROS_PER_SECOND)


def utc_date(ts: Column | str) -> Column:
    """The UTC date of a timestamp: `to_date` would use the session time zone, the day of the
    epoch microseconds never does."""
    return F.date_from_unix_date(
        F.floor(F.unix_micros(_column(ts)) / F.lit(_MICROS_PER_DAY)).cast("int"))
