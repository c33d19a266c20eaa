"""The quality audit: one row per expectation, table and job run."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    LongType,
    StringType,
    TimestampType,
)

from journeylake.core.table_spec import TableSpec, schema

_STRING = StringType()

AUDIT_QUALITY = TableSpec(
    "audit_quality",
    schema(("run_id", _STRING), ("job", _STRING), ("table_name", _STRING),
           ("table_version", LongType()), ("expectation", _STRING), ("kind", _STRING),
           ("severity", _STRING), ("passed", BooleanType()), ("failing_rows", LongType()),
           ("rows_checked", LongType()),
           # At most quality.sample_size keys of failing rows (or the failing values).
           ("failing_keys", ArrayType(_STRING)), ("detail", _STRING),
           ("evaluated_at", TimestampType())),
    keys=("run_id", "job", "table_name", "expectation"),
)

TABLES = (AUDIT_QUALITY,)
