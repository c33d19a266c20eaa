"""Social activity (JSON lines, contract `conf/sources/social.yaml`): posts, mentions, likes and
follows by customers' handles, by people who are not customers and by a few influencers whom
many follow and like. Some records of customers' handles carry their email (contest entries,
shop logins): the handle-email link.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import GenerateSettings
from journeylake.generator.corruption import (
    EVENT_MS,
    FUTURE_TIMESTAMP,
    KEY,
    MALFORMED_RECORD,
    MISSING_REQUIRED,
    LineFormat,
    future_timestamp,
    missing_field,
    truncated_json,
)
from journeylake.generator.draws import (
    composite_number,
    integer_below,
    opaque_id,
    pick,
    pick_weighted,
    uniform,
)
from journeylake.generator.expressions import Sql, array, case, extend, lit, select
from journeylake.generator.formats import MS_PER_DAY, MS_PER_HOUR, iso_utc
from journeylake.generator.model import segment_value
from journeylake.generator.reference import (
    BRAND_HANDLE,
    FIRST_NAMES,
    HASHTAGS,
    INFLUENCERS,
    LAST_NAMES,
    MENTION_TEXTS,
    NETWORKS,
    POST_TEXTS,
    PRODUCT_WORDS,
)
from journeylake.generator.window import DataWindow, people

FIELDS = ("event_id", "network", "action", "handle", "target_handle", "post_id", "text",
          "hashtags", "email", "created_at")
CUSTOMER_HANDLE, OTHER_HANDLE, INFLUENCER_HANDLE = 0, 1, 2
REGULAR_SLOTS = 3
DAILY_POST_SLOT = 7  # influencers post every morning; likes point at yesterday's post
EMAIL_SHARE = 0.12
ACTIONS = {"like": 0.45, "mention": 0.23, "post": 0.2, "follow": 0.12}
INFLUENCER_ACTIONS = {"post": 0.5, "like": 0.2, "mention": 0.2, "follow": 0.1}

ACTOR_COLUMNS = ("kind", "person", "handle", "email", "first_day", "last_day", "rate")


def influencer_count(customers: int) -> int:
    """A few influencers: 3, one more per 300 customers, at most the named ones."""
    return min(len(INFLUENCERS), 3 + customers // 300)


def _influencer_handle(index: Sql) -> Sql:
    return f"element_at({array(INFLUENCERS)}, CAST({index} AS INT) + 1)"


def _event_number(kind: Sql | int, person: Sql, day: Sql, slot: Sql | int) -> Sql:
    return composite_number((kind, 0), (person, 24), (day, 15), (slot, 3))


def build_actors(
    spark: SparkSession, customers: DataFrame, settings: GenerateSettings, window: DataWindow
) -> DataFrame:
    """Everyone who acts on social networks: ACTOR_COLUMNS (`rate` = expected actions a day).

    Needs the columns of `customers.build_customers`.
    """
    seed = settings.seed
    customer_actors = select(
        customers.where("handle IS NOT NULL"),
        ["person", "handle", "email", "first_day", "last_day"],
        {
            "kind": lit(CUSTOMER_HANDLE),
            "rate": segment_value("segment", "social_actions_per_day"),
        },
    )
    whole_window = {"first_day": lit(window.first_day), "last_day": lit(window.last_day)}
    others = select(
        people(spark, max(3, settings.customers * 3 // 10)),
        ["id AS person"],
        {
            "kind": lit(OTHER_HANDLE),
            # Underscores, where customers' handles have a dot: the two can never be equal.
            "handle": f"lower(concat_ws('_', "
            f"{pick(uniform(seed, 'other-first', 'id'), FIRST_NAMES)}, "
            f"{pick(uniform(seed, 'other-last', 'id'), LAST_NAMES)}, CAST(id AS STRING)))",
            "email": "CAST(NULL AS STRING)",
            **whole_window,
            "rate": lit(0.15),
        },
    )
    influencers = select(
        people(spark, influencer_count(settings.customers)),
        ["id AS person"],
        {
            "kind": lit(INFLUENCER_HANDLE),
            "handle": _influencer_handle("id"),
            "email": "CAST(NULL AS STRING)",
            **whole_window,
            "rate": lit(0.3),
        },
    )
    return (
        customer_actors.select(*ACTOR_COLUMNS)
        .unionByName(others.select(*ACTOR_COLUMNS))
        .unionByName(influencers.select(*ACTOR_COLUMNS))
    )


def build_social_events(actors: DataFrame, settings: GenerateSettings) -> DataFrame:
    """One row per social record: FIELDS (`hashtags` an array) plus `_ms` and `_key`.

    Needs ACTOR_COLUMNS.
    """
    seed = settings.seed
    days = ("CASE WHEN first_day <= last_day THEN sequence(first_day, last_day) "
            "ELSE CAST(array() AS ARRAY<INT>) END")
    draw = uniform(seed, "social-slot", "kind", "person", "day", "_slot")
    regular = f"filter(sequence(0, {REGULAR_SLOTS - 1}), _slot -> {draw} < rate / {REGULAR_SLOTS})"
    slots = (
        f"CASE WHEN kind = {INFLUENCER_HANDLE} THEN concat({regular}, array({DAILY_POST_SLOT})) "
        f"ELSE {regular} END"
    )
    actor_days = select(actors, ACTOR_COLUMNS, {"day": f"explode({days})"})
    actor_slots = select(actor_days, [*ACTOR_COLUMNS, "day"], {"slot": f"explode({slots})"})

    def u(salt: str, *extra: Sql) -> Sql:
        return uniform(seed, f"social-{salt}", "event_num", *extra)

    numbered = extend(actor_slots, {"event_num": _event_number("kind", "person", "day", "slot")})
    with_action = extend(
        numbered,
        {
            "action": case(
                [
                    (f"slot = {DAILY_POST_SLOT}", lit("post")),
                    (f"kind = {INFLUENCER_HANDLE}", pick_weighted(u("action"),
                                                                  INFLUENCER_ACTIONS)),
                ],
                pick_weighted(u("action"), ACTIONS),
            ),
            # Popular influencers first: u^2 skews the choice towards low indexes.
            "influencer": integer_below(f"{u('influencer')} * {u('influencer')}",
                                        influencer_count(settings.customers)),
        },
    )
    influencer_handle = _influencer_handle("influencer")

    def brand_or_influencer(draw: Sql, brand_share: float) -> Sql:
        return (f"CASE WHEN {draw} < {lit(brand_share)} THEN {lit(BRAND_HANDLE)} "
                f"ELSE {influencer_handle} END")

    with_target = extend(
        with_action,
        {
            "target_handle": case(
                [
                    ("action = 'like'", influencer_handle),
                    ("action = 'follow'", brand_or_influencer(u("follow-brand"), 0.25)),
                    ("action = 'mention'", brand_or_influencer(u("mention-brand"), 0.7)),
                ]
            )
        },
    )
    liked_post = opaque_id(
        "po_", _event_number(INFLUENCER_HANDLE, "influencer", "day - 1", DAILY_POST_SLOT), seed,
        "post",
    )
    product_word = pick(u("product"), PRODUCT_WORDS)
    post_text = f"replace({pick(u('text'), POST_TEXTS)}, '{{product}}', {product_word})"
    mention_text = (
        f"replace(replace({pick(u('text'), MENTION_TEXTS)}, '{{target}}', target_handle), "
        f"'{{product}}', {product_word})"
    )
    tags = (
        f"array_distinct(transform(sequence(1, {integer_below(u('tag-count'), 3)} + 1), "
        f"_i -> {pick(u('tag', '_i'), HASHTAGS)}))"
    )
    home_network = pick(uniform(seed, "social-home-network", "kind", "person"), NETWORKS)
    event_ms = (
        f"day * {MS_PER_DAY}L + CASE WHEN slot = {DAILY_POST_SLOT} "
        f"THEN {8 * MS_PER_HOUR}L + floor({u('time')} * {2 * MS_PER_HOUR}L) "
        f"ELSE floor({u('time')} * {MS_PER_DAY}L) END"
    )
    timed = extend(with_target, {"event_ms": event_ms})
    event_id = opaque_id("so_", "event_num", seed, "social")
    return select(
        timed,
        ["action", "handle", "target_handle"],
        {
            "event_id": event_id,
            "network": f"CASE WHEN {u('network')} < 0.85D THEN {home_network} "
            f"ELSE {pick(u('other-network'), NETWORKS)} END",
            "post_id": case(
                [
                    ("action IN ('post', 'mention')",
                     opaque_id("po_", "event_num", seed, "post")),
                    ("action = 'like'", liked_post),
                ]
            ),
            "text": case([("action = 'post'", post_text), ("action = 'mention'", mention_text)]),
            "hashtags": f"CASE WHEN action IN ('post', 'mention') THEN {tags} END",
            "email": f"CASE WHEN kind = {CUSTOMER_HANDLE} AND {u('email')} < {lit(EMAIL_SHARE)} "
            "THEN email END",
            "created_at": iso_utc("event_ms"),
            EVENT_MS: "event_ms",
            KEY: event_id,
        },
    )


LINE_FORMAT = LineFormat(
    source="social",
    style="json",
    fields=FIELDS,
    breakers={
        MALFORMED_RECORD: truncated_json(),
        MISSING_REQUIRED: missing_field(("handle", "network", "action", "created_at"), None),
        FUTURE_TIMESTAMP: future_timestamp("created_at", iso_utc),
    },
)
