"""The journey change of an alert day, on sessions whose transition graphs are worked out by
hand: a broken checkout shows as checkout_start -> (dropoff) replacing checkout_start ->
purchase."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from journeylake.kpis.journey_change import journey_changes

DAY = dt.date(2026, 6, 24)
SCHEMA = "session_id string, session_date date, converted boolean, touchpoints array<string>"


def _sessions(spark: SparkSession) -> DataFrame:
    rows = []
    for i in range(30):  # the baseline day: everyone who checks out buys
        rows.append((f"b{i}", DAY - dt.timedelta(days=1), True,
                     ["page_view", "checkout_start", "purchase"]))
    for i in range(30):  # the alert day: nobody does
        rows.append((f"d{i}", DAY, False, ["page_view", "checkout_start"]))
    for i in range(100):  # outside a 7-day window: must not count
        rows.append((f"o{i}", DAY - dt.timedelta(days=10), False, ["search"]))
    for i in range(5):  # after the day: must not count either
        rows.append((f"a{i}", DAY + dt.timedelta(days=1), False, ["search"]))
    return spark.createDataFrame(rows, SCHEMA)


def test_the_edges_that_moved_most_come_first_with_both_probabilities(
        spark: SparkSession) -> None:
    days = spark.createDataFrame([(DAY,)], "alert_date date")
    [row] = journey_changes(_sessions(spark), days, window_days=7, top=3,
                            min_transitions=20).collect()
    assert row.alert_date == DAY
    changes = [(c.from_touchpoint, c.to_touchpoint, c.baseline_probability, c.day_probability,
                c.change) for c in row.journey_changes]
    # (start) -> page_view and page_view -> checkout_start did not move (1.0 both sides); the
    # purchase -> (conversion) edge has no support on the day.
    assert changes == [
        ("checkout_start", "(dropoff)", 0.0, 1.0, 1.0),
        ("checkout_start", "purchase", 1.0, 0.0, -1.0),
        ("(start)", "page_view", 1.0, 1.0, 0.0),
    ]


def test_touchpoints_left_too_rarely_are_not_listed(spark: SparkSession) -> None:
    days = spark.createDataFrame([(DAY,)], "alert_date date")
    [row] = journey_changes(_sessions(spark), days, window_days=7, top=5,
                            min_transitions=31).collect() or [None]
    assert row is None  # 30 transitions out of each touchpoint on the day: all below 31


def test_each_alert_day_is_compared_with_its_own_window(spark: SparkSession) -> None:
    days = spark.createDataFrame([(DAY,), (DAY - dt.timedelta(days=1),)], "alert_date date")
    rows = {r.alert_date: r for r in journey_changes(
        _sessions(spark), days, window_days=7, top=1, min_transitions=20).collect()}
    # The day before has nothing in its own window but the 10-days-back sessions, which are 9
    # days before it: outside too, so no supported edge.
    assert set(rows) == {DAY}
