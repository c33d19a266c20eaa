"""Clickstream events (JSON lines, contract `conf/sources/clickstream.yaml`) from sessions.

Web events carry the browser cookie; app events the device id and the app-instance cookie.
`user_id` appears from the event where the visitor logs in: that is the cookie-customer link.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from journeylake.core.config import Anomaly
from journeylake.generator.anomalies import TRACKING_OUTAGE, during
from journeylake.generator.corruption import (
    BAD_TYPE,
    EVENT_MS,
    FUTURE_TIMESTAMP,
    KEY,
    MALFORMED_RECORD,
    MISSING_REQUIRED,
    NOT_ALLOWED,
    Breaker,
    Draw,
    LineFormat,
    future_timestamp,
    missing_field,
    replaced_field,
    truncated_json,
)
from journeylake.generator.draws import opaque_id, pick, uniform
from journeylake.generator.expressions import Sql, case, extend, lit, select
from journeylake.generator.formats import iso_utc
from journeylake.generator.reference import (
    APP_BASE,
    CATEGORY_PATHS,
    SEARCH_TERMS,
    WEB_BASE,
    product_id,
    product_number,
    unit_price,
)

# In the order of the contract, named as the source names them (`timestamp`, not `ts`).
FIELDS = (
    "event_id", "cookie_id", "user_id", "device_id", "platform", "timestamp", "event_type", "url",
    "referrer", "utm_source", "utm_medium", "utm_campaign", "product_id", "price", "currency",
)
# Spellings a buggy tracker might send; none is in the contract's allowed list.
UNKNOWN_EVENT_TYPES = ("pageview", "Page_View", "product-view", "add_to_basket", "click",
                       "session_start")
BAD_PRICES = ("n/a", "12,99 EUR", "free")
OFFER_PATHS = ("/offers/summer-sale", "/offers/2-for-1", "/offers/free-shipping",
               "/offers/member-deal")


def build_click_events(sessions: DataFrame, seed: int, anomalies: tuple[Anomaly, ...] = ()
                       ) -> DataFrame:
    """One row per event: FIELDS (as they will be written; `price` a decimal) plus `_ms` (event
    time, epoch ms) and `_key` (= event_id). Needs the columns of `sessions.build_sessions`.

    A planted tracking outage drops the events of its channel's sessions in its hours: the
    tracker never sent them."""
    exploded = sessions.selectExpr("*", "posexplode(arrays_zip(events, offsets)) AS (pos, event)")
    lost = during(anomalies, TRACKING_OUTAGE, "start_ms + event.offsets", "channel")
    if lost != "FALSE":
        exploded = exploded.where(f"NOT {lost}")

    def u(salt: str) -> Sql:
        return uniform(seed, f"event-{salt}", "event_num")

    located = extend(
        exploded,
        {
            "event_num": "session_num * 64 + pos",
            "event_type": "event.events",
            "event_ms": "start_ms + event.offsets",
            "is_entry": "pos = 0 OR event.events IN ('email_open', 'email_click')",
            # A converted session's add_to_cart events add its items in order.
            # (Index 0 or below is an error or counts from the end: guard it.)
            "cart_item": "CASE WHEN pos >= tail_start "
            "THEN try_element_at(items, pos - tail_start + 1) END",
        },
    )
    viewed = (
        f"CASE WHEN {u('view-focus')} < 0.5D THEN focus_product "
        f"ELSE {product_number(u('view-product'))} END"
    )
    with_product = extend(
        located,
        {
            "product_id": case(
                [
                    ("event_type = 'product_view'", product_id(viewed)),
                    ("event_type = 'add_to_cart' AND converted", "cart_item.product_id"),
                    ("event_type = 'add_to_cart'", product_id("focus_product")),
                ]
            ),
            "price": case(
                [
                    ("event_type = 'product_view'", unit_price(seed, viewed)),
                    ("event_type = 'add_to_cart' AND converted", "cart_item.unit_price"),
                    ("event_type = 'add_to_cart'", unit_price(seed, "focus_product")),
                    # The purchase event carries the order total, as shop trackers send revenue.
                    ("event_type = 'purchase'", "amount"),
                ]
            ),
        },
    )
    path = case(
        [
            ("event_type = 'page_view' AND pos = 0", "landing_path"),
            ("event_type = 'page_view'", pick(u("path"), CATEGORY_PATHS)),
            ("event_type IN ('product_view', 'add_to_cart')", "concat('/p/', product_id)"),
            ("event_type = 'search'", f"concat('/search?q=', {pick(u('query'), SEARCH_TERMS)})"),
            ("event_type = 'offer_click'", pick(u("offer"), OFFER_PATHS)),
            ("event_type = 'chat'", lit("/help/chat")),
            ("event_type = 'store_locator'", lit("/stores")),
            ("event_type = 'checkout_start'", lit("/checkout")),
            ("event_type = 'purchase'", lit("/checkout/confirmation")),
            ("event_type = 'email_click'", "landing_path"),
            ("event_type = 'unsubscribe'", lit("/account/unsubscribe")),
            # email_open is a tracking pixel: no page.
        ]
    )
    utm_query = (
        "CASE WHEN is_entry AND utm_source IS NOT NULL AND event_type <> 'email_open' "
        "THEN concat('?utm_source=', utm_source, '&utm_medium=', utm_medium, "
        "'&utm_campaign=', utm_campaign) ELSE '' END"
    )
    base = f"CASE WHEN platform = 'app' THEN {lit(APP_BASE)} ELSE {lit(WEB_BASE)} END"
    with_path = extend(with_product, {"path": path})
    event_id = opaque_id("ev_", "event_num", seed, "event")
    return select(
        with_path,
        ["cookie_id", "platform", "event_type", "product_id", "price"],
        {
            "event_id": event_id,
            "user_id": "CASE WHEN pos >= login_pos THEN customer_id END",
            "device_id": "CASE WHEN platform = 'app' THEN device_id END",
            "timestamp": iso_utc("event_ms"),
            "url": f"CASE WHEN path IS NOT NULL THEN concat({base}, path, {utm_query}) END",
            "referrer": "CASE WHEN pos = 0 THEN referrer END",
            "utm_source": "CASE WHEN is_entry THEN utm_source END",
            "utm_medium": "CASE WHEN is_entry THEN utm_medium END",
            "utm_campaign": "CASE WHEN is_entry THEN utm_campaign END",
            "currency": "CASE WHEN price IS NOT NULL THEN 'EUR' END",
            EVENT_MS: "event_ms",
            KEY: event_id,
        },
    )


def _unparseable_price(line: Sql, draw: Draw) -> Sql:
    # A price in words: JSON allows it, the contract's decimal does not. The line is edited
    # rather than re-rendered because the good lines must keep price a JSON number.
    value = f"concat('\"price\":\"', {pick(draw('price'), BAD_PRICES)}, '\"')"
    return (
        f"CASE WHEN {line} LIKE '%\"price\":%' "
        f"THEN regexp_replace({line}, '\"price\":[-0-9.eE]+', {value}) "
        f"ELSE concat(substr({line}, 1, length({line}) - 1), ',', {value}, '}}') END"
    )


LINE_FORMAT = LineFormat(
    source="clickstream",
    style="json",
    fields=FIELDS,
    breakers={
        MALFORMED_RECORD: truncated_json(),
        # Not event_id: a record without its key could not even be told apart from others.
        MISSING_REQUIRED: missing_field(("cookie_id", "timestamp", "event_type"), None),
        BAD_TYPE: Breaker(line=_unparseable_price),
        NOT_ALLOWED: replaced_field("event_type", UNKNOWN_EVENT_TYPES),
        FUTURE_TIMESTAMP: future_timestamp("timestamp", iso_utc),
    },
)
