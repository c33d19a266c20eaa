"""Small hand-made tables for the dashboard's tests: the KPI baselines and alerts (of the
schemas in kpis/tables.py) and the model tables the gold lakes of the integration tests do not
train."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.kpis import tables as kpi_tables
from journeylake.models import tables as model_tables

BUILT = datetime(2026, 7, 1, 6, 0)


def kpi_baselines(spark: SparkSession, first: date, days: int = 14) -> DataFrame:
    """visitors and orders over `days` days from `first`, overall and for one channel; the
    band starts on day 4 (no history before it); visitors spike on the last day."""
    rows = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        for breakdown, value_of, scale in (("all", "all", 1.0), ("channel", "email", 0.2)):
            for kpi, level in (("visitors", 100.0), ("orders", 10.0)):
                value = level * scale * (1.6 if offset == days - 1 and kpi == "visitors" else
                                         1 + 0.03 * (offset % 3))
                known = offset >= 3
                rows.append((day, breakdown, value_of, kpi, value,
                             level * scale if known else None,
                             level * scale * 0.9 if known else None,
                             level * scale * 1.1 if known else None,
                             (value - level * scale) / (0.025 * level * scale) if known else None,
                             offset, BUILT, "fake"))
    return spark.createDataFrame(rows, kpi_tables.KPI_BASELINES.schema)


def alerts(spark: SparkSession, day: date) -> DataFrame:
    """A critical visitors spike on `day` overall, explained by email and two journey changes,
    and a warning on the email channel's orders the day before."""
    changes = [("(start)", "email_click", 0.10, 0.30, 0.20),
               ("email_click", "product_view", 0.50, 0.45, -0.05)]
    return spark.createDataFrame([
        (day, "visitors", "all", "all", 160.0, 100.0, 90.0, 110.0, "up", "critical", 6.0,
         "channel", "email", 40.0, changes, BUILT, "fake"),
        (day - timedelta(days=1), "orders", "channel", "email", 1.0, 2.0, 1.8, 2.2, "down",
         "warning", -2.5, None, None, None, [], BUILT, "fake"),
    ], kpi_tables.ALERTS.schema)


def _stamped(frame: DataFrame) -> DataFrame:
    return frame.withColumn("_built_at", F.lit(BUILT)).withColumn("_run_id", F.lit("fake"))


def segment_profiles(spark: SparkSession) -> DataFrame:
    rows = [(0, "bargain hunters", 60, 0.6, {"orders_28d": 1.0, "sessions_28d": 9.0}),
            (1, "loyal", 30, 0.3, {"orders_28d": 4.0, "sessions_28d": 12.0}),
            (2, "lapsed", 10, 0.1, {"orders_28d": 0.0, "sessions_28d": 1.0})]
    frame = spark.createDataFrame(rows, "segment int, segment_label string, persons long, "
                                        "share double, feature_means map<string,double>")
    return _stamped(frame.select("*", F.lit("kmeans").alias("algorithm"),
                                 F.lit(3).alias("k"), F.lit(0.41).alias("silhouette"),
                                 F.lit(1).alias("model_version"),
                                 F.lit(date(2026, 6, 30)).alias("reference_date")))


def scores(spark: SparkSession, persons: int = 200) -> DataFrame:
    """Two models' scores for `persons` persons, spread over 0..100."""
    frame = spark.range(persons).select(
        F.format_string("p_%04d", "id").alias("person_id"),
        F.explode(F.array(F.lit("purchase"), F.lit("churn"))).alias("model"), "id")
    score = F.when(F.col("model") == "purchase", F.col("id") % 101).otherwise(
        (F.col("id") * 7) % 101).cast("int")
    return _stamped(frame.select(
        "person_id", "model", F.lit(1).alias("model_version"),
        (score / 100).alias("probability"), score.alias("score"),
        (F.least(F.floor(score / 10), F.lit(9)) + 1).cast("int").alias("decile"),
        F.lit(0).alias("segment"), F.lit("loyal").alias("segment_label"),
        (F.col("id") * 1.5).alias("clv"), F.lit(date(2026, 6, 30)).alias("reference_date"),
        F.lit("hash").alias("feature_hash"), F.lit(BUILT).alias("scored_at")))


def clv(spark: SparkSession, persons: int = 200) -> DataFrame:
    frame = spark.range(persons).select(
        F.format_string("p_%04d", "id").alias("person_id"),
        F.lit(date(2026, 6, 30)).alias("reference_date"), F.lit(365.0).alias("horizon_days"),
        (F.col("id") % 5).alias("frequency"), F.lit(20.0).alias("recency"),
        F.lit(30.0).alias("T"), F.lit(50.0).alias("monetary_value"),
        (F.col("id") % 5 + 1).alias("orders"), F.lit(100.0).alias("total_value"),
        F.lit(2.0).alias("expected_purchases"), F.lit(0.8).alias("probability_alive"),
        F.lit(50.0).alias("expected_order_value"),
        (F.col("id") * F.col("id") / 100.0).alias("clv"))
    return _stamped(frame)


def write_fake_tables(spark: SparkSession, config: Config, kpi_start: date) -> None:
    """The KPI baselines and alerts and the segment, score and CLV tables, into the lake."""
    days = 14
    lakehouse.overwrite_table(spark, config, kpi_tables.KPI_BASELINES,
                              kpi_baselines(spark, kpi_start, days))
    lakehouse.overwrite_table(spark, config, kpi_tables.ALERTS,
                              alerts(spark, kpi_start + timedelta(days=days - 1)))
    lakehouse.overwrite_table(spark, config, model_tables.SEGMENT_PROFILES,
                              segment_profiles(spark))
    lakehouse.overwrite_table(spark, config, model_tables.SCORES, scores(spark))
    lakehouse.overwrite_table(spark, config, model_tables.CLV, clv(spark))
