"""Bronze: the metadata every bronze row carries, the quarantine and the ingestion audit.

The bronze table of each source (`bronze_<source>`) takes its columns from the source's contract
(`conf/sources/<source>.yaml`) followed by `INGESTION_METADATA` and, for a source with an event
time, `event_date` (its partition column).
"""

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

from journeylake.core.lakehouse import RAW_LINE, SOURCE_FILE
from journeylake.core.table_spec import TableSpec

# Ingestion metadata carried by every bronze row (team convention); SOURCE_FILE is set where a
# landed line is read.
INGESTED_AT = "_ingested_at"
BATCH_ID = "_batch_id"
RECORD_KEY = "_record_key"
# The raw line as it arrived, kept while a record is validated and in quarantine.
RAW = RAW_LINE
ERRORS = "_errors"
EVENT_DATE = "event_date"

INGESTION_METADATA = (RECORD_KEY, SOURCE_FILE, INGESTED_AT, BATCH_ID)

QUARANTINE = TableSpec(
    "quarantine",
    StructType(
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
    ),
    keys=("quarantine_id",),
)

AUDIT_INGESTION = TableSpec(
    "audit_ingestion",
    StructType(
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
    ),
)

# Which landed files were read, so the next run picks up only new ones.
INGESTED_FILES = TableSpec(
    "audit_ingested_files",
    StructType(
        [
            StructField("source", StringType(), False),
            StructField("file_path", StringType(), False),
            StructField("modification_time", TimestampType(), False),
            StructField("size_bytes", LongType(), False),
            StructField("batch_id", StringType(), False),
            StructField(INGESTED_AT, TimestampType(), False),
        ]
    ),
)

# Which batch reads each landed file, decided before any row is written: two ingests that list
# the same new files (run at once, or one killed and run again) read each file in one batch,
# whose writes are idempotent, so its rows land once whoever finishes it.
INGEST_CLAIMS = TableSpec(
    "audit_ingest_claims",
    StructType(
        [
            StructField("source", StringType(), False),
            StructField("file_path", StringType(), False),
            StructField("modification_time", TimestampType(), False),
            StructField("size_bytes", LongType(), False),
            StructField("batch_id", StringType(), False),
            StructField("claimed_at", TimestampType(), False),
        ]
    ),
    keys=("source", "file_path", "modification_time"),
)

TABLES = (QUARANTINE, AUDIT_INGESTION, INGESTED_FILES, INGEST_CLAIMS)
