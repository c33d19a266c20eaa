"""Silver: the identity graph, the unified timeline, sessions, store visits and their audit."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from journeylake.core.table_spec import TableSpec, schema
from journeylake.silver.store_visits import STORE_VISITS_SCHEMA

_STRING, _TS, _LONG = StringType(), TimestampType(), LongType()
MONEY = DecimalType(18, 2)

IDENTITY_LINKS = TableSpec(
    "silver_identity_links",
    schema(("node_a", _STRING), ("node_b", _STRING), ("source", _STRING),
           ("first_seen_at", _TS)),
    keys=("node_a", "node_b"),
)
IDENTITY_MAP = TableSpec(
    "silver_identity_map",
    schema(("identifier_type", _STRING), ("identifier", _STRING), ("person_id", _STRING),
           ("linked", BooleanType()), ("node", _STRING), ("updated_at", _TS)),
    keys=("node",),
)
IDENTITY_DROPPED = TableSpec(
    "silver_identity_dropped",
    schema(("identifier_type", _STRING), ("identifier", _STRING), ("reason", _STRING),
           ("detail", _STRING), ("detected_at", _TS)),
)
IDENTITY_MERGES = TableSpec(
    "silver_identity_merges",
    schema(("old_person_id", _STRING), ("new_person_id", _STRING), ("change", _STRING),
           ("changed_at", _TS), ("run_id", _STRING)),
)
# The keyed hash (HMAC, the pseudonymisation key) of every lower-cased identity node erased by
# `journeylake forget`: a component holding one gets a person id salted with the request, so a
# returning cookie never takes the erased person's id back. Written by privacy.job.
ERASED_IDENTIFIERS = TableSpec(
    "silver_erased_identifiers",
    schema(("node_hash", _STRING), ("request_id", _STRING), ("erased_at", _TS)),
    keys=("node_hash",),
)
EVENTS = TableSpec(
    "silver_events",
    schema(
        ("event_key", _STRING), ("person_id", _STRING), ("ts", _TS), ("event_date", DateType()),
        ("channel", _STRING), ("touchpoint", _STRING), ("source", _STRING),
        ("source_key", _STRING), ("resolved_by", _STRING),
        ("identifiers", ArrayType(_STRING)), ("attributes", MapType(_STRING, _STRING)),
        # The amount in its own currency, and in the reporting currency (silver.currency).
        ("revenue", MONEY), ("currency", _STRING), ("revenue_reporting", MONEY),
    ),
    partition_by=("event_date",),
    keys=("event_key",),
)
SESSIONS = TableSpec(
    "silver_sessions",
    schema(
        ("session_id", _STRING), ("person_id", _STRING), ("start_ts", _TS), ("end_ts", _TS),
        ("duration_seconds", DoubleType()), ("events", _LONG),
        ("entry_touchpoint", _STRING), ("exit_touchpoint", _STRING),
        ("entry_channel", _STRING), ("touchpoints", ArrayType(_STRING)),
        ("channels", ArrayType(_STRING)), ("converted", BooleanType()),
        ("conversions", _LONG), ("revenue", MONEY), ("session_date", DateType()),
    ),
    partition_by=("session_date",),
    keys=("session_id",),
)
# A visit as `store_visits` finds it, on the person of its device.
STORE_VISITS = TableSpec(
    "silver_store_visits",
    StructType([*STORE_VISITS_SCHEMA.fields, StructField("person_id", _STRING)]),
    partition_by=("visit_date",),
    keys=("visit_id",),
)
# Per person and purpose, the runs of one consent state (silver.consent): granted in
# [valid_from, valid_to) (valid_to NULL: still so), or withdrawn then; decided_by is the
# consent_id whose decision started the run. Rebuilt whole by every silver run.
CONSENT = TableSpec(
    "silver_consent",
    schema(("person_id", _STRING), ("purpose", _STRING), ("granted", BooleanType()),
           ("valid_from", _TS), ("valid_to", _TS), ("decided_by", _STRING),
           ("updated_at", _TS)),
    keys=("person_id", "purpose", "valid_from"),
)
AUDIT_SILVER = TableSpec(
    "audit_silver",
    schema(("run_id", _STRING), ("started_at", _TS), ("finished_at", _TS),
           ("batches", ArrayType(_STRING)), ("counts", MapType(_STRING, _LONG)),
           ("status", _STRING)),
)
# The bronze batches a silver run has read: what the next run skips.
SILVER_BATCHES = TableSpec(
    "audit_silver_batches",
    schema(("source", _STRING), ("batch_id", _STRING), ("run_id", _STRING),
           ("processed_at", _TS)),
    keys=("source", "batch_id"),
)

TABLES = (IDENTITY_LINKS, IDENTITY_MAP, IDENTITY_DROPPED, IDENTITY_MERGES, EVENTS, SESSIONS,
          STORE_VISITS, CONSENT, AUDIT_SILVER, SILVER_BATCHES)
