"""Retention matrices by day, Monday-based week and calendar month."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.gold.cohorts import retention_by_periods, retention_matrix

SCHEMA = "event_key string, person_id string, ts timestamp"
MATRIX_SCHEMA = ("period string, cohort_start date, period_offset int, cohort_size long, "
                 "active_persons long, retention double")


@pytest.fixture(scope="module")
def visits(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        # a: Sat Jan 31, Sun Feb 1 (same week), Mon Feb 2 (next week, next month from Jan 31).
        ("a1", "a", datetime(2026, 1, 31, 10, 0)),
        ("a2", "a", datetime(2026, 2, 1, 9, 0)),
        ("a3", "a", datetime(2026, 2, 2, 8, 0)),
        # b: a second person of the Jan 31 cohort, back on Sun Mar 15 only.
        ("b1", "b", datetime(2026, 1, 31, 23, 0)),
        ("b2", "b", datetime(2026, 3, 15, 12, 0)),
        # c: first seen on Sun Feb 1 at midnight, twice that day, back on Mon Feb 9.
        ("c1", "c", datetime(2026, 2, 1, 0, 0)),
        ("c2", "c", datetime(2026, 2, 1, 12, 0)),
        ("c3", "c", datetime(2026, 2, 9, 7, 0)),
        # d: one visit on Mon Feb 2.
        ("d1", "d", datetime(2026, 2, 2, 18, 0)),
        # e: across the new year, Wed Dec 31 and Thu Jan 1 (same week).
        ("e1", "e", datetime(2025, 12, 31, 23, 59, 59)),
        ("e2", "e", datetime(2026, 1, 1, 0, 0, 0)),
        # Not a person: ignored.
        ("x1", None, datetime(2026, 1, 31, 10, 0)),
    ], SCHEMA)


def matrix(spark: SparkSession, period: str, *rows: tuple) -> DataFrame:
    return spark.createDataFrame([(period, *row) for row in rows], MATRIX_SCHEMA)


def assert_frames(actual: DataFrame, expected: DataFrame) -> None:
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_daily_cohorts_count_calendar_days_from_the_first_event(
    spark: SparkSession, visits: DataFrame
) -> None:
    # Jan 31 -> Mar 15 is 43 days; c's two events on Feb 1 make one active day.
    expected = matrix(
        spark, "day",
        (date(2025, 12, 31), 0, 1, 1, 1.0),
        (date(2025, 12, 31), 1, 1, 1, 1.0),
        (date(2026, 1, 31), 0, 2, 2, 1.0),
        (date(2026, 1, 31), 1, 2, 1, 0.5),
        (date(2026, 1, 31), 2, 2, 1, 0.5),
        (date(2026, 1, 31), 43, 2, 1, 0.5),
        (date(2026, 2, 1), 0, 1, 1, 1.0),
        (date(2026, 2, 1), 8, 1, 1, 1.0),
        (date(2026, 2, 2), 0, 1, 1, 1.0),
    )
    assert_frames(retention_matrix(visits, "day"), expected)


def test_weeks_start_on_monday_so_sunday_and_the_next_monday_differ(
    spark: SparkSession, visits: DataFrame
) -> None:
    # a, b and c (Sat Jan 31 and Sun Feb 1) share the week of Mon Jan 26; a's Mon Feb 2 is
    # offset 1, c's Mon Feb 9 offset 2, b's Sun Mar 15 (week of Mar 9) offset 6. d starts on
    # Mon Feb 2. e's Dec 31 and Jan 1 are both in the week of Mon Dec 29.
    expected = matrix(
        spark, "week",
        (date(2025, 12, 29), 0, 1, 1, 1.0),
        (date(2026, 1, 26), 0, 3, 3, 1.0),
        (date(2026, 1, 26), 1, 3, 1, 1 / 3),
        (date(2026, 1, 26), 2, 3, 1, 1 / 3),
        (date(2026, 1, 26), 6, 3, 1, 1 / 3),
        (date(2026, 2, 2), 0, 1, 1, 1.0),
    )
    assert_frames(retention_matrix(visits, "week"), expected)


def test_months_are_calendar_months_so_jan_31_to_feb_1_is_one(
    spark: SparkSession, visits: DataFrame
) -> None:
    # a: Jan, Feb -> 0, 1. b: Jan, Mar -> 0, 2. c and d: Feb only. e: Dec 2025, Jan 2026 -> 0, 1.
    expected = matrix(
        spark, "month",
        (date(2025, 12, 1), 0, 1, 1, 1.0),
        (date(2025, 12, 1), 1, 1, 1, 1.0),
        (date(2026, 1, 1), 0, 2, 2, 1.0),
        (date(2026, 1, 1), 1, 2, 1, 0.5),
        (date(2026, 1, 1), 2, 2, 1, 0.5),
        (date(2026, 2, 1), 0, 2, 2, 1.0),
    )
    assert_frames(retention_matrix(visits, "month"), expected)


def test_retention_by_periods_stacks_one_matrix_per_period(spark: SparkSession) -> None:
    events = spark.createDataFrame([
        # Mon Mar 30, Tue Mar 31 and Wed Apr 1 2026: one Monday-based week, two months.
        ("a1", "a", datetime(2026, 3, 30, 10, 0)),
        ("a2", "a", datetime(2026, 3, 31, 9, 0)),
        ("a3", "a", datetime(2026, 4, 1, 8, 0)),
        ("b1", "b", datetime(2026, 3, 30, 23, 0)),
        ("b2", "b", datetime(2026, 4, 1, 0, 30)),
        ("c1", "c", datetime(2026, 3, 31, 12, 0)),
    ], SCHEMA)
    # Days: a and b start on Mar 30; a is back on Mar 31, both on Apr 1; c starts on Mar 31.
    # Weeks: everyone in the week of Mon Mar 30. Months: a and b are back in April.
    expected = matrix(
        spark, "day",
        (date(2026, 3, 30), 0, 2, 2, 1.0),
        (date(2026, 3, 30), 1, 2, 1, 0.5),
        (date(2026, 3, 30), 2, 2, 2, 1.0),
        (date(2026, 3, 31), 0, 1, 1, 1.0),
    ).unionByName(matrix(
        spark, "week",
        (date(2026, 3, 30), 0, 3, 3, 1.0),
    )).unionByName(matrix(
        spark, "month",
        (date(2026, 3, 1), 0, 3, 3, 1.0),
        (date(2026, 3, 1), 1, 3, 2, 2 / 3),
    ))
    assert_frames(retention_by_periods(events, ["day", "week", "month"]), expected)


def test_an_unknown_period_is_refused(visits: DataFrame) -> None:
    with pytest.raises(ValueError, match="period"):
        retention_matrix(visits, "year")


def test_missing_columns_are_named(visits: DataFrame) -> None:
    with pytest.raises(ValueError, match="'ts'"):
        retention_matrix(visits.drop("ts"), "day")


def test_periods_are_utc_days_whatever_the_session_time_zone(spark: SparkSession) -> None:
    # 2026-02-01 03:00 UTC is still Jan 31 in Los Angeles.
    frame = spark.range(1).select(
        F.lit("p").alias("person_id"),
        F.timestamp_micros(F.lit(1_769_914_800_000_000)).alias("ts"),
    )
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        row = retention_matrix(frame, "day").first()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert row.cohort_start == date(2026, 2, 1)
