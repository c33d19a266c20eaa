"""Live KPIs: per event-time window (5 minutes by default) over the streamed clickstream, overall
and per channel, in the long format of gold_kpis_daily with the window in place of the day.

What the clickstream alone can tell, event by event: no sessions (they need every event of a
person, across sources, and end only after 30 idle minutes) and no persons (identity stitching
is a batch job), so a visitor is a cookie. Distinct counts are exact: the stream keeps the set
of a window's cookies until the watermark passes the window's end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.config import ChannelRule
from journeylake.kpis.definitions import ALL, CHANNEL, SHARE, Kpi
from journeylake.silver.timeline import (
    channel_column,
    check_channel_rules,
    clickstream_rule_inputs,
    touchpoint_column,
)
from journeylake.streaming.tables import LIVE_KPIS

# `visitors` and `orders` mean what they mean in gold_kpis_daily, per window instead of per day
# (a visitor is a cookie here, a person there); the others exist only live.
LIVE_KPI_DEFINITIONS: tuple[Kpi, ...] = (
    Kpi("visitors", "distinct cookies with an event in the window"),
    Kpi("page_views", "page_view events in the window"),
    Kpi("add_to_carts", "add_to_cart events in the window"),
    Kpi("checkout_starts", "checkout_start events in the window"),
    Kpi("orders", "purchase events (online orders) in the window"),
    Kpi("visitor_conversion_rate", "share of the window's visitors with a purchase in it",
        "visitors with a purchase event", "visitors", SHARE),
)
LIVE_KPI_NAMES = tuple(kpi.name for kpi in LIVE_KPI_DEFINITIONS)
EVENT_COLUMNS = ("ts", "cookie_id", "event_type", "channel")
# Event types counted by a KPI of their own.
_COUNTED = {"page_views": "page_view", "add_to_carts": "add_to_cart",
            "checkout_starts": "checkout_start", "orders": "purchase"}


def with_channel(
    events: DataFrame,
    touchpoints: Mapping[str, Mapping[str, str]],
    rules: Sequence[ChannelRule],
    default_channel: str,
) -> DataFrame:
    """EVENT_COLUMNS of bronze clickstream rows: each event's own channel by silver's channel
    rules (conf/silver.yaml), so a live channel is named as the timeline names it. An event's
    own: the timeline's sessions take their entry channel, which a stream cannot know yet."""
    require_columns(events, ("ts", "cookie_id", "event_type", "platform", "referrer",
                             "utm_source", "utm_medium", "utm_campaign"), "with_channel")
    inputs = events.withColumns(clickstream_rule_inputs()).withColumn(
        "touchpoint", touchpoint_column(touchpoints))
    check_channel_rules(inputs, rules)
    return inputs.select("ts", "cookie_id", "event_type",
                         channel_column(rules, default_channel).alias("channel"))


def _breakdowns() -> Column:
    def pair(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("breakdown"), value.alias("breakdown_value"))
    return F.array(pair(ALL, F.lit(ALL)), pair(CHANNEL, F.col("channel")))


def window_counts(events: DataFrame, window_minutes: int, watermark_minutes: int) -> DataFrame:
    """Per tumbling window of `window_minutes` on `ts` and per breakdown (all; channel): window
    (start, end), breakdown, breakdown_value, visitors, buyers and the event counts.

    events: EVENT_COLUMNS. On a stream the watermark lets Spark finish a window once the newest
    event time seen is `watermark_minutes` past its end, and drop the events that arrive for it
    later; on a static DataFrame it does nothing.
    """
    require_columns(events, EVENT_COLUMNS, "window_counts")
    is_type = {name: F.col("event_type") == event_type for name, event_type in _COUNTED.items()}
    return (
        events.withWatermark("ts", f"{watermark_minutes} minutes")
        .select("ts", "cookie_id", "event_type", F.inline(_breakdowns()))
        .groupBy(F.window("ts", f"{window_minutes} minutes"), "breakdown", "breakdown_value")
        .agg(
            # Exact distinct cookies: a set per window in the state, bounded by the watermark.
            F.size(F.collect_set("cookie_id")).alias("visitors"),
            F.size(F.collect_set(F.when(is_type["orders"], F.col("cookie_id")))).alias("buyers"),
            *[F.count_if(predicate).alias(name) for name, predicate in is_type.items()],
        )
    )


def live_kpis(counts: DataFrame) -> DataFrame:
    """gold_kpis_live's columns but `_updated_at`, from `window_counts`: a count is `value` with
    NULL numerator and denominator; a ratio is numerator / denominator, NULL when it is 0."""
    require_columns(counts, ("window", "breakdown", "breakdown_value", "visitors", "buyers",
                             *_COUNTED), "live_kpis")
    measures: list[tuple[str, str, str | None]] = [
        ("visitors", "visitors", None), *[(name, name, None) for name in _COUNTED],
        ("visitor_conversion_rate", "buyers", "visitors"),
    ]

    def entry(name: str, numerator: str, denominator: str | None) -> Column:
        top = F.col(numerator).cast("double")
        if denominator is None:
            return F.struct(F.lit(name).alias("kpi"), top.alias("value"),
                            F.lit(None).cast("double").alias("numerator"),
                            F.lit(None).cast("double").alias("denominator"))
        bottom = F.col(denominator).cast("double")
        return F.struct(F.lit(name).alias("kpi"), F.when(bottom > 0, top / bottom).alias("value"),
                        top.alias("numerator"), bottom.alias("denominator"))

    return counts.select(
        F.to_date(F.col("window.start")).alias("kpi_date"),
        F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"),
        "breakdown", "breakdown_value", F.inline(F.array(*[entry(*m) for m in measures])),
    ).select(*[name for name in LIVE_KPIS.columns if name != "_updated_at"])
