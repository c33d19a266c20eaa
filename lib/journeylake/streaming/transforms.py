"""Streamed records as the lines batch ingestion reads: `_raw` (the record as it arrived) and
`_source_file` (where it came from), so the one path of `bronze.ingestion.classify_lines`
validates, quarantines and keys them exactly as `journeylake ingest` does."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.bronze.tables import RAW, SOURCE_FILE
from journeylake.core.columns import require_columns
from journeylake.streaming.tables import KAFKA_SCHEME

KAFKA_COLUMNS = ("value", "topic", "partition", "offset")


def kafka_lines(messages: DataFrame) -> DataFrame:
    """`_raw`, `_source_file` of Kafka messages (Spark's Kafka source: value, topic, partition,
    offset). The value is read as UTF-8 text; a message without a value (a tombstone) is an
    empty line, counted as blank rather than lost. `_source_file` names the message
    (kafka://topic/partition/offset), which tells apart two identical messages in quarantine."""
    require_columns(messages, KAFKA_COLUMNS, "kafka_lines")
    return messages.select(
        F.coalesce(F.col("value").cast("string"), F.lit("")).alias(RAW),
        F.concat(F.lit(KAFKA_SCHEME), F.col("topic"), F.lit("/"),
                 F.col("partition").cast("string"), F.lit("/"),
                 F.col("offset").cast("string")).alias(SOURCE_FILE),
    )


def stream_batch_id(source: str, query_id: str, batch: int) -> str:
    """The `_batch_id` of a micro-batch: stable across restarts of one query (its id lives in the
    checkpoint), so a replayed micro-batch classifies its own earlier rows as retries, not as
    duplicates (see `bronze.ingestion.flag_duplicate_keys`)."""
    return f"{stream_batch_prefix(source)}{query_id[:8]}-{batch:08d}"


def stream_batch_prefix(source: str) -> str:
    """What every streamed `_batch_id` of `source` starts with (batch ingestion's do not)."""
    return f"{source}-stream-"
