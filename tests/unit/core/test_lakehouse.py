"""The lakehouse's preconditions and commit notes on real Delta tables under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
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
