"""The unified cross-channel timeline: one row per touchpoint of any source, on one person.

Each source becomes rows of the same shape (`TIMELINE_INPUT`): where it came from, when, the
value the touchpoint taxonomy maps, the columns the channel rules read, the identifiers that may
name the person (best first), attributes and revenue. `touchpoints_and_channels` applies the
configured taxonomy and rules; `resolve_persons` puts each row on a person of the identity map.
Personal values arrive pseudonymised; raw PII is never a column here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from journeylake.core.columns import require_columns
from journeylake.core.config import ChannelRule, ConfigError, SilverSettings
from journeylake.core.frames import union_all
from journeylake.silver.currency import with_reporting_amount
from journeylake.silver.identity import node
from journeylake.silver.tables import EVENTS

STORE_VISIT_SOURCE = "store_visit"
TIMELINE_INPUT = (
    "source", "source_key", "ts", "source_value", "platform", "referrer", "utm_source",
    "utm_medium", "utm_campaign", "network", "order_channel", "candidates", "attributes",
    "revenue", "currency",
)
# The columns of silver_events, in its order.
EVENT_COLUMNS = EVENTS.columns


def _attributes(pairs: Mapping[str, Column]) -> Column:
    """A map of the non-NULL values among `pairs` (string keys and values)."""
    entries = F.array(*[
        F.struct(F.lit(key).alias("key"), value.cast("string").alias("value"))
        for key, value in pairs.items()
    ])
    return F.map_from_entries(F.filter(entries, lambda entry: entry["value"].isNotNull()))


def _lower(name: str) -> Column:
    return F.lower(F.trim(F.col(name)))


def _null_string() -> Column:
    return F.lit(None).cast("string")


def clickstream_rule_inputs() -> dict[str, Column]:
    """The columns the touchpoint taxonomy and the channel rules read, from a bronze clickstream
    row: what the timeline and the live KPIs of `journeylake stream` both classify events by."""
    return {
        "source": F.lit("clickstream"),
        "source_value": F.col("event_type"),
        **{name: _lower(name) for name in
           ("platform", "referrer", "utm_source", "utm_medium", "utm_campaign")},
        "network": _null_string(),
        "order_channel": _null_string(),
    }


def clickstream_input(events: DataFrame) -> DataFrame:
    """TIMELINE_INPUT of bronze clickstream rows (the contract's columns and `_record_key`)."""
    rule_inputs = clickstream_rule_inputs()
    return events.select(
        rule_inputs["source"].alias("source"),
        F.col("_record_key").alias("source_key"),
        "ts",
        *[rule_inputs[name].alias(name) for name in
          ("source_value", "platform", "referrer", "utm_source", "utm_medium", "utm_campaign",
           "network", "order_channel")],
        F.array(node("customer", F.col("user_id")), node("device", F.col("device_id")),
                node("cookie", F.col("cookie_id"))).alias("candidates"),
        _attributes({
            "url": F.col("url"), "referrer": F.col("referrer"),
            "utm_source": F.col("utm_source"), "utm_medium": F.col("utm_medium"),
            "utm_campaign": F.col("utm_campaign"), "product_id": F.col("product_id"),
            "price": F.col("price"), "platform": F.col("platform"),
        }).alias("attributes"),
        F.lit(None).cast("decimal(18,2)").alias("revenue"),
        F.col("currency"),
    )


def social_input(posts: DataFrame) -> DataFrame:
    """TIMELINE_INPUT of pseudonymised social rows (event_id as `_record_key`, network, action,
    handle_hash, target_handle_hash, email_hash, post_id, hashtags, ts). The post text stays in
    bronze: it is free text that may hold anything personal."""
    return posts.select(
        F.lit("social").alias("source"),
        F.col("_record_key").alias("source_key"),
        "ts",
        F.col("action").alias("source_value"),
        *[_null_string().alias(name) for name in
          ("platform", "referrer", "utm_source", "utm_medium", "utm_campaign")],
        _lower("network").alias("network"),
        _null_string().alias("order_channel"),
        F.array(node("handle", F.col("handle_hash")),
                node("email", F.col("email_hash"))).alias("candidates"),
        _attributes({
            "network": F.col("network"), "post_id": F.col("post_id"),
            "target_handle_hash": F.col("target_handle_hash"),
            "hashtags": F.array_join(F.col("hashtags"), ","),
        }).alias("attributes"),
        F.lit(None).cast("decimal(18,2)").alias("revenue"),
        _null_string().alias("currency"),
    )


def transactions_input(orders: DataFrame) -> DataFrame:
    """TIMELINE_INPUT of pseudonymised orders (order_id as `_record_key`, customer_id,
    email_hash, store_id, ts, items, amount, currency, channel): the order is the conversion and
    carries the revenue."""
    return orders.select(
        F.lit("transactions").alias("source"),
        F.col("_record_key").alias("source_key"),
        "ts",
        F.col("channel").alias("source_value"),
        *[_null_string().alias(name) for name in
          ("platform", "referrer", "utm_source", "utm_medium", "utm_campaign", "network")],
        _lower("channel").alias("order_channel"),
        F.array(node("customer", F.col("customer_id")),
                node("email", F.col("email_hash"))).alias("candidates"),
        _attributes({
            "order_id": F.col("order_id"), "store_id": F.col("store_id"),
            "items": F.size("items"), "channel": F.col("channel"),
            # The basket's products, comma-separated: what recommendations learn from.
            "product_ids": F.array_join(F.col("items.product_id"), ","),
        }).alias("attributes"),
        F.col("amount").cast("decimal(18,2)").alias("revenue"),
        F.col("currency"),
    )


def store_visit_input(visits: DataFrame) -> DataFrame:
    """TIMELINE_INPUT of store visits (visit_id, device_id, store_id, start_ts, end_ts,
    dwell_minutes): the visit is a touchpoint at its start."""
    return visits.select(
        F.lit(STORE_VISIT_SOURCE).alias("source"),
        F.col("visit_id").alias("source_key"),
        F.col("start_ts").alias("ts"),
        F.lit("visit").alias("source_value"),
        *[_null_string().alias(name) for name in
          ("platform", "referrer", "utm_source", "utm_medium", "utm_campaign", "network",
           "order_channel")],
        F.array(node("device", F.col("device_id"))).alias("candidates"),
        _attributes({
            "store_id": F.col("store_id"), "end_ts": F.date_format("end_ts",
                                                                   "yyyy-MM-dd'T'HH:mm:ss'Z'"),
            "dwell_minutes": F.round("dwell_minutes", 1),
        }).alias("attributes"),
        F.lit(None).cast("decimal(18,2)").alias("revenue"),
        _null_string().alias("currency"),
    )


def touchpoint_column(touchpoints: Mapping[str, Mapping[str, str]]) -> Column:
    """The taxonomy: `touchpoints[source][source_value]`, else `<source>:<source_value>` so an
    unmapped value is visible rather than silently folded into another touchpoint."""
    entries = [
        item
        for source, mapping in touchpoints.items()
        for value, touchpoint in mapping.items()
        for item in (F.lit(f"{source}\u0000{value}"), F.lit(touchpoint))
    ]
    lookup = F.concat_ws("\u0000", "source", "source_value")
    mapped = F.try_element_at(F.create_map(*entries), lookup) if entries else F.lit(None)
    return F.coalesce(mapped, F.concat_ws(":", "source", "source_value"))


def channel_column(rules: Sequence[ChannelRule], default: str) -> Column:
    """The first rule whose `when` holds gives the channel, else `default`."""
    channel = F.lit(default)
    for rule in reversed(rules):
        channel = F.when(F.expr(rule.when), F.lit(rule.channel)).otherwise(channel)
    return channel


def check_channel_rules(frame: DataFrame, rules: Sequence[ChannelRule]) -> None:
    """Fail with the rule's position and text when a rule is not valid Spark SQL over the
    timeline input, before any data is read."""
    for index, rule in enumerate(rules):
        try:
            frame.select(F.expr(rule.when).cast("boolean")).schema  # noqa: B018 (analysis only)
        except (AnalysisException, Exception) as error:  # parse errors are not AnalysisExceptions
            first_line = str(error).strip().splitlines()[0]
            raise ConfigError(
                f"silver.channel_rules[{index}] ({rule.channel}): `{rule.when}` is not a valid "
                f"predicate over {list(TIMELINE_INPUT) + ['touchpoint']}: {first_line}"
            ) from None


def touchpoints_and_channels(
    rows: DataFrame,
    touchpoints: Mapping[str, Mapping[str, str]],
    rules: Sequence[ChannelRule],
    default_channel: str,
) -> DataFrame:
    """TIMELINE_INPUT rows plus `touchpoint`, `channel` and `event_key` (a hash of source and
    source key: the same record always gets the same key)."""
    require_columns(rows, TIMELINE_INPUT, "touchpoints_and_channels")
    with_touchpoint = rows.withColumn("touchpoint", touchpoint_column(touchpoints))
    check_channel_rules(with_touchpoint, rules)
    return with_touchpoint.withColumn(
        "channel", channel_column(rules, default_channel)
    ).withColumn(
        "event_key",
        F.concat(F.lit("e_"), F.substring(F.sha2(F.concat_ws("\u0000", "source", "source_key"),
                                                 256), 1, 32)),
    )


def resolve_persons(events: DataFrame, identity_map: DataFrame) -> DataFrame:
    """EVENT_COLUMNS: each event on the person of its best identifier: the first of its
    `candidates` that links (a shared identifier is passed over), else the first known one.
    `identifiers` keeps the candidates, so an event can be resolved again when the identity of
    one of them changes.

    events: touchpoints_and_channels output. identity_map: node, person_id, linked. An event
    none of whose identifiers is in the map, or that has none (an anonymous till purchase),
    keeps person_id NULL (the caller counts them).
    """
    events = events.withColumn("candidates", F.filter("candidates", lambda c: c.isNotNull()))
    candidates = events.select(
        "event_key", F.posexplode("candidates")
    ).withColumnRenamed("col", "node")
    ranked = candidates.join(identity_map.select("node", "person_id", "linked"), "node")
    best = ranked.groupBy("event_key").agg(
        F.min_by(F.struct("person_id", "node"), F.struct(~F.col("linked"), F.col("pos")))
        .alias("best")
    )
    return events.join(best, "event_key", "left").select(
        "event_key",
        F.col("best.person_id").alias("person_id"),
        "ts",
        F.to_date("ts").alias("event_date"),
        "channel",
        "touchpoint",
        "source",
        "source_key",
        F.col("best.node").alias("resolved_by"),
        F.col("candidates").alias("identifiers"),
        "attributes",
        "revenue",
        "currency",
    )


def events_to_resolve_again(events: DataFrame, changed_nodes: DataFrame) -> DataFrame:
    """The stored events (EVENT_COLUMNS) one of whose identifiers is in changed_nodes (node):
    a changed person or link status can change which person they belong to. The changed set is
    small next to the events, so it is broadcast and the events are not shuffled."""
    hits = (
        events.select("event_key", F.explode("identifiers").alias("node"))
        .join(F.broadcast(changed_nodes.select("node").distinct()), "node", "left_semi")
        .select("event_key")
        .distinct()
    )
    return events.join(hits, "event_key", "left_semi")


def resolve_again(events: DataFrame, identity_map: DataFrame) -> DataFrame:
    """event_key, person_id, resolved_by, old_person_id: stored events on the person the
    current map gives them, where it differs from the stored one."""
    resolved = resolve_persons(
        events.select("event_key", "ts", "channel", "touchpoint", "source", "source_key",
                      F.col("identifiers").alias("candidates"), "attributes", "revenue",
                      "currency"),
        identity_map,
    )
    return resolved.join(
        events.select("event_key", F.col("person_id").alias("old_person_id"),
                      F.col("resolved_by").alias("old_resolved_by")),
        "event_key",
    ).where(
        ~F.col("person_id").eqNullSafe(F.col("old_person_id"))
        | ~F.col("resolved_by").eqNullSafe(F.col("old_resolved_by"))
    ).select("event_key", "person_id", "resolved_by", "old_person_id", "ts")


# The bronze sources that put touchpoints on the timeline, and how each is read.
TIMELINE_SOURCES = {
    "clickstream": clickstream_input,
    "social": social_input,
    "transactions": transactions_input,
}


def timeline_events(
    rows: Mapping[str, DataFrame], settings: SilverSettings, identity_map: DataFrame
) -> DataFrame | None:
    """EVENT_COLUMNS of new bronze rows by source name, on persons of `identity_map` (node,
    person_id, linked); None when no timeline source has rows. Sources that are not timeline
    sources (location pings) are ignored: their touchpoints are store visits."""
    inputs = [TIMELINE_SOURCES[source](frame) for source, frame in sorted(rows.items())
              if source in TIMELINE_SOURCES]
    if not inputs:
        return None
    return _on_persons(union_all(inputs), settings, identity_map)


def store_visit_events(
    visits: DataFrame, settings: SilverSettings, identity_map: DataFrame
) -> DataFrame:
    """EVENT_COLUMNS of store visits (see `store_visit_input`), on their device's person."""
    return _on_persons(store_visit_input(visits), settings, identity_map)


def _on_persons(rows: DataFrame, settings: SilverSettings, identity_map: DataFrame) -> DataFrame:
    labelled = touchpoints_and_channels(rows, settings.touchpoints, settings.channel_rules,
                                        settings.default_channel)
    return with_reporting_amount(resolve_persons(labelled, identity_map), settings.currency)


def late_arrivals(events: DataFrame, latest: datetime | None, lookback_hours: float
                  ) -> DataFrame:
    """The events more than `lookback_hours` older than `latest` (the timeline's newest event
    before this run; None for an empty timeline, where nothing is late)."""
    if latest is None:
        return events.limit(0)
    return events.where(F.col("ts") < F.lit(latest - timedelta(hours=lookback_hours)))


def events_of_visits(events: DataFrame, visits: DataFrame) -> DataFrame:
    """The store-visit events (EVENT_COLUMNS) of `visits` (visit_id): a replaced visit takes
    its touchpoint with it."""
    return events.where(F.col("source") == STORE_VISIT_SOURCE).join(
        visits.select(F.col("visit_id").alias("source_key")), "source_key", "left_semi")
