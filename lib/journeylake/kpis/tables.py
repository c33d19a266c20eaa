"""The KPI tables: names and schemas, defined once."""

from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, StringType, TimestampType

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
TABLES = (KPIS_DAILY,)
