"""Web and app sessions: who, when, through which channel, which touchpoints, and whether the
session ends in a purchase (the planted causal effect, see `model`).

A session is one row with its events as an array, so the whole journey, the purchase decision
and the basket are computed with array functions before `clickstream` explodes it to events.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from journeylake.core.config import GenerateSettings
from journeylake.generator.anomalies import CHECKOUT_BROKEN, campaign_lift, during
from journeylake.generator.customers import CUSTOMER, VISITOR_COLUMNS
from journeylake.generator.draws import (
    composite_number,
    integer_below,
    opaque_id,
    pick,
    pick_from_table,
    pick_weighted,
    uniform,
    weighted_table,
)
from journeylake.generator.expressions import Sql, array, case, extend, lit, named_struct, select
from journeylake.generator.formats import MS_PER_DAY, MS_PER_MINUTE
from journeylake.generator.model import (
    DISENGAGED_RATE,
    DISENGAGEMENT_DAYS,
    TASTE_FAMILIES,
    TASTE_LOYALTY,
    UNSUBSCRIBE,
    segment_value,
    touchpoint_log_odds,
)
from journeylake.generator.reference import (
    basket_amount,
    nth_product,
    product_id,
    product_number,
    unit_price,
)

# Each regular session starts in its own part of the day, early enough to end 35+ minutes
# before the next part begins: sessionising a cookie's events with a 30-minute gap recovers the
# planted sessions (except on shared family tablets, which is the planted noise).
# Slot 4 (night) is kept for unsubscribe sessions. (first start minute, last start minute)
SLOT_STARTS = ((390, 585), (660, 825), (900, 1065), (1140, 1364), (30, 315))
REGULAR_SLOTS = 4
UNSUBSCRIBE_SLOT = 4
# Gaps between events: 5 s to 2.5 min; at most 16 events, so a session lasts under 38 minutes.
GAP_MIN_MS, GAP_SPREAD_MS = 5_000, 145_000
MAX_ITEMS = 3

APP_SESSION_SHARE = 0.6  # of an app user's sessions
WEB_CHANNELS = {
    "organic_search": 0.28, "paid_search": 0.14, "email": 0.16, "social": 0.12,
    "display": 0.08, "direct": 0.22,
}
APP_CHANNELS = {"direct": 0.7, "email": 0.2, "social": 0.1}
LOGIN_SHARE = {"web": 0.35, "app": 0.9}
ABANDON_SHARE = 0.25  # of non-buying sessions with a product view that still fill a cart

# What follows a browsing event (a Markov chain): searches lead to product views, offers to the
# offered product, and so on.
TRANSITIONS: dict[str, dict[str, float]] = {
    "page_view": {"page_view": 0.25, "search": 0.2, "product_view": 0.35, "offer_click": 0.01,
                  "chat": 0.04, "store_locator": 0.05},
    "search": {"product_view": 0.6, "search": 0.15, "page_view": 0.15, "offer_click": 0.01,
               "chat": 0.05},
    "product_view": {"product_view": 0.35, "page_view": 0.2, "search": 0.15, "offer_click": 0.01,
                     "chat": 0.08, "store_locator": 0.05},
    "offer_click": {"product_view": 0.7, "page_view": 0.2, "search": 0.1},
    "chat": {"product_view": 0.5, "page_view": 0.3, "search": 0.2},
    "store_locator": {"page_view": 0.6, "product_view": 0.4},
    "email_click": {"page_view": 0.45, "product_view": 0.35, "offer_click": 0.05},
}
ITEM_TYPE = "STRUCT<product_id: STRING, quantity: INT, unit_price: DECIMAL(18,2)>"


def _u(seed: int, salt: str, *extra: Sql) -> Sql:
    return uniform(seed, f"session-{salt}", "session_num", *extra)


def _next_event(previous: Sql, u: Sql, u_offer: Sql) -> Sql:
    """The browsing chain's next event after `previous`, or an offer click with the person's
    offer_affinity (a column)."""
    tables = ", ".join(
        f"{lit(state)}, {weighted_table(weights)}" for state, weights in TRANSITIONS.items()
    )
    fallback = weighted_table(TRANSITIONS["page_view"])
    table = f"coalesce(try_element_at(map({tables}), {previous}), {fallback})"
    return f"CASE WHEN {u_offer} < offer_affinity THEN 'offer_click' " \
           f"ELSE {pick_from_table(u, table)} END"


def _taste_product(u_number: Sql, u_loyal: Sql) -> Sql:
    """A catalogue number: with TASTE_LOYALTY from the person's `taste` family (keeping the
    catalogue's popularity skew inside it), else from the whole catalogue."""
    number = product_number(u_number)
    # N_PRODUCTS is a multiple of TASTE_FAMILIES, so the family's member stays in the catalogue.
    in_family = f"CAST(({number} - 1) div {TASTE_FAMILIES} * {TASTE_FAMILIES} + taste + 1 AS INT)"
    return f"CASE WHEN {u_loyal} < {lit(TASTE_LOYALTY)} THEN {in_family} ELSE {number} END"


def _channel_fields(seed: int) -> dict[str, Sql]:
    """utm_source, utm_medium, utm_campaign, referrer and landing_path of the entry event.
    Needs `channel` and `platform`."""

    def u(salt: str) -> Sql:
        return _u(seed, salt)

    social_source = pick(u("social-source"), ("facebook", "instagram", "tiktok"))
    display_source = pick(u("display-source"), ("criteo", "gdn"))

    def by_channel(values: dict[str, Sql]) -> Sql:
        return case([(f"channel = {lit(name)}", value) for name, value in values.items()])

    referrer = by_channel(
        {
            "organic_search": f"CASE WHEN {u('engine')} < 0.85D THEN 'https://www.google.com/' "
            "ELSE 'https://www.bing.com/' END",
            "paid_search": lit("https://www.google.com/"),
            "social": f"element_at(map('facebook', 'https://l.facebook.com/', 'instagram', "
            f"'https://l.instagram.com/', 'tiktok', 'https://www.tiktok.com/'), {social_source})",
            "display": f"element_at(map('gdn', 'https://googleads.g.doubleclick.net/', "
            f"'criteo', 'https://cas.criteo.com/'), {display_source})",
        }
    )
    return {
        "utm_source": by_channel(
            {"paid_search": lit("google"), "email": lit("newsletter"), "social": social_source,
             "display": display_source}
        ),
        "utm_medium": by_channel(
            {"paid_search": lit("cpc"), "email": lit("email"), "social": lit("social"),
             "display": lit("display")}
        ),
        "utm_campaign": by_channel(
            {
                "paid_search": pick(u("campaign"),
                                    ("brand_search", "generic_shoes", "generic_outerwear")),
                "email": pick(u("campaign"),
                              ("weekly_newsletter", "summer_sale", "new_arrivals", "win_back")),
                "social": pick(u("campaign"),
                               ("spring_collection", "influencer_collab", "retargeting")),
                "display": pick(u("campaign"), ("retargeting", "prospecting")),
            }
        ),
        # An app has no referring page; its entry is a deep link with utm parameters.
        "referrer": f"CASE WHEN platform = 'web' THEN {referrer} END",
        "landing_path": f"CASE WHEN channel IN ('paid_search', 'display', 'social') "
        f"THEN {pick(u('landing'), ('/c/sale', '/c/new-in', '/c/women', '/c/men'))} ELSE '/' END",
    }


def _active_days() -> Sql:
    # `sequence(5, 3)` counts down; a visitor whose window is empty has no days.
    return ("CASE WHEN first_day <= last_day THEN sequence(first_day, last_day) "
            "ELSE CAST(array() AS ARRAY<INT>) END")


def session_slots(visitors: DataFrame, settings: GenerateSettings) -> DataFrame:
    """One row per session to be: VISITOR_COLUMNS, `day` (epoch day), `slot` and
    `campaign_channel` (the channel of a planted campaign spike's extra session, else NULL).

    Regular sessions: on each active day each of the 4 slots is taken with probability
    sessions_per_day / 4 times the weekday's `weekday_traffic` (the expected count is the
    segment's rate); in the DISENGAGEMENT_DAYS before a churn date the rate falls linearly to
    DISENGAGED_RATE of it. Unsubscribing churners get one more session, in the night slot of
    their unsubscribe day (always an active day). On a campaign spike's day, free regular slots
    are taken by campaign sessions often enough to multiply the channel's sessions by the lift.
    """
    seed = settings.seed
    engagement = (
        f"CASE WHEN churn_day IS NULL OR churn_day - day >= {DISENGAGEMENT_DAYS} THEN 1D "
        f"ELSE {lit(DISENGAGED_RATE)} + {lit(1 - DISENGAGED_RATE)} * "
        f"greatest(churn_day - day - 1, 0) / {DISENGAGEMENT_DAYS - 1}D END"
    )
    weekday = (f"element_at({array(settings.weekday_traffic)}, "
               "weekday(date_from_unix_date(day)) + 1)")
    rate = (f"least({segment_value('segment', 'sessions_per_day')} * {engagement} * {weekday} "
            f"/ {REGULAR_SLOTS}, 1D)")

    def regular(slot: Sql) -> Sql:
        return f"{uniform(seed, 'session-slot', 'kind', 'person', 'day', slot)} < _rate"

    # Extra sessions per free slot so that the channel's expected sessions grow by the lift:
    # (lift - 1) * share * rate / (1 - rate) of the free slots (4 * (1 - rate) of them).
    share = f"coalesce(try_element_at({_channel_shares()}, _spike.channel), 0D)"
    extra = f"(_spike.lift - 1) * {share} * _rate / greatest(1D - _rate, 0.01D)"

    def campaign(slot: Sql) -> Sql:
        return (f"_spike IS NOT NULL AND NOT ({regular(slot)}) AND "
                f"{uniform(seed, 'session-campaign', 'kind', 'person', 'day', slot)} < {extra}")

    taken = f"filter(sequence(0, {REGULAR_SLOTS - 1}), _slot -> {regular('_slot')} OR " \
            f"{campaign('_slot')})"
    unsubscribing = (
        f"CASE WHEN day = unsubscribe_day THEN array({UNSUBSCRIBE_SLOT}) "
        "ELSE CAST(array() AS ARRAY<INT>) END"
    )
    days = select(visitors, VISITOR_COLUMNS, {"day": f"explode({_active_days()})"})
    rated = extend(days, {"_rate": rate,
                          "_spike": campaign_lift(settings.anomalies, "day")})
    slots = select(rated, [*VISITOR_COLUMNS, "day", "_rate", "_spike"],
                   {"slot": f"explode(concat({taken}, {unsubscribing}))"})
    return select(slots, [*VISITOR_COLUMNS, "day", "slot"], {
        "campaign_channel": f"CASE WHEN slot < {REGULAR_SLOTS} AND {campaign('slot')} "
        "THEN _spike.channel END"})


def _channel_shares() -> Sql:
    """map(channel, share of web sessions) from WEB_CHANNELS."""
    total = sum(WEB_CHANNELS.values())
    pairs = ", ".join(f"{lit(name)}, {lit(weight / total)}"
                      for name, weight in WEB_CHANNELS.items())
    return f"map({pairs})"


def build_sessions(visitors: DataFrame, settings: GenerateSettings) -> DataFrame:
    """One row per session of customers and anonymous visitors.

    Needs VISITOR_COLUMNS. Adds: session_num (unique), session_id, day, slot, platform,
    cookie_id, device_id, channel, utm_source, utm_medium, utm_campaign, referrer, landing_path,
    events (event types in order), offsets (ms after the start, per event), tail_start (index of
    the first outcome event), touchpoints, log_odds, purchase_probability, converted, items,
    amount, focus_product, login_pos (index of the first event with user_id; NULL: never),
    start_ms, end_ms, order_id.
    """
    seed = settings.seed

    def u(salt: str, *extra: Sql) -> Sql:
        return _u(seed, salt, *extra)

    unsubscribing = f"slot = {UNSUBSCRIBE_SLOT}"
    numbered = extend(
        session_slots(visitors, settings),
        {"session_num": composite_number(("kind", 0), ("person", 24), ("day", 15), ("slot", 3))},
    )
    with_platform = extend(
        numbered,
        {
            "platform": f"CASE WHEN {unsubscribing} OR campaign_channel IS NOT NULL THEN 'web' "
            f"WHEN size(app_devices) > 0 AND {u('platform')} < {lit(APP_SESSION_SHARE)} "
            "THEN 'app' ELSE 'web' END",
            "device": f"try_element_at(app_devices, "
            f"{integer_below(u('device'), 'size(app_devices)')} + 1)",
        },
    )
    with_identity = extend(
        with_platform,
        {
            "device_id": "CASE WHEN platform = 'app' THEN device.device_id END",
            "cookie_id": f"CASE WHEN platform = 'app' THEN device.app_cookie "
            f"WHEN {unsubscribing} THEN cookies[0] "
            f"ELSE try_element_at(cookies, {integer_below(u('cookie'), 'size(cookies)')} + 1) END",
            "channel": f"CASE WHEN {unsubscribing} THEN 'email' "
            "WHEN campaign_channel IS NOT NULL THEN campaign_channel "
            f"WHEN platform = 'app' THEN {pick_weighted(u('channel'), APP_CHANNELS)} "
            f"ELSE {pick_weighted(u('channel'), WEB_CHANNELS)} END",
        },
    )
    entry = (
        f"CASE WHEN channel = 'email' AND ({unsubscribing} OR {u('email-open')} < 0.4D) "
        "THEN array('email_open', 'email_click') "
        "WHEN channel = 'email' THEN array('email_click') ELSE array('page_view') END"
    )
    steps = f"({integer_below(u('steps'), segment_value('segment', 'max_browse_steps'))} + 1)"
    following = _next_event("element_at(_events, -1)", u("step", "_step"), u("offer", "_step"))
    browsing = (
        f"aggregate(sequence(1, {steps}), {entry}, (_events, _step) -> concat(_events, "
        f"array({following})))"
    )
    with_journey = extend(
        with_identity,
        {
            **_channel_fields(seed),
            "browse": f"CASE WHEN {unsubscribing} THEN concat({entry}, array({lit(UNSUBSCRIBE)}))"
            f" ELSE {browsing} END",
        },
    )
    log_odds = f"({segment_value('segment', 'base_log_odds')} + {touchpoint_log_odds('browse')})"
    with_decision = extend(
        with_journey,
        {
            "touchpoints": "array_distinct(browse)",
            "log_odds": log_odds,
            "purchase_probability": f"1D / (1D + exp(-{log_odds}))",
            "focus_product": _taste_product(u("focus"), u("taste")),
            "n_items": f"1 + CAST({u('items-2')} < 0.35D AS INT) "
            f"+ CAST({u('items-3')} < 0.1D AS INT)",
        },
    )
    slot_first = f"element_at({array(s[0] for s in SLOT_STARTS)}, slot + 1)"
    slot_last = f"element_at({array(s[1] for s in SLOT_STARTS)}, slot + 1)"
    would_buy = (f"kind = {CUSTOMER} AND NOT ({unsubscribing}) "
                 f"AND {u('convert')} < purchase_probability")
    with_start = extend(
        with_decision,
        {
            "start_ms": f"day * {MS_PER_DAY}L + {slot_first} * {MS_PER_MINUTE}L "
            f"+ floor({u('start')} * ({slot_last} - {slot_first}) * {MS_PER_MINUTE}L)",
        },
    )
    # A planted broken checkout: the buyer gets as far as checkout_start, then nothing.
    with_conversion = extend(
        extend(with_start, {
            "checkout_failed": f"{would_buy} AND "
            f"{during(settings.anomalies, CHECKOUT_BROKEN, 'start_ms')}"}),
        {"converted": f"{would_buy} AND NOT checkout_failed"},
    )
    # Items are distinct products: the focus product, then strides through the catalogue.
    item_number = nth_product("focus_product", "_i")
    item = named_struct(
        {
            "product_id": product_id(item_number),
            "quantity": f"1 + CAST({u('quantity-2', '_i')} < 0.15D AS INT) "
            f"+ CAST({u('quantity-3', '_i')} < 0.04D AS INT)",
            "unit_price": unit_price(seed, item_number),
        }
    )
    with_outcome = extend(
        with_conversion,
        {
            "items": f"CASE WHEN converted THEN transform(sequence(0, n_items - 1), _i -> {item}) "
            f"ELSE CAST(array() AS ARRAY<{ITEM_TYPE}>) END",
            # Abandoned carts: outcome events without a purchase, as in real shops.
            "tail": "CASE WHEN converted THEN concat(array_repeat('add_to_cart', n_items), "
            "array('checkout_start', 'purchase')) "
            "WHEN checkout_failed THEN concat(array_repeat('add_to_cart', n_items), "
            "array('checkout_start')) "
            f"WHEN array_contains(browse, 'product_view') AND {u('abandon')} < "
            f"{lit(ABANDON_SHARE)} THEN CASE WHEN {u('abandon-checkout')} < 0.3D "
            "THEN array('add_to_cart', 'checkout_start') ELSE array('add_to_cart') END "
            "ELSE CAST(array() AS ARRAY<STRING>) END",
        },
    )
    voluntary = (
        f"kind = {CUSTOMER} AND {u('login')} < CASE WHEN platform = 'app' "
        f"THEN {lit(LOGIN_SHARE['app'])} ELSE {lit(LOGIN_SHARE['web'])} END"
    )
    voluntary_at = (
        f"CASE WHEN platform = 'app' AND {u('login-at-start')} < 0.8D THEN 0 "
        f"ELSE {integer_below(u('login-at'), 'size(browse)')} END"
    )
    with_events = extend(
        with_outcome,
        {
            "amount": f"CASE WHEN converted THEN {basket_amount('items')} END",
            "events": "concat(browse, tail)",
            "tail_start": "size(browse)",
            # A purchase needs an account: a buyer not logged in yet logs in at checkout_start.
            "login_pos": f"CASE WHEN {unsubscribing} THEN 0 WHEN {voluntary} THEN {voluntary_at} "
            "WHEN converted OR checkout_failed THEN size(browse) + n_items END",
        },
    )
    gap = f"({GAP_MIN_MS}L + floor({u('gap', '_j')} * {GAP_SPREAD_MS}))"
    # Running sums of the gaps: one offset per event, the first at 0.
    offsets = (
        f"slice(aggregate(sequence(1, greatest(size(events) - 1, 1)), array(0L), "
        f"(_acc, _j) -> concat(_acc, array(element_at(_acc, -1) + {gap}))), 1, size(events))"
    )
    timed = extend(with_events, {"offsets": offsets})
    finished = extend(
        timed,
        {
            "end_ms": "start_ms + element_at(offsets, -1)",
            "session_id": opaque_id("se_", "session_num", seed, "session"),
            # Store orders use odd numbers (see `transactions`), so order ids never collide.
            "order_id": f"CASE WHEN converted "
            f"THEN {opaque_id('ord_', 'session_num * 2', seed, 'order')} END",
        },
    )
    return finished.drop("browse", "tail", "n_items", "checkout_failed", "campaign_channel",
                         "device", "app_devices", "cookies",
                         "first_day", "last_day", "unsubscribe_day", "churn_day",
                         "offer_affinity", "taste")


def sessions_truth(sessions: DataFrame) -> DataFrame:
    """The planted sessions: session_id, customer_id (NULL for anonymous visitors), segment,
    cookie_id, device_id, platform, channel, start_ts, end_ts, touchpoints (distinct types before
    the outcome, first-touch order), log_odds, purchase_probability, converted, order_id, amount.
    """
    return select(
        sessions,
        ["session_id", "customer_id", "segment", "cookie_id", "device_id", "platform", "channel",
         "timestamp_millis(start_ms) AS start_ts", "timestamp_millis(end_ms) AS end_ts",
         "touchpoints", "log_odds", "purchase_probability", "converted", "order_id", "amount"],
    )
