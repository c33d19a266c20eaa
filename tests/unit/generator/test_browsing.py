"""The planted purchase model on 300 customers over 10 days, from the sessions alone."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from pyspark.sql import SparkSession

from journeylake.core.config import GenerateSettings
from journeylake.generator.browsing import build_sessions
from journeylake.generator.customers import build_anonymous_visitors, build_customers, visitors
from journeylake.generator.model import SEGMENTS, TOUCHPOINT_EFFECTS
from journeylake.generator.window import DataWindow

SETTINGS = GenerateSettings(customers=300, days=10, seed=5, bad_share=0.0, stores=5)


@pytest.fixture(scope="module")
def sessions(spark: SparkSession) -> list[dict[str, Any]]:
    window = DataWindow.of(SETTINGS)
    people = visitors(
        build_customers(spark, SETTINGS, window), build_anonymous_visitors(spark, SETTINGS, window)
    )
    frame = build_sessions(people, SETTINGS).selectExpr(
        "customer_id", "segment", "cookie_id", "device_id", "touchpoints", "events", "log_odds",
        "converted", "start_ms", "end_ms",
    )
    return [row.asDict() for row in frame.collect()]


def test_sessions_with_an_offer_click_convert_clearly_more_often(
    sessions: list[dict[str, Any]],
) -> None:
    customers = [s for s in sessions if s["customer_id"]]
    with_offer = [s["converted"] for s in customers if "offer_click" in s["touchpoints"]]
    without = [s["converted"] for s in customers if "offer_click" not in s["touchpoints"]]
    assert len(with_offer) > 100 and len(without) > 500
    # Planted: +2.0 log-odds, about three times the purchase rate at these base rates.
    assert sum(with_offer) / len(with_offer) > 2 * sum(without) / len(without)


def test_purchase_log_odds_are_the_segment_base_plus_the_touchpoint_effects(
    sessions: list[dict[str, Any]],
) -> None:
    base = {segment.name: segment.base_log_odds for segment in SEGMENTS}
    for session in sessions:
        if session["customer_id"]:
            expected = base[session["segment"]] + sum(
                TOUCHPOINT_EFFECTS.get(t, 0.0) for t in set(session["touchpoints"])
            )
            assert math.isclose(session["log_odds"], expected, abs_tol=1e-9), session


def test_only_customers_buy_and_a_purchase_ends_the_session(
    sessions: list[dict[str, Any]],
) -> None:
    for session in sessions:
        events = session["events"]
        if session["converted"]:
            assert session["customer_id"]
            assert events[-2:] == ["checkout_start", "purchase"]
            assert "add_to_cart" in events and events.count("purchase") == 1
        else:
            assert "purchase" not in events


def test_a_cookie_rests_half_an_hour_between_sessions_unless_a_family_shares_it(
    sessions: list[dict[str, Any]],
) -> None:
    users: dict[str, set[str]] = defaultdict(set)
    for session in sessions:
        users[session["cookie_id"]].add(session["customer_id"])
    by_cookie: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for session in sessions:
        if len(users[session["cookie_id"]]) == 1:
            by_cookie[session["cookie_id"]].append(session)
    gaps = [
        later["start_ms"] - earlier["end_ms"]
        for visits in by_cookie.values()
        for earlier, later in zip(sorted(visits, key=lambda s: s["start_ms"]),
                                  sorted(visits, key=lambda s: s["start_ms"])[1:], strict=False)
    ]
    assert gaps and min(gaps) > 30 * 60 * 1000
    assert any(len(people) > 1 for people in users.values())  # the shared family tablets
