"""Build gold from silver: journeys, the journey graph and touchpoint significance, motifs and
top paths, funnels, cohort retention, multi-touch attribution and social influence.

Gold tables are aggregates over the whole timeline and are rebuilt whole on every run (Delta
overwrite: one new version per table, the previous ones kept for time travel), so a re-run on
the same silver gives the same tables.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake import lakehouse
from journeylake.attribution import attribution, markov_removal_effects, transition_counts
from journeylake.cohorts import retention_matrix
from journeylake.config import Config
from journeylake.funnels import FunnelSpec, funnel_progress, funnel_report
from journeylake.jobs.common import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.journey_graph import (
    dropoff_rates,
    motifs_before_outcome,
    odds_ratios,
    top_paths,
    touchpoint_pagerank,
    transition_edges,
)
from journeylake.journeys import attribution_paths, build_journeys, session_journeys
from journeylake.profiles import person_profile
from journeylake.schemas import EVENTS_TABLE, IDENTITY_MAP_TABLE, SESSIONS_TABLE
from journeylake.session import build_session
from journeylake.social_graph import person_influence, social_edges

log = logging.getLogger("journeylake.gold")

GOLD_TABLES = (
    "gold_journeys", "gold_journey_edges", "gold_touchpoint_significance", "gold_journey_motifs",
    "gold_top_paths", "gold_funnels", "gold_cohort_retention", "gold_attribution",
    "gold_person_influence", "gold_person_profile",
)
SESSION_TOUCH = "session"


@dataclass(frozen=True)
class GoldOutcome:
    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def session_timeline(sessions: DataFrame, conversion_touchpoint: str) -> DataFrame:
    """The sessions as a timeline for attribution: one touch per session (its entry channel at
    its start) and, for a converted session, its conversion at its end with its revenue. A
    channel brings a person to a session; the pages inside it are not marketing touches."""
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


def touchpoint_significance(journeys: DataFrame, config: Config) -> DataFrame:
    """touchpoint, pagerank, removal_effect, dropoff_rate, odds_ratio, log_odds_ratio,
    journeys_with, converted_with, supported, outcome_stage: one row per touchpoint."""
    gold = config.gold
    edges = transition_edges(journeys)
    # Removal effect: the Markov chain of touchpoints (order 1), solved exactly on the driver;
    # its state space is the taxonomy, not the events.
    as_paths = attribution_paths(journeys.withColumn(
        "steps", F.transform("steps", lambda s: s.withField("channel", s["touchpoint"]))))
    effects = markov_removal_effects(
        [tuple(row) for row in transition_counts(as_paths, 1).collect()], 1).removal_effects
    spark = journeys.sparkSession
    removal = spark.createDataFrame(sorted(effects.items()),
                                    "touchpoint string, removal_effect double")
    ranks = touchpoint_pagerank(edges)
    odds = odds_ratios(journeys, gold.odds_ratio_prior, gold.odds_ratio_min_support)
    touchpoints = odds.select("touchpoint").union(removal.select("touchpoint")).distinct()
    return (
        touchpoints.join(ranks, "touchpoint", "left")
        .join(removal, "touchpoint", "left")
        .join(dropoff_rates(edges), "touchpoint", "left")
        .join(odds, "touchpoint", "left")
        .select(
            "touchpoint", "pagerank",
            F.coalesce("removal_effect", F.lit(0.0)).alias("removal_effect"),
            "dropoff_rate", "odds_ratio", "log_odds_ratio", "journeys_with", "converted_with",
            "supported",
            F.col("touchpoint").isin(list(gold.outcome_stage_touchpoints)).alias(
                "outcome_stage"),
        )
    )


def funnels(events: DataFrame, config: Config) -> DataFrame | None:
    reports = []
    for funnel in config.gold.funnels:
        spec = FunnelSpec(funnel.name, funnel.steps, funnel.window_hours, funnel.order)
        progress = funnel_progress(events, spec).localCheckpoint()
        reports.append(funnel_report(progress, spec))
        for column in config.gold.funnel_breakdowns:
            reports.append(funnel_report(progress, spec, by=column))
    return reduce(DataFrame.unionByName, reports) if reports else None


def cohorts(events: DataFrame, config: Config) -> DataFrame:
    return reduce(DataFrame.unionByName,
                  [retention_matrix(events, period) for period in config.gold.cohort_periods])


def build_gold(spark: SparkSession, config: Config, run_id: str | None = None) -> GoldOutcome:
    run_id = run_id or uuid.uuid4().hex
    for table in (EVENTS_TABLE, SESSIONS_TABLE, IDENTITY_MAP_TABLE):
        if not lakehouse.table_exists(spark, config, table):
            raise JobError(f"gold reads {table}, which does not exist yet: run "
                           "`journeylake silver` first")
    gold, silver = config.gold, config.silver
    events = lakehouse.read_table(spark, config, EVENTS_TABLE).where(
        F.col("person_id").isNotNull())
    sessions = lakehouse.read_table(spark, config, SESSIONS_TABLE)
    identity_map = lakehouse.read_table(spark, config, IDENTITY_MAP_TABLE)
    outcome = GoldOutcome(run_id)
    clock = time.perf_counter()

    def write(table: str, frame: DataFrame, partition_by: Sequence[str] = ()) -> None:
        nonlocal clock
        stamped = frame.withColumn("_built_at", F.lit(_now())).withColumn("_run_id",
                                                                           F.lit(run_id))
        lakehouse.overwrite_table(spark, config, table, stamped, partition_by)
        outcome.rows[table] = lakehouse.read_table(spark, config, table).count()
        now = time.perf_counter()
        outcome.seconds[table] = round(now - clock, 2)
        clock = now
        log.info("%s: %d rows", table, outcome.rows[table])

    journeys = build_journeys(events, silver.conversion_touchpoints, gold.lookback_days,
                              gold.collapse_repeats).localCheckpoint()
    write("gold_journeys", journeys.withColumn("start_date", F.to_date("start_ts")),
          ("start_date",))
    if gold.graph_scope == "session":
        walks = session_journeys(sessions, silver.conversion_touchpoints,
                                 gold.collapse_repeats).localCheckpoint()
    else:
        walks = journeys
    scope = F.lit(gold.graph_scope).alias("scope")
    write("gold_journey_edges", transition_edges(walks).select(scope, "*"))
    write("gold_touchpoint_significance", touchpoint_significance(walks, config).select(
        scope, "*"))
    motifs = motifs_before_outcome(walks, 2).withColumn("length", F.lit(2)).unionByName(
        motifs_before_outcome(walks, 3).withColumn("length", F.lit(3)))
    write("gold_journey_motifs", motifs.select(scope, "*"))
    write("gold_top_paths", top_paths(walks, gold.top_paths).select(scope, "*"))
    funnel_report_frame = funnels(events, config)
    if funnel_report_frame is not None:
        write("gold_funnels", funnel_report_frame)
    write("gold_cohort_retention", cohorts(events, config))
    conversion = silver.conversion_touchpoints[0]
    channel_journeys = build_journeys(session_timeline(sessions, conversion), (conversion,),
                                      gold.lookback_days, collapse=False).localCheckpoint()
    write("gold_attribution", attribution(attribution_paths(channel_journeys),
                                          gold.time_decay_half_life_days, gold.markov_orders))
    edges = social_edges(events.where(F.col("source") == "social"), identity_map)
    influence = person_influence(edges, gold.social).localCheckpoint()
    write("gold_person_influence", influence)
    write("gold_person_profile", person_profile(events, sessions, influence,
                                                silver.conversion_touchpoints))
    return outcome


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("gold", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    spark = build_session(config)
    outcome = build_gold(spark, config)
    for table, rows in outcome.rows.items():
        print(f"{table:<32} {rows:>10,} rows  {outcome.seconds[table]:>7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("gold", main))
