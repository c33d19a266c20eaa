"""journeylake stream end to end on a real broker and a landing folder: every planted event
exactly once in bronze and every bad record exactly once in the quarantine, across a stopped
query, a killed driver and a second delivery; the live KPIs of a small planted set, late events
inside and beyond the watermark; and a replayed day arriving whole."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.generator.dataset import build_dataset
from journeylake.streaming import kafka
from journeylake.streaming.job import StreamTotals, run_stream, start_ingest, stream_lines
from journeylake.streaming.replay import day_settings, replay
from journeylake.streaming.tables import INGEST_QUERY
from tests.comparisons import rows_only_in
from tests.conftest import CONF_DIR, make_config
from tests.integration.streaming.lines import as_values, bronze_ids, event, planted, quarantined

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _overrides(tmp_path: Path, broker: str, topic: str, per_trigger: int) -> list[str]:
    return [f"lakehouse.root={tmp_path / 'lakehouse'}",
            f"lakehouse.landing_root={tmp_path / 'landing'}",
            f"spark.checkpoint_dir={tmp_path / 'checkpoints'}", "spark.catalog=in-memory",
            f"streaming.kafka.bootstrap_servers={broker}", f"streaming.kafka.topic={topic}",
            f"streaming.kafka.max_offsets_per_trigger={per_trigger}"]


def _config(tmp_path: Path, broker: str = "127.0.0.1:9", topic: str = "clicks",
            per_trigger: int = 1000) -> Config:
    return make_config(tmp_path, *_overrides(tmp_path, broker, topic, per_trigger)[3:])


def _land(config: Config, name: str, lines: list[str]) -> None:
    folder = Path(config.resolve(config.lakehouse.landing_root), config.streaming.files.path)
    folder.mkdir(parents=True, exist_ok=True)
    # Written beside, then renamed: a file source must never see a half-written file.
    (folder / f".{name}").write_text("\n".join(lines) + "\n")
    (folder / f".{name}").rename(folder / name)


def test_the_file_source_ingests_good_and_bad_lines_exactly_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    first, first_ids, first_bad = planted("f", 6)
    _land(config, "a.jsonl", [*first, ""])  # a blank line is counted, not quarantined
    totals = run_stream(spark, config, "files", mode="available_now", with_live_kpis=False)
    assert (totals.rows_read, totals.rows_kept, totals.rows_quarantined,
            totals.blank_lines) == (10, 6, 4, 1)

    # A second delivery, one event of which was already ingested from the first file.
    second, second_ids, second_bad = planted("g", 3)
    _land(config, "b.jsonl", [*second, event("f-1", "2026-06-30T10:01:00Z", cookie="c1")])
    run_stream(spark, config, "files", mode="available_now", with_live_kpis=False)

    assert bronze_ids(spark, config) == sorted([*first_ids, *second_ids])
    repeated = event("f-1", "2026-06-30T10:01:00Z", cookie="c1")
    assert quarantined(spark, config) == sorted([*first_bad, *second_bad, repeated])
    reasons = {row.raw_record: row.reason for row in lakehouse.read_table(
        spark, config, "quarantine").where("array_contains(reason_codes, 'duplicate_key')")
        .collect()}
    assert "already ingested by batch clickstream-stream-" in reasons[repeated]


def _send(spark: SparkSession, config: Config, lines: list[str]) -> None:
    kafka.write_values(as_values(spark, lines), config.streaming.kafka,
                       config.streaming.kafka.topic)


def test_a_kafka_query_stopped_mid_stream_and_restarted_loses_and_repeats_nothing(
    spark: SparkSession, tmp_path: Path, kafka_broker: str
) -> None:
    config = _config(tmp_path, kafka_broker, "stopped", per_trigger=4)
    first, first_ids, first_bad = planted("k", 8)
    _send(spark, config, first)
    totals = StreamTotals()
    query = start_ingest(spark, config, stream_lines(spark, config, "kafka", None),
                         "available_now", totals)
    deadline = time.monotonic() + 120
    while totals.batches < 1 and query.isActive and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()  # after the first micro-batch, in the middle of the stream
    assert totals.batches >= 1 and totals.rows_read < len(first)

    second, second_ids, second_bad = planted("m", 3)
    repeated = event("k-3", "2026-06-30T10:03:00Z", cookie="c0")
    _send(spark, config, [*second, repeated])
    # The rest in one micro-batch: a restart may change the batch size.
    rest = _config(tmp_path, kafka_broker, "stopped", per_trigger=1000)
    run_stream(spark, rest, "kafka", mode="available_now", with_live_kpis=False)

    assert bronze_ids(spark, config) == sorted([*first_ids, *second_ids])
    assert quarantined(spark, config) == sorted([*first_bad, *second_bad, repeated])
    sources = lakehouse.read_table(spark, config, "bronze_clickstream").where(
        "_source_file NOT LIKE 'kafka://stopped/%'").count()
    assert sources == 0


def test_a_killed_driver_restarts_without_losing_or_repeating_a_record(
    spark: SparkSession, tmp_path: Path, kafka_broker: str
) -> None:
    # Two micro-batches of 4 (2 a partition), 4 good events and 4 bad records in all.
    config = _config(tmp_path, kafka_broker, "killed", per_trigger=4)
    lines, ids, bad = planted("d", 4)
    _send(spark, config, lines)
    command = [sys.executable, "-m", "journeylake.streaming.job", "--source", "kafka",
               "--available-now", "--no-live-kpis", "--conf-dir", str(CONF_DIR),
               *[arg for pair in _overrides(tmp_path, kafka_broker, "killed", 4)
                 for arg in ("--conf", pair)],
               "--conf", "spark.conf.spark.sql.shuffle.partitions=2",
               "--conf", "spark.conf.spark.ui.enabled=false",
               "--conf", "spark.conf.spark.driver.memory=1g"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    checkpoint = Path(config.stream_checkpoint(INGEST_QUERY))
    # Killed once the second micro-batch's bronze append committed (bronze version 1) and before
    # the checkpoint records that micro-batch: the worst moment, its rows are in Delta but
    # the restarted query will run it again.
    second_append = Path(config.table_path("bronze_clickstream"), "_delta_log",
                         f"{1:020d}.json")
    log = tmp_path / "driver.log"  # a file, not a pipe: a full pipe would stall the driver
    with log.open("w") as output:
        driver = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output,
                                  start_new_session=True)
    deadline = time.monotonic() + 180
    while not second_append.exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert driver.poll() is None, f"the stream ended before it was killed: {log.read_text()}"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its JVM, no chance to clean up
    driver.wait(timeout=30)
    assert (checkpoint / "commits" / "0").exists()
    assert not (checkpoint / "commits" / "1").exists()
    before = bronze_ids(spark, config)  # the micro-batches' rows that reached Delta
    assert before and len(set(before)) == len(before) and set(before) <= set(ids)

    # Restarted from the same checkpoint, here rather than in a second driver: what matters is
    # what the killed one left behind, and a JVM start costs half a minute on a busy machine.
    run_stream(spark, config, "kafka", mode="available_now", with_live_kpis=False)
    assert bronze_ids(spark, config) == sorted(ids)
    assert quarantined(spark, config) == sorted(bad)


def test_replay_sends_every_planted_line_of_the_day_once(
    spark: SparkSession, tmp_path: Path, kafka_broker: str
) -> None:
    config = _config(tmp_path, kafka_broker, "replayed")
    settings = day_settings(config, "2026-06-30", customers=8)
    outcome = replay(spark, config, "replayed", 20, settings)
    planted_lines = build_dataset(spark, settings).labeled["clickstream"]
    planted_bad = planted_lines.where("bad_kind IS NOT NULL").count()
    assert outcome.sent == planted_lines.count() > 0
    assert outcome.bad == planted_bad
    # About 20 a second: one write a second, the last one waited for too.
    assert outcome.seconds >= math.ceil(outcome.sent / 20) - 0.05
    received = (spark.read.format("kafka")
                .option("kafka.bootstrap.servers", kafka_broker)
                .option("subscribe", "replayed").option("startingOffsets", "earliest").load()
                .selectExpr("CAST(value AS STRING) AS value"))
    assert rows_only_in(received, planted_lines.select("value")) == (0, 0)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-06-30 {text}")


def test_live_kpis_count_late_events_inside_the_watermark_and_drop_those_beyond(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    _land(config, "a.jsonl", [
        event("l1", "2026-06-30T10:00:00Z", cookie="a"),
        event("l2", "2026-06-30T10:01:00Z", cookie="b"),
        event("l3", "2026-06-30T10:02:00Z", "purchase", cookie="a"),
        event("l4", "2026-06-30T10:31:00Z", cookie="c"),  # the watermark becomes 10:21
    ])
    run_stream(spark, config, "files", mode="available_now")
    _land(config, "b.jsonl", [
        event("l5", "2026-06-30T10:22:00Z", cookie="d"),  # late, inside the watermark
        event("l6", "2026-06-30T10:14:00Z", cookie="e"),  # beyond it: its window is final
        event("l7", "2026-06-30T10:03:00Z", "add_to_cart", cookie="f"),  # beyond it too
    ])
    changed: list[tuple[datetime, str]] = []
    run_stream(spark, config, "files", mode="available_now",
               after_live_upsert=lambda _, rows: changed.extend(
                   (row.window_start, row.breakdown) for row in rows.collect()))
    # What alert rules would see: only the window the late event inside the watermark changed.
    assert set(changed) == {(_ts("10:20:00"), "all"), (_ts("10:20:00"), "channel")}

    assert bronze_ids(spark, config) == [f"l{i}" for i in range(1, 8)]  # bronze keeps all
    live = lakehouse.read_table(spark, config, "gold_kpis_live")
    found = {(row.window_start, row.kpi): (row.value, row.numerator, row.denominator)
             for row in live.where("breakdown = 'all'").collect()}
    expected = {}
    for start, visitors, views, orders in (("10:00:00", 2, 2, 1), ("10:20:00", 1, 1, 0),
                                           ("10:30:00", 1, 1, 0)):
        for kpi, value in (("visitors", visitors), ("page_views", views), ("add_to_carts", 0),
                           ("checkout_starts", 0), ("orders", orders)):
            expected[(_ts(start), kpi)] = (float(value), None, None)
        expected[(_ts(start), "visitor_conversion_rate")] = (orders / visitors, float(orders),
                                                             float(visitors))
    assert found == expected
    # Every event is web without a campaign or referrer: one channel, the same numbers.
    channels = live.where("breakdown = 'channel'").select("breakdown_value").distinct()
    assert [row.breakdown_value for row in channels.collect()] == ["direct"]
    assert {row.kpi_date for row in live.collect()} == {date(2026, 6, 30)}
