"""Build silver from the bronze batches it has not processed yet: the identity map, the unified
timeline, store visits and sessions.

Incremental and re-runnable: `audit_silver_batches` remembers which bronze batches were read, a
run reads only new ones, inserts are MERGEs on natural keys, and sessions and visits are rebuilt
only from the point new data can change them. Re-running on the same bronze adds nothing.
Personal values are pseudonymised before anything is joined; raw PII never reaches silver.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.tables import BATCH_ID
from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.core.faults import crash_point
from journeylake.core.frames import union_all
from journeylake.core.job_runner import config_from_args, configure_logging, job_parser, run_main
from journeylake.core.spark_session import build_session
from journeylake.quality.checks import check_declarations, check_tables
from journeylake.silver.batches import unprocessed_batches, work_id
from journeylake.silver.checks import (
    SilverError,
    check_every_amount_converts,
    check_every_event_has_a_person,
    check_one_event_per_row,
)
from journeylake.silver.consent import consent_intervals, latest_states, with_persons
from journeylake.silver.currency import in_reporting_currency, unconvertible
from journeylake.silver.identity import (
    MERGED,
    SPLIT,
    IdentityResolution,
    batch_identifiers,
    device_persons,
    dropped_rows,
    resolve_identity,
    salted_nodes,
)
from journeylake.silver.pseudonymisation import PiiKey, load_key, pseudonymise_columns
from journeylake.silver.sessionization import (
    events_to_resessionize,
    rebuild_window,
    sessionize,
    sessions_to_rebuild,
    whole_rebuilds,
)
from journeylake.silver.store_visits import (
    pings_to_rescan,
    replaced_visits,
    visit_rescan_window,
    visits_from_pings,
    visits_with_persons,
)
from journeylake.silver.tables import (
    AUDIT_SILVER,
    CONSENT,
    ERASED_IDENTIFIERS,
    EVENTS,
    IDENTITY_DROPPED,
    IDENTITY_LINKS,
    IDENTITY_MAP,
    IDENTITY_MERGES,
    SESSIONS,
    SILVER_BATCHES,
    STORE_VISITS,
    TABLES,
)
from journeylake.silver.timeline import (
    TIMELINE_SOURCES,
    events_of_visits,
    events_to_resolve_again,
    late_arrivals,
    resolve_again,
    store_visit_events,
    timeline_events,
)

log = logging.getLogger("journeylake.silver")

GEOLOCATION_SOURCE = "geolocation"
STORES_SOURCE = "stores"
CONSENT_SOURCE = "consent"
SILVER_SOURCES = (*TIMELINE_SOURCES, GEOLOCATION_SOURCE, CONSENT_SOURCE)

__all__ = ["SilverError", "SilverOutcome", "build_silver", "main"]


@dataclass(frozen=True)
class SilverOutcome:
    run_id: str
    status: str
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)  # wall time per step


class _Laps:
    """Wall time per step, for the outcome and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 2)
        self._clock = now


def _bronze_table(config: Config, source: str) -> str:
    return config.sources[source].table_name


def new_batches(spark: SparkSession, config: Config) -> dict[str, tuple[str, ...]]:
    """Per source, the bronze batch ids silver has not processed (batch ids, not rows: few)."""
    processed = lakehouse.read_table_or_empty(spark, config, SILVER_BATCHES)
    found: dict[str, tuple[str, ...]] = {}
    for source in SILVER_SOURCES:
        table = _bronze_table(config, source) if source in config.sources else None
        if table is None or not lakehouse.table_exists(spark, config, table):
            log.warning("no bronze table for %s: silver skips it", source)
            continue
        batches = unprocessed_batches(lakehouse.read_table(spark, config, table), processed,
                                      source)
        found[source] = tuple(sorted(row.batch_id for row in batches.collect()))
    return {source: ids for source, ids in found.items() if ids}


def _read_batches(spark: SparkSession, config: Config, source: str, batches: Sequence[str],
                  key: PiiKey) -> DataFrame:
    rows = lakehouse.read_table(spark, config, _bronze_table(config, source))
    chosen = rows.where(F.col(BATCH_ID).isin(list(batches)))
    return pseudonymise_columns(chosen, config.sources[source].pii, key)


def build_silver(
    spark: SparkSession, config: Config, key: PiiKey, run_id: str | None = None
) -> SilverOutcome:
    run_id = run_id or uuid.uuid4().hex
    started = utc_now()
    check_declarations(config, TABLES)
    batches = new_batches(spark, config)
    if not batches:
        log.info("silver: no new bronze batches")
        return SilverOutcome(run_id, "no_new_data")
    log.info("silver run %s on batches %s", run_id, batches)
    counts: dict[str, int] = {}
    lap = _Laps()
    event_batches = {source: ids for source, ids in batches.items() if source != CONSENT_SOURCE}
    if event_batches:
        _build_timeline(spark, config, key, run_id, event_batches, counts, lap)
    if CONSENT_SOURCE in config.sources and lakehouse.table_exists(
            spark, config, _bronze_table(config, CONSENT_SOURCE)):
        # After the identity map is written: consent follows the persons of this run's map.
        counts.update(_rebuild_consent(spark, config))
        lap("consent")
    crash_point("silver.before_audit")
    _record(spark, config, run_id, started, batches, counts)
    lap("audit")
    # After the audit: the run is complete; a failed hard expectation stops what follows it.
    check_tables(spark, config, "silver", run_id, TABLES)
    lap("quality")
    return SilverOutcome(run_id, "ok", batches, counts, lap.seconds)


def _build_timeline(spark: SparkSession, config: Config, key: PiiKey, run_id: str,
                    batches: Mapping[str, Sequence[str]], counts: dict[str, int], lap: _Laps
                    ) -> None:
    """Identity, timeline, store visits and sessions from the new batches of the event
    sources; the identity map and merges are written last."""
    rows = {source: _read_batches(spark, config, source, ids, key)
            for source, ids in batches.items()}
    counts.update({f"rows_in_{source}": frame.count() for source, frame in rows.items()})
    lap("read_new_batches")

    identity = _resolve_identity(spark, config, rows, counts, key)
    lookup = identity.map.select("node", "person_id", "linked")
    lap("identity")

    events = timeline_events(rows, config.silver, lookup)
    events = (EVENTS.empty(spark) if events is None else events).localCheckpoint()
    _check_events(events, rows, counts)
    counts["late_events"] = _late_events(spark, config, events)
    touched = [events.select("person_id", "ts")]
    if identity.changed.limit(1).count():
        touched.append(_follow_identity_changes(spark, config, identity, lookup))
    lakehouse.insert_new(spark, config, EVENTS, events)
    crash_point("silver.after_events")
    lap("timeline")

    if GEOLOCATION_SOURCE in rows:
        touched.append(_rebuild_store_visits(spark, config, rows[GEOLOCATION_SOURCE], lookup,
                                             counts))
    lap("store_visits")

    counts["sessions_written"] = _rebuild_sessions(spark, config, union_all(touched))
    crash_point("silver.after_sessions")
    lap("sessions")

    # Written last: a run that stops before here is redone whole by the next one, and
    # recomputes the same identity from the links already stored.
    _write_identity(spark, config, identity, run_id, work_id(batches))
    lap("write_identity")


def _rebuild_consent(spark: SparkSession, config: Config) -> dict[str, int]:
    """Rebuild silver_consent whole from every consent row and the current identity map.

    Whole, not merged: a consent's person can change with any identity change (a cookie seen
    for the first time, two persons merged), and the source grows with persons and their
    decisions, not with events."""
    records = lakehouse.read_table(spark, config, _bronze_table(config, CONSENT_SOURCE))
    identity_map = lakehouse.read_table_or_empty(spark, config, IDENTITY_MAP)
    states = with_persons(latest_states(records), identity_map).localCheckpoint()
    intervals = consent_intervals(states).localCheckpoint()
    lakehouse.overwrite_table(spark, config, CONSENT,
                              intervals.withColumn("updated_at", F.lit(utc_now())))
    consents, unresolved = states.agg(F.count(F.lit(1)),
                                      F.count_if(F.col("person_id").isNull())).first()
    return {"consents": consents, "consents_without_person": unresolved,
            "consent_intervals": intervals.count()}


def _resolve_identity(
    spark: SparkSession, config: Config, rows: Mapping[str, DataFrame], counts: dict[str, int],
    key: PiiKey,
) -> IdentityResolution:
    new_nodes, new_links = batch_identifiers(rows)
    if new_links is not None:
        lakehouse.insert_new(spark, config, IDENTITY_LINKS, new_links)
    links = lakehouse.read_table_or_empty(spark, config, IDENTITY_LINKS)
    previous = lakehouse.read_table_or_empty(spark, config, IDENTITY_MAP).select(
        "node", "person_id", "linked").localCheckpoint()
    salted = None
    if new_nodes is not None and lakehouse.table_exists(spark, config, ERASED_IDENTIFIERS):
        salted = salted_nodes(new_nodes, lakehouse.read_table(spark, config, ERASED_IDENTIFIERS),
                              key).localCheckpoint()
    resolved = resolve_identity(previous, new_nodes, links, config.identity, salted)
    identity = IdentityResolution(
        *(frame.localCheckpoint() for frame in (resolved.map, resolved.dropped,
                                                resolved.changes, resolved.changed)))
    counts.update({
        "identifiers": identity.map.count(),
        "persons": identity.map.select("person_id").distinct().count(),
        "identity_links": links.count(),
        "identifiers_dropped": identity.dropped.count(),
        "persons_merged": identity.changes.where(F.col("change") == MERGED).count(),
        "persons_split": identity.changes.where(F.col("change") == SPLIT).count(),
    })
    return identity


def _check_events(events: DataFrame, rows: Mapping[str, DataFrame], counts: dict[str, int]
                  ) -> None:
    # One row per source: the driver holds a handful of numbers.
    made = {row.source: row.n for row in events.groupBy("source").agg(
        F.count(F.lit(1)).alias("n")).collect()}
    rows_in = {source: counts[f"rows_in_{source}"] for source in TIMELINE_SOURCES
               if source in rows}
    counts.update({f"events_{source}": made.get(source, 0) for source in rows_in})
    check_one_event_per_row(rows_in, made)
    unplaced = events.where(F.col("person_id").isNull()).groupBy(
        (F.size("identifiers") > 0).alias("identified")).count()
    by_kind = {row.identified: row["count"] for row in unplaced.collect()}
    counts["anonymous_events"] = by_kind.get(False, 0)
    check_every_event_has_a_person(by_kind.get(True, 0))
    check_every_amount_converts([tuple(row) for row in unconvertible(events).collect()])


def _late_events(spark: SparkSession, config: Config, events: DataFrame) -> int:
    stored = lakehouse.read_table_or_empty(spark, config, EVENTS)
    latest = stored.agg(F.max("ts")).first()[0]
    return late_arrivals(events, latest, config.silver.late_lookback_hours).count()


def _follow_identity_changes(
    spark: SparkSession, config: Config, identity: IdentityResolution, lookup: DataFrame
) -> DataFrame:
    """Put stored events and visits whose identifiers changed person or link status on the
    person the new map gives them; returns their old and new persons for a whole rebuild."""
    stored = lakehouse.read_table_or_empty(spark, config, EVENTS)
    moved = resolve_again(events_to_resolve_again(stored, identity.changed), lookup)
    moved = moved.localCheckpoint()
    if moved.limit(1).count():
        lakehouse.update_matching(
            spark, config, EVENTS, moved, "t.event_key = s.event_key",
            {"person_id": "s.person_id", "resolved_by": "s.resolved_by"},
        )
    lakehouse.update_matching(
        spark, config, STORE_VISITS, device_persons(identity.changed),
        "t.device_id = s.device_id AND NOT (t.person_id <=> s.person_id)",
        {"person_id": "s.person_id"},
    )
    return whole_rebuilds(moved)


def _rebuild_store_visits(
    spark: SparkSession, config: Config, new_pings: DataFrame, lookup: DataFrame,
    counts: dict[str, int],
) -> DataFrame:
    """Rebuild the visits new pings can change; returns (person_id, ts) of the timeline rows it
    removed or added, for the session rebuild."""
    settings = config.silver.store_visits
    stores_table = _bronze_table(config, STORES_SOURCE)
    if not lakehouse.table_exists(spark, config, stores_table):
        raise SilverError(f"location pings need the store reference table {stores_table}: "
                          f"ingest the {STORES_SOURCE} source first")
    stores = lakehouse.read_table(spark, config, stores_table).select("store_id", "lat", "lon")
    stored = lakehouse.read_table_or_empty(spark, config, STORE_VISITS)
    cutoffs = new_pings.groupBy("device_id").agg(F.min("ts").alias("cutoff"))
    window = visit_rescan_window(cutoffs, stored, settings.min_dwell_minutes,
                                 settings.max_gap_minutes).localCheckpoint()
    all_pings = lakehouse.read_table(spark, config, _bronze_table(config, GEOLOCATION_SOURCE))
    earliest = window.agg(F.min("rescan_from")).first()[0]
    if earliest is not None:
        # Partition pruning: a daily delivery re-reads the last days of pings, not all of them.
        all_pings = all_pings.where(F.col("event_date") >= F.lit(earliest.date()))
    visits = visits_from_pings(
        pings_to_rescan(all_pings.select("device_id", "lat", "lon", "ts"), window), stores,
        settings.radius_m, settings.min_dwell_minutes, settings.max_gap_minutes,
    )
    visits = visits_with_persons(visits, device_persons(lookup)).localCheckpoint()
    replaced = replaced_visits(stored, window).localCheckpoint()
    removed_events = events_of_visits(
        lakehouse.read_table_or_empty(spark, config, EVENTS), replaced
    ).select("event_key", "person_id", "ts").localCheckpoint()
    removed_count = removed_events.count()
    # Each table in one transaction: a crash cannot delete a visit without its rebuild.
    lakehouse.replace_rows(spark, config, STORE_VISITS, replaced, visits)
    visit_events = store_visit_events(visits, config.silver, lookup).localCheckpoint()
    lakehouse.replace_rows(spark, config, EVENTS, removed_events, visit_events)
    counts.update({"store_visits_written": visits.count(),
                   "store_visits_replaced": removed_count})
    return removed_events.select("person_id", "ts").unionByName(
        visit_events.select("person_id", "ts"))


def _rebuild_sessions(spark: SparkSession, config: Config, touched: DataFrame) -> int:
    silver = config.silver
    stored = lakehouse.read_table_or_empty(spark, config, SESSIONS)
    window = rebuild_window(touched.where(F.col("person_id").isNotNull()), stored,
                            silver.session_gap_minutes).localCheckpoint()
    events = in_reporting_currency(lakehouse.read_table(spark, config, EVENTS),
                                   silver.currency.reporting)
    everything, earliest = window.agg(
        F.count_if(F.col("rebuild_from").isNull()), F.min("rebuild_from")).first()
    if not everything and earliest is not None:
        # Partition pruning: a daily run re-reads the last days, not the whole timeline.
        events = events.where(F.col("event_date") >= F.lit(earliest.date()))
    rebuilt = sessionize(events_to_resessionize(events, window), silver.session_gap_minutes,
                         silver.conversion_touchpoints).localCheckpoint()
    lakehouse.replace_rows(spark, config, SESSIONS, sessions_to_rebuild(stored, window), rebuilt)
    return rebuilt.count()


def _write_identity(
    spark: SparkSession, config: Config, identity: IdentityResolution, run_id: str,
    batches_id: str,
) -> None:
    now = utc_now()
    changes = identity.changes.select(
        "old_person_id", "new_person_id", "change",
        F.lit(now).alias("changed_at"), F.lit(run_id).alias("run_id"),
    )
    # Idempotent per set of batches: a retried run logs each change once.
    lakehouse.append_once(spark, config, IDENTITY_MERGES, changes,
                          f"silver-identity-changes-{batches_id}")
    lakehouse.overwrite_table(spark, config, IDENTITY_MAP,
                              identity.map.withColumn("updated_at", F.lit(now)))
    lakehouse.overwrite_table(spark, config, IDENTITY_DROPPED,
                              dropped_rows(identity.dropped).withColumn("detected_at", F.lit(now)))


def _record(
    spark: SparkSession,
    config: Config,
    run_id: str,
    started: datetime,
    batches: Mapping[str, Sequence[str]],
    counts: Mapping[str, int],
) -> None:
    now = utc_now()
    audit = spark.createDataFrame(
        [(run_id, started, now, [f"{s}:{b}" for s, ids in sorted(batches.items()) for b in ids],
          dict(counts), "ok")],
        AUDIT_SILVER.schema,
    )
    lakehouse.append_once(spark, config, AUDIT_SILVER, audit, f"silver-audit-{run_id}")
    done = spark.createDataFrame(
        [(source, batch, run_id, now) for source, ids in batches.items() for batch in ids],
        SILVER_BATCHES.schema,
    )
    lakehouse.insert_new(spark, config, SILVER_BATCHES, done)


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
