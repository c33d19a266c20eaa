"""The person profile: one row per person with what the journey says about them, the input the
segmentation and propensity models start from."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns

PROFILE_COLUMNS = (
    "person_id", "first_seen_at", "last_seen_at", "events", "sessions", "converted_sessions",
    "conversions", "revenue", "channels", "top_channel", "store_visits", "social_actions",
    "influence", "influence_rank", "community", "followers",
)


def person_profile(
    events: DataFrame,
    sessions: DataFrame,
    influence: DataFrame,
    conversion_touchpoints: Sequence[str],
) -> DataFrame:
    """PROFILE_COLUMNS. events: person_id, ts, channel, touchpoint, source, revenue. sessions:
    person_id, session_id, converted, entry_channel. influence: person_influence output (a person
    absent from the social graph gets influence 0 and no community)."""
    require_columns(events, ("person_id", "ts", "channel", "touchpoint", "source", "revenue"),
                    "person_profile events")
    require_columns(sessions, ("person_id", "session_id", "converted", "entry_channel"),
                    "person_profile sessions")
    require_columns(influence, ("person_id", "influence", "influence_rank", "community",
                                "followers"), "person_profile influence")
    is_conversion = F.col("touchpoint").isin(list(conversion_touchpoints))
    from_events = events.groupBy("person_id").agg(
        F.min("ts").alias("first_seen_at"),
        F.max("ts").alias("last_seen_at"),
        F.count(F.lit(1)).alias("events"),
        F.count_if(is_conversion).alias("conversions"),
        F.coalesce(F.sum(F.when(is_conversion, F.col("revenue"))),
                   F.lit(0)).cast("decimal(18,2)").alias("revenue"),
        F.count_if(F.col("touchpoint") == "store_visit").alias("store_visits"),
        F.count_if(F.col("source") == "social").alias("social_actions"),
    )
    per_channel = sessions.groupBy("person_id", "entry_channel").agg(
        F.count(F.lit(1)).alias("n"))
    from_sessions = per_channel.groupBy("person_id").agg(
        F.sum("n").alias("sessions"),
        F.array_sort(F.collect_list("entry_channel")).alias("channels"),
        # Most sessions first, then the channel's name: the same answer on every run.
        F.min_by("entry_channel", F.struct(-F.col("n"), F.col("entry_channel"))).alias(
            "top_channel"),
    ).join(
        sessions.groupBy("person_id").agg(F.count_if("converted").alias("converted_sessions")),
        "person_id",
    )
    joined = from_events.join(from_sessions, "person_id", "left").join(
        influence.select("person_id", "influence", "influence_rank", "community", "followers"),
        "person_id", "left")
    return joined.select(
        "person_id", "first_seen_at", "last_seen_at", "events",
        F.coalesce("sessions", F.lit(0)).cast("long").alias("sessions"),
        F.coalesce("converted_sessions", F.lit(0)).cast("long").alias("converted_sessions"),
        "conversions", "revenue",
        F.coalesce("channels", F.array().cast("array<string>")).alias("channels"),
        "top_channel", "store_visits", "social_actions",
        F.coalesce("influence", F.lit(0.0)).alias("influence"),
        "influence_rank", "community",
        F.coalesce("followers", F.lit(0)).cast("long").alias("followers"),
    )
