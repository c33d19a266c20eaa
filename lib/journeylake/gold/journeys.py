"""Journeys: a person's touchpoints up to a conversion, or up to where they stopped (drop-off).

A conversion closes a journey; the touchpoints after it open the next one. A journey without a
conversion ends in drop-off. Only touchpoints within `lookback_days` before the journey's end
count, the window attribution models credit. Steps are ordered by (ts, event_key), so the same
events always give the same journeys.
"""

from __future__ import annotations

from collections.abc import Sequence

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
) -> DataFrame:
    """JOURNEY_COLUMNS from the timeline (person_id, ts, event_key, touchpoint, channel,
    revenue).

    steps: the touchpoints before the outcome (the conversion itself is not a step), in time
    order, within lookback_days before the conversion (or before the last step of a journey that
    did not convert); with `collapse`, consecutive repeats of a touchpoint count once.
    touchpoints and channels are the steps' sequences. journey_id is stable: a hash of the
    person and the journey's first event.
    """
    require_columns(events, ("person_id", "ts", "event_key", "touchpoint", "channel", "revenue"),
             "build_journeys")
    if lookback_days <= 0:
        raise ValueError(f"lookback_days must be positive, got {lookback_days}")
    is_conversion = F.col("touchpoint").isin(list(conversion_touchpoints))
    order = Window.partitionBy("person_id").orderBy("ts", "event_key")
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
    grouped = numbered.groupBy("person_id", "_journey").agg(
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


def session_journeys(
    sessions: DataFrame, conversion_touchpoints: Sequence[str], collapse: bool = False
) -> DataFrame:
    """JOURNEY_COLUMNS with one journey per session (silver_sessions): its touchpoints other
    than the conversions, converted when the session converted. The scope in which a touchpoint
    acts on a purchase decision made in the same visit; steps carry no ts (the session's
    sequences have none), the order is the session's.
    """
    require_columns(sessions, ("session_id", "person_id", "start_ts", "end_ts", "touchpoints",
                        "channels", "converted", "revenue"), "session_journeys")
    conversions = F.array(*[F.lit(t) for t in conversion_touchpoints])
    zipped = F.transform(
        F.arrays_zip(F.col("touchpoints").alias("touchpoint"), F.col("channels").alias("channel")),
        lambda s: F.struct(F.lit(None).cast("timestamp").alias("ts"),
                           F.lit(None).cast("string").alias("event_key"),
                           s["touchpoint"].alias("touchpoint"), s["channel"].alias("channel")),
    )
    steps = F.filter(zipped, lambda s: ~F.array_contains(conversions, s["touchpoint"]))
    steps = collapse_repeats(steps) if collapse else steps
    first_conversion = F.filter("touchpoints", lambda t: F.array_contains(conversions, t))[0]
    journeys = sessions.select(
        F.concat(F.lit("j_"), F.col("session_id")).alias("journey_id"),
        "person_id", "start_ts", "end_ts", "converted",
        F.when(F.col("converted"), F.col("end_ts")).alias("conversion_ts"),
        F.when(F.col("converted"), first_conversion).alias("conversion_touchpoint"),
        F.col("revenue").cast("decimal(18,2)").alias("revenue"),
        steps.cast(STEP_TYPE).alias("steps"),
    )
    return journeys.select(
        *JOURNEY_COLUMNS[:-2],
        F.transform("steps", lambda s: s["touchpoint"]).alias("touchpoints"),
        F.transform("steps", lambda s: s["channel"]).alias("channels"),
    )


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
