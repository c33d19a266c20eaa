"""Sessions split at the inactivity gap; an incremental rebuild equals a rebuild from scratch."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.silver.sessionization import (
    events_to_resessionize,
    rebuild_window,
    sessionize,
    untouched_sessions,
)

T0 = datetime(2026, 6, 1, 10, 0, 0)
SCHEMA = ("event_key string, person_id string, ts timestamp, touchpoint string, channel string, "
          "revenue decimal(18,2)")
CONVERSIONS = ("purchase", "store_purchase")


def events(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), SCHEMA)


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def test_a_gap_of_exactly_the_limit_continues_and_one_second_more_splits(
    spark: SparkSession,
) -> None:
    frame = events(
        spark,
        ("e1", "p", at(0), "page_view", "organic_search", None),
        ("e2", "p", at(30), "product_view", "direct", None),           # exactly 30 min later
        ("e3", "p", at(60, 1), "page_view", "email", None),            # 30 min 1 s later
        ("e4", "p", at(61), "purchase", "direct", Decimal("20.50")),
    )
    sessions = sorted(sessionize(frame, 30, CONVERSIONS).collect(), key=lambda r: r.start_ts)
    assert [(s.start_ts, s.end_ts, s.events) for s in sessions] == [
        (at(0), at(30), 2), (at(60, 1), at(61), 2)]
    first, second = sessions
    assert (first.entry_touchpoint, first.exit_touchpoint, first.entry_channel) == (
        "page_view", "product_view", "organic_search")
    assert (first.converted, first.revenue, first.duration_seconds) == (False, Decimal("0.00"),
                                                                        1800.0)
    assert (second.touchpoints, second.channels) == (["page_view", "purchase"],
                                                     ["email", "direct"])
    assert (second.converted, second.conversions, second.revenue) == (True, 1, Decimal("20.50"))


def test_persons_are_sessionised_apart_and_ties_are_ordered_by_key(spark: SparkSession) -> None:
    frame = events(
        spark,
        ("b", "p1", at(0), "search", "direct", None),
        ("a", "p1", at(0), "page_view", "direct", None),
        ("c", "p2", at(10), "page_view", "social", None),
    )
    sessions = {r.person_id: r for r in sessionize(frame, 30, CONVERSIONS).collect()}
    assert sessions["p1"].touchpoints == ["page_view", "search"]
    assert sessions["p2"].events == 1
    assert sessions["p1"].session_id != sessions["p2"].session_id


def test_events_without_a_person_are_not_sessionised(spark: SparkSession) -> None:
    frame = events(spark, ("a", None, at(0), "page_view", "direct", None))
    assert sessionize(frame, 30, CONVERSIONS).count() == 0


def test_bad_gap_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="gap_minutes"):
        sessionize(events(spark), 0, CONVERSIONS)


def rebuild_incrementally(old: DataFrame, new: DataFrame) -> set[tuple]:
    """What the silver job does: keep the sessions before each person's rebuild point,
    re-sessionise the events from it on."""
    stored = sessionize(old, 30, CONVERSIONS)
    window = rebuild_window(new.select("person_id", "ts"), stored, 30)
    rebuilt = sessionize(events_to_resessionize(old.unionByName(new), window), 30, CONVERSIONS)
    result = untouched_sessions(stored, window).unionByName(rebuilt)
    return {(r.person_id, r.start_ts, r.end_ts, r.events) for r in result.collect()}


def test_a_late_event_bridging_two_sessions_gives_the_scratch_result(
    spark: SparkSession,
) -> None:
    old = events(
        spark,
        ("e1", "p", at(0), "page_view", "direct", None),
        ("e2", "p", at(50), "page_view", "direct", None),      # 50 min gap: two sessions
        ("e3", "p", at(200), "page_view", "direct", None),     # a third, far later
        ("e0", "p", at(-300), "page_view", "direct", None),    # an early one, untouched
        ("f1", "q", at(0), "page_view", "direct", None),       # another person, untouched
    )
    late = events(spark, ("late", "p", at(25), "search", "direct", None))  # bridges e1 and e2
    scratch = sessionize(old.unionByName(late), 30, CONVERSIONS)
    expected = {(r.person_id, r.start_ts, r.end_ts, r.events) for r in scratch.collect()}
    assert ("p", at(0), at(50), 3) in expected
    assert rebuild_incrementally(old, late) == expected


def test_rebuild_starts_at_the_new_event_when_no_session_can_absorb_it(
    spark: SparkSession,
) -> None:
    stored = spark.createDataFrame([("p", at(0), at(10))],
                                   "person_id string, start_ts timestamp, end_ts timestamp")
    new = spark.createDataFrame([("p", at(41)), ("r", at(5))], "person_id string, ts timestamp")
    window = {r.person_id: r.rebuild_from for r in rebuild_window(new, stored, 30).collect()}
    assert window == {"p": at(41), "r": at(5)}
    new_within_gap = spark.createDataFrame([("p", at(40))], "person_id string, ts timestamp")
    assert rebuild_window(new_within_gap, stored, 30).first().rebuild_from == at(0)
    everything = spark.createDataFrame([("p", None)], "person_id string, ts timestamp")
    assert rebuild_window(everything, stored, 30).first().rebuild_from is None


def test_identity_moves_rebuild_the_old_and_the_new_person_whole(spark: SparkSession) -> None:
    from journeylake.silver.sessionization import whole_rebuilds

    moved = spark.createDataFrame([("e1", "p_new", "p_old")],
                                  "event_key string, person_id string, old_person_id string")
    marks = whole_rebuilds(moved)
    assert sorted((r.person_id, r.ts) for r in marks.collect()) == [("p_new", None),
                                                                     ("p_old", None)]
    stored = spark.createDataFrame([("p_old", datetime(2026, 6, 1), datetime(2026, 6, 1, 1))],
                                   "person_id string, start_ts timestamp, end_ts timestamp")
    window = rebuild_window(marks, stored, 30.0)
    assert {r.person_id: r.rebuild_from for r in window.collect()} == {"p_new": None,
                                                                       "p_old": None}
