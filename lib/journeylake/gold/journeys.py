"""Journeys: a person's touchpoints up to a conversion, or up to where they stopped (drop-off).

A conversion closes a journey; the touchpoints after it open the next one. A journey without a
conversion ends in drop-off. Only touchpoints within `lookback_days` before the journey's end
count, the window attribution models credit. Steps are ordered by (ts, event_key), so the same
events always give the same journeys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns

STEP_TYPE = "array<struct<ts: timestamp, event_key: string, touchpoint: string, channel: string>>"
JOURNEY_COLUMNS = (
    "journey_id", "person_id", "start_ts", "end_ts", "converted", "conversion_ts",
    "conversion_touchpoint", "revenue", "steps", "touchpoints", "channels",
)


def collapse_repeats(steps: Column) -> Column:
    """Steps without consecutive repeats of the same touchpoint (the first of each run stays)."""
    indexed = F.transform(steps, lambda step, i: F.struct(step.alias("step"), i.alias("i")))
    kept = F.filter(
        indexed,
        lambda item: (item["i"] == 0)
        | (item["step"]["touchpoint"] != F.element_at(steps, item["i"])["touchpoint"]),
    )
    return F.transform(kept, lambda item: item["step"])


def build_journeys(
    events: DataFrame,
    conversion_touchpoints: Sequence[str],
    lookback_days: float,
    collapse: bool = False,
    within: str = "person_id",
) -> DataFrame:
    """JOURNEY_COLUMNS from the timeline (person_id, ts, event_key, touchpoint, channel,
    revenue, and `within`).

    steps: the touchpoints before the outcome (the conversion itself is not a step), in time
    order, within lookback_days before the conversion (or before the last step of a journey that
    did not convert); with `collapse`, consecutive repeats of a touchpoint count once.
    touchpoints and channels are the steps' sequences. journey_id is stable: a hash of the
    person and the journey's first event. `within` is the column whose values a journey never
    crosses: the person, or a session (see `session_journeys`).
    """
    require_columns(events, ("person_id", "ts", "event_key", "touchpoint", "channel", "revenue",
                             within), "build_journeys")
    if lookback_days <= 0:
        raise ValueError(f"lookback_days must be positive, got {lookback_days}")
    is_conversion = F.col("touchpoint").isin(list(conversion_touchpoints))
    order = Window.partitionBy(within).orderBy("ts", "event_key")
    numbered = (
        events.where(F.col("person_id").isNotNull())
        .withColumn("_conversion", is_conversion)
        .withColumn(
            # Conversions strictly before this event: a conversion ends its own journey.
            "_journey",
            F.coalesce(
                F.sum(F.col("_conversion").cast("int")).over(
                    order.rowsBetween(Window.unboundedPreceding, -1)),
                F.lit(0),
            ),
        )
    )
    step = F.struct("ts", "event_key", "touchpoint", "channel")
    grouped = numbered.groupBy(*dict.fromkeys(("person_id", within)), "_journey").agg(
        F.array_sort(F.collect_list(F.when(~F.col("_conversion"), step))).alias("_all_steps"),
        F.min(F.when(F.col("_conversion"), F.struct("ts", "event_key", "touchpoint",
                                                     "revenue"))).alias("_conversion"),
        F.min(F.struct("ts", "event_key")).alias("_first"),
    )
    seconds = lookback_days * 86_400
    end = F.coalesce(F.col("_conversion.ts"), F.element_at("_all_steps", -1)["ts"])
    in_window = F.filter(
        "_all_steps",
        lambda s: F.unix_micros(s["ts"]) >= F.unix_micros(end) - F.lit(int(seconds * 1_000_000)),
    )
    steps = collapse_repeats(in_window) if collapse else in_window
    journeys = grouped.select(
        F.concat(F.lit("j_"), F.substring(F.sha2(F.concat_ws(
            "|", "person_id", F.col("_first.event_key")), 256), 1, 24)).alias("journey_id"),
        "person_id",
        F.col("_first.ts").alias("start_ts"),
        end.alias("end_ts"),
        F.col("_conversion").isNotNull().alias("converted"),
        F.col("_conversion.ts").alias("conversion_ts"),
        F.col("_conversion.touchpoint").alias("conversion_touchpoint"),
        F.coalesce(F.col("_conversion.revenue"), F.lit(0)).cast("decimal(18,2)").alias("revenue"),
        steps.cast(STEP_TYPE).alias("steps"),
    )
    return journeys.select(
        *JOURNEY_COLUMNS[:-2],
        F.transform("steps", lambda s: s["touchpoint"]).alias("touchpoints"),
        F.transform("steps", lambda s: s["channel"]).alias("channels"),
    )


def mark_open(journeys: DataFrame, data_end: datetime | None, dropoff_after_days: float
              ) -> DataFrame:
    """The journeys with `open`: not converted and ending less than `dropoff_after_days` before
    `data_end` (the timeline's last event), so they may still convert and are not drop-offs
    yet. Converted journeys are never open. journeys: converted, end_ts."""
    require_columns(journeys, ("converted", "end_ts"), "mark_open")
    if dropoff_after_days <= 0:
        raise ValueError(f"dropoff_after_days must be positive, got {dropoff_after_days}")
    if data_end is None:
        return journeys.withColumn("open", F.lit(False))
    horizon = F.lit(data_end - timedelta(days=dropoff_after_days))
    return journeys.withColumn("open", ~F.col("converted") & (F.col("end_ts") > horizon))


def attribution_paths(journeys: DataFrame) -> DataFrame:
    """The input of `journeylake.gold.attribution`: path_id, converted, revenue, conversion_ts,
    touches (ts, channel in time order)."""
    return journeys.select(
        F.col("journey_id").alias("path_id"),
        "converted",
        "revenue",
        "conversion_ts",
        F.transform("steps", lambda s: F.struct(s["ts"].alias("ts"),
                                               s["channel"].alias("channel"))).alias("touches"),
    )


def events_in_sessions(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """`events` (person_id, ts, ...) plus the `session_id` of the session each belongs to (a
    person's sessions never overlap, so there is at most one). sessions: session_id, person_id,
    start_ts, end_ts. Events outside every session (no person) are left out."""
    require_columns(events, ("person_id", "ts"), "events_in_sessions events")
    require_columns(sessions, ("session_id", "person_id", "start_ts", "end_ts"),
                    "events_in_sessions sessions")
    spans = sessions.select("session_id", F.col("person_id").alias("_person"),
                            F.col("start_ts").alias("_start"), F.col("end_ts").alias("_end"))
    inside = ((F.col("person_id") == F.col("_person")) & (F.col("ts") >= F.col("_start"))
              & (F.col("ts") <= F.col("_end")))
    return events.join(spans, inside).drop("_person", "_start", "_end")


def session_journeys(
    events: DataFrame, sessions: DataFrame, conversion_touchpoints: Sequence[str],
    collapse: bool = False,
) -> DataFrame:
    """JOURNEY_COLUMNS of visits: the scope in which a touchpoint acts on a purchase decision
    made in the same visit. A session without a conversion is one journey, its drop-off. A
    session with conversions gives a journey per conversion, ending at it (conversion_ts and
    revenue are the order's): the steps since the session's start or its previous conversion.
    What follows a session's last conversion (the confirmation page, browsing on) comes after
    the decision and is no journey.

    events: the timeline (person_id, ts, event_key, touchpoint, channel, revenue). sessions:
    session_id, person_id, start_ts, end_ts.
    """
    placed = events_in_sessions(events, sessions)
    moment = F.struct("ts", "event_key")
    last_conversion = F.max(F.when(F.col("touchpoint").isin(list(conversion_touchpoints)),
                                   moment)).over(Window.partitionBy("session_id"))
    until_decided = placed.withColumn("_last", last_conversion).where(
        F.col("_last").isNull() | (moment <= F.col("_last"))).drop("_last")
    # A visit lasts hours, not days: no lookback cut within it.
    return build_journeys(until_decided, conversion_touchpoints, lookback_days=36_500,
                          collapse=collapse, within="session_id")


# The touchpoint of a session's single marketing touch (see `session_touches`).
SESSION_TOUCH = "session"


def session_touches(sessions: DataFrame, conversion_touchpoint: str) -> DataFrame:
    """The sessions as a timeline for attribution (person_id, ts, event_key, touchpoint,
    channel, revenue): one touch per session (its entry channel at its start) and, for a
    converted session, its conversion at its end with its revenue. A channel brings a person to
    a session; the pages inside it are not marketing touches.

    sessions: session_id, person_id, start_ts, end_ts, entry_channel, converted, revenue.
    """
    require_columns(sessions, ("session_id", "person_id", "start_ts", "end_ts",
                               "entry_channel", "converted", "revenue"), "session_touches")
    touches = sessions.select(
        "person_id", F.col("start_ts").alias("ts"),
        F.concat(F.col("session_id"), F.lit("#0")).alias("event_key"),
        F.lit(SESSION_TOUCH).alias("touchpoint"), F.col("entry_channel").alias("channel"),
        F.lit(None).cast("decimal(18,2)").alias("revenue"),
    )
    conversions = sessions.where("converted").select(
        "person_id", F.col("end_ts").alias("ts"),
        F.concat(F.col("session_id"), F.lit("#1")).alias("event_key"),
        F.lit(conversion_touchpoint).alias("touchpoint"), F.col("entry_channel").alias("channel"),
        "revenue",
    )
    return touches.unionByName(conversions)


def orders_in_sessions(
    events: DataFrame, sessions: DataFrame, conversion_touchpoints: Sequence[str]
) -> DataFrame:
    """session_id, event_key, ts, revenue of every conversion event on a person, with the
    session it belongs to (a person's sessions never overlap, so there is one).

    events: person_id, event_key, ts, touchpoint, revenue. sessions: session_id, person_id,
    start_ts, end_ts.
    """
    require_columns(events, ("person_id", "event_key", "ts", "touchpoint", "revenue"),
                    "orders_in_sessions events")
    orders = events.where(F.col("person_id").isNotNull()
                          & F.col("touchpoint").isin(list(conversion_touchpoints)))
    return events_in_sessions(orders, sessions).select("session_id", "event_key", "ts",
                                                       "revenue")


def order_paths(channel_journeys: DataFrame, orders: DataFrame) -> DataFrame:
    """`attribution_paths` of journeys built from `session_touches`, with one converted path per
    order: the session that converts closes the journey, and each order placed in it is a
    conversion of that journey's touches, at its own time, with its own revenue (two orders in
    one visit are two conversions). path_id is the journey's id and the order's event key.

    channel_journeys: build_journeys output over session_touches. orders: orders_in_sessions
    output.
    """
    require_columns(orders, ("session_id", "event_key", "ts", "revenue"), "order_paths orders")
    paths = attribution_paths(channel_journeys)
    # The last touch of a converted journey is its converting session's ("<session_id>#0").
    closing = channel_journeys.where("converted").select(
        F.col("journey_id").alias("path_id"),
        F.regexp_extract(F.element_at("steps", -1)["event_key"], r"^(.*)#0$", 1)
        .alias("session_id"))
    per_order = paths.drop("revenue", "conversion_ts").join(closing, "path_id").join(
        orders, "session_id").select(
        F.concat_ws("#", "path_id", "event_key").alias("path_id"), F.lit(True).alias("converted"),
        F.col("revenue").cast("decimal(18,2)").alias("revenue"),
        F.col("ts").alias("conversion_ts"), "touches")
    return paths.where(~F.col("converted")).unionByName(per_order)
