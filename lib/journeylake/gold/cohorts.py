"""Cohorts: persons grouped by the period of their first event, and how many of them come back.

Periods are calendar days, weeks starting on Monday, or calendar months, all in UTC whatever
the session time zone.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.clock import utc_date
from journeylake.core.columns import require_columns
from journeylake.core.frames import union_all

PERIODS = ("day", "week", "month")
RETENTION_COLUMNS = (
    "period", "cohort_start", "period_offset", "cohort_size", "active_persons", "retention",
)


def _period_start(day: Column, period: str) -> Column:
    return day if period == "day" else F.trunc(day, period)  # trunc's weeks start on Monday


def _offset(start: Column, cohort: Column, period: str) -> Column:
    """Whole periods from the cohort's period start to the event's period start."""
    if period == "month":
        return (F.year(start) - F.year(cohort)) * 12 + F.month(start) - F.month(cohort)
    days = F.date_diff(start, cohort)
    return days if period == "day" else F.floor(days / 7)


def retention_matrix(events: DataFrame, period: str) -> DataFrame:
    """RETENTION_COLUMNS from events (person_id, ts; other columns are ignored).

    A person's cohort is the period of their first event (cohort_start: the date the period
    starts). period_offset counts whole periods from the cohort's start to the start of an
    event's period (calendar months for "month", so Jan 31 -> Feb 1 is 1). active_persons is the
    number of distinct persons of the cohort with at least one event in that period;
    cohort_size is that number at offset 0 (every person of the cohort), so offset 0 always has
    retention 1.0. Only offsets with at least one active person appear: a missing row means 0.
    Events without a person or a ts are ignored.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {list(PERIODS)}, got {period!r}")
    require_columns(events, ("person_id", "ts"), "retention_matrix")
    active = (
        events.where(F.col("person_id").isNotNull() & F.col("ts").isNotNull())
        .select("person_id", _period_start(utc_date("ts"), period).alias("_start"))
        .distinct()
    )
    person = Window.partitionBy("person_id")
    cohorts = active.withColumn("cohort_start", F.min("_start").over(person)).withColumn(
        "period_offset", _offset(F.col("_start"), F.col("cohort_start"), period).cast("int")
    )
    counted = cohorts.groupBy("cohort_start", "period_offset").agg(
        F.count(F.lit(1)).alias("active_persons")  # one row per person and period already
    )
    cohort = Window.partitionBy("cohort_start")
    size = F.max(F.when(F.col("period_offset") == 0, F.col("active_persons"))).over(cohort)
    return counted.select(
        F.lit(period).alias("period"),
        "cohort_start",
        "period_offset",
        size.cast("long").alias("cohort_size"),
        F.col("active_persons").cast("long").alias("active_persons"),
        (F.col("active_persons") / size).cast("double").alias("retention"),
    )


def retention_by_periods(events: DataFrame, periods: Sequence[str]) -> DataFrame:
    """RETENTION_COLUMNS of `retention_matrix` for each period (day, week, month)."""
    return union_all([retention_matrix(events, period) for period in periods])
