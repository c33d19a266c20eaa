"""Journeys and the journey graph on hand-made timelines with hand-computed answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.gold.journeys import attribution_paths, build_journeys, session_touches
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START
from journeylake.gold.touchpoint_graph import (
    dropoff_rates,
    motifs_before_outcome,
    odds_ratios,
    top_paths,
    touchpoint_pagerank,
    transition_edges,
)

T0 = datetime(2026, 6, 1, 10, 0, 0)
SCHEMA = ("event_key string, person_id string, ts timestamp, touchpoint string, channel string, "
          "revenue decimal(18,2)")
CONVERSIONS = ("purchase", "store_purchase")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def timeline(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        # p1: two journeys: A A B -> purchase, then C (no conversion yet)
        ("e01", "p1", at(0), "A", "email", None),
        ("e02", "p1", at(1), "A", "direct", None),
        ("e03", "p1", at(2), "B", "social", None),
        ("e04", "p1", at(3), "purchase", "direct", Decimal("40.00")),
        ("e05", "p1", at(5), "C", "direct", None),
        # p2: an old touch outside a 2-day lookback, then B -> purchase
        ("e06", "p2", at(-72), "C", "display", None),
        ("e07", "p2", at(0), "B", "social", None),
        ("e08", "p2", at(1), "store_purchase", "store", Decimal("10.00")),
        # p3: A B, no conversion
        ("e09", "p3", at(0), "A", "email", None),
        ("e10", "p3", at(0), "B", "email", None),   # same ts: ordered by event_key
    ], SCHEMA)


@pytest.fixture(scope="module")
def journeys(spark: SparkSession) -> DataFrame:
    return build_journeys(timeline(spark), CONVERSIONS, lookback_days=2,
                          collapse=True).localCheckpoint()


def by_person(journeys: DataFrame) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for r in journeys.orderBy("start_ts").collect():
        found.setdefault(r.person_id, []).append(
            (r.touchpoints, r.channels, r.converted, r.conversion_touchpoint, r.revenue))
    return found


def test_conversions_close_journeys_and_the_lookback_trims_old_touches(
    journeys: DataFrame,
) -> None:
    assert by_person(journeys) == {
        "p1": [(["A", "B"], ["email", "social"], True, "purchase", Decimal("40.00")),
               (["C"], ["direct"], False, None, Decimal("0.00"))],
        "p2": [(["B"], ["social"], True, "store_purchase", Decimal("10.00"))],
        "p3": [(["A", "B"], ["email", "email"], False, None, Decimal("0.00"))],
    }


def test_without_collapsing_repeats_stay(spark: SparkSession) -> None:
    raw = build_journeys(timeline(spark), CONVERSIONS, lookback_days=2, collapse=False)
    first = raw.where("person_id = 'p1' AND converted").first()
    assert first.touchpoints == ["A", "A", "B"]
    assert attribution_paths(raw.where("person_id = 'p1' AND converted")).first().touches[0] \
        .channel == "email"


def test_session_touches_are_the_entry_channel_at_the_start_and_the_conversion_at_the_end(
    spark: SparkSession,
) -> None:
    sessions = spark.createDataFrame([
        ("s1", "p1", at(0), at(0.5), "email", True, Decimal("40.00")),
        ("s2", "p1", at(2), at(2.25), "social", False, Decimal("0.00")),
        ("s3", "p2", at(1), at(1.75), "direct", True, Decimal("15.50")),
    ], "session_id string, person_id string, start_ts timestamp, end_ts timestamp, "
       "entry_channel string, converted boolean, revenue decimal(18,2)")
    expected = spark.createDataFrame([
        ("p1", at(0), "s1#0", "session", "email", None),
        ("p1", at(0.5), "s1#1", "purchase", "email", Decimal("40.00")),
        ("p1", at(2), "s2#0", "session", "social", None),
        ("p2", at(1), "s3#0", "session", "direct", None),
        ("p2", at(1.75), "s3#1", "purchase", "direct", Decimal("15.50")),
    ], "person_id string, ts timestamp, event_key string, touchpoint string, channel string, "
       "revenue decimal(18,2)")
    assert_df_equality(session_touches(sessions, "purchase"), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_transition_edges_count_probability_and_conversion_rate(journeys: DataFrame) -> None:
    edges = {(r.src, r.dst): r for r in transition_edges(journeys).collect()}
    # walks: S>A>B>conv, S>C>drop, S>B>conv, S>A>B>drop
    assert {k: v.transitions for k, v in edges.items()} == {
        (START, "A"): 2, ("A", "B"): 2, ("B", CONVERSION): 2, (START, "C"): 1,
        ("C", DROPOFF): 1, (START, "B"): 1, ("B", DROPOFF): 1,
    }
    assert edges[(START, "A")].probability == pytest.approx(2 / 4)
    assert edges[("B", CONVERSION)].probability == pytest.approx(2 / 3)
    assert edges[("A", "B")].conversion_rate == pytest.approx(1 / 2)
    assert {r.touchpoint: r.dropoff_rate for r in dropoff_rates(
        transition_edges(journeys)).collect()} == {"A": 0.0, "B": pytest.approx(1 / 3),
                                                   "C": 1.0}


def test_pagerank_follows_the_flow_of_journeys(spark: SparkSession, journeys: DataFrame) -> None:
    ranks = {r.touchpoint: r.pagerank for r in touchpoint_pagerank(
        transition_edges(journeys)).collect()}
    assert sum(ranks.values()) == pytest.approx(1.0)
    # every journey passes through B or C; B collects from start and from A
    assert ranks["B"] > ranks["A"] > ranks["C"]


def test_odds_ratio_with_a_prior_and_support(journeys: DataFrame) -> None:
    found = {r.touchpoint: r for r in odds_ratios(journeys, prior=0.5, min_support=2).collect()}
    # 4 journeys, 2 converted. B: in 3 (2 conv); A: in 2 (1 conv); C: in 1 (0 conv).
    # A: a=1.5 b=1.5 c=1.5 d=1.5 -> 1.0 ; C: a=.5 b=1.5 c=2.5 d=1.5 -> .75/3.75 = 0.2
    # B: a=2.5 b=1.5 c=.5 d=1.5 -> 3.75/.75 = 5.0
    assert found["A"].odds_ratio == pytest.approx(1.0)
    assert found["C"].odds_ratio == pytest.approx(0.2)
    assert found["C"].log_odds_ratio == pytest.approx(math.log(0.2))
    assert (found["B"].journeys_with, found["B"].converted_with) == (3, 2)
    assert found["B"].odds_ratio == pytest.approx(5.0)
    assert found["C"].supported is False and found["A"].supported is True


def test_motifs_right_before_each_outcome(journeys: DataFrame) -> None:
    two = {(r.outcome, tuple(r.pattern)): r.journeys
           for r in motifs_before_outcome(journeys, 2).collect()}
    assert two == {(CONVERSION, ("A", "B")): 1, (DROPOFF, ("A", "B")): 1}
    assert motifs_before_outcome(journeys, 3).count() == 0
    # the motif query on the step graph agrees with the last steps of each journey
    slices = journeys.where(F.size("touchpoints") >= 2).select(
        F.when(F.col("converted"), CONVERSION).otherwise(DROPOFF).alias("o"),
        F.slice("touchpoints", -2, 2).alias("p")).groupBy("o", "p").count()
    assert {(r.o, tuple(r.p)): r["count"] for r in slices.collect()} == two


def test_top_paths_rank_by_count(journeys: DataFrame) -> None:
    ranked = [(r.outcome, r.rank, r.path, r.journeys, r.share)
              for r in top_paths(journeys, 1).orderBy("outcome").collect()]
    assert ranked == [(CONVERSION, 1, ["A", "B"], 1, 0.5), (DROPOFF, 1, ["A", "B"], 1, 0.5)]


def test_each_order_of_a_converting_visit_is_a_conversion_of_the_journey(
    spark: SparkSession,
) -> None:
    from journeylake.gold.journeys import order_paths, orders_in_sessions

    session_ddl = ("session_id string, person_id string, start_ts timestamp, end_ts timestamp, "
                   "entry_channel string, converted boolean, revenue decimal(18,2)")
    sessions = spark.createDataFrame([
        ("s0", "p1", at(0), at(0.5), "email", False, Decimal("0.00")),
        ("s1", "p1", at(2), at(3), "social", True, Decimal("50.00")),  # two orders
        ("s2", "p1", at(5), at(5.5), "direct", False, Decimal("0.00")),
    ], session_ddl)
    events = spark.createDataFrame([
        ("o1", "p1", at(2.5), "purchase", "social", Decimal("20.00")),
        ("o2", "p1", at(3), "store_purchase", "social", Decimal("30.00")),
        ("o9", None, at(2.5), "purchase", "direct", Decimal("5.00")),  # anonymous: no session
        ("v1", "p1", at(2.2), "page_view", "social", None),
    ], SCHEMA)
    orders = orders_in_sessions(events, sessions, CONVERSIONS)
    assert sorted(map(tuple, orders.select("session_id", "event_key").collect())) == [
        ("s1", "o1"), ("s1", "o2")]
    journeys = build_journeys(session_touches(sessions, "purchase"), ("purchase",),
                              lookback_days=30)
    paths = {r.path_id.split("#", 1)[1] if "#" in r.path_id else "open":
             (r.converted, r.revenue, r.conversion_ts, [t.channel for t in r.touches])
             for r in order_paths(journeys, orders).collect()}
    assert paths == {
        "o1": (True, Decimal("20.00"), at(2.5), ["email", "social"]),
        "o2": (True, Decimal("30.00"), at(3), ["email", "social"]),
        "open": (False, Decimal("0.00"), None, ["direct"]),
    }


def test_a_visit_walk_ends_at_each_of_its_orders_and_nothing_after_counts(
    spark: SparkSession,
) -> None:
    from journeylake.gold.journeys import session_journeys

    sessions = spark.createDataFrame([
        ("s1", "p1", at(0), at(1)), ("s2", "p1", at(3), at(4)),
    ], "session_id string, person_id string, start_ts timestamp, end_ts timestamp")
    events = spark.createDataFrame([
        ("a", "p1", at(0), "product_view", "email", None),
        ("b", "p1", at(0.2), "purchase", "email", Decimal("10.00")),
        ("c", "p1", at(0.4), "search", "email", None),
        ("d", "p1", at(0.6), "store_purchase", "email", Decimal("25.00")),
        ("e", "p1", at(0.8), "purchase_confirmation", "email", None),  # after the last order
        ("f", "p1", at(3), "page_view", "direct", None),
        ("g", "p1", at(3.5), "search", "direct", None),
    ], SCHEMA)
    walks = session_journeys(events, sessions, CONVERSIONS).collect()
    assert sorted((w.touchpoints, w.converted, w.conversion_ts, w.revenue) for w in walks) == [
        (["page_view", "search"], False, None, Decimal("0.00")),
        (["product_view"], True, at(0.2), Decimal("10.00")),
        (["search"], True, at(0.6), Decimal("25.00")),
    ]


def test_a_journey_without_a_conversion_is_open_until_its_person_has_been_away_long_enough(
    spark: SparkSession, journeys: DataFrame
) -> None:
    from journeylake.gold.journeys import mark_open

    # The data ends 3 days after T0. p1's trailing journey (C at +5 h) and p3's (A B at T0)
    # ended less than 3.5 days before; p1's and p2's purchases are never open.
    marked = {(r.person_id, r.converted): r.open
              for r in mark_open(journeys, at(72), 3.5).collect()}
    assert marked == {("p1", True): False, ("p1", False): True, ("p2", True): False,
                      ("p3", False): True}
    shorter_wait = {r.person_id: r.open for r in mark_open(journeys, at(72), 2.9).collect()
                    if not r.converted}
    # p1's C ended 67 h before the end (open: 67 h < 69.6 h); p3's A B 72 h before (a drop-off).
    assert shorter_wait == {"p1": True, "p3": False}
