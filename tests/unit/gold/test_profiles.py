"""The person profile on a hand-made timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pyspark.sql import SparkSession

from journeylake.gold.profiles import PROFILE_COLUMNS, person_profile

T = datetime(2026, 6, 1, 10, 0, 0)


def test_profile_sums_a_persons_journey_and_joins_influence(spark: SparkSession) -> None:
    events = spark.createDataFrame([
        ("p1", T.replace(hour=9), "email", "email_click", "clickstream", None),
        ("p1", T, "direct", "purchase", "transactions", Decimal("30.00")),
        ("p1", T.replace(hour=12), "store", "store_visit", "store_visit", None),
        ("p1", T.replace(hour=13), "store", "store_purchase", "transactions", Decimal("5.50")),
        ("p2", T, "social", "social_like", "social", None),
    ], "person_id string, ts timestamp, channel string, touchpoint string, source string, "
       "revenue decimal(18,2)")
    sessions = spark.createDataFrame([
        ("p1", "s1", True, "email"), ("p1", "s2", True, "store"), ("p1", "s3", False, "email"),
        ("p2", "s4", False, "social"),
    ], "person_id string, session_id string, converted boolean, entry_channel string")
    influence = spark.createDataFrame(
        [("p2", 0.7, 1, "p2", 3)],
        "person_id string, influence double, influence_rank int, community string, "
        "followers long")
    rows = {r.person_id: r for r in person_profile(
        events, sessions, influence, ("purchase", "store_purchase")).collect()}
    p1, p2 = rows["p1"], rows["p2"]
    assert tuple(p1.asDict()) == PROFILE_COLUMNS
    assert (p1.first_seen_at, p1.last_seen_at, p1.events) == (T.replace(hour=9),
                                                              T.replace(hour=13), 4)
    assert (p1.sessions, p1.converted_sessions, p1.conversions, p1.revenue) == (
        3, 2, 2, Decimal("35.50"))
    assert (p1.channels, p1.top_channel, p1.store_visits) == (["email", "store"], "email", 1)
    assert (p1.influence, p1.community, p1.followers) == (0.0, None, 0)
    assert (p2.social_actions, p2.influence, p2.influence_rank, p2.followers) == (1, 0.7, 1, 3)
