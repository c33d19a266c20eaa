"""Build silver from the bronze batches it has not processed yet: the identity map, the unified
timeline, store visits and sessions.

Incremental and re-runnable: `audit_silver_batches` remembers which bronze batches were read, a
run reads only new ones, inserts are MERGEs on natural keys, and sessions and visits are rebuilt
only from the point new data can change them. Re-running on the same bronze adds nothing.
Personal values are pseudonymised before anything is joined; raw PII never reaches silver.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake import lakehouse
from journeylake.config import Config
from journeylake.identity import (
    LINK_COLUMNS,
    MERGED,
    SPLIT,
    assign_person_ids,
    clickstream_identifiers,
    device_identifiers,
    node_type,
    node_value,
    resolve_components,
    social_identifiers,
    transaction_identifiers,
)
from journeylake.jobs.common import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.pii import PiiKey, load_key, pseudonymise_columns
from journeylake.schemas import (
    BATCH_ID,
    EVENTS_TABLE,
    IDENTITY_CHANGES_TABLE,
    IDENTITY_DROPPED_TABLE,
    IDENTITY_LINKS_TABLE,
    IDENTITY_MAP_TABLE,
    SESSIONS_TABLE,
    SILVER_AUDIT_TABLE,
    SILVER_BATCHES_SCHEMA,
    SILVER_BATCHES_TABLE,
    STORE_VISITS_TABLE,
)
from journeylake.session import build_session
from journeylake.sessions import events_to_resessionize, rebuild_window, sessionize
from journeylake.store_visits import visit_rescan_window, visits_from_pings
from journeylake.timeline import (
    STORE_VISIT_SOURCE,
    clickstream_input,
    events_to_resolve_again,
    resolve_again,
    resolve_persons,
    social_input,
    store_visit_input,
    touchpoints_and_channels,
    transactions_input,
)

log = logging.getLogger("journeylake.silver")

EVENT_SOURCES = ("clickstream", "social", "transactions")
SILVER_SOURCES = (*EVENT_SOURCES, "geolocation")
STORES_SOURCE = "stores"


class SilverError(JobError):
    """A silver run that cannot be trusted: the message says which check failed."""


@dataclass(frozen=True)
class SilverOutcome:
    run_id: str
    status: str
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)  # wall time per step


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    return reduce(DataFrame.unionByName, frames)


def _bronze_table(config: Config, source: str) -> str:
    return config.sources[source].table_name


def new_batches(spark: SparkSession, config: Config) -> dict[str, tuple[str, ...]]:
    """Per source, the bronze batch ids silver has not processed (batch ids, not rows: few)."""
    processed = lakehouse.read_table_or_empty(
        spark, config, SILVER_BATCHES_TABLE, SILVER_BATCHES_SCHEMA
    ).select("source", "batch_id")
    found: dict[str, tuple[str, ...]] = {}
    for source in SILVER_SOURCES:
        table = _bronze_table(config, source)
        if source not in config.sources or not lakehouse.table_exists(spark, config, table):
            log.warning("no bronze table %s: silver skips %s", table, source)
            continue
        batches = (
            lakehouse.read_table(spark, config, table).select(F.col(BATCH_ID).alias("batch_id"))
            .distinct()
            .join(processed.where(F.col("source") == source), "batch_id", "left_anti")
        )
        found[source] = tuple(sorted(row.batch_id for row in batches.collect()))
    return {source: ids for source, ids in found.items() if ids}


def _batch_rows(spark: SparkSession, config: Config, source: str,
                batches: Sequence[str]) -> DataFrame:
    rows = lakehouse.read_table(spark, config, _bronze_table(config, source))
    return rows.where(F.col(BATCH_ID).isin(list(batches)))


def _pseudonymised(frame: DataFrame, config: Config, source: str, key: PiiKey) -> DataFrame:
    return pseudonymise_columns(frame, config.sources[source].pii, key)


def _work_id(batches: Mapping[str, Sequence[str]]) -> str:
    text = ";".join(f"{s}={','.join(ids)}" for s, ids in sorted(batches.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def build_silver(
    spark: SparkSession, config: Config, key: PiiKey, run_id: str | None = None
) -> SilverOutcome:
    run_id = run_id or uuid.uuid4().hex
    started = _now()
    batches = new_batches(spark, config)
    if not batches:
        log.info("silver: no new bronze batches")
        return SilverOutcome(run_id, "no_new_data")
    work_id = _work_id(batches)
    log.info("silver run %s on batches %s", run_id, batches)
    rows = {source: _batch_rows(spark, config, source, ids) for source, ids in batches.items()}
    for source in ("social", "transactions"):
        if source in rows:
            rows[source] = _pseudonymised(rows[source], config, source, key)
    counts: dict[str, int] = {
        f"rows_in_{source}": frame.count() for source, frame in rows.items()
    }

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 2)
        clock = now

    lap("read_new_batches")
    identity = _resolve_identity(spark, config, rows)
    counts.update(identity.counts)
    lap("identity")
    lookup = identity.map.select("node", "person_id", "linked")

    events = _new_events(config, rows, lookup).localCheckpoint()
    _check_events(events, rows, counts)
    counts["late_events"] = _late_events(spark, config, events)

    touched = [events.select("person_id", "ts")]
    if identity.changed_count:
        touched.append(_follow_identity_changes(spark, config, identity, lookup))
    _insert_events(spark, config, events)
    lap("timeline")

    if "geolocation" in rows:
        visit_touched, visit_counts = _rebuild_store_visits(spark, config, rows["geolocation"],
                                                            lookup)
        touched.append(visit_touched)
        counts.update(visit_counts)
    lap("store_visits")

    counts["sessions_written"] = _rebuild_sessions(spark, config, _union(touched))
    lap("sessions")

    # Written last: a run that stops before here is redone whole by the next one, and
    # recomputes the same identity from the links already stored.
    _write_identity(spark, config, identity, run_id, work_id)
    _record(spark, config, run_id, started, batches, counts)
    lap("write_identity_and_audit")
    return SilverOutcome(run_id, "ok", batches, counts, seconds)


@dataclass(frozen=True)
class _Identity:
    map: DataFrame
    dropped: DataFrame
    changes: DataFrame
    changed: DataFrame  # node, person_id, linked, old_person_id, was_linked
    changed_count: int
    counts: Mapping[str, int]


def _follow_identity_changes(
    spark: SparkSession, config: Config, identity: _Identity, lookup: DataFrame
) -> DataFrame:
    """Put stored events and visits whose identifiers changed person or link status on the
    person the new map gives them; returns their old and new persons for a full session
    rebuild (ts NULL)."""
    everything = F.lit(None).cast("timestamp").alias("ts")
    if not lakehouse.table_exists(spark, config, EVENTS_TABLE):
        return spark.createDataFrame([], "person_id string, ts timestamp")
    stored = lakehouse.read_table(spark, config, EVENTS_TABLE)
    moved = resolve_again(events_to_resolve_again(stored, identity.changed), lookup)
    moved = moved.localCheckpoint()
    if moved.limit(1).count():
        lakehouse.update_matching(
            spark, config, EVENTS_TABLE, moved, "t.event_key = s.event_key",
            {"person_id": "s.person_id", "resolved_by": "s.resolved_by"},
        )
    devices = identity.changed.where(node_type(F.col("node")) == "device").select(
        node_value(F.col("node")).alias("device_id"), "person_id")
    lakehouse.update_matching(
        spark, config, STORE_VISITS_TABLE, devices,
        "t.device_id = s.device_id AND NOT (t.person_id <=> s.person_id)",
        {"person_id": "s.person_id"},
    )
    return moved.select(F.col("old_person_id").alias("person_id"), everything).unionByName(
        moved.select("person_id", everything))


def _resolve_identity(
    spark: SparkSession, config: Config, rows: Mapping[str, DataFrame]
) -> _Identity:
    found = []
    if "clickstream" in rows:
        found.append(clickstream_identifiers(rows["clickstream"]))
    if "transactions" in rows:
        found.append(transaction_identifiers(rows["transactions"]))
    if "social" in rows:
        found.append(social_identifiers(rows["social"]))
    nodes = [pair[0] for pair in found]
    if "geolocation" in rows:
        nodes.append(device_identifiers(rows["geolocation"]))
    link_schema = "node_a string, node_b string, source string, first_seen_at timestamp"
    new_links = (
        _union([pair[1] for pair in found]) if found else spark.createDataFrame([], link_schema)
    )
    # The same pair seen by two sources in one run: keep the earliest sighting.
    new_links = new_links.groupBy("node_a", "node_b").agg(
        F.min_by("source", F.struct("first_seen_at", "source")).alias("source"),
        F.min("first_seen_at").alias("first_seen_at"),
    ).select(*LINK_COLUMNS)
    lakehouse.insert_new(spark, config, IDENTITY_LINKS_TABLE, new_links, ("node_a", "node_b"))
    links = lakehouse.read_table(spark, config, IDENTITY_LINKS_TABLE)
    previous = (
        lakehouse.read_table(spark, config, IDENTITY_MAP_TABLE).select(
            "node", "person_id", "linked")
        if lakehouse.table_exists(spark, config, IDENTITY_MAP_TABLE)
        else spark.createDataFrame([], "node string, person_id string, linked boolean")
    ).localCheckpoint()
    vertices = previous.select("node").unionByName(_union(nodes).select("node")).distinct()
    components, dropped = resolve_components(
        vertices, links, config.identity.cardinality_rules,
        config.identity.max_customers_per_person,
    )
    components = components.localCheckpoint()
    assigned, changes = assign_person_ids(components.select("node", "component"),
                                          previous.select("node", "person_id"))
    assigned = assigned.localCheckpoint()
    identity_map = assigned.join(components.select("node", "linked"), "node").select(
        node_type(F.col("node")).alias("identifier_type"),
        node_value(F.col("node")).alias("identifier"),
        "person_id",
        "linked",
        "node",
    ).localCheckpoint()
    # Identifiers whose person or link status changed: events using them may move.
    changed = identity_map.select("node", "person_id", "linked").join(
        previous.select("node", F.col("person_id").alias("old_person_id"),
                        F.col("linked").alias("was_linked")), "node"
    ).where("person_id <> old_person_id OR linked <> was_linked").localCheckpoint()
    dropped = dropped.localCheckpoint()
    changes = changes.localCheckpoint()
    counts = {
        "identifiers": identity_map.count(),
        "persons": identity_map.select("person_id").distinct().count(),
        "identity_links": links.count(),
        "identifiers_dropped": dropped.count(),
        "persons_merged": changes.where(F.col("change") == MERGED).count(),
        "persons_split": changes.where(F.col("change") == SPLIT).count(),
    }
    return _Identity(identity_map, dropped, changes, changed, changed.count(), counts)


def _write_identity(
    spark: SparkSession, config: Config, identity: _Identity, run_id: str, work_id: str
) -> None:
    now = _now()
    changes = identity.changes.select(
        "old_person_id", "new_person_id", "change",
        F.lit(now).alias("changed_at"), F.lit(run_id).alias("run_id"),
    )
    # Idempotent per set of batches: a retried run logs each change once.
    lakehouse.append_once(spark, config, IDENTITY_CHANGES_TABLE, changes,
                          f"silver-identity-changes-{work_id}")
    lakehouse.overwrite_table(spark, config, IDENTITY_MAP_TABLE, identity.map.select(
        "identifier_type", "identifier", "person_id", "linked", "node",
        F.lit(now).alias("updated_at")))
    lakehouse.overwrite_table(spark, config, IDENTITY_DROPPED_TABLE, identity.dropped.select(
        node_type(F.col("node")).alias("identifier_type"),
        node_value(F.col("node")).alias("identifier"),
        "reason", "detail", F.lit(now).alias("detected_at"),
    ))


def _new_events(config: Config, rows: Mapping[str, DataFrame], lookup: DataFrame) -> DataFrame:
    builders = {"clickstream": clickstream_input, "social": social_input,
                "transactions": transactions_input}
    inputs = [builders[source](rows[source]) for source in EVENT_SOURCES if source in rows]
    if not inputs:
        return _empty_events(lookup.sparkSession)
    silver = config.silver
    labelled = touchpoints_and_channels(_union(inputs), silver.touchpoints,
                                        silver.channel_rules, silver.default_channel)
    return resolve_persons(labelled, lookup)


def _empty_events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [], "event_key string, person_id string, ts timestamp, event_date date, channel string, "
        "touchpoint string, source string, source_key string, resolved_by string, "
        "attributes map<string,string>, revenue decimal(18,2), currency string",
    )


def _check_events(events: DataFrame, rows: Mapping[str, DataFrame], counts: dict) -> None:
    """Every bronze row of an event source is exactly one event, on a person."""
    per_source = {row.source: row.n for row in events.groupBy("source").agg(
        F.count(F.lit(1)).alias("n")).collect()}
    for source in EVENT_SOURCES:
        if source in rows:
            expected, made = counts[f"rows_in_{source}"], per_source.get(source, 0)
            counts[f"events_{source}"] = made
            if made != expected:
                raise SilverError(f"{source}: {expected} bronze rows became {made} events")
    unresolved = events.where(F.col("person_id").isNull()).count()
    if unresolved:
        raise SilverError(f"{unresolved} events have no identifier in the identity map")


def _late_events(spark: SparkSession, config: Config, events: DataFrame) -> int:
    if not lakehouse.table_exists(spark, config, EVENTS_TABLE):
        return 0
    latest = lakehouse.read_table(spark, config, EVENTS_TABLE).agg(F.max("ts")).first()[0]
    if latest is None:
        return 0
    horizon = latest - timedelta(hours=config.silver.late_lookback_hours)
    return events.where(F.col("ts") < F.lit(horizon)).count()


def _insert_events(spark: SparkSession, config: Config, events: DataFrame) -> None:
    lakehouse.insert_new(spark, config, EVENTS_TABLE, events, ("event_key",), ("event_date",))


def _rebuild_store_visits(
    spark: SparkSession, config: Config, new_pings: DataFrame, lookup: DataFrame
) -> tuple[DataFrame, dict[str, int]]:
    """Rebuild the visits new pings can change; returns (person_id, ts) of the timeline rows it
    removed or added, for the session rebuild."""
    settings = config.silver.store_visits
    stores_table = _bronze_table(config, STORES_SOURCE)
    if not lakehouse.table_exists(spark, config, stores_table):
        raise SilverError(f"location pings need the store reference table {stores_table}: "
                          f"ingest the {STORES_SOURCE} source first")
    stores = lakehouse.read_table(spark, config, stores_table).select("store_id", "lat", "lon")
    visit_schema = ("visit_id string, device_id string, store_id string, start_ts timestamp, "
                    "end_ts timestamp, dwell_minutes double, pings long, visit_date date, "
                    "person_id string")
    stored = lakehouse.read_table_or_empty(spark, config, STORE_VISITS_TABLE,
                                           _schema(spark, visit_schema))
    cutoffs = new_pings.groupBy("device_id").agg(F.min("ts").alias("cutoff"))
    window = visit_rescan_window(cutoffs, stored, settings.min_dwell_minutes,
                                 settings.max_gap_minutes).localCheckpoint()
    all_pings = lakehouse.read_table(spark, config, _bronze_table(config, "geolocation"))
    rescanned = all_pings.join(window, "device_id").where(F.col("ts") >= F.col("rescan_from"))
    visits = visits_from_pings(
        rescanned.select("device_id", "lat", "lon", "ts"), stores, settings.radius_m,
        settings.min_dwell_minutes, settings.max_gap_minutes,
    )
    devices = lookup.where(node_type(F.col("node")) == "device").select(
        node_value(F.col("node")).alias("device_id"), "person_id")
    visits = visits.join(devices, "device_id", "left").select(
        "visit_id", "device_id", "store_id", "start_ts", "end_ts", "dwell_minutes", "pings",
        "visit_date", "person_id").localCheckpoint()
    removed = stored.join(window, "device_id").where(F.col("start_ts") >= F.col("rescan_from"))
    removed_events = (
        lakehouse.read_table(spark, config, EVENTS_TABLE)
        .where(F.col("source") == STORE_VISIT_SOURCE)
        .join(removed.select(F.col("visit_id").alias("source_key")), "source_key")
        .select("person_id", "ts", "source_key")
        .localCheckpoint()
    )
    removed_count = removed_events.count()
    lakehouse.delete_matching(spark, config, STORE_VISITS_TABLE, window,
                              "t.device_id = s.device_id AND t.start_ts >= s.rescan_from")
    lakehouse.insert_new(spark, config, STORE_VISITS_TABLE, visits, ("visit_id",),
                         ("visit_date",))
    lakehouse.delete_matching(
        spark, config, EVENTS_TABLE, removed_events.select("source_key"),
        f"t.source = '{STORE_VISIT_SOURCE}' AND t.source_key = s.source_key",
    )
    silver = config.silver
    visit_events = resolve_persons(
        touchpoints_and_channels(store_visit_input(visits), silver.touchpoints,
                                 silver.channel_rules, silver.default_channel),
        lookup,
    ).localCheckpoint()
    _insert_events(spark, config, visit_events)
    touched = removed_events.select("person_id", "ts").unionByName(
        visit_events.select("person_id", "ts"))
    counts = {"store_visits_written": visits.count(), "store_visits_replaced": removed_count}
    return touched, counts


def _schema(spark: SparkSession, ddl: str):  # noqa: ANN202 - a StructType
    return spark.createDataFrame([], ddl).schema


def _rebuild_sessions(spark: SparkSession, config: Config, touched: DataFrame) -> int:
    silver = config.silver
    session_schema = (
        "session_id string, person_id string, start_ts timestamp, end_ts timestamp, "
        "duration_seconds double, events long, entry_touchpoint string, exit_touchpoint string, "
        "entry_channel string, touchpoints array<string>, channels array<string>, "
        "converted boolean, conversions long, revenue decimal(18,2), session_date date"
    )
    stored = lakehouse.read_table_or_empty(spark, config, SESSIONS_TABLE,
                                           _schema(spark, session_schema))
    window = rebuild_window(touched.where(F.col("person_id").isNotNull()), stored,
                            silver.session_gap_minutes).localCheckpoint()
    events = lakehouse.read_table(spark, config, EVENTS_TABLE)
    everything, earliest = window.agg(
        F.count_if(F.col("rebuild_from").isNull()), F.min("rebuild_from")).first()
    if not everything and earliest is not None:
        # Partition pruning: a daily run re-reads the last days, not the whole timeline.
        events = events.where(F.col("event_date") >= F.lit(earliest.date()))
    rebuilt = sessionize(events_to_resessionize(events, window), silver.session_gap_minutes,
                         silver.conversion_touchpoints).localCheckpoint()
    lakehouse.delete_matching(
        spark, config, SESSIONS_TABLE, window,
        "t.person_id = s.person_id AND (s.rebuild_from IS NULL OR t.start_ts >= s.rebuild_from)",
    )
    lakehouse.insert_new(spark, config, SESSIONS_TABLE, rebuilt, ("session_id",),
                         ("session_date",))
    return rebuilt.count()


def _record(
    spark: SparkSession,
    config: Config,
    run_id: str,
    started: datetime,
    batches: Mapping[str, Sequence[str]],
    counts: Mapping[str, int],
) -> None:
    now = _now()
    audit = spark.createDataFrame(
        [(run_id, started, now, [f"{s}:{b}" for s, ids in sorted(batches.items()) for b in ids],
          dict(counts), "ok")],
        "run_id string, started_at timestamp, finished_at timestamp, batches array<string>, "
        "counts map<string,bigint>, status string",
    )
    lakehouse.append_once(spark, config, SILVER_AUDIT_TABLE, audit, f"silver-audit-{run_id}")
    done = spark.createDataFrame(
        [(source, batch, run_id, now) for source, ids in batches.items() for batch in ids],
        SILVER_BATCHES_SCHEMA,
    )
    lakehouse.insert_new(spark, config, SILVER_BATCHES_TABLE, done, ("source", "batch_id"))


def describe(outcome: SilverOutcome) -> str:
    if outcome.status != "ok":
        return f"silver: {outcome.status}"
    counts = ", ".join(f"{name} {value:,}" for name, value in outcome.counts.items())
    return f"silver run {outcome.run_id}: {counts}"


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("silver", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    key = load_key(config.resolve(config.privacy.key_file) if config.privacy.key_file else None)
    spark = build_session(config)
    outcome = build_silver(spark, config, key)
    print(describe(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("silver", main))
