"""Writers racing on the same tables: two ingests of overlapping landed files at once, and an
ingest racing silver. Delta refuses the commit that lost (optimistic concurrency); journeylake
tries it again (`lakehouse.with_commit_retries`), and every row lands exactly once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import ingest
from journeylake.bronze.tables import AUDIT_INGESTION, INGEST_CLAIMS, INGESTED_FILES
from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.silver.job import build_silver
from journeylake.silver.pseudonymisation import load_key
from journeylake.silver.tables import AUDIT_SILVER, EVENTS, SILVER_BATCHES
from tests.conftest import make_config
from tests.integration.bronze.test_ingest_job import land
from tests.integration.streaming.lines import bronze_ids, planted, quarantined

pytestmark = pytest.mark.slow


def _land_files(config: Config, prefixes: str) -> tuple[list[str], list[str]]:
    """One clickstream file per prefix, 4 good events and 4 bad records in each: (good ids,
    bad lines)."""
    ids, bad = [], []
    for prefix in prefixes:
        lines, good_ids, bad_lines = planted(prefix, 4)
        land(config, "clickstream", f"clicks-{prefix}.jsonl", *lines)
        ids += good_ids
        bad += bad_lines
    return sorted(ids), sorted(bad)


def _at_once(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs in threads on the one session, started together."""
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], object]) -> object:
        start.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [future.result() for future in [pool.submit(run, job) for job in jobs]]


def _retries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("lost to a concurrent writer" in record.getMessage()
               for record in caplog.records if record.name == "journeylake.lakehouse")


def test_two_ingests_of_the_same_new_files_land_each_row_once(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "journeylake.lakehouse")
    config = make_config(tmp_path)
    ids, bad = _land_files(config, "abc")
    _at_once(lambda: ingest(spark, config, ["clickstream"]),
             lambda: ingest(spark, config, ["clickstream"]))

    assert bronze_ids(spark, config) == ids
    assert quarantined(spark, config) == bad
    files = lakehouse.read_table(spark, config, INGESTED_FILES)
    assert files.count() == files.select("file_path").distinct().count() == 3
    audits = lakehouse.read_table(spark, config, AUDIT_INGESTION).where(
        F.col("status") == "succeeded").select("batch_id", "rows_kept", "rows_quarantined")
    # One batch, audited once, whichever ingest finished it.
    assert [tuple(row) for row in audits.collect()] == [
        (files.first().batch_id, len(ids), len(bad))]
    logging.getLogger(__name__).info("commit retries: %d", _retries(caplog))


def test_files_claimed_by_a_killed_ingest_are_read_in_that_batch_with_the_new_ones(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    ids, bad = _land_files(config, "ab")
    listed = lakehouse.list_files(spark, config.source_path(config.sources["clickstream"]),
                                  "*.jsonl").orderBy("path").collect()
    # What an ingest killed after its claim left: both files claimed, nothing read.
    lakehouse.insert_new(spark, config, INGEST_CLAIMS, spark.createDataFrame(
        [("clickstream", row.path, row.modification_time, row.size_bytes, "clickstream-killed",
          utc_now()) for row in listed], INGEST_CLAIMS.schema))
    more_ids, more_bad = _land_files(config, "c")
    outcomes = ingest(spark, config, ["clickstream"])

    assert sorted((o.batch_id == "clickstream-killed", o.files) for o in outcomes) == [
        (False, 1), (True, 2)]
    assert bronze_ids(spark, config) == sorted(ids + more_ids)
    assert quarantined(spark, config) == sorted(bad + more_bad)
    # Run again: every file is recorded, nothing is read twice.
    assert [o.status for o in ingest(spark, config, ["clickstream"])] == ["no_new_files"]
    assert bronze_ids(spark, config) == sorted(ids + more_ids)


def test_an_ingest_racing_silver_loses_and_repeats_nothing(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "journeylake.lakehouse")
    config = make_config(tmp_path)
    first_ids, _ = _land_files(config, "ab")
    ingest(spark, config, ["clickstream"])
    second_ids, _ = _land_files(config, "cd")
    key = load_key(None)
    _at_once(lambda: ingest(spark, config, ["clickstream"]),
             lambda: build_silver(spark, config, key))
    build_silver(spark, config, key)  # whatever the race left for it

    events = lakehouse.read_table(spark, config, EVENTS)
    assert events.count() == events.select("event_key").distinct().count() == len(
        first_ids + second_ids)
    batches = lakehouse.read_table(spark, config, SILVER_BATCHES)
    assert batches.count() == batches.select("batch_id").distinct().count() == 2
    runs = lakehouse.read_table(spark, config, AUDIT_SILVER)
    assert runs.count() == runs.select("run_id").distinct().count() >= 1
    ingests = lakehouse.read_table(spark, config, AUDIT_INGESTION).where(
        F.col("status") == "succeeded")
    assert ingests.count() == ingests.select("batch_id").distinct().count() == 2
    logging.getLogger(__name__).info("commit retries: %d", _retries(caplog))
