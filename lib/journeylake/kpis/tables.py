"""The KPI tables: names and schemas, defined once."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from journeylake.core.table_spec import TableSpec, schema

BUILT_AT, RUN_ID = "_built_at", "_run_id"

KPIS_DAILY = TableSpec(
    "gold_kpis_daily",
    schema(("kpi_date", DateType()), ("breakdown", StringType()),
           ("breakdown_value", StringType()), ("kpi", StringType()), ("value", DoubleType()),
           ("numerator", DoubleType()), ("denominator", DoubleType()),
           (BUILT_AT, TimestampType()), (RUN_ID, StringType())),
    # Not partitioned: a few hundred rows a day would make a file per day of almost nothing.
    keys=("kpi_date", "breakdown", "breakdown_value", "kpi"),
)
# Every KPI value with its baseline and band: what the dashboard draws.
KPI_BASELINES = TableSpec(
    "gold_kpi_baselines",
    schema(("kpi_date", DateType()), ("breakdown", StringType()),
           ("breakdown_value", StringType()), ("kpi", StringType()), ("value", DoubleType()),
           ("expected", DoubleType()), ("lower", DoubleType()), ("upper", DoubleType()),
           ("deviation", DoubleType()), ("history", IntegerType()),
           (BUILT_AT, TimestampType()), (RUN_ID, StringType())),
    keys=("kpi_date", "breakdown", "breakdown_value", "kpi"),
)
JOURNEY_CHANGE = StructType([
    StructField("from_touchpoint", StringType()), StructField("to_touchpoint", StringType()),
    StructField("baseline_probability", DoubleType()),
    StructField("day_probability", DoubleType()), StructField("change", DoubleType()),
])
ALERTS = TableSpec(
    "gold_alerts",
    schema(("alert_date", DateType()), ("kpi", StringType()), ("breakdown", StringType()),
           ("breakdown_value", StringType()), ("observed", DoubleType()),
           ("expected", DoubleType()), ("lower", DoubleType()), ("upper", DoubleType()),
           ("direction", StringType()), ("severity", StringType()), ("deviation", DoubleType()),
           ("moved_breakdown", StringType()), ("moved_breakdown_value", StringType()),
           ("moved_change", DoubleType()), ("journey_changes", ArrayType(JOURNEY_CHANGE)),
           (BUILT_AT, TimestampType()), (RUN_ID, StringType())),
    keys=("alert_date", "kpi", "breakdown", "breakdown_value"),
)
# The alert rules on gold_kpis_live: one row per closed 5-minute window and series out of band.
ALERTS_LIVE = TableSpec(
    "gold_alerts_live",
    schema(("alert_date", DateType()), ("window_start", TimestampType()),
           ("window_end", TimestampType()), ("kpi", StringType()), ("breakdown", StringType()),
           ("breakdown_value", StringType()), ("observed", DoubleType()),
           ("expected", DoubleType()), ("lower", DoubleType()), ("upper", DoubleType()),
           ("direction", StringType()), ("severity", StringType()), ("deviation", DoubleType()),
           ("moved_breakdown", StringType()), ("moved_breakdown_value", StringType()),
           ("moved_change", DoubleType()), (BUILT_AT, TimestampType())),
    keys=("window_start", "kpi", "breakdown", "breakdown_value"),
)
TABLES = (KPIS_DAILY, KPI_BASELINES, ALERTS, ALERTS_LIVE)
