"""The expectations on a generated lake: silver and gold record one audit row per expectation,
all passing; an orphan person planted in a copy of the timeline is reported with its id and
stops the job."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.quality import QualityError
from journeylake.gold import tables as gold_tables
from journeylake.quality.checks import check_tables
from journeylake.quality.tables import AUDIT_QUALITY
from journeylake.silver import tables as silver_tables
from tests.conftest import make_config
from tests.integration.conftest import GoldLake


def test_silver_and_gold_record_every_expectation_of_the_tables_they_wrote_all_passing(
        spark: SparkSession, gold_lake: GoldLake) -> None:
    config = gold_lake.config
    audit = lakehouse.read_table(spark, config, AUDIT_QUALITY)
    recorded = sorted((r.job, r.table_name, r.expectation, r.passed, r.failing_rows)
                      for r in audit.collect())
    configured = sorted(
        (job, spec.name, expectation.name, True, 0)
        for job, specs in (("silver", silver_tables.TABLES), ("gold", gold_tables.TABLES))
        for spec in specs if spec.name in config.quality.tables
        for expectation in config.quality.tables[spec.name].expectations)
    assert recorded == configured
    # One silver run, one gold run: each its own run id, and the version it evaluated.
    assert audit.select("job", "run_id").distinct().count() == 2
    versions = {r.table_name: r.table_version for r in audit.where(F.col("job") == "gold")
                .select("table_name", "table_version").distinct().collect()}
    assert versions[gold_tables.JOURNEYS.name] == lakehouse.table_version(
        spark, config, gold_tables.JOURNEYS)


def test_an_orphan_person_planted_in_the_timeline_is_reported_with_its_id_and_stops_the_job(
        spark: SparkSession, gold_lake: GoldLake, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    for spec in (silver_tables.EVENTS, silver_tables.IDENTITY_MAP):
        shutil.copytree(gold_lake.config.table_path(spec.name), config.table_path(spec.name))
    events = lakehouse.read_table(spark, config, silver_tables.EVENTS)
    orphan = events.where(F.col("person_id").isNotNull()).limit(1).select(
        F.lit("e_planted_orphan").alias("event_key"), F.lit("p_nobody").alias("person_id"),
        *[c for c in silver_tables.EVENTS.columns if c not in ("event_key", "person_id")])
    lakehouse.insert_new(spark, config, silver_tables.EVENTS, orphan)

    with pytest.raises(QualityError, match=r"^silver_events: hard expectation "
                                           r"references_person_id \(references\) failed on 1 of "
                                           r"\d+ rows; failing keys p_nobody$"):
        check_tables(spark, config, "silver", "planted", [silver_tables.EVENTS])
    [failed] = lakehouse.read_table(spark, config, AUDIT_QUALITY).where(~F.col("passed")).collect()
    assert (failed.table_name, failed.expectation, failed.failing_rows, failed.failing_keys,
            failed.run_id) == ("silver_events", "references_person_id", 1, ["p_nobody"],
                               "planted")
    assert failed.evaluated_at <= datetime.utcnow()
