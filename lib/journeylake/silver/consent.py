"""Consent: the decisions of the consent source, put on persons and turned into intervals of
one state per person and purpose, and the point-in-time questions the models ask of them.

The rules, in order:
1. The source is a change log: a consent_id's latest line (by `recorded_at`; at a tie, the one
   that withdraws) is its state. A consent is a grant at `granted_at` and, once withdrawn, a
   withdrawal at `withdrawn_at` (one before `granted_at` counts as at `granted_at`).
2. Its subject (a customer id, or a cookie id from the web site's banner) is a node of the
   identity graph; the consent belongs to that node's person. A subject silver has not seen
   yet belongs to nobody until it is seen (the table is rebuilt every run).
3. A person with several identifiers has all their decisions on one time line per purpose, and
   the latest decision wins: a withdrawal through any identifier ends a grant made through
   another, and a later grant anywhere starts a new one. Decisions at the same instant: the
   withdrawal is taken as the later one, so a tie never grants.
4. Each run of one state is an interval [valid_from, valid_to) (valid_to NULL: still so). A
   person with no interval holding a time has made no decision by then: the configured default
   (`privacy.consent.default`, deny = opt-in) decides.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.silver.identity import node

SUBJECT_TYPES = ("customer", "cookie")
ANALYTICS, MARKETING, PROFILING = "analytics", "marketing", "profiling"
GRANTED, WITHDRAWN, NO_DECISION = "granted", "withdrawn", "none"
DENY, GRANT = "deny", "grant"

RECORD_COLUMNS = ("consent_id", "subject_type", "subject_id", "purpose", "granted_at",
                  "withdrawn_at", "recorded_at")
INTERVAL_COLUMNS = ("person_id", "purpose", "granted", "valid_from", "valid_to", "decided_by")


def latest_states(records: DataFrame) -> DataFrame:
    """RECORD_COLUMNS, one row per consent_id: its latest recorded state (rule 1)."""
    require_columns(records, RECORD_COLUMNS, "latest_states")
    state = F.struct(*[F.col(name) for name in RECORD_COLUMNS if name != "consent_id"])
    order = F.struct(F.col("recorded_at"), F.col("withdrawn_at").isNotNull())
    return records.groupBy("consent_id").agg(F.max_by(state, order).alias("_s")).select(
        "consent_id", *[F.col(f"_s.{name}").alias(name) for name in RECORD_COLUMNS
                        if name != "consent_id"])


def subject_node(subject_type: str = "subject_type", subject_id: str = "subject_id"
                 ) -> Column:
    """The identity-graph node of a consent's subject; NULL for an unknown subject type."""
    kind = F.col(subject_type)
    return F.when(kind == SUBJECT_TYPES[0], node(SUBJECT_TYPES[0], F.col(subject_id))).when(
        kind == SUBJECT_TYPES[1], node(SUBJECT_TYPES[1], F.col(subject_id)))


def with_persons(states: DataFrame, identity_map: DataFrame) -> DataFrame:
    """The states plus `person_id` of their subject (rule 2; NULL: not seen). Needs
    RECORD_COLUMNS and an identity map (node, person_id)."""
    require_columns(states, RECORD_COLUMNS, "with_persons")
    require_columns(identity_map, ("node", "person_id"), "with_persons")
    persons = identity_map.select("node", "person_id")
    return states.withColumn("node", subject_node()).join(persons, "node", "left").drop("node")


def consent_intervals(states: DataFrame) -> DataFrame:
    """INTERVAL_COLUMNS from the states of resolved persons (rules 1, 3, 4): per person and
    purpose, the runs of one state in time; `decided_by` is the consent_id whose decision
    started the run. Needs RECORD_COLUMNS and person_id; states without a person are left out."""
    require_columns(states, (*RECORD_COLUMNS, "person_id"), "consent_intervals")
    # greatest() skips NULLs: an open consent must keep no withdrawal at all.
    withdrawn = F.when(F.col("withdrawn_at").isNotNull(),
                       F.greatest(F.col("withdrawn_at"), F.col("granted_at")))
    decisions = states.where(F.col("person_id").isNotNull()).select(
        "person_id", "purpose", "consent_id", F.inline(F.array(
            F.struct(F.col("granted_at").alias("ts"), F.lit(True).alias("granted")),
            F.struct(withdrawn.alias("ts"), F.lit(False).alias("granted")))),
    ).where(F.col("ts").isNotNull())
    # At one instant grants sort first, so the withdrawal is the latest decision (rule 3).
    timeline = Window.partitionBy("person_id", "purpose").orderBy(
        "ts", F.col("granted").desc(), "consent_id")
    changes = decisions.withColumn("_before", F.lag("granted").over(timeline)).where(
        F.col("_before").isNull() | (F.col("_before") != F.col("granted")))
    runs = Window.partitionBy("person_id", "purpose").orderBy("ts", F.col("granted").desc())
    return changes.select(
        "person_id", "purpose", "granted", F.col("ts").alias("valid_from"),
        F.lead("ts").over(runs).alias("valid_to"), F.col("consent_id").alias("decided_by"),
    ).where(F.col("valid_to").isNull() | (F.col("valid_to") > F.col("valid_from")))


def resolve_consent(records: DataFrame, identity_map: DataFrame) -> DataFrame:
    """INTERVAL_COLUMNS from the consent source's rows and the identity map: the three steps."""
    return consent_intervals(with_persons(latest_states(records), identity_map))


def _holding(consent: DataFrame, purpose: str, at: datetime) -> DataFrame:
    require_columns(consent, INTERVAL_COLUMNS, "consented_persons")
    instant = F.lit(at).cast("timestamp")
    return consent.where((F.col("purpose") == purpose) & (F.col("valid_from") <= instant) & (
        F.col("valid_to").isNull() | (F.col("valid_to") > instant)))


def consented_persons(consent: DataFrame, purpose: str, at: datetime) -> DataFrame:
    """person_id of the persons whose consent to `purpose` holds at `at` (UTC), once each."""
    return _holding(consent, purpose, at).where(F.col("granted")).select("person_id").distinct()


def consent_status(rows: DataFrame, consent: DataFrame, purpose: str, at: datetime,
                   name: str = "consent_status") -> DataFrame:
    """`rows` (with person_id) plus `name`: granted, withdrawn, or none (no decision yet)."""
    require_columns(rows, ("person_id",), "consent_status")
    states = _holding(consent, purpose, at).groupBy("person_id").agg(
        F.min(F.col("granted").cast("int")).alias("_granted"))
    return rows.join(states, "person_id", "left").withColumn(
        name, F.when(F.col("_granted").isNull(), F.lit(NO_DECISION)).when(
            F.col("_granted") == 1, F.lit(GRANTED)).otherwise(F.lit(WITHDRAWN))).drop("_granted")


def with_consent(rows: DataFrame, consent: DataFrame, purpose: str, at: datetime,
                 default: str) -> DataFrame:
    """The rows (person_id) of persons who may be processed for `purpose` at `at`: consent
    granted then, or, when `default` is grant, no decision yet either."""
    require_columns(rows, ("person_id",), "with_consent")
    if default not in (DENY, GRANT):
        raise ValueError(f"with_consent: default {default!r} is not one of {DENY}, {GRANT}")
    if default == DENY:
        return rows.join(consented_persons(consent, purpose, at), "person_id", "left_semi")
    refused = _holding(consent, purpose, at).where(~F.col("granted")).select("person_id")
    return rows.join(refused, "person_id", "left_anti")
