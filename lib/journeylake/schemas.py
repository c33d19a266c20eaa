"""Column names and schemas shared by more than one module: one place, so a typo is an import
error rather than a wrong answer."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Ingestion metadata carried by every bronze row (team convention).
SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
BATCH_ID = "_batch_id"
RECORD_KEY = "_record_key"
# The raw line as it arrived, kept while a record is validated and in quarantine.
RAW = "_raw"
ERRORS = "_errors"
EVENT_DATE = "event_date"

INGESTION_METADATA = (RECORD_KEY, SOURCE_FILE, INGESTED_AT, BATCH_ID)

# One validation problem of one record: a stable code for machines and a sentence for people.
ERROR_TYPE = ArrayType(
    StructType([StructField("code", StringType()), StructField("message", StringType())])
)

QUARANTINE_TABLE = "quarantine"
QUARANTINE_SCHEMA = StructType(
    [
        StructField("quarantine_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("reason", StringType(), False),
        StructField("reason_codes", ArrayType(StringType()), False),
        StructField("raw_record", StringType()),
        StructField(SOURCE_FILE, StringType()),
        StructField(INGESTED_AT, TimestampType(), False),
        StructField(BATCH_ID, StringType(), False),
    ]
)

AUDIT_TABLE = "audit_ingestion"
AUDIT_SCHEMA = StructType(
    [
        StructField("batch_id", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("target_table", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), False),
        StructField("files", IntegerType(), False),
        StructField("rows_read", LongType(), False),
        StructField("rows_kept", LongType(), False),
        StructField("rows_quarantined", LongType(), False),
        StructField("blank_lines", LongType(), False),
        StructField("header_lines", LongType(), False),
        StructField("status", StringType(), False),
    ]
)

INGESTED_FILES_TABLE = "audit_ingested_files"
INGESTED_FILES_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("file_path", StringType(), False),
        StructField("modification_time", TimestampType(), False),
        StructField("size_bytes", LongType(), False),
        StructField("batch_id", StringType(), False),
        StructField(INGESTED_AT, TimestampType(), False),
    ]
)

# Silver tables (issue: identity, timeline, sessions, store visits).
IDENTITY_LINKS_TABLE = "silver_identity_links"
IDENTITY_MAP_TABLE = "silver_identity_map"
IDENTITY_DROPPED_TABLE = "silver_identity_dropped"
IDENTITY_CHANGES_TABLE = "silver_identity_merges"
EVENTS_TABLE = "silver_events"
SESSIONS_TABLE = "silver_sessions"
STORE_VISITS_TABLE = "silver_store_visits"
SILVER_AUDIT_TABLE = "audit_silver"
SILVER_BATCHES_TABLE = "audit_silver_batches"
SILVER_BATCHES_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("batch_id", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("processed_at", TimestampType(), False),
    ]
)
