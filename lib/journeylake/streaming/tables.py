"""The tables `journeylake stream` writes: bronze and the quarantine as batch ingestion declares
them (bronze.tables; the bronze table's columns come from the source contract), and
gold_kpis_live."""

from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, StringType, TimestampType

from journeylake.bronze.tables import QUARANTINE
from journeylake.core.table_spec import TableSpec, schema

UPDATED_AT = "_updated_at"
# The query names: a checkpoint folder each under spark.checkpoint_dir/streaming/.
INGEST_QUERY = "ingest"
LIVE_KPIS_QUERY = "live_kpis"
# `_source_file` of a record read from Kafka: kafka://<topic>/<partition>/<offset>.
KAFKA_SCHEME = "kafka://"

# Long format, one row per window, breakdown, breakdown value and KPI, like gold_kpis_daily: a
# band or threshold table keyed on (kpi, breakdown, breakdown_value) joins every series alike.
LIVE_KPIS = TableSpec(
    "gold_kpis_live",
    schema(("kpi_date", DateType()), ("window_start", TimestampType()),
           ("window_end", TimestampType()), ("breakdown", StringType()),
           ("breakdown_value", StringType()), ("kpi", StringType()), ("value", DoubleType()),
           ("numerator", DoubleType()), ("denominator", DoubleType()),
           (UPDATED_AT, TimestampType())),
    # Not partitioned: a few thousand rows a day; each micro-batch upserts the windows it touched.
    keys=("window_start", "breakdown", "breakdown_value", "kpi"),
)
TABLES = (QUARANTINE, LIVE_KPIS)
