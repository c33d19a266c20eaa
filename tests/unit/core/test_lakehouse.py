"""The lakehouse's preconditions and commit notes on real Delta tables under tmp_path."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType

from journeylake.core import lakehouse
from journeylake.core.job_runner import JobError
from journeylake.core.table_spec import TableSpec, schema
from tests.conftest import make_config

NOTED = TableSpec("noted", schema(("id", LongType()), ("day", StringType())),
                  partition_by=("day",))
ABSENT = TableSpec("absent", schema(("id", LongType())))


def test_a_missing_table_names_itself_and_the_command_that_builds_it(
    spark: SparkSession, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "spark.catalog=in-memory")
    lakehouse.overwrite_partitions(spark, config, NOTED,
                                   spark.createDataFrame([(1, "d1")], "id long, day string"))
    lakehouse.require_tables(spark, config, (NOTED,), "report", "build")
    with pytest.raises(JobError, match=r"^report reads absent, which does not exist yet: run "
                                       r"`journeylake build` first$"):
        lakehouse.require_tables(spark, config, (NOTED, ABSENT), "report", "build")


def test_the_latest_commit_note_is_the_last_write_s(spark: SparkSession, tmp_path: Path
                                                    ) -> None:
    config = make_config(tmp_path, "spark.catalog=in-memory")
    assert lakehouse.latest_commit_note(spark, config, NOTED) is None
    rows = spark.createDataFrame([(1, "d1")], "id long, day string")
    lakehouse.overwrite_partitions(spark, config, NOTED, rows, "built from v1")
    assert lakehouse.latest_commit_note(spark, config, NOTED) == "built from v1"
    lakehouse.overwrite_partitions(spark, config, NOTED, rows)
    assert lakehouse.latest_commit_note(spark, config, NOTED) is None
    assert lakehouse.table_version(spark, config, NOTED) == 1


KEYED = TableSpec("keyed", schema(("id", LongType()), ("day", StringType())), keys=("id",))


def test_a_stream_write_is_skipped_unless_its_micro_batch_is_newer(
    spark: SparkSession, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "spark.catalog=in-memory")
    def append(version: int, row_id: int) -> None:
        rows = spark.createDataFrame([(row_id, "d1")], "id long, day string")
        lakehouse.append_once(spark, config, KEYED, rows, "stream-q1", write_version=version,
                              register_name=False)
    append(0, 1)
    append(1, 2)
    append(1, 3)  # micro-batch 1 replayed: already committed
    append(0, 4)  # an older one: also skipped
    append(2, 5)
    ids = sorted(row.id for row in lakehouse.read_table(spark, config, KEYED).collect())
    assert ids == [1, 2, 5]


def test_an_upsert_inserts_new_keys_and_updates_known_ones(
    spark: SparkSession, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "spark.catalog=in-memory")
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id long, day string")
    lakehouse.upsert(spark, config, KEYED, first)
    lakehouse.upsert(spark, config, KEYED, spark.createDataFrame([(2, "c"), (3, "d")],
                                                                 "id long, day string"))
    lakehouse.upsert(spark, config, KEYED, spark.createDataFrame([(3, "d")],
                                                                 "id long, day string"))
    rows = sorted((row.id, row.day) for row in lakehouse.read_table(spark, config, KEYED)
                  .collect())
    assert rows == [(1, "a"), (2, "c"), (3, "d")]


def _delta_conflict(spark: SparkSession, kind: str) -> CapturedException:
    """Delta's own exception for a commit that lost to another (as a write raises it)."""
    java = getattr(spark._jvm.io.delta.exceptions, kind)(f"{kind}: a concurrent commit won")
    return CapturedException(origin=java)


def test_a_commit_that_lost_to_another_writer_is_tried_again_up_to_the_bound(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path, "lakehouse.commit_retries=2",
                         "lakehouse.commit_backoff_seconds=0.01")
    attempts = []

    def losing_twice() -> str:
        attempts.append(1)
        if len(attempts) <= 2:
            raise _delta_conflict(spark, "ConcurrentAppendException")
        return "committed"

    assert lakehouse.with_commit_retries(config, "t", losing_twice) == "committed"
    assert len(attempts) == 3

    def always_losing() -> None:
        raise _delta_conflict(spark, "MetadataChangedException")

    with pytest.raises(lakehouse.CommitConflictError, match="t: the write lost to concurrent "
                       "writers 3 times"):
        lakehouse.with_commit_retries(config, "t", always_losing)


def test_errors_that_are_not_commit_conflicts_are_not_retried(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path, "lakehouse.commit_backoff_seconds=0.01")
    attempts = []

    def failing() -> None:
        attempts.append(1)
        spark.sql("SELECT * FROM delta.`/no/such/table`").collect()

    with pytest.raises(AnalysisException):
        lakehouse.with_commit_retries(config, "t", failing)
    assert len(attempts) == 1
    assert not lakehouse.is_commit_conflict(ValueError("no"))


def test_two_writers_creating_one_table_at_once_both_land_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    table = TableSpec("raced", schema(("k", StringType()), ("n", LongType())), keys=("k",))
    start = threading.Barrier(2)

    def insert(rows: list[tuple[str, int]]) -> None:
        start.wait()
        lakehouse.insert_new(spark, config, table, spark.createDataFrame(rows, table.schema))

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(insert, [("a", 1), ("b", 2)]),
                       pool.submit(insert, [("b", 2), ("c", 3)])]:
            future.result()
    stored = sorted(tuple(row) for row in lakehouse.read_table(spark, config, table).collect())
    assert stored == [("a", 1), ("b", 2), ("c", 3)]


def test_naming_a_table_another_job_named_after_the_lookup_is_not_an_error(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two ingests in one session both found audit_ingestion unnamed and both named it.
    config = make_config(tmp_path, "spark.catalog=in-memory")
    lakehouse.overwrite_partitions(spark, config, NOTED,
                                   spark.createDataFrame([(1, "d1")], "id long, day string"))
    monkeypatch.setattr(spark.catalog, "tableExists", lambda name: False)
    lakehouse._register(spark, config.lakehouse.database, "noted", config.table_path("noted"))
    monkeypatch.undo()
    assert spark.table(f"{config.lakehouse.database}.noted").count() == 1
