"""Live KPIs per 5-minute window on a handful of events counted by hand: distinct cookies, the
event counts and the visitor conversion rate, overall and per channel, in the long format."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import ChannelRule
from journeylake.kpis.definitions import KPI_NAMES
from journeylake.streaming.live import (
    LIVE_KPI_NAMES,
    live_kpis,
    window_counts,
    with_channel,
)
from journeylake.streaming.tables import LIVE_KPIS

RULES = (ChannelRule("email", "utm_medium = 'email' OR touchpoint IN ('email_open')"),
         ChannelRule("app", "platform = 'app'"))
TOUCHPOINTS = {"clickstream": {"page_view": "page_view", "email_open": "email_open"}}
BRONZE = ("ts timestamp, cookie_id string, event_type string, platform string, referrer string, "
          "utm_source string, utm_medium string, utm_campaign string")
EVENTS = "ts timestamp, cookie_id string, event_type string, channel string"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-06-30 {text}")


def test_each_event_takes_its_own_channel_by_silvers_rules(spark: SparkSession) -> None:
    bronze = spark.createDataFrame([
        (_ts("10:00:00"), "a", "page_view", "web", None, "news", "EMAIL", "june"),
        (_ts("10:01:00"), "a", "email_open", "web", None, None, None, None),
        (_ts("10:02:00"), "b", "page_view", "App", None, None, None, None),
        (_ts("10:03:00"), "c", "page_view", "web", None, None, None, None),
    ], BRONZE)
    expected = spark.createDataFrame([
        (_ts("10:00:00"), "a", "page_view", "email"),  # utm_medium, lower-cased as in silver
        (_ts("10:01:00"), "a", "email_open", "email"),
        (_ts("10:02:00"), "b", "page_view", "app"),
        (_ts("10:03:00"), "c", "page_view", "direct"),
    ], EVENTS)
    assert_df_equality(with_channel(bronze, TOUCHPOINTS, RULES, "direct"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def _long(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    start = {"10:00": _ts("10:00:00"), "10:05": _ts("10:05:00")}
    full = [(date(2026, 6, 30), start[w], start[w].replace(minute=start[w].minute + 5),
             *rest) for w, *rest in rows]
    return spark.createDataFrame(full, ", ".join(
        f"{f.name} {f.dataType.simpleString()}" for f in LIVE_KPIS.schema.fields
        if f.name != "_updated_at"))


def test_window_kpis_count_by_hand(spark: SparkSession) -> None:
    # 10:00-10:05: a (email) views twice and buys; b (direct) views, carts, checks out.
    # 10:05-10:10: b views at exactly 10:05:00 (a window includes its start).
    events = spark.createDataFrame([
        (_ts("10:00:00"), "a", "page_view", "email"),
        (_ts("10:01:00"), "a", "page_view", "email"),
        (_ts("10:02:00"), "a", "purchase", "email"),
        (_ts("10:03:00"), "b", "page_view", "direct"),
        (_ts("10:04:00"), "b", "add_to_cart", "direct"),
        (_ts("10:04:59"), "b", "checkout_start", "direct"),
        (_ts("10:05:00"), "b", "page_view", "direct"),
    ], EVENTS)
    actual = live_kpis(window_counts(events, window_minutes=5, watermark_minutes=10))

    def series(window: str, breakdown: str, value: str, visitors: int, views: int,
               carts: int, checkouts: int, buyers: int) -> list[tuple]:
        visitors, views, carts, checkouts, buyers = (
            float(v) for v in (visitors, views, carts, checkouts, buyers))
        return [
            (window, breakdown, value, "visitors", visitors, None, None),
            (window, breakdown, value, "page_views", views, None, None),
            (window, breakdown, value, "add_to_carts", carts, None, None),
            (window, breakdown, value, "checkout_starts", checkouts, None, None),
            (window, breakdown, value, "orders", buyers, None, None),
            (window, breakdown, value, "visitor_conversion_rate", buyers / visitors, buyers,
             visitors),
        ]
    expected = _long(spark, [
        *series("10:00", "all", "all", 2, 3, 1, 1, 1),
        *series("10:00", "channel", "email", 1, 2, 0, 0, 1),
        *series("10:00", "channel", "direct", 1, 1, 1, 1, 0),
        *series("10:05", "all", "all", 1, 1, 0, 0, 0),
        *series("10:05", "channel", "direct", 1, 1, 0, 0, 0),
    ])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_live_kpis_share_the_daily_names_where_they_mean_the_same() -> None:
    assert set(LIVE_KPI_NAMES) & set(KPI_NAMES) == {"visitors", "orders"}
    # The daily conversion_rate is per session, which a stream cannot know: another name.
    assert "conversion_rate" not in LIVE_KPI_NAMES
