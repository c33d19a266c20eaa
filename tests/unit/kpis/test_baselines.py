"""Baselines on series small enough to work out by hand: the median and MAD of the days before,
never the day itself, and a weekly cycle learned rather than alerted."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.kpis.baselines import BASELINE_COLUMNS, MAD_TO_SD, MEDIAN_VARIANCE, kpi_baselines

SCHEMA = ("kpi_date date, breakdown string, breakdown_value string, kpi string, value double, "
          "numerator double, denominator double")
MONDAY = dt.date(2026, 6, 1)


def _series(spark: SparkSession, values: list[float | None], kpi: str = "sessions",
            start: dt.date = MONDAY) -> DataFrame:
    rows = [(start + dt.timedelta(days=i), "all", "all", kpi, value, None, None)
            for i, value in enumerate(values)]
    return spark.createDataFrame(rows, SCHEMA)


def _by_day(frame: DataFrame) -> dict[dt.date, dict]:
    return {row.kpi_date: row.asDict() for row in frame.collect()}


def test_the_expected_value_is_the_median_of_the_days_before_and_the_spread_their_mad(
        spark: SparkSession) -> None:
    # Seven days, each weekday once (no weekday profile), an outlier of 100 among them.
    values = [10.0, 12.0, 11.0, 100.0, 13.0, 9.0, 10.0, 500.0]
    rows = _by_day(kpi_baselines(_series(spark, values), window_days=7))
    eighth = rows[MONDAY + dt.timedelta(days=7)]
    assert eighth["value"] == 500.0 and eighth["history"] == 7
    # sorted 9 10 10 11 12 13 100: median 11; |deviations| 0 1 1 1 2 2 89: median 1.
    assert eighth["expected"] == 11.0
    assert math.isclose(eighth["spread"], MAD_TO_SD * 1.0)
    # A level from 7 days; the Monday's profile would need two Mondays, so none applies.
    assert math.isclose(eighth["inflation"], math.sqrt(1 + MEDIAN_VARIANCE / 7))


def test_the_first_day_has_no_baseline_and_a_day_never_counts_in_its_own(
        spark: SparkSession) -> None:
    rows = _by_day(kpi_baselines(_series(spark, [10.0, 30.0, 20.0]), window_days=7))
    first, second, third = (rows[MONDAY + dt.timedelta(days=i)] for i in range(3))
    assert first["expected"] is None and first["history"] == 0 and first["spread"] is None
    assert second["expected"] == 10.0 and second["history"] == 1
    assert third["expected"] == 20.0 and third["history"] == 2  # median of 10 and 30


def test_days_beyond_the_window_and_days_without_a_value_are_not_in_the_baseline(
        spark: SparkSession) -> None:
    values = [1000.0, None, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    rows = _by_day(kpi_baselines(_series(spark, values), window_days=7))
    last = rows[MONDAY + dt.timedelta(days=9)]
    # The 1000 of day 0 is 9 days back, outside the 7-day window; day 1 has no value.
    assert last["expected"] == 10.0 and last["history"] == 7 and last["spread"] == 0.0


def test_a_weekly_cycle_is_expected_on_its_weekday(spark: SparkSession) -> None:
    # Four weeks of 100 on weekdays and 150 on weekends, then a Saturday and a Monday.
    weeks = [150.0 if (MONDAY + dt.timedelta(days=i)).weekday() >= 5 else 100.0
             for i in range(30)]
    rows = _by_day(kpi_baselines(_series(spark, weeks), window_days=28))
    saturday, monday = MONDAY + dt.timedelta(days=33 - 7), MONDAY + dt.timedelta(days=28)
    assert saturday.weekday() == 5 and monday.weekday() == 0
    # A plain median of the 28 days (20 x 100, 8 x 150) would expect 100 on the Saturday.
    assert rows[saturday]["expected"] == 150.0
    assert rows[monday]["expected"] == 100.0
    assert rows[saturday]["spread"] == 0.0


def test_each_series_has_its_own_baseline(spark: SparkSession) -> None:
    frame = _series(spark, [10.0, 10.0, 10.0], "sessions").unionByName(
        _series(spark, [0.5, 0.5, 0.5], "conversion_rate"))
    rows = {(r.kpi, r.kpi_date): r.expected for r in
            kpi_baselines(frame, window_days=7).collect()}
    assert rows[("sessions", MONDAY + dt.timedelta(days=2))] == 10.0
    assert rows[("conversion_rate", MONDAY + dt.timedelta(days=2))] == 0.5


def test_the_output_keeps_every_input_row_with_the_baseline_columns(spark: SparkSession) -> None:
    result = kpi_baselines(_series(spark, [1.0, 2.0, None]), window_days=7)
    assert tuple(result.columns) == BASELINE_COLUMNS
    assert result.count() == 3


def test_a_window_shorter_than_a_week_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="cover a week"):
        kpi_baselines(_series(spark, [1.0]), window_days=6)
