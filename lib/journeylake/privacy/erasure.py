"""The right to erasure: from a customer id to every value that identifies the person.

The identity graph gives the person of a customer id and, through it, every identifier the
person was stitched from (cookies, devices, hashed emails and handles). Ids the person carried
before a merge come from `silver_identity_merges`; the raw emails and handles bronze still holds
are found by hashing bronze's personal columns with the pseudonymisation key. Every table row
holding one of these terms, whole or as a token, is the person's (`pii_scan.holds_any`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.frames import union_all
from journeylake.privacy.pii_scan import holds_any
from journeylake.silver.identity import CUSTOMER
from journeylake.silver.pseudonymisation import (
    NORMALISERS,
    PSEUDONYMISERS,
    PiiKey,
    hmac_sha256,
)

PERSON, NODE, IDENTIFIER, RAW = "person", "node", "identifier", "raw"
TERM_COLUMNS = ("term", "kind")
# How many merges back an erased person's earlier ids are followed.
MERGE_DEPTH = 8
# The personal kinds that identify one person (a name does not).
IDENTIFYING_KINDS = ("email", "handle", "phone")


def subject_hash(customer_id: str, key: PiiKey) -> str:
    """What the audit keeps of a request's customer id: its keyed hash, in a namespace of its
    own so it equals no hash stored elsewhere (the id itself is never kept)."""
    return hmac.new(key.secret, f"erasure-subject:{customer_id}".encode(),
                    hashlib.sha256).hexdigest()


def persons_of_customers(identity_map: DataFrame, customer_ids: Sequence[str]) -> DataFrame:
    """person_id of each customer id (identity map: identifier_type, identifier, person_id)."""
    return identity_map.where(
        (F.col("identifier_type") == CUSTOMER) & F.col("identifier").isin(list(customer_ids))
    ).select("person_id").distinct()


def with_earlier_ids(persons: DataFrame, merges: DataFrame, depth: int = MERGE_DEPTH
                     ) -> DataFrame:
    """person_id: `persons` and every id merged or split into them (silver_identity_merges:
    old_person_id -> new_person_id), followed `depth` merges back."""
    found = persons.select("person_id")
    edges = merges.select(F.col("old_person_id").alias("person_id"),
                          F.col("new_person_id").alias("_into"))
    frontier = found
    for _ in range(depth):
        frontier = edges.join(frontier.withColumnRenamed("person_id", "_into"), "_into").select(
            "person_id")
        found = found.unionByName(frontier)
    return found.distinct()


def person_terms(identity_map: DataFrame, persons: DataFrame) -> DataFrame:
    """TERM_COLUMNS (lower-case): each person id and each node and identifier value of the
    person's identity map rows."""
    rows = identity_map.join(persons, "person_id")
    parts = [
        persons.select(F.col("person_id").alias("term"), F.lit(PERSON).alias("kind")),
        rows.select(F.col("node").alias("term"), F.lit(NODE).alias("kind")),
        rows.select(F.col("identifier").alias("term"), F.lit(IDENTIFIER).alias("kind")),
    ]
    return union_all(parts).select(F.lower("term").alias("term"), "kind").where(
        "term IS NOT NULL AND term <> ''").distinct()


def raw_personal_terms(bronze: DataFrame, pii: Mapping[str, str], key: PiiKey,
                       terms: Sequence[str]) -> DataFrame:
    """TERM_COLUMNS of kind `raw`: the raw values, as written and normalised, of the personal
    columns (`pii`: column -> kind) of bronze rows that are the person's: a row holding one of
    `terms`, or whose personal value hashes to one. Names are not terms: two people can share
    one, and the rows naming the person hold an identifier of theirs anyway."""
    wanted = sorted(set(terms))
    hashed = [PSEUDONYMISERS[kind](F.col(column), key).isin(wanted)
              for column, kind in pii.items()]
    condition = holds_any(bronze.schema, wanted)
    for match in hashed:
        condition = condition | F.coalesce(match, F.lit(False))
    values = []
    for column, kind in pii.items():
        if kind in IDENTIFYING_KINDS:
            values += [F.lower(F.trim(F.col(column))), NORMALISERS[kind](F.col(column))]
    if not values:
        return bronze.sparkSession.createDataFrame([], "term string, kind string")
    found = bronze.where(condition).select(F.explode(F.array(*values)).alias("term"))
    return found.select("term", F.lit(RAW).alias("kind")).where(
        "term IS NOT NULL AND term <> ''").distinct()


def erased_nodes(terms: DataFrame, key: PiiKey, request_id: str, at: datetime) -> DataFrame:
    """node_hash, request_id, erased_at: the keyed hash of each identity node among `terms`
    (TERM_COLUMNS; node terms are lower-cased, so the hash is of the lower-cased node)."""
    return terms.where(F.col("kind") == NODE).select(
        hmac_sha256(F.col("term"), key).alias("node_hash"),
        F.lit(request_id).alias("request_id"),
        F.lit(at).cast("timestamp").alias("erased_at"),
    ).distinct()
