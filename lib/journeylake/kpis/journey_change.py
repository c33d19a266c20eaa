"""The journey change behind an alert: the day's touchpoint transition graph against its
baseline's (the sessions of the days before it), and the edges whose probability moved most.

A broken checkout shows as checkout_start -> purchase falling and checkout_start -> (dropoff)
rising; a campaign as (start) -> its entry touchpoint rising. The graphs are those of
`gold.touchpoint_graph.transition_edges` (start, the touchpoints, then the outcome), one per
alert day; sessions are read only for the alert days and their windows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.gold.touchpoint_graph import transition_edges

CHANGE_TYPE = ("array<struct<from_touchpoint: string, to_touchpoint: string, "
               "baseline_probability: double, day_probability: double, change: double>>")


def journey_changes(sessions: DataFrame, days: DataFrame, *, window_days: int, top: int,
                    min_transitions: int) -> DataFrame:
    """alert_date, journey_changes (CHANGE_TYPE, largest |change| first): per day of `days`
    (alert_date), the `top` edges whose probability moved most from the `window_days` before
    it, among touchpoints left at least `min_transitions` times on both sides.

    sessions: silver_sessions (session_id, session_date, converted, touchpoints)."""
    require_columns(sessions, ("session_id", "session_date", "converted", "touchpoints"),
                    "journey_changes sessions")
    require_columns(days, ("alert_date",), "journey_changes days")
    dates = F.broadcast(days.select("alert_date").distinct())
    journeys = sessions.select(F.col("session_id").alias("journey_id"), "session_date",
                               F.coalesce("converted", F.lit(False)).alias("converted"),
                               "touchpoints")
    on_day = journeys.join(dates, F.col("session_date") == F.col("alert_date"))
    before = journeys.join(dates, F.col("session_date").between(
        F.date_sub("alert_date", window_days), F.date_sub("alert_date", 1)))

    def graph(frame: DataFrame, side: str) -> DataFrame:
        edges = transition_edges(frame.drop("session_date"), keys=("alert_date",))
        leaving = F.sum("transitions").over(Window.partitionBy("alert_date", "src"))
        return edges.select("alert_date", "src", "dst",
                            F.col("probability").alias(f"{side}_probability"),
                            leaving.alias(f"{side}_leaving"))

    day, baseline = graph(on_day, "day"), graph(before, "baseline")
    # An edge seen on one side only has probability 0 on the other; the support of its source
    # comes from the source's other edges.
    source_support = Window.partitionBy("alert_date", "src")
    both = day.join(baseline, ["alert_date", "src", "dst"], "full").select(
        "alert_date", "src", "dst",
        F.coalesce("day_probability", F.lit(0.0)).alias("day_probability"),
        F.coalesce("baseline_probability", F.lit(0.0)).alias("baseline_probability"),
        F.max("day_leaving").over(source_support).alias("day_leaving"),
        F.max("baseline_leaving").over(source_support).alias("baseline_leaving"))
    supported = both.where((F.col("day_leaving") >= min_transitions)
                           & (F.col("baseline_leaving") >= min_transitions))
    change = F.col("day_probability") - F.col("baseline_probability")
    ranked = supported.select(
        "*", change.alias("change"),
        F.row_number().over(Window.partitionBy("alert_date").orderBy(
            F.abs(change).desc(), "src", "dst")).alias("_rank")).where(F.col("_rank") <= top)
    entry = F.struct(F.col("_rank"), F.col("src").alias("from_touchpoint"),
                     F.col("dst").alias("to_touchpoint"), "baseline_probability",
                     "day_probability", "change")
    listed = ranked.groupBy("alert_date").agg(F.array_sort(F.collect_list(entry)).alias("_l"))
    return listed.select("alert_date", F.transform("_l", lambda e: e.dropFields("_rank")).cast(
        CHANGE_TYPE).alias("journey_changes"))
