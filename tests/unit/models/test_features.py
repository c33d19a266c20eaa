"""Point-in-time features on a timeline small enough to work out by hand: values from before the
cutoff only, labels from the days after it, and an event after the cutoff moves no feature."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import SocialGraphSettings
from journeylake.gold.journeys import session_journeys
from journeylake.models.feature_catalogue import FEATURE_NAMES, FEATURES, LABELS
from journeylake.models.features import customer_features, reference_dates
from journeylake.models.tables import CUSTOMER_FEATURES
from journeylake.silver.identity import node

CUTOFF = date(2026, 6, 10)
EVENT_SCHEMA = ("event_key string, person_id string, ts timestamp, channel string, "
                "touchpoint string, source string, revenue decimal(18,2), "
                "attributes map<string,string>")
SESSION_SCHEMA = ("session_id string, person_id string, start_ts timestamp, end_ts timestamp, "
                  "duration_seconds double, events bigint, entry_channel string, "
                  "touchpoints array<string>, converted boolean")
CONVERSIONS = ("purchase", "store_purchase")


def _event(key: str, person: str, ts: str, touchpoint: str, revenue: str | None = None,
           source: str = "clickstream", target: str | None = None) -> tuple:
    attributes = {"target_handle_hash": target} if target else {}
    return (key, person, datetime.fromisoformat(ts), "email", touchpoint, source,
            None if revenue is None else Decimal(revenue), attributes)


# Person a: two visits before the cutoff (the second with an offer click and an order of 40),
# a follow of b. Person b: one visit, a follow of c; c likes a post of a.
BEFORE = [
    _event("a1", "a", "2026-06-01 10:00:00", "page_view"),
    _event("a2", "a", "2026-06-01 10:05:00", "product_view"),
    _event("a3", "a", "2026-06-08 09:00:00", "offer_click"),
    _event("a4", "a", "2026-06-08 09:02:00", "product_view"),
    _event("a5", "a", "2026-06-08 09:04:00", "purchase", "40.00", "transactions"),
    _event("a6", "a", "2026-06-08 12:00:00", "social_follow", source="social", target="hb"),
    _event("b1", "b", "2026-06-05 18:00:00", "page_view"),
    _event("b2", "b", "2026-06-05 18:30:00", "social_follow", source="social", target="hc"),
    _event("c1", "c", "2026-06-06 08:00:00", "social_like", source="social", target="ha"),
]
SESSIONS = [
    ("s1", "a", datetime(2026, 6, 1, 10), datetime(2026, 6, 1, 10, 5), 300.0, 2, "email",
     ["page_view", "product_view"], False),
    ("s2", "a", datetime(2026, 6, 8, 9), datetime(2026, 6, 8, 9, 4), 240.0, 3, "email",
     ["offer_click", "product_view", "purchase"], True),
    ("s3", "b", datetime(2026, 6, 5, 18), datetime(2026, 6, 5, 18), 0.0, 1, "direct",
     ["page_view"], False),
]
# After the cutoff: a buys again and follows someone new; b does nothing (churns).
AFTER = [
    _event("a7", "a", "2026-06-11 10:00:00", "page_view"),
    _event("a8", "a", "2026-06-11 10:03:00", "purchase", "99.00", "transactions"),
    _event("a9", "a", "2026-06-11 11:00:00", "social_follow", source="social", target="hd"),
]
SESSIONS_AFTER = [
    ("s4", "a", datetime(2026, 6, 11, 10), datetime(2026, 6, 11, 10, 3), 180.0, 2, "email",
     ["page_view", "purchase"], True),
]


def _features(spark: SparkSession, events: list[tuple], sessions: list[tuple]) -> DataFrame:
    timeline = spark.createDataFrame(events, EVENT_SCHEMA)
    visits = spark.createDataFrame(sessions, SESSION_SCHEMA)
    identity_map = spark.createDataFrame(
        [("ha", "a"), ("hb", "b"), ("hc", "c"), ("hd", "d")],
        "handle string, person_id string").select(
        node("handle", F.col("handle")).alias("node"), "person_id")
    walks = session_journeys(timeline, visits, CONVERSIONS, collapse=True)
    return customer_features(
        timeline, walks, visits, identity_map, [CUTOFF], labels_until=date(2026, 6, 20),
        window_days=28, label_days=7, conversion_touchpoints=CONVERSIONS,
        outcome_stage_touchpoints=("add_to_cart", "checkout_start"),
        social=SocialGraphSettings(pagerank_iterations=5, label_propagation_iterations=2),
        motif_min_support=1)


@pytest.fixture(scope="module")
def before_only(spark: SparkSession) -> dict[str, Row]:
    return {row.person_id: row for row in _features(spark, BEFORE, SESSIONS).collect()}


@pytest.fixture(scope="module")
def with_later_events(spark: SparkSession) -> dict[str, Row]:
    return {row.person_id: row for row in
            _features(spark, BEFORE + AFTER, SESSIONS + SESSIONS_AFTER).collect()}


def test_rows_have_the_declared_columns_and_every_feature_is_catalogued(
    spark: SparkSession,
) -> None:
    frame = _features(spark, BEFORE, SESSIONS)
    assert frame.columns == [c for c in CUSTOMER_FEATURES.columns
                             if c not in ("_built_at", "_run_id")]
    assert [f.name for f in FEATURES] == list(FEATURE_NAMES)
    assert set(frame.columns) == {"person_id", "reference_date", *FEATURE_NAMES,
                                  *(label.name for label in LABELS)}


def test_values_worked_out_by_hand(before_only: dict[str, Row]) -> None:
    a = before_only["a"]
    assert (a.orders, a.revenue, a.lifetime_orders, a.average_order_value) == (1, 40.0, 1, 40.0)
    # Last order 2026-06-08 09:04, cutoff 2026-06-10 00:00: 1 day 14 h 56 min.
    assert a.days_since_last_order == pytest.approx(1 + (14 * 60 + 56) / 1440)
    assert a.tenure_days == pytest.approx(8 + 14 / 24)
    assert (a.page_views, a.product_views, a.offer_clicks, a.social_actions) == (1, 2, 1, 1)
    assert (a.sessions, a.offer_click_rate, a.converted_session_rate) == (2, 0.5, 0.5)
    assert a.active_days == 2
    assert a.channel_mix == {"email": 1.0}
    assert before_only["b"].followers == 1 and a.followers == 0
    # a -> b -> c -> a: one triangle, one community.
    assert {before_only[p].community_size for p in "abc"} == {3}
    assert before_only["b"].days_since_last_order is None


def test_labels_come_from_the_days_after_the_cutoff(with_later_events: dict[str, Row]) -> None:
    a, b = with_later_events["a"], with_later_events["b"]
    assert (a.label_purchase, a.label_churn, a.label_unsubscribe) == (True, False, False)
    assert (b.label_purchase, b.label_churn) == (False, True)
    assert with_later_events["c"].label_churn is True


def test_an_event_after_the_cutoff_moves_no_feature(
    before_only: dict[str, Row], with_later_events: dict[str, Row]
) -> None:
    assert before_only.keys() == with_later_events.keys()  # d, followed later, is not a row
    for person, row in before_only.items():
        later = with_later_events[person]
        moved = [name for name in FEATURE_NAMES if row[name] != later[name]]
        assert not moved, (person, {n: (row[n], later[n]) for n in moved})
    assert before_only["a"].label_purchase is False
    assert with_later_events["a"].label_purchase is True


def test_labels_are_unknown_when_the_label_window_runs_past_the_data(
    spark: SparkSession,
) -> None:
    timeline = spark.createDataFrame(BEFORE, EVENT_SCHEMA)
    visits = spark.createDataFrame(SESSIONS, SESSION_SCHEMA)
    identity_map = spark.createDataFrame([], "node string, person_id string")
    rows = customer_features(
        timeline, session_journeys(timeline, visits, CONVERSIONS, collapse=True), visits,
        identity_map, [CUTOFF], labels_until=date(2026, 6, 12), window_days=28, label_days=7,
        conversion_touchpoints=CONVERSIONS, outcome_stage_touchpoints=(),
        social=SocialGraphSettings(pagerank_iterations=3, label_propagation_iterations=1),
        motif_min_support=1).collect()
    assert {(r.label_purchase, r.label_churn, r.label_unsubscribe) for r in rows} == {
        (None, None, None)}


def test_reference_dates_leave_whole_label_windows() -> None:
    refs = reference_dates(datetime(2026, 6, 30, 22, 15), label_days=7, training_references=2)
    assert refs.scoring == date(2026, 7, 1)
    assert refs.holdout == date(2026, 6, 24)
    assert refs.training == (date(2026, 6, 10), date(2026, 6, 17))
