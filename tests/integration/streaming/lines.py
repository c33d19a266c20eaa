"""Planted clickstream lines for the streaming tests: good events and bad records whose fate is
known (helpers, not tests)."""

from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession

from journeylake.core import lakehouse
from journeylake.core.config import Config


def event(event_id: str, ts: str = "2026-06-30T10:00:00Z", event_type: str = "page_view",
          cookie: str = "c1", **extra: str) -> str:
    record = {"event_id": event_id, "cookie_id": cookie, "timestamp": ts,
              "event_type": event_type, "platform": "web", **extra}
    return json.dumps(record)


def planted(prefix: str, good: int) -> tuple[list[str], list[str], list[str]]:
    """(lines to send, ids that must land in bronze once, lines that must land in quarantine
    once): `good` events and four bad records: malformed, a wrong type, a value not allowed
    and a second copy of the first event (duplicate_key)."""
    goods = [event(f"{prefix}-{i}", f"2026-06-30T10:{i % 60:02d}:00Z", cookie=f"c{i % 3}")
             for i in range(good)]
    bad = ['{"event_id": "broken', event(f"{prefix}-bad-ts", ts="yesterday"),
           event(f"{prefix}-bad-type", event_type="pageview"), goods[0]]
    return [*goods[:2], *bad[:2], *goods[2:], *bad[2:]], \
        [f"{prefix}-{i}" for i in range(good)], bad


def bronze_ids(spark: SparkSession, config: Config) -> list[str]:
    return sorted(row.event_id for row in lakehouse.read_table(
        spark, config, "bronze_clickstream").select("event_id").collect())


def quarantined(spark: SparkSession, config: Config) -> list[str]:
    return sorted(row.raw_record for row in lakehouse.read_table(
        spark, config, "quarantine").select("raw_record").collect())


def as_values(spark: SparkSession, lines: list[str]) -> DataFrame:
    return spark.createDataFrame([(line,) for line in lines], "value string")
