"""Consent: a change log of decisions put on persons, the latest decision winning, and the
point-in-time questions (who may be profiled at t) on hand-made records."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.silver.consent import (
    consent_status,
    consented_persons,
    latest_states,
    resolve_consent,
    with_consent,
)

RECORDS = ("consent_id string, subject_type string, subject_id string, purpose string, "
           "granted_at timestamp, withdrawn_at timestamp, recorded_at timestamp")
INTERVALS = ("person_id string, purpose string, granted boolean, valid_from timestamp, "
             "valid_to timestamp, decided_by string")


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2026, 6, d, hour)


def identity_map(spark: SparkSession) -> DataFrame:
    # P1 is a customer with a web cookie; P2 a visitor known only by a cookie; K9 is unseen.
    return spark.createDataFrame(
        [("1|customer|C1", "P1"), ("5|cookie|K1", "P1"), ("5|cookie|K2", "P2"),
         ("1|customer|C3", "P3")], "node string, person_id string")


def records(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        # P1's profiling: granted on the account, withdrawn there (a second line of the same
        # consent), granted again on the cookie banner.
        ("a1", "customer", "C1", "profiling", day(1), None, day(1)),
        ("a1", "customer", "C1", "profiling", day(1), day(10), day(10)),
        ("a2", "cookie", "K1", "profiling", day(15), None, day(15)),
        # P1's marketing: granted on the cookie and on the account; withdrawing the cookie's
        # consent later is the latest decision, so it ends the account's grant too.
        ("a6", "cookie", "K1", "marketing", datetime(2026, 5, 1), day(20), day(20)),
        ("a5", "customer", "C1", "marketing", day(1), None, day(1)),
        # A visitor who never logs in accepts the banner.
        ("a3", "cookie", "K2", "profiling", day(5), None, day(5)),
        # A cookie silver has not seen belongs to nobody (yet).
        ("a4", "cookie", "K9", "profiling", day(1), None, day(1)),
        # Granted and withdrawn at one instant: the withdrawal is the later decision.
        ("a7", "customer", "C3", "analytics", day(3), day(3), day(3)),
    ], RECORDS)


@pytest.fixture(scope="module")
def consent(spark: SparkSession) -> DataFrame:
    return resolve_consent(records(spark), identity_map(spark)).cache()


def test_a_consent_s_latest_line_is_its_state_and_a_tie_goes_to_the_withdrawal(
    spark: SparkSession,
) -> None:
    lines = spark.createDataFrame([
        ("x", "customer", "C1", "profiling", day(1), None, day(1)),
        ("x", "customer", "C1", "profiling", day(1), day(4), day(4)),
        ("y", "customer", "C1", "marketing", day(2), day(6), day(6)),
        ("y", "customer", "C1", "marketing", day(2), None, day(6)),
    ], RECORDS)
    expected = spark.createDataFrame([
        ("x", "customer", "C1", "profiling", day(1), day(4), day(4)),
        ("y", "customer", "C1", "marketing", day(2), day(6), day(6)),
    ], RECORDS)
    assert_df_equality(latest_states(lines), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_intervals_follow_the_latest_decision_across_a_person_s_identifiers(
    spark: SparkSession, consent: DataFrame,
) -> None:
    expected = spark.createDataFrame([
        ("P1", "profiling", True, day(1), day(10), "a1"),
        ("P1", "profiling", False, day(10), day(15), "a1"),
        ("P1", "profiling", True, day(15), None, "a2"),
        ("P1", "marketing", True, datetime(2026, 5, 1), day(20), "a6"),
        ("P1", "marketing", False, day(20), None, "a6"),
        ("P2", "profiling", True, day(5), None, "a3"),
        ("P3", "analytics", False, day(3), None, "a7"),
    ], INTERVALS)
    assert_df_equality(consent, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(("at", "persons"), [
    (datetime(2026, 5, 30), set()),
    (day(5, 12), {"P1", "P2"}),
    (day(10), {"P2"}),  # the interval is half-open: withdrawn at 10 June 00:00 exactly
    (day(12), {"P2"}),
    (day(15), {"P1", "P2"}),
    (datetime(2027, 1, 1), {"P1", "P2"}),
])
def test_consented_persons_at_a_point_in_time(consent: DataFrame, at: datetime,
                                              persons: set[str]) -> None:
    found = {row.person_id for row in consented_persons(consent, "profiling", at).collect()}
    assert found == persons


def test_the_default_decides_only_for_persons_without_a_decision(
    spark: SparkSession, consent: DataFrame,
) -> None:
    rows = spark.createDataFrame([("P1",), ("P2",), ("P3",), ("P4",)], "person_id string")

    def allowed(default: str, at: datetime) -> set[str]:
        return {row.person_id for row in
                with_consent(rows, consent, "profiling", at, default).collect()}

    assert allowed("deny", day(12)) == {"P2"}
    # Opt-out: everyone but P1, who withdrew on 10 June and has not granted again by the 12th.
    assert allowed("grant", day(12)) == {"P2", "P3", "P4"}
    assert allowed("grant", day(16)) == {"P1", "P2", "P3", "P4"}
    with pytest.raises(ValueError, match="default 'maybe'"):
        with_consent(rows, consent, "profiling", day(12), "maybe")


def test_consent_status_says_granted_withdrawn_or_none(spark: SparkSession,
                                                      consent: DataFrame) -> None:
    rows = spark.createDataFrame([("P1",), ("P2",), ("P4",)], "person_id string")
    status = consent_status(rows, consent, "marketing", day(25))
    assert {row.person_id: row.consent_status for row in status.collect()} == {
        "P1": "withdrawn", "P2": "none", "P4": "none"}
    before = consent_status(rows, consent, "marketing", day(19))
    assert {row.person_id: row.consent_status for row in before.collect()}["P1"] == "granted"
