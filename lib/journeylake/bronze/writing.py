"""Writing one classified batch to bronze and the quarantine, exactly once, and checking what
Delta then holds. Shared by `journeylake ingest` (a batch of files) and `journeylake stream` (a
micro-batch)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.ingestion import BatchCounts, IngestCountMismatch
from journeylake.bronze.tables import BATCH_ID, EVENT_DATE, QUARANTINE, RECORD_KEY
from journeylake.core import lakehouse
from journeylake.core.config import Config, SourceSpec
from journeylake.core.faults import crash_point


def existing_keys(spark: SparkSession, config: Config, source: SourceSpec) -> DataFrame | None:
    """`_record_key`, `_batch_id` of the source's bronze table; None before its first write."""
    if not lakehouse.table_exists(spark, config, source.table_name):
        return None
    return lakehouse.read_table(spark, config, source.table_name).select(RECORD_KEY, BATCH_ID)


def write_batch(
    spark: SparkSession,
    config: Config,
    source: SourceSpec,
    kept: DataFrame,
    quarantined: DataFrame,
    write_id: str,
    write_version: int = 0,
    register_names: bool = True,
    job: str = "ingest",
) -> None:
    """Append the batch's quarantine rows, then its bronze rows, each skipped when a write with
    the same (`write_id`, `write_version`) already committed to that table: a retried batch
    (or a replayed micro-batch) is written once. Keys were checked against bronze when the batch
    was classified, so appends suffice. `job` names the crash points between and after the
    appends (`ingest` or `stream`)."""
    lakehouse.append_once(spark, config, QUARANTINE, quarantined, write_id,
                          write_version=write_version, register_name=register_names)
    crash_point(f"{job}.after_quarantine")
    partition_by = [EVENT_DATE] if source.event_time else []
    lakehouse.append_once(spark, config, source.table_name, kept, write_id, partition_by,
                          write_version=write_version, register_name=register_names)
    crash_point(f"{job}.after_bronze")


def verify_written(
    spark: SparkSession, config: Config, source: SourceSpec, batch_id: str, counts: BatchCounts
) -> None:
    """What the batch left in Delta must be what it classified: no row lost in a write."""
    in_bronze = (
        lakehouse.read_table(spark, config, source.table_name)
        .where(F.col(BATCH_ID) == batch_id)
        .count()
    )
    in_quarantine = (
        lakehouse.read_table_or_empty(spark, config, QUARANTINE)
        .where(F.col(BATCH_ID) == batch_id)
        .count()
    )
    if in_bronze != counts.rows_kept or in_quarantine != counts.rows_quarantined:
        raise IngestCountMismatch(
            f"{source.name}: batch {batch_id} kept {counts.rows_kept} and quarantined "
            f"{counts.rows_quarantined} rows, but Delta holds {in_bronze} in "
            f"{source.table_name} and {in_quarantine} in {QUARANTINE.name}"
        )
