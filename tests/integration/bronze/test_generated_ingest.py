"""Generate a small data set with planted bad records, ingest it, and hold the lakehouse to the
planted truth: exact counts per source, a quarantine reason for every injected kind, an idempotent
re-run and a second delivery picked up incrementally."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import SourceOutcome, ingest
from journeylake.bronze.tables import QUARANTINE
from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.generator import generate
from tests.conftest import make_config

pytestmark = pytest.mark.slow

EVENT_SOURCES = ("clickstream", "social", "geolocation", "transactions")


@dataclasses.dataclass
class Lake:
    config: Config
    planted_lines: dict[str, int]
    planted_bad: Counter  # (source, kind) -> lines
    first: list[SourceOutcome]
    second: list[SourceOutcome]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("e2e")
    config = make_config(
        root,
        "generate.customers=40",
        "generate.days=6",
        "generate.bad_share=0.08",
        "generate.files_per_source=2",
    )
    manifest = generate(spark, config.generate, config.resolve(config.lakehouse.landing_root))
    planted_lines = {source: rows["lines_written"] for source, rows in manifest["rows"].items()}
    planted_bad = Counter(
        {
            (source, kind): count
            for source, kinds in manifest["bad_records"].items()
            for kind, count in kinds.items()
            if count
        }
    )
    first = ingest(spark, config)
    second = ingest(spark, config)
    yield Lake(config, planted_lines, planted_bad, first, second)


def outcome(outcomes: list[SourceOutcome], source: str) -> SourceOutcome:
    return next(o for o in outcomes if o.source == source)


@pytest.mark.parametrize("source", [*EVENT_SOURCES, "stores"])
def test_every_planted_line_is_kept_or_quarantined(lake: Lake, source: str) -> None:
    counts = outcome(lake.first, source).counts
    bad = sum(n for (src, _), n in lake.planted_bad.items() if src == source)
    assert counts.rows_read == lake.planted_lines[source]
    assert counts.rows_quarantined == bad
    assert counts.rows_kept == lake.planted_lines[source] - bad


def test_each_injected_kind_is_quarantined_with_its_reason(spark: SparkSession, lake: Lake) -> None:
    quarantine = lakehouse.read_table(spark, lake.config, QUARANTINE)
    found = Counter(
        {
            (r.source, r.code): r["count"]
            for r in quarantine.select("source", F.explode("reason_codes").alias("code"))
            .groupBy("source", "code")
            .count()
            .collect()
        }
    )
    assert found == lake.planted_bad
    kinds = {kind for _, kind in lake.planted_bad}
    assert kinds == {
        "malformed_record",
        "missing_required",
        "bad_type",
        "out_of_range",
        "not_allowed",
        "future_timestamp",
        "duplicate_key",
    }


def test_bronze_tables_hold_the_kept_rows_and_are_registered(
    spark: SparkSession, lake: Lake
) -> None:
    for source in (*EVENT_SOURCES, "stores"):
        table = f"bronze_{source}"
        assert (
            spark.table(f"journeylake.{table}").count()
            == outcome(lake.first, source).counts.rows_kept
        )
    key_counts = (
        lakehouse.read_table(spark, lake.config, "bronze_clickstream")
        .groupBy("_record_key")
        .count()
    )
    assert key_counts.where("count > 1").count() == 0


def test_second_run_on_the_same_files_adds_nothing(lake: Lake) -> None:
    assert {o.status for o in lake.second} == {"no_new_files"}


def test_a_new_delivery_is_picked_up(spark: SparkSession, lake: Lake, tmp_path: Path) -> None:
    before = lakehouse.read_table(spark, lake.config, "bronze_clickstream").count()
    later = dataclasses.replace(lake.config.generate, end_date="2026-07-06", bad_share=0.0)
    manifest = generate(
        spark, later, lake.config.resolve(lake.config.lakehouse.landing_root), batch="batch-0001"
    )

    third = ingest(spark, lake.config, ["clickstream"])

    counts = outcome(third, "clickstream").counts
    assert counts.rows_read == manifest["rows"]["clickstream"]["lines_written"]
    # Clean data from a later window: fresh event ids, so nothing may collide with the first.
    assert counts.rows_quarantined == 0
    after = lakehouse.read_table(spark, lake.config, "bronze_clickstream").count()
    assert after == before + counts.rows_kept
