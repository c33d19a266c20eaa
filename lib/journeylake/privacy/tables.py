"""Privacy: the record of erasure requests and what the erasure leaves behind to keep its
promise (the keyed hashes of erased identifiers, so a returning one starts a new person)."""

from __future__ import annotations

from pyspark.sql.types import ArrayType, LongType, MapType, StringType, TimestampType

from journeylake.core.table_spec import TableSpec, schema

_STRING, _TS, _LONG = StringType(), TimestampType(), LongType()

# One row per request: what was asked (the keyed hash of each customer id, never the id) and
# what was done. No value of the person's data is kept.
AUDIT_ERASURE = TableSpec(
    "audit_erasure",
    schema(("request_id", _STRING), ("requested_at", _TS), ("finished_at", _TS),
           ("subject_hashes", ArrayType(_STRING)), ("status", _STRING),
           ("persons", _LONG), ("identifiers", _LONG),
           ("rows_deleted", MapType(_STRING, _LONG)), ("tables_purged", ArrayType(_STRING)),
           ("models_trained_on_them", ArrayType(_STRING)), ("message", _STRING)),
    keys=("request_id",),
)
# The identifiers of requests in progress, so a killed erasure resumes with the same list after
# the identity tables are already clean; emptied (and vacuumed) when a request finishes.
ERASURE_PENDING = TableSpec(
    "privacy_erasure_pending",
    schema(("request_id", _STRING), ("term", _STRING), ("kind", _STRING)),
)
TABLES = (AUDIT_ERASURE, ERASURE_PENDING)
# The erased identifiers (`silver.tables.ERASED_IDENTIFIERS`) are declared by silver, which
# reads them; the erasure writes them.
