"""Stream clickstream records from Kafka or a landing folder into bronze, and keep gold_kpis_live.

Two Structured Streaming queries, each with its checkpoint under spark.checkpoint_dir/streaming/:
`ingest` validates every micro-batch with batch ingestion's own code (bronze.ingestion) and writes
bronze and the quarantine exactly once (Delta idempotent appends keyed by the query id and the
micro-batch id: a micro-batch replayed after a crash is skipped); `live_kpis` reads bronze's
streamed rows and keeps the KPIs of every event-time window (streaming.live_kpis).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from journeylake.bronze.ingestion import batch_counts, bronze_rows, classify_lines, quarantine_rows
from journeylake.bronze.tables import BATCH_ID
from journeylake.bronze.writing import existing_keys, verify_written, write_batch
from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config, SourceSpec
from journeylake.core.job_runner import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session
from journeylake.kpis.job import alert_rules
from journeylake.kpis.live_alerts import closed_by, live_alerts
from journeylake.kpis.tables import ALERTS_LIVE
from journeylake.kpis.tables import BUILT_AT as ALERTS_BUILT_AT
from journeylake.streaming import kafka
from journeylake.streaming.live import (
    LIVE_KPI_DEFINITIONS,
    live_kpis,
    window_counts,
    with_channel,
)
from journeylake.streaming.tables import INGEST_QUERY, LIVE_KPIS, LIVE_KPIS_QUERY, UPDATED_AT
from journeylake.streaming.transforms import kafka_lines, stream_batch_id, stream_batch_prefix

log = logging.getLogger("journeylake.stream")

SOURCES = ("kafka", "files")
# How a run ends: "available_now" (everything there is, in micro-batches of the configured size,
# then stop), "once" (one micro-batch of everything, then stop) or "continuous".
MODES = ("available_now", "once", "continuous")


@dataclass
class StreamTotals:
    """What this run's ingest micro-batches did (a replayed one that was skipped counts too)."""

    batches: int = 0
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    blank_lines: int = 0
    live_batches: int = 0
    queries: list[str] = field(default_factory=list)


def _query_id(spark: SparkSession, checkpoint: str) -> str:
    # Spark writes the query's id into the checkpoint before its first micro-batch; it is the
    # same after every restart from that checkpoint and new for a new one, which is what
    # Delta's txnAppId needs (a new checkpoint numbers its micro-batches from 0 again).
    return str(json.loads(lakehouse.read_first_line(spark, f"{checkpoint}/metadata"))["id"])


class IngestBatches:
    """The ingest query's foreachBatch: one micro-batch of lines (`_raw`, `_source_file`) into
    bronze and the quarantine, checked like a batch of files."""

    def __init__(self, config: Config, source: SourceSpec, checkpoint: str,
                 totals: StreamTotals) -> None:
        self.config, self.source, self.checkpoint, self.totals = config, source, checkpoint, totals
        self._query_id: str | None = None

    def __call__(self, lines: DataFrame, batch: int) -> None:
        spark = lines.sparkSession
        first = self._query_id is None
        self._query_id = self._query_id or _query_id(spark, self.checkpoint)
        batch_id = stream_batch_id(self.source.name, self._query_id, batch)
        at = F.lit(utc_now()).cast("timestamp")
        lines = lines.persist()
        classified = classify_lines(
            lines, self.source, existing_keys(spark, self.config, self.source), batch_id, at,
            self.config.ingest.max_future_hours,
        ).persist()
        kept = bronze_rows(classified, self.source)
        quarantined = quarantine_rows(classified, self.source)
        counts = batch_counts(lines, self.source, kept, quarantined)
        counts.check(self.source.name)
        write_batch(spark, self.config, self.source, kept, quarantined,
                    f"stream-{self._query_id}", batch, register_names=first, job="stream")
        verify_written(spark, self.config, self.source, batch_id, counts)
        classified.unpersist()
        lines.unpersist()
        self.totals.batches += 1
        self.totals.rows_read += counts.rows_read
        self.totals.rows_kept += counts.rows_kept
        self.totals.rows_quarantined += counts.rows_quarantined
        self.totals.blank_lines += counts.blank_lines
        log.info("%s: micro-batch %d (%s) read %d, kept %d, quarantined %d", self.source.name,
                 batch, batch_id, counts.rows_read, counts.rows_kept, counts.rows_quarantined)


# Called after each live micro-batch's upsert with the session and the gold_kpis_live rows it
# wrote (the windows that changed): where alert rules plug in.
AfterUpsert = Callable[[SparkSession, DataFrame], None]


class LiveKpiBatches:
    """The live query's foreachBatch: upsert the windows a micro-batch changed (update mode emits
    each changed window with its whole state), so a replayed micro-batch writes the same rows."""

    def __init__(self, config: Config, totals: StreamTotals,
                 after_upsert: AfterUpsert | None = None) -> None:
        self.config, self.totals, self.after_upsert = config, totals, after_upsert
        self._registered = False

    def __call__(self, counts: DataFrame, batch: int) -> None:
        # A batch that only moves the watermark (Spark runs one after new data) changes no
        # window: skip the MERGE and its commit.
        # Persisted: the stateful plan of the micro-batch must run once for the two actions.
        counts = counts.persist()
        if not counts.isEmpty():
            rows = live_kpis(counts).withColumn(UPDATED_AT, F.lit(utc_now()).cast("timestamp"))
            lakehouse.upsert(counts.sparkSession, self.config, LIVE_KPIS, rows,
                             register_name=not self._registered)
            self._registered = True
            if self.after_upsert is not None:
                self.after_upsert(counts.sparkSession, rows)
            log.info("%s: micro-batch %d upserted its windows", LIVE_KPIS.name, batch)
        counts.unpersist()
        self.totals.live_batches += 1


def stream_lines(spark: SparkSession, config: Config, source_kind: str, topic: str | None
                 ) -> DataFrame:
    """The streamed records as lines (`_raw`, `_source_file`)."""
    settings = config.streaming
    if source_kind == "kafka":
        kafka.check_reachable(settings.kafka)
        kafka.require_connector(spark)
        return kafka_lines(kafka.read_stream(spark, settings.kafka, topic or settings.kafka.topic))
    source = config.sources[settings.source]
    folder = f"{config.resolve(config.lakehouse.landing_root).rstrip('/')}/{settings.files.path}"
    return lakehouse.read_lines_stream(spark, folder, source.glob,
                                       settings.files.max_files_per_trigger)


def _triggered(writer: DataStreamWriter, mode: str, seconds: float) -> DataStreamWriter:
    if mode == "available_now":
        return writer.trigger(availableNow=True)
    if mode == "once":
        return writer.trigger(once=True)
    return writer.trigger(processingTime=f"{seconds} seconds")


def start_ingest(spark: SparkSession, config: Config, lines: DataFrame, mode: str,
                 totals: StreamTotals) -> StreamingQuery:
    source = config.sources[config.streaming.source]
    checkpoint = config.stream_checkpoint(INGEST_QUERY)
    writer = lines.writeStream.queryName(INGEST_QUERY).option("checkpointLocation", checkpoint)
    writer = writer.foreachBatch(IngestBatches(config, source, checkpoint, totals))
    return _triggered(writer, mode, config.streaming.trigger_seconds).start()


def start_live_kpis(spark: SparkSession, config: Config, mode: str, totals: StreamTotals,
                    after_upsert: AfterUpsert | None = None) -> StreamingQuery:
    """The live KPI query over the streamed rows of bronze (batch-ingested files are history,
    not live: they would open windows long behind the watermark)."""
    source = config.sources[config.streaming.source]
    settings, silver = config.streaming.live_kpis, config.silver
    events = lakehouse.read_table_stream(spark, config, source.table_name).where(
        F.col(BATCH_ID).startswith(stream_batch_prefix(source.name)))
    counts = window_counts(
        with_channel(events, silver.touchpoints, silver.channel_rules, silver.default_channel),
        settings.window_minutes, settings.watermark_minutes,
    )
    writer = (
        counts.writeStream.queryName(LIVE_KPIS_QUERY).outputMode("update")
        .option("checkpointLocation", config.stream_checkpoint(LIVE_KPIS_QUERY))
        .foreachBatch(LiveKpiBatches(config, totals, after_upsert))
    )
    return _triggered(writer, mode, config.streaming.trigger_seconds).start()


def _failed(query: StreamingQuery, error: Exception, config: Config, source_kind: str
            ) -> JobError:
    if source_kind == "kafka":
        kafka.check_reachable(config.streaming.kafka)  # a lost broker: the one-line message
    text = str(getattr(error, "desc", None) or error).strip().splitlines()
    return JobError(f"stream query {query.name} stopped: {text[0] if text else error!r}")


def _await(query: StreamingQuery, config: Config, source_kind: str) -> None:
    try:
        query.awaitTermination()
    except StreamingQueryException as error:
        raise _failed(query, error, config, source_kind) from None


def run_stream(
    spark: SparkSession,
    config: Config,
    source_kind: str = "kafka",
    topic: str | None = None,
    mode: str = "available_now",
    until_idle: bool = False,
    with_live_kpis: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    after_live_upsert: AfterUpsert | None = None,
) -> StreamTotals:
    """Run the ingest query (and the live KPI query) until `mode` says they are done; a
    continuous run stops when `should_stop()` is true or, with `until_idle`, after
    streaming.idle_seconds without new input. `after_live_upsert` sees each live micro-batch's
    changed windows once they are in gold_kpis_live."""
    if source_kind not in SOURCES or mode not in MODES:
        raise ValueError(f"source_kind {source_kind!r} / mode {mode!r}")
    totals = StreamTotals()
    source = config.sources[config.streaming.source]
    ingest = start_ingest(spark, config, stream_lines(spark, config, source_kind, topic), mode,
                          totals)
    totals.queries.append(INGEST_QUERY)
    if mode != "continuous":
        _await(ingest, config, source_kind)
        if with_live_kpis and lakehouse.table_exists(spark, config, source.table_name):
            _await(start_live_kpis(spark, config, mode, totals, after_live_upsert), config,
                   source_kind)
            totals.queries.append(LIVE_KPIS_QUERY)
        return totals
    queries = [ingest]
    seen: dict[str, int] = {}
    last_input = time.monotonic()
    try:
        while True:
            for query in queries:
                if not query.isActive:
                    error = query.exception()
                    raise _failed(query, error, config, source_kind) if error else JobError(
                        f"stream query {query.name} stopped")
                progress = query.lastProgress
                if progress and progress["numInputRows"] > 0 and \
                        seen.get(query.name) != progress["batchId"]:
                    seen[query.name] = progress["batchId"]
                    last_input = time.monotonic()
            # The live query reads bronze: it starts once the first micro-batch created it.
            if with_live_kpis and len(queries) == 1 and lakehouse.table_exists(
                    spark, config, source.table_name):
                queries.append(start_live_kpis(spark, config, mode, totals, after_live_upsert))
                totals.queries.append(LIVE_KPIS_QUERY)
            if should_stop() or (until_idle and
                                 time.monotonic() - last_input > config.streaming.idle_seconds):
                break
            time.sleep(0.5)
    finally:
        for query in queries:
            query.stop()
    return totals


def describe(totals: StreamTotals) -> str:
    return (f"stream: {totals.batches} micro-batches read {totals.rows_read} records, kept "
            f"{totals.rows_kept}, quarantined {totals.rows_quarantined} "
            f"({totals.blank_lines} blank); {LIVE_KPIS.name}: {totals.live_batches} micro-batches")


def parser() -> argparse.ArgumentParser:
    parser = job_parser("stream", __doc__.splitlines()[0])
    parser.add_argument("--source", choices=SOURCES, default="kafka",
                        help="kafka (streaming.kafka) or files (new files under "
                        "lakehouse.landing_root/streaming.files.path)")
    parser.add_argument("--topic", help="Kafka topic (default: streaming.kafka.topic)")
    ending = parser.add_mutually_exclusive_group()
    ending.add_argument("--available-now", action="store_true",
                        help="process everything available now, in micro-batches, then stop")
    ending.add_argument("--once", action="store_true",
                        help="process everything available now in one micro-batch, then stop")
    ending.add_argument("--until-idle", action="store_true",
                        help="run until no new input arrived for streaming.idle_seconds")
    parser.add_argument("--no-live-kpis", action="store_true",
                        help="only ingest; do not update gold_kpis_live")
    return parser


def alert_live(spark: SparkSession, config: Config, changed: DataFrame) -> int:
    """Run the alert rules on the days of gold_kpis_live that the live windows `changed` fall
    on and replace those days' rows of gold_alerts_live (one MERGE); the alerts written."""
    definitions = LIVE_KPI_DEFINITIONS
    settings = config.kpis.alerts
    days = sorted(row.kpi_date for row in changed.select("kpi_date").distinct().collect())
    if not days:
        return 0
    live = lakehouse.read_table(spark, config, LIVE_KPIS)
    cutoff = closed_by(live.agg(F.max("window_end")).first()[0],
                       config.streaming.live_kpis.watermark_minutes)
    if cutoff is None:
        return 0
    history = live.where(F.col("kpi_date").between(
        F.date_sub(F.lit(days[0]), settings.live_days), F.lit(days[-1])))
    rules = dataclasses.replace(alert_rules(settings), kpis=tuple(k.name for k in definitions),
                                min_history_days=settings.live_min_history_days)
    found = live_alerts(history, rules, days=settings.live_days, closed_by=cutoff,
                        definitions=definitions).where(F.col("alert_date").isin(days))
    stale = lakehouse.read_table_or_empty(spark, config, ALERTS_LIVE).where(
        F.col("alert_date").isin(days))
    rows = found.withColumn(ALERTS_BUILT_AT, F.lit(utc_now())).localCheckpoint()
    lakehouse.replace_rows(spark, config, ALERTS_LIVE, stale, rows)
    written = rows.count()
    if written:
        log.warning("%s: %d live alerts on %s", ALERTS_LIVE.name, written,
                    ", ".join(map(str, days)))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    if args.topic is not None and args.source != "kafka":
        raise JobError("--topic is for --source kafka")
    mode = "available_now" if args.available_now else "once" if args.once else "continuous"
    if args.source == "kafka":
        kafka.check_reachable(config.streaming.kafka)  # before the minute a session takes
    spark = build_session(config)
    try:
        totals = run_stream(spark, config, args.source, args.topic, mode,
                            until_idle=args.until_idle, with_live_kpis=not args.no_live_kpis,
                            after_live_upsert=lambda session, changed: alert_live(
                                session, config, changed))
    except KeyboardInterrupt:
        print("stream: stopped; the next run resumes from the checkpoints")
        return 130
    print(describe(totals))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("stream", main))
