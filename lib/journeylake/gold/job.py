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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.core.faults import crash_point
from journeylake.core.job_runner import (
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.progress import step
from journeylake.core.spark_session import build_session
from journeylake.core.table_spec import TableSpec
from journeylake.gold import tables
from journeylake.gold.attribution import attribution
from journeylake.gold.cohorts import retention_by_periods
from journeylake.gold.funnels import funnel_reports
from journeylake.gold.journeys import (
    build_journeys,
    mark_open,
    order_paths,
    orders_in_sessions,
    session_journeys,
    session_touches,
)
from journeylake.gold.profiles import person_profile
from journeylake.gold.social_influence import person_influence, social_edges
from journeylake.gold.touchpoint_graph import (
    motifs_of_lengths,
    top_paths,
    touchpoint_significance,
    transition_edges,
)
from journeylake.quality.checks import check_declarations, check_tables
from journeylake.silver.currency import in_reporting_currency
from journeylake.silver.tables import EVENTS, IDENTITY_MAP, SESSIONS

log = logging.getLogger("journeylake.gold")

@dataclass(frozen=True)
class GoldOutcome:
    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def build_gold(spark: SparkSession, config: Config, run_id: str | None = None) -> GoldOutcome:
    run_id = run_id or uuid.uuid4().hex
    lakehouse.require_tables(spark, config, (EVENTS, SESSIONS, IDENTITY_MAP), "gold", "silver")
    check_declarations(config, tables.TABLES)
    gold, silver = config.gold, config.silver
    # Amounts in the reporting currency, so that every sum adds like with like.
    events = in_reporting_currency(lakehouse.read_table(spark, config, EVENTS),
                                   silver.currency.reporting).where(F.col("person_id").isNotNull())
    sessions = lakehouse.read_table(spark, config, SESSIONS)
    identity_map = lakehouse.read_table(spark, config, IDENTITY_MAP)
    outcome = GoldOutcome(run_id)
    clock = time.perf_counter()

    def write(table: TableSpec, frame: DataFrame) -> None:
        nonlocal clock
        step(f"gold: {table.name}")
        stamped = frame.withColumn(tables.BUILT_AT, F.lit(utc_now())).withColumn(
            tables.RUN_ID, F.lit(run_id))
        lakehouse.overwrite_table(spark, config, table, stamped)
        outcome.rows[table.name] = lakehouse.read_table(spark, config, table).count()
        now = time.perf_counter()
        outcome.seconds[table.name] = round(now - clock, 2)
        clock = now
        log.info("%s: %d rows", table.name, outcome.rows[table.name])

    data_end = events.agg(F.max("ts")).first()[0]
    journeys = mark_open(build_journeys(events, silver.conversion_touchpoints, gold.lookback_days,
                                        gold.collapse_repeats),
                         data_end, gold.dropoff_after_days).localCheckpoint()
    write(tables.JOURNEYS, journeys.withColumn("start_date", F.to_date("start_ts")))
    crash_point("gold.after_journeys")
    if gold.graph_scope == "session":
        walks = session_journeys(events, sessions, silver.conversion_touchpoints,
                                 gold.collapse_repeats).localCheckpoint()
    else:
        walks = journeys.where(~F.col("open")).drop("open")
    scope = F.lit(gold.graph_scope).alias("scope")
    write(tables.JOURNEY_EDGES, transition_edges(walks).select(scope, "*"))
    write(tables.TOUCHPOINT_SIGNIFICANCE, touchpoint_significance(
        walks, gold.odds_ratio_prior, gold.odds_ratio_min_support,
        gold.outcome_stage_touchpoints).select(scope, "*"))
    write(tables.JOURNEY_MOTIFS, motifs_of_lengths(walks).select(scope, "*"))
    write(tables.TOP_PATHS, top_paths(walks, gold.top_paths).select(scope, "*"))
    funnels = funnel_reports(events, gold.funnels, gold.funnel_breakdowns)
    if funnels is not None:
        write(tables.FUNNELS, funnels)
    write(tables.COHORT_RETENTION, retention_by_periods(events, gold.cohort_periods))
    conversion = silver.conversion_touchpoints[0]
    channel_journeys = mark_open(
        build_journeys(session_touches(sessions, conversion), (conversion,), gold.lookback_days,
                       collapse=False), data_end, gold.dropoff_after_days,
    ).where(~F.col("open")).drop("open").localCheckpoint()
    orders = orders_in_sessions(events, sessions, silver.conversion_touchpoints)
    write(tables.ATTRIBUTION, attribution(order_paths(channel_journeys, orders),
                                          gold.time_decay_half_life_days, gold.markov_orders))
    crash_point("gold.after_attribution")
    edges = social_edges(events.where(F.col("source") == "social"), identity_map)
    influence = person_influence(edges, gold.social).localCheckpoint()
    write(tables.PERSON_INFLUENCE, influence)
    write(tables.PERSON_PROFILE, person_profile(events, sessions, influence,
                                                silver.conversion_touchpoints))
    step("gold: quality")
    check_tables(spark, config, "gold", run_id,
                 [table for table in tables.TABLES if table.name in outcome.rows])
    return outcome


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
