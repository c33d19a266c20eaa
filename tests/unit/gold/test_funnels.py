"""Funnels: the entry, strict and any order, the window boundary, ties, and the report."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import FunnelSettings
from journeylake.gold.funnels import FunnelSpec, funnel_progress, funnel_report, funnel_reports

T0 = datetime(2026, 6, 1, 10, 0, 0)
SCHEMA = "event_key string, person_id string, ts timestamp, touchpoint string, channel string"
PROGRESS_SCHEMA = ("funnel string, person_id string, entry_channel string, entry_ts timestamp, "
                   "step_ts array<timestamp>, steps_reached int")
REPORT_SCHEMA = ("funnel string, group_by string, group_value string, step_index int, "
                 "step string, persons long, conversion_from_previous double, "
                 "conversion_overall double, median_seconds_from_previous double")
STEPS = ("visit", "add_to_cart", "purchase")
STRICT = FunnelSpec("checkout", STEPS, window_hours=24)
ANY = FunnelSpec("checkout", STEPS, window_hours=24, order="any")


def at(hours: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, seconds=seconds)


@pytest.fixture(scope="module")
def journeys(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        # p1 goes through in order; a cart before the entry is not part of the attempt.
        ("p1-0", "p1", at(-2), "add_to_cart", "direct"),
        ("p1-1", "p1", at(0), "visit", "email"),
        ("p1-2", "p1", at(1), "add_to_cart", "direct"),
        ("p1-3", "p1", at(3), "purchase", "direct"),
        # p2 buys before adding to the cart: out of order.
        ("p2-1", "p2", at(0), "visit", "social"),
        ("p2-2", "p2", at(1), "purchase", "direct"),
        ("p2-3", "p2", at(2), "add_to_cart", "direct"),
        # p3: the entry is the first visit (social), not the second; the cart exactly 24 h after
        # the entry counts, the purchase one second later does not (it would from the 2nd visit).
        ("p3-0", "p3", at(-1), "page_view", "organic_search"),
        ("p3-1", "p3", at(0), "visit", "social"),
        ("p3-2", "p3", at(20), "visit", "email"),
        ("p3-3", "p3", at(24), "add_to_cart", "direct"),
        ("p3-4", "p3", at(24, seconds=1), "purchase", "direct"),
        # p4: all at the same instant, ordered by event_key: purchase (k1), visit (k2), cart (k3).
        ("k2", "p4", at(0), "visit", "direct"),
        ("k3", "p4", at(0), "add_to_cart", "direct"),
        ("k1", "p4", at(0), "purchase", "direct"),
        # p5 never visits: not in the funnel.
        ("p5-1", "p5", at(0), "add_to_cart", "email"),
        ("p5-2", "p5", at(1), "purchase", "email"),
        # p6 visits and buys without a cart.
        ("p6-1", "p6", at(0), "visit", "email"),
        ("p6-2", "p6", at(1), "purchase", "email"),
    ], SCHEMA)


def assert_frames(actual: DataFrame, expected: DataFrame) -> None:
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_strict_order_needs_each_step_after_the_previous_within_the_window(
    spark: SparkSession, journeys: DataFrame
) -> None:
    expected = spark.createDataFrame([
        ("checkout", "p1", "email", at(0), [at(0), at(1), at(3)], 3),
        ("checkout", "p2", "social", at(0), [at(0), at(2), None], 2),
        ("checkout", "p3", "social", at(0), [at(0), at(24), None], 2),
        ("checkout", "p4", "direct", at(0), [at(0), at(0), None], 2),
        ("checkout", "p6", "email", at(0), [at(0), None, None], 1),
    ], PROGRESS_SCHEMA)
    assert_frames(funnel_progress(journeys, STRICT), expected)


def test_any_order_takes_each_steps_earliest_event_from_the_entry_on(
    spark: SparkSession, journeys: DataFrame
) -> None:
    # p2 now buys (1 h) before the cart (2 h) and reaches all three steps. p4's purchase sorts
    # before its entry, so it still does not count; p6 bought but never added to the cart, and a
    # step counts only when the ones before it are reached too.
    expected = spark.createDataFrame([
        ("checkout", "p1", "email", at(0), [at(0), at(1), at(3)], 3),
        ("checkout", "p2", "social", at(0), [at(0), at(2), at(1)], 3),
        ("checkout", "p3", "social", at(0), [at(0), at(24), None], 2),
        ("checkout", "p4", "direct", at(0), [at(0), at(0), None], 2),
        ("checkout", "p6", "email", at(0), [at(0), None, None], 1),
    ], PROGRESS_SCHEMA)
    assert_frames(funnel_progress(journeys, ANY), expected)


def test_strict_report_counts_persons_conversions_and_median_times(
    spark: SparkSession, journeys: DataFrame
) -> None:
    # Cart after the visit: p1 3600 s, p2 7200 s, p3 86400 s, p4 0 s -> median 5400 s.
    # Purchase after the cart: only p1, 7200 s.
    expected = spark.createDataFrame([
        ("checkout", "all", "all", 1, "visit", 5, 1.0, 1.0, None),
        ("checkout", "all", "all", 2, "add_to_cart", 4, 0.8, 0.8, 5400.0),
        ("checkout", "all", "all", 3, "purchase", 1, 0.25, 0.2, 7200.0),
    ], REPORT_SCHEMA)
    assert_frames(funnel_report(funnel_progress(journeys, STRICT), STRICT), expected)


def test_strict_report_by_entry_channel_keeps_every_step_of_every_channel(
    spark: SparkSession, journeys: DataFrame
) -> None:
    # email: p1, p6. social: p2 (7200 s), p3 (86400 s) -> median 46800 s. direct: p4.
    by = "entry_channel"
    expected = spark.createDataFrame([
        ("checkout", by, "email", 1, "visit", 2, 1.0, 1.0, None),
        ("checkout", by, "email", 2, "add_to_cart", 1, 0.5, 0.5, 3600.0),
        ("checkout", by, "email", 3, "purchase", 1, 1.0, 0.5, 7200.0),
        ("checkout", by, "social", 1, "visit", 2, 1.0, 1.0, None),
        ("checkout", by, "social", 2, "add_to_cart", 2, 1.0, 1.0, 46800.0),
        ("checkout", by, "social", 3, "purchase", 0, 0.0, 0.0, None),
        ("checkout", by, "direct", 1, "visit", 1, 1.0, 1.0, None),
        ("checkout", by, "direct", 2, "add_to_cart", 1, 1.0, 1.0, 0.0),
        ("checkout", by, "direct", 3, "purchase", 0, 0.0, 0.0, None),
    ], REPORT_SCHEMA)
    assert_frames(funnel_report(funnel_progress(journeys, STRICT), STRICT, by=by), expected)


def test_any_order_report_times_a_step_from_when_the_steps_before_it_were_all_done(
    spark: SparkSession, journeys: DataFrame
) -> None:
    # Purchase: p1 3 h - 1 h = 7200 s; p2 bought (1 h) before the cart (2 h), so all three were
    # done at 2 h, 0 s after the first two -> median of (0, 7200) = 3600 s.
    expected = spark.createDataFrame([
        ("checkout", "all", "all", 1, "visit", 5, 1.0, 1.0, None),
        ("checkout", "all", "all", 2, "add_to_cart", 4, 0.8, 0.8, 5400.0),
        ("checkout", "all", "all", 3, "purchase", 2, 0.5, 0.4, 3600.0),
    ], REPORT_SCHEMA)
    assert_frames(funnel_report(funnel_progress(journeys, ANY), ANY), expected)


def test_a_touchpoint_listed_twice_needs_two_events_in_either_order(spark: SparkSession) -> None:
    frame = spark.createDataFrame([
        ("a1", "a", at(0), "visit", "email"),
        ("a2", "a", at(1), "purchase", "email"),
        ("a3", "a", at(2), "visit", "email"),
        ("b1", "b", at(0), "visit", "email"),
        ("b2", "b", at(1), "purchase", "email"),
    ], SCHEMA)
    steps = ("visit", "visit", "purchase")
    strict = FunnelSpec("twice_strict", steps, window_hours=2)
    any_order = FunnelSpec("twice_any", steps, window_hours=2, order="any")
    actual = funnel_progress(frame, strict).unionByName(funnel_progress(frame, any_order))
    # The entry cannot also be the second visit; in any order a's purchase comes before it.
    expected = spark.createDataFrame([
        ("twice_strict", "a", "email", at(0), [at(0), at(2), None], 2),
        ("twice_strict", "b", "email", at(0), [at(0), None, None], 1),
        ("twice_any", "a", "email", at(0), [at(0), at(2), at(1)], 3),
        ("twice_any", "b", "email", at(0), [at(0), None, None], 1),
    ], PROGRESS_SCHEMA)
    assert_frames(actual, expected)


def test_funnel_reports_report_every_configured_funnel_overall_and_by_each_breakdown(
    spark: SparkSession,
) -> None:
    events = spark.createDataFrame([
        ("a1", "a", at(0), "visit", "email"),
        ("a2", "a", at(1), "add_to_cart", "direct"),
        ("a3", "a", at(3), "purchase", "direct"),
        ("b1", "b", at(0), "visit", "social"),
        ("b2", "b", at(1), "purchase", "direct"),
        ("b3", "b", at(1.5), "add_to_cart", "direct"),
        ("c1", "c", at(0), "visit", "email"),
        ("c2", "c", at(30), "add_to_cart", "email"),
        ("d1", "d", at(0), "add_to_cart", "direct"),  # never visits: in no funnel
    ], SCHEMA)
    funnels = [
        FunnelSettings("in_a_day", STEPS, window_hours=24, order="strict"),
        FunnelSettings("within_2h_any_order", STEPS, window_hours=2, order="any"),
    ]
    # in_a_day: a visit > cart (3600 s) > purchase (7200 s); b's cart (5400 s) comes after its
    # purchase, so b stops at the cart; c's cart is 30 h after the visit.
    # within_2h_any_order: a's purchase at 3 h is past the window, so a stops at the cart
    # (3600 s); b has all three by 1.5 h, its purchase 0 s after its cart (5400 s); c: visit.
    # Carts: median of 3600 and 5400 = 4500 s. Entry channels: a and c email, b social.
    by = "entry_channel"
    expected = spark.createDataFrame([
        ("in_a_day", "all", "all", 1, "visit", 3, 1.0, 1.0, None),
        ("in_a_day", "all", "all", 2, "add_to_cart", 2, 2 / 3, 2 / 3, 4500.0),
        ("in_a_day", "all", "all", 3, "purchase", 1, 0.5, 1 / 3, 7200.0),
        ("in_a_day", by, "email", 1, "visit", 2, 1.0, 1.0, None),
        ("in_a_day", by, "email", 2, "add_to_cart", 1, 0.5, 0.5, 3600.0),
        ("in_a_day", by, "email", 3, "purchase", 1, 1.0, 0.5, 7200.0),
        ("in_a_day", by, "social", 1, "visit", 1, 1.0, 1.0, None),
        ("in_a_day", by, "social", 2, "add_to_cart", 1, 1.0, 1.0, 5400.0),
        ("in_a_day", by, "social", 3, "purchase", 0, 0.0, 0.0, None),
        ("within_2h_any_order", "all", "all", 1, "visit", 3, 1.0, 1.0, None),
        ("within_2h_any_order", "all", "all", 2, "add_to_cart", 2, 2 / 3, 2 / 3, 4500.0),
        ("within_2h_any_order", "all", "all", 3, "purchase", 1, 0.5, 1 / 3, 0.0),
        ("within_2h_any_order", by, "email", 1, "visit", 2, 1.0, 1.0, None),
        ("within_2h_any_order", by, "email", 2, "add_to_cart", 1, 0.5, 0.5, 3600.0),
        ("within_2h_any_order", by, "email", 3, "purchase", 0, 0.0, 0.0, None),
        ("within_2h_any_order", by, "social", 1, "visit", 1, 1.0, 1.0, None),
        ("within_2h_any_order", by, "social", 2, "add_to_cart", 1, 1.0, 1.0, 5400.0),
        ("within_2h_any_order", by, "social", 3, "purchase", 1, 1.0, 1.0, 0.0),
    ], REPORT_SCHEMA)
    assert_frames(funnel_reports(events, funnels, [by]), expected)
    assert funnel_reports(events, []) is None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"steps": ("visit",)}, "steps"),
        ({"steps": "visit"}, "steps"),
        ({"window_hours": 0}, "window_hours"),
        ({"window_hours": -1.5}, "window_hours"),
        ({"order": "sorted"}, "order"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_funnel_spec_is_refused_naming_the_field(arguments: dict, field: str) -> None:
    valid = {"name": "checkout", "steps": STEPS, "window_hours": 24}
    with pytest.raises(ValueError, match=field):
        FunnelSpec(**{**valid, **arguments})


def test_missing_columns_are_named(spark: SparkSession, journeys: DataFrame) -> None:
    with pytest.raises(ValueError, match="channel"):
        funnel_progress(journeys.drop("channel"), STRICT)
    progress = funnel_progress(journeys, STRICT)
    with pytest.raises(ValueError, match="'device'"):
        funnel_report(progress, STRICT, by="device")
