"""Daily KPIs (`definitions.KPIS`) per UTC day, overall and per channel and segment, in long form:
one row per day, breakdown, breakdown value and KPI, so that every series gets the same baseline
and alert code.

The grid is complete: every day from the first to the last with data, for every series seen on
any day, so a channel whose sessions stop shows a 0 rather than a missing row (a count with no
event is 0; a ratio whose denominator is 0 is NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.clock import utc_date
from journeylake.core.columns import require_columns
from journeylake.core.frames import union_all
from journeylake.kpis.definitions import ALL, CHANNEL, KPI_NAMES, SEGMENT, UNASSIGNED, kpi

KPI_COLUMNS = ("kpi_date", "breakdown", "breakdown_value", "kpi", "value", "numerator",
               "denominator")
UNKNOWN_CHANNEL = "unknown"
ADD_TO_CART = "add_to_cart"
UNSUBSCRIBE = "unsubscribe"
_SERIES = ("breakdown", "breakdown_value", "kpi")


def _breakdowns(channel: Column, segment: Column) -> Column:
    """The (breakdown, breakdown_value) pairs a row counts in: all, its channel, its segment."""
    def pair(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("breakdown"), value.alias("breakdown_value"))
    return F.array(pair(ALL, F.lit(ALL)),
                   pair(CHANNEL, F.coalesce(channel, F.lit(UNKNOWN_CHANNEL))),
                   pair(SEGMENT, F.coalesce(segment, F.lit(UNASSIGNED))))


def _counted(rows: DataFrame, channel: Column, aggregates: Sequence[Column]) -> DataFrame:
    """`aggregates` of rows (kpi_date, segment_label, ...) per day and breakdown pair."""
    return (
        rows.select("*", F.inline(_breakdowns(channel, F.col("segment_label"))))
        .groupBy("kpi_date", "breakdown", "breakdown_value")
        .agg(*aggregates)
    )


def _long(wide: DataFrame, measures: Sequence[tuple[str, str, str | None]]) -> DataFrame:
    """KPI_COLUMNS from one row per day and breakdown pair: each measure is (kpi, numerator
    column, denominator column or None for a count)."""
    def entry(name: str, numerator: str, denominator: str | None) -> Column:
        top = F.col(numerator).cast("double")
        bottom = F.col(denominator).cast("double") if denominator else F.lit(None).cast("double")
        return F.struct(F.lit(name).alias("kpi"), top.alias("numerator"),
                        bottom.alias("denominator"))
    return wide.select("kpi_date", "breakdown", "breakdown_value",
                       F.inline(F.array(*[entry(*m) for m in measures])))


def _with_segments(rows: DataFrame, segments: DataFrame) -> DataFrame:
    return rows.join(segments.select("person_id", "segment_label"), "person_id", "left")


def _session_kpis(sessions: DataFrame, segments: DataFrame) -> DataFrame:
    with_cart = F.array_contains("touchpoints", ADD_TO_CART)
    converted = F.coalesce(F.col("converted"), F.lit(False))
    rows = _with_segments(sessions, segments).select(
        utc_date("start_ts").alias("kpi_date"), "person_id", "segment_label", "entry_channel",
        converted.alias("_converted"), with_cart.alias("_cart"))
    wide = _counted(rows, F.col("entry_channel"), [
        F.count_distinct("person_id").alias("visitors"),
        F.count(F.lit(1)).alias("sessions"),
        F.count_if("_converted").alias("converted_sessions"),
        F.count_if("_cart").alias("cart_sessions"),
        F.count_if(F.col("_cart") & ~F.col("_converted")).alias("abandoned_sessions"),
    ])
    return _long(wide, [
        ("visitors", "visitors", None), ("sessions", "sessions", None),
        ("conversion_rate", "converted_sessions", "sessions"),
        ("add_to_cart_rate", "cart_sessions", "sessions"),
        ("cart_abandonment", "abandoned_sessions", "cart_sessions"),
    ])


def _order_kpis(events: DataFrame, segments: DataFrame, conversions: Sequence[str]
                ) -> DataFrame:
    orders = events.where(F.col("touchpoint").isin(list(conversions))).select(
        "person_id", "channel", "revenue", utc_date("ts").alias("kpi_date"))
    first_orders = orders.where(F.col("person_id").isNotNull()).groupBy("person_id").agg(
        F.min("kpi_date").alias("_first_order_date"))
    rows = _with_segments(orders.join(first_orders, "person_id", "left"), segments)
    wide = _counted(rows, F.col("channel"), [
        F.count(F.lit(1)).alias("orders"),
        F.coalesce(F.sum("revenue"), F.lit(0)).alias("revenue"),
        F.count_distinct(F.when(F.col("kpi_date") == F.col("_first_order_date"),
                                F.col("person_id"))).alias("new_customers"),
        F.count_distinct(F.when(F.col("kpi_date") > F.col("_first_order_date"),
                                F.col("person_id"))).alias("returning_customers"),
    ])
    return _long(wide, [
        ("orders", "orders", None), ("revenue", "revenue", None),
        ("average_order_value", "revenue", "orders"),
        ("new_customers", "new_customers", None),
        ("returning_customers", "returning_customers", None),
    ])


def _unsubscribe_kpis(events: DataFrame, segments: DataFrame) -> DataFrame:
    rows = _with_segments(events.where(F.col("touchpoint") == UNSUBSCRIBE).select(
        "person_id", "channel", utc_date("ts").alias("kpi_date")), segments)
    wide = _counted(rows, F.col("channel"), [F.count(F.lit(1)).alias("unsubscribes")])
    return _long(wide, [("unsubscribes", "unsubscribes", None)])


def _churn_kpis(events: DataFrame, segments: DataFrame, churn_days: int, data_end: date
                ) -> DataFrame:
    last = events.where(F.col("person_id").isNotNull()).groupBy("person_id").agg(
        F.max("ts").alias("_last_ts"), F.max_by("channel", "ts").alias("channel"))
    lapsed = last.select("person_id", "channel", F.date_add(
        utc_date("_last_ts"), churn_days).alias("kpi_date")).where(
        F.col("kpi_date") <= F.lit(data_end))
    wide = _counted(_with_segments(lapsed, segments), F.col("channel"),
                    [F.count(F.lit(1)).alias("churned")])
    return _long(wide, [("churned", "churned", None)])


def _complete(measured: DataFrame) -> DataFrame:
    """Every day from the first to the last, for every series measured on any day."""
    days = measured.agg(F.min("kpi_date").alias("_first"), F.max("kpi_date").alias("_last")
                        ).select(F.explode(F.sequence("_first", "_last")).alias("kpi_date"))
    series = measured.select(*_SERIES).distinct()
    grid = days.crossJoin(series)  # a few hundred series x the days: small on both sides
    return grid.join(measured, ["kpi_date", *_SERIES], "left")


def daily_kpis(
    sessions: DataFrame,
    events: DataFrame,
    segments: DataFrame,
    *,
    conversion_touchpoints: Sequence[str],
    churn_days: int,
    data_end: date,
) -> DataFrame:
    """KPI_COLUMNS: every KPI of `definitions.KPIS` per day and breakdown.

    sessions: silver_sessions (person_id, start_ts, entry_channel, touchpoints, converted).
    events: the timeline (person_id, ts, channel, touchpoint, revenue in the reporting
    currency). segments: person_id, segment_label (gold_segments; may be empty).
    conversion_touchpoints: the touchpoints that are orders. data_end: the last day with data
    (churn is only known up to it). A count is `value` with NULL numerator and denominator; a
    ratio is numerator / denominator, NULL when the denominator is 0.
    """
    require_columns(sessions, ("person_id", "start_ts", "entry_channel", "touchpoints",
                               "converted"), "daily_kpis sessions")
    require_columns(events, ("person_id", "ts", "channel", "touchpoint", "revenue"),
                    "daily_kpis events")
    require_columns(segments, ("person_id", "segment_label"), "daily_kpis segments")
    if churn_days < 1:
        raise ValueError(f"churn_days must be at least 1, got {churn_days}")
    measured = union_all([
        _session_kpis(sessions, segments),
        _order_kpis(events, segments, conversion_touchpoints),
        _unsubscribe_kpis(events, segments),
        _churn_kpis(events, segments, churn_days, data_end),
    ])
    complete = _complete(measured)
    ratios = [name for name in KPI_NAMES if kpi(name).is_ratio]
    is_ratio = F.col("kpi").isin(ratios)
    numerator = F.coalesce(F.col("numerator"), F.lit(0.0))
    denominator = F.coalesce(F.col("denominator"), F.lit(0.0))
    return complete.select(
        "kpi_date", "breakdown", "breakdown_value", "kpi",
        F.when(~is_ratio, numerator)
        .when(denominator > 0, numerator / denominator).alias("value"),
        F.when(is_ratio, numerator).alias("numerator"),
        F.when(is_ratio, denominator).alias("denominator"),
    )
