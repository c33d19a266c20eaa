"""The timeline: shipped channel rules and taxonomy, person resolution, rule errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import ChannelRule, ConfigError, load_config
from journeylake.silver.timeline import (
    TIMELINE_INPUT,
    clickstream_input,
    resolve_persons,
    store_visit_input,
    touchpoints_and_channels,
    transactions_input,
)
from tests.conftest import CONF_DIR

AT = datetime(2026, 6, 1, 10, 0, 0)
CLICK_SCHEMA = (
    "_record_key string, cookie_id string, user_id string, device_id string, platform string, "
    "ts timestamp, event_type string, url string, referrer string, utm_source string, "
    "utm_medium string, utm_campaign string, product_id string, price decimal(18,2), "
    "currency string"
)


@pytest.fixture(scope="module")
def silver_conf():  # noqa: ANN201 - the SilverSettings of the shipped configuration
    return load_config("local", conf_dir=CONF_DIR).silver


def click(key: str, event_type: str = "page_view", *, referrer: str | None = None,
          utm_medium: str | None = None, platform: str = "web", user: str | None = None,
          device: str | None = None, cookie: str = "ck1") -> tuple:
    return (key, cookie, user, device, platform, AT, event_type, None, referrer, None,
            utm_medium, None, None, None, None)


def labelled(frame: DataFrame, conf) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    out = touchpoints_and_channels(frame, conf.touchpoints, conf.channel_rules,
                                   conf.default_channel)
    return {row.source_key: (row.touchpoint, row.channel) for row in out.collect()}


def test_shipped_rules_give_the_channel_of_each_kind_of_visit(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    clicks = spark.createDataFrame([
        click("paid", utm_medium="CPC", referrer="https://www.google.com/"),
        click("organic", referrer="https://www.google.com/"),
        click("bing", referrer="https://www.bing.com/"),
        click("social", referrer="https://l.instagram.com/"),
        click("display", utm_medium="display", referrer="https://cas.criteo.com/"),
        click("newsletter", "email_click", utm_medium="email"),
        click("pixel", "email_open"),
        click("app", platform="app", device="dv1"),
        click("typed"),
        click("referral", referrer="https://blog.example.org/post"),
        click("confirmation", "purchase"),
        click("typo", "pageview"),
    ], CLICK_SCHEMA)
    assert labelled(clickstream_input(clicks), silver_conf) == {
        "paid": ("page_view", "paid_search"),
        "organic": ("page_view", "organic_search"),
        "bing": ("page_view", "organic_search"),
        "social": ("page_view", "social"),
        "display": ("page_view", "display"),
        "newsletter": ("email_click", "email"),
        "pixel": ("email_open", "email"),
        "app": ("page_view", "app"),
        "typed": ("page_view", "direct"),
        "referral": ("page_view", "referral"),
        "confirmation": ("purchase_confirmation", "direct"),
        # an unmapped value stays visible instead of being folded into another touchpoint
        "typo": ("clickstream:pageview", "direct"),
    }


def test_orders_and_store_visits_become_conversions_and_visits(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    orders = spark.createDataFrame(
        [("o1", "o1", "C1", "h1", "online", AT, [], Decimal("10.00"), "EUR", "online"),
         ("o2", "o2", None, "h2", "S01", AT, [], Decimal("5.00"), "EUR", "store"),
         ("o3", "o3", "C3", None, "online", AT, [], Decimal("7.00"), "EUR", "app")],
        "_record_key string, order_id string, customer_id string, email_hash string, "
        "store_id string, ts timestamp, "
        "items array<struct<product_id:string,quantity:int,unit_price:decimal(18,2)>>, "
        "amount decimal(18,2), currency string, channel string",
    )
    visits = spark.createDataFrame(
        [("sv_1", "dv1", "S01", AT, AT, 12.0)],
        "visit_id string, device_id string, store_id string, start_ts timestamp, "
        "end_ts timestamp, dwell_minutes double",
    )
    rows = transactions_input(orders).unionByName(store_visit_input(visits))
    assert labelled(rows, silver_conf) == {
        "o1": ("purchase", "direct"), "o2": ("store_purchase", "store"),
        "o3": ("purchase", "app"), "sv_1": ("store_visit", "store"),
    }


def test_an_order_without_email_or_items_is_a_purchase_with_its_revenue(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    # What a contract of only customer, date and amount gives: email and items NULL, the order
    # at midnight of its day, store and channel from the contract's defaults.
    orders = spark.createDataFrame(
        [("k1", "k1", "C1", None, "online", datetime(2026, 5, 3), None, Decimal("19.99"),
          "EUR", "online")],
        "_record_key string, order_id string, customer_id string, email_hash string, "
        "store_id string, ts timestamp, "
        "items array<struct<product_id:string,quantity:int,unit_price:decimal(18,2)>>, "
        "amount decimal(18,2), currency string, channel string",
    )
    row = transactions_input(orders).first()
    assert (row.ts, row.revenue, row.currency, row.source_value) == (
        datetime(2026, 5, 3), Decimal("19.99"), "EUR", "online")
    # The customer is the only identifier that can name the person (no email).
    assert [node.split("|")[1:] for node in row.candidates if node is not None] == [
        ["customer", "C1"]]
    # No basket: no item count or product list (not an item count of -1 or 0).
    assert row.attributes == {"order_id": "k1", "store_id": "online", "channel": "online"}
    assert labelled(transactions_input(orders), silver_conf) == {"k1": ("purchase", "direct")}


def test_a_rule_that_is_not_valid_sql_is_reported_with_its_position(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    clicks = clickstream_input(spark.createDataFrame([click("a")], CLICK_SCHEMA))
    broken = (ChannelRule("ok", "referrer IS NULL"), ChannelRule("bad", "utm_mediun = 'x'"))
    with pytest.raises(ConfigError, match=r"channel_rules\[1\] \(bad\)"):
        touchpoints_and_channels(clicks, silver_conf.touchpoints, broken, "direct")
    with pytest.raises(ConfigError, match=r"channel_rules\[0\]"):
        touchpoints_and_channels(clicks, silver_conf.touchpoints,
                                 (ChannelRule("x", "referrer ==="),), "direct")


def test_events_go_to_the_person_of_their_best_linking_identifier(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    clicks = spark.createDataFrame([
        click("logged-in", user="C1", device="tablet", platform="app", cookie="tablet-ck"),
        click("logged-out-tablet", device="tablet", platform="app", cookie="tablet-ck"),
        click("logged-out-phone", device="phone", platform="app", cookie="shared-ck"),
        click("anonymous", cookie="anon"),
    ], CLICK_SCHEMA)
    rows = touchpoints_and_channels(clickstream_input(clicks), silver_conf.touchpoints,
                                    silver_conf.channel_rules, silver_conf.default_channel)
    identity_map = spark.createDataFrame(
        [("1|customer|C1", "P1", True), ("4|device|tablet", "P-tablet", False),
         ("5|cookie|tablet-ck", "P-tablet-ck", False), ("4|device|phone", "P2", True),
         ("5|cookie|shared-ck", "P-shared", False), ("5|cookie|anon", "P-anon", True)],
        "node string, person_id string, linked boolean",
    )
    resolved = resolve_persons(rows, identity_map)
    assert resolved.columns == ["event_key", "person_id", "ts", "event_date", "channel",
                                "touchpoint", "source", "source_key", "resolved_by",
                                "identifiers", "attributes", "revenue", "currency"]
    found = {r.source_key: (r.person_id, r.resolved_by) for r in resolved.collect()}
    assert found == {
        "logged-in": ("P1", "1|customer|C1"),
        # nothing on the tablet links: the first identifier keeps the event on its own person
        "logged-out-tablet": ("P-tablet", "4|device|tablet"),
        "logged-out-phone": ("P2", "4|device|phone"),
        "anonymous": ("P-anon", "5|cookie|anon"),
    }
    assert resolved.where(F.col("event_key").isNull()).count() == 0


def test_the_timeline_input_is_the_same_for_every_source(spark: SparkSession) -> None:
    clicks = clickstream_input(spark.createDataFrame([], CLICK_SCHEMA))
    visits = store_visit_input(spark.createDataFrame(
        [], "visit_id string, device_id string, store_id string, start_ts timestamp, "
            "end_ts timestamp, dwell_minutes double"))
    assert tuple(clicks.columns) == TIMELINE_INPUT == tuple(visits.columns)
    assert [f.dataType for f in clicks.schema] == [f.dataType for f in visits.schema]


def test_events_are_resolved_again_when_an_identifier_stops_linking(
    spark: SparkSession, silver_conf
) -> None:  # noqa: ANN001
    from journeylake.silver.timeline import events_to_resolve_again, resolve_again

    clicks = spark.createDataFrame([
        click("on-tablet", device="tablet", platform="app", cookie="ck-own"),
        click("elsewhere", cookie="ck-other"),
    ], CLICK_SCHEMA)
    rows = touchpoints_and_channels(clickstream_input(clicks), silver_conf.touchpoints,
                                    silver_conf.channel_rules, silver_conf.default_channel)
    before = spark.createDataFrame(
        [("4|device|tablet", "P-1", True), ("5|cookie|ck-own", "P-1", True),
         ("5|cookie|ck-other", "P-2", True)], "node string, person_id string, linked boolean")
    stored = resolve_persons(rows, before).localCheckpoint()
    # a second family member logs in on the tablet: it links nobody any more
    after = spark.createDataFrame(
        [("4|device|tablet", "P-tablet", False), ("5|cookie|ck-own", "P-1", True),
         ("5|cookie|ck-other", "P-2", True)], "node string, person_id string, linked boolean")
    changed = spark.createDataFrame([("4|device|tablet",)], "node string")
    candidates = events_to_resolve_again(stored, changed)
    assert [r.source_key for r in candidates.collect()] == ["on-tablet"]
    again = resolve_again(candidates, after).collect()
    assert [(r.person_id, r.resolved_by, r.old_person_id) for r in again] == [
        ("P-1", "5|cookie|ck-own", "P-1")]


def test_timeline_events_union_the_timeline_sources_and_ignore_the_others(
    spark: SparkSession, silver_conf  # noqa: ANN001
) -> None:
    from journeylake.silver.timeline import EVENT_COLUMNS, timeline_events

    clicks = spark.createDataFrame([click("k1", user="C1")], CLICK_SCHEMA)
    orders = spark.createDataFrame(
        [("o1", "C1", None, None, AT, [], Decimal("12.50"), "EUR", "online")],
        "_record_key string, customer_id string, email_hash string, store_id string, "
        "ts timestamp, items array<struct<product_id:string>>, amount decimal(18,2), "
        "currency string, channel string",
    ).withColumn("order_id", F.col("_record_key"))
    pings = spark.createDataFrame([("d1", AT)], "device_id string, ts timestamp")
    identity_map = spark.createDataFrame([("1|customer|C1", "p1", True)],
                                         "node string, person_id string, linked boolean")
    events = timeline_events({"clickstream": clicks, "transactions": orders,
                              "geolocation": pings}, silver_conf, identity_map)
    assert tuple(events.columns) == EVENT_COLUMNS
    assert sorted((r.source, r.touchpoint, r.person_id, r.revenue) for r in events.collect()) == [
        ("clickstream", "page_view", "p1", None),
        ("transactions", "purchase", "p1", Decimal("12.50")),
    ]
    assert timeline_events({"geolocation": pings}, silver_conf, identity_map) is None


def test_late_arrivals_are_older_than_the_lookback_before_the_newest_event(
    spark: SparkSession,
) -> None:
    from datetime import timedelta

    from journeylake.silver.timeline import late_arrivals

    events = spark.createDataFrame(
        [("old", AT - timedelta(hours=73)), ("edge", AT - timedelta(hours=72)), ("new", AT)],
        "event_key string, ts timestamp")
    assert [r.event_key for r in late_arrivals(events, AT, 72).collect()] == ["old"]
    assert late_arrivals(events, None, 72).count() == 0


def test_the_events_of_replaced_visits_are_the_store_visit_events_with_their_ids(
    spark: SparkSession,
) -> None:
    from journeylake.silver.timeline import events_of_visits

    events = spark.createDataFrame(
        [("e1", "store_visit", "sv_1"), ("e2", "store_visit", "sv_2"), ("e3", "clickstream",
                                                                          "sv_1")],
        "event_key string, source string, source_key string")
    replaced = spark.createDataFrame([("sv_1",)], "visit_id string")
    assert [r.event_key for r in events_of_visits(events, replaced).collect()] == ["e1"]
