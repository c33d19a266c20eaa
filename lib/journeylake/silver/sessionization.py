"""Sessions: a person's touchpoints split wherever they were inactive for longer than the gap.

A gap of exactly the configured length continues the session; a longer one starts a new session.
`rebuild_window` tells which stored sessions new events can touch, so an incremental run
re-sessionises only from there and the result equals a rebuild from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.clock import epoch_seconds
from journeylake.core.columns import require_columns
from journeylake.silver.tables import SESSIONS

# The columns of silver_sessions, in its order.
SESSION_COLUMNS = SESSIONS.columns


def sessionize(
    events: DataFrame, gap_minutes: float, conversion_touchpoints: Sequence[str]
) -> DataFrame:
    """SESSION_COLUMNS from events (event_key, person_id, ts, touchpoint, channel, revenue).

    Events are ordered by (ts, event_key), so ties are broken the same way on every run.
    touchpoints and channels are the session's sequences in that order; revenue sums the
    conversion touchpoints' revenue.
    """
    require_columns(events, ("event_key", "person_id", "ts", "touchpoint", "channel", "revenue"),
                    "sessionize")
    if gap_minutes <= 0:
        raise ValueError(f"gap_minutes must be positive, got {gap_minutes}")
    order = Window.partitionBy("person_id").orderBy("ts", "event_key")
    previous = F.lag(epoch_seconds("ts")).over(order)
    starts = events.where(F.col("person_id").isNotNull()).withColumn(
        "_starts",
        F.when(previous.isNull() | (epoch_seconds("ts") - previous > gap_minutes * 60), 1)
        .otherwise(0),
    )
    numbered = starts.withColumn(
        "_session", F.sum("_starts").over(order.rowsBetween(Window.unboundedPreceding, 0))
    )
    is_conversion = F.col("touchpoint").isin(list(conversion_touchpoints))
    steps = F.array_sort(F.collect_list(F.struct("ts", "event_key", "touchpoint", "channel")))
    grouped = numbered.groupBy("person_id", "_session").agg(
        F.min("ts").alias("start_ts"),
        F.max("ts").alias("end_ts"),
        F.count(F.lit(1)).alias("events"),
        steps.alias("_steps"),
        F.count_if(is_conversion).alias("conversions"),
        F.coalesce(F.sum(F.when(is_conversion, F.col("revenue"))),
                   F.lit(0).cast("decimal(18,2)")).cast("decimal(18,2)").alias("revenue"),
    )
    return grouped.select(
        F.concat(
            F.lit("s_"),
            F.substring(F.sha2(F.concat_ws("|", "person_id", F.date_format(
                "start_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")), 256), 1, 24),
        ).alias("session_id"),
        "person_id",
        "start_ts",
        "end_ts",
        (epoch_seconds("end_ts") - epoch_seconds("start_ts")).cast("double")
        .alias("duration_seconds"),
        "events",
        F.col("_steps")[0]["touchpoint"].alias("entry_touchpoint"),
        F.element_at("_steps", -1)["touchpoint"].alias("exit_touchpoint"),
        F.col("_steps")[0]["channel"].alias("entry_channel"),
        F.transform("_steps", lambda step: step["touchpoint"]).alias("touchpoints"),
        F.transform("_steps", lambda step: step["channel"]).alias("channels"),
        (F.col("conversions") > 0).alias("converted"),
        "conversions",
        "revenue",
        F.to_date("start_ts").alias("session_date"),
    )


def rebuild_window(
    new_events: DataFrame, sessions: DataFrame, gap_minutes: float
) -> DataFrame:
    """person_id, rebuild_from: per person with new events, the time from which its sessions
    must be rebuilt. Only sessions ending at or after (earliest new event - gap) can absorb or be
    bridged by the new events; earlier ones stay as they are. A person whose events must all be
    re-read (a changed identity) comes with a NULL `ts` among new_events: rebuilt from the start.

    new_events: person_id, ts. sessions: person_id, start_ts, end_ts (the stored ones).
    """
    earliest = new_events.groupBy("person_id").agg(
        F.when(F.count_if(F.col("ts").isNull()) > 0, F.lit(None))
        .otherwise(F.min("ts")).alias("cutoff"),
    )
    joined = earliest.join(
        sessions.select("person_id", "start_ts", "end_ts"), "person_id", "left"
    )
    reachable = epoch_seconds("end_ts") >= epoch_seconds("cutoff") - gap_minutes * 60
    return joined.groupBy("person_id").agg(
        F.when(F.count_if(F.col("cutoff").isNull()) > 0, F.lit(None).cast("timestamp"))
        .otherwise(F.least(F.min("cutoff"), F.min(F.when(reachable, F.col("start_ts")))))
        .alias("rebuild_from")
    )


def untouched_sessions(stored: DataFrame, window: DataFrame) -> DataFrame:
    """The stored sessions a rebuild keeps: of persons outside `window`, or starting before
    their person's rebuild_from. window: person_id, rebuild_from (NULL = everything)."""
    marked = window.select("person_id", "rebuild_from", F.lit(True).alias("_rebuilt"))
    return (
        stored.join(marked, "person_id", "left")
        .where("_rebuilt IS NULL OR (rebuild_from IS NOT NULL AND start_ts < rebuild_from)")
        .select(*stored.columns)
    )


def sessions_to_rebuild(stored: DataFrame, window: DataFrame) -> DataFrame:
    """The stored sessions a rebuild replaces: the complement of `untouched_sessions`, of a
    person in `window` and starting at or after its rebuild_from (NULL = all of them)."""
    return (
        stored.join(window.select("person_id", "rebuild_from"), "person_id")
        .where("rebuild_from IS NULL OR start_ts >= rebuild_from")
        .select(*stored.columns)
    )


def events_to_resessionize(events: DataFrame, window: DataFrame) -> DataFrame:
    """The events of the persons in `window` from their rebuild_from on."""
    return (
        events.join(window.select("person_id", "rebuild_from"), "person_id")
        .where("rebuild_from IS NULL OR ts >= rebuild_from")
        .select(*events.columns)
    )


def whole_rebuilds(moved: DataFrame) -> DataFrame:
    """person_id, ts (NULL): the persons an identity change moved events from (old_person_id)
    or to (person_id), in the shape `rebuild_window` reads as "rebuild everything"."""
    everything = F.lit(None).cast("timestamp").alias("ts")
    return moved.select(F.col("old_person_id").alias("person_id"), everything).unionByName(
        moved.select("person_id", everything))
