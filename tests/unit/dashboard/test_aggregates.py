"""The Spark side of the dashboard: what each chart collects is a few rows worked out in Spark,
checked here against numbers counted by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.dashboard import aggregates
from tests import dashboard_tables as fake

DAY = date(2026, 6, 1)


def test_score_histogram_counts_every_bin_of_every_model_and_puts_100_in_the_last(
    spark: SparkSession,
) -> None:
    scores = spark.createDataFrame(
        [("a", 0), ("a", 24), ("a", 25), ("a", 100), ("a", 99), ("b", 50), ("b", None)],
        "model string, score int")
    expected = spark.createDataFrame(
        [("a", 0, 0.0, 25.0, 2), ("a", 1, 25.0, 50.0, 1), ("a", 2, 50.0, 75.0, 0),
         ("a", 3, 75.0, 100.0, 2),
         ("b", 0, 0.0, 25.0, 0), ("b", 1, 25.0, 50.0, 0), ("b", 2, 50.0, 75.0, 1),
         ("b", 3, 75.0, 100.0, 0)],
        "model string, bin int, lower double, upper double, persons long")
    assert_df_equality(aggregates.score_histogram(scores, 4), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_clv_deciles_split_persons_into_tenths_of_their_clv(spark: SparkSession) -> None:
    clv = spark.range(1, 101).select(F.col("id").cast("double").alias("clv"))  # 1..100
    deciles = {r.decile: r for r in aggregates.clv_deciles(clv).collect()}
    assert sorted(deciles) == list(range(1, 11))
    for decile, row in deciles.items():
        assert row.persons == 10
        assert (row.lower, row.upper) == (10 * decile - 9, 10 * decile)
        assert row.total_clv == sum(range(10 * decile - 9, 10 * decile + 1))


def test_clv_deciles_keep_a_tie_at_a_bound_in_one_decile(spark: SparkSession) -> None:
    # Half the customers have no predicted value: they are one group, not five deciles of 0.
    clv = spark.createDataFrame([(0.0,)] * 50 + [(float(v),) for v in range(1, 51)], "clv double")
    deciles = {r.decile: r.persons for r in aggregates.clv_deciles(clv).collect()}
    assert deciles[1] == 50 and sum(deciles.values()) == 100
    assert set(deciles) == {1, 6, 7, 8, 9, 10}


def test_kpi_series_keeps_the_overall_breakdown_of_the_chosen_kpis_and_last_days(
    spark: SparkSession,
) -> None:
    baselines = fake.kpi_baselines(spark, DAY, days=14)
    series = aggregates.kpi_series(baselines, ["visitors"], 5)
    rows = series.collect()
    assert {r.kpi for r in rows} == {"visitors"}
    assert sorted(r.kpi_date for r in rows) == [DAY + timedelta(days=d) for d in range(9, 14)]
    assert series.columns == list(aggregates.KPI_SERIES_COLUMNS)


def test_kpi_series_of_gold_kpis_daily_has_no_band(spark: SparkSession) -> None:
    daily = spark.createDataFrame([(DAY, "all", "all", "orders", 3.0, None, None)],
                                  "kpi_date date, breakdown string, breakdown_value string, "
                                  "kpi string, value double, numerator double, "
                                  "denominator double")
    (row,) = aggregates.kpi_series(daily, ["orders"], 30).collect()
    assert (row.value, row.expected, row.lower, row.upper) == (3.0, None, None, None)


def test_latest_alerts_are_newest_first_then_critical_then_largest_deviation(
    spark: SparkSession,
) -> None:
    alerts = fake.alerts(spark, DAY)
    extra = fake.alerts(spark, DAY).where("severity = 'critical'").withColumn(
        "severity", F.lit("warning")).withColumn("deviation", F.lit(9.0))
    ordered = aggregates.latest_alerts(alerts.unionByName(extra), 10).collect()
    assert [(r.alert_date, r.severity, r.deviation) for r in ordered] == [
        (DAY, "critical", 6.0), (DAY, "warning", 9.0), (DAY - timedelta(days=1), "warning", -2.5)]
    assert len(aggregates.latest_alerts(alerts, 1).collect()) == 1


def test_latest_cohorts_keeps_the_newest_cohorts_of_one_period(spark: SparkSession) -> None:
    retention = spark.createDataFrame(
        [("day", DAY + timedelta(days=d), o, 10, 5, 0.5) for d in range(5) for o in range(2)]
        + [("week", DAY, 0, 40, 40, 1.0)],
        "period string, cohort_start date, period_offset int, cohort_size long, "
        "active_persons long, retention double")
    kept = aggregates.latest_cohorts(retention, "day", 2).collect()
    assert sorted({r.cohort_start for r in kept}) == [DAY + timedelta(days=3),
                                                      DAY + timedelta(days=4)]
    assert len(kept) == 4


def test_latest_segment_profiles_are_those_of_the_latest_model(spark: SparkSession) -> None:
    current = fake.segment_profiles(spark)
    older = current.withColumn("model_version", F.lit(0))
    assert aggregates.latest_segment_profiles(current.unionByName(older)).count() == 3


def test_a_missing_column_is_named(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match=r"score_histogram needs columns \['model', 'score'\]"):
        aggregates.score_histogram(spark.createDataFrame([("a",)], "model string"), 10)
