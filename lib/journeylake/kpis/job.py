"""Build gold_kpis_daily from silver (sessions, the timeline) and gold_segments.

The KPIs of every day are rebuilt from the whole timeline on each run (one Delta overwrite):
new-versus-returning buyers and lapsed persons depend on each person's whole history, and a
late delivery can change any past day.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.clock import utc_date, utc_now
from journeylake.core.config import Config
from journeylake.core.job_runner import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session
from journeylake.kpis import tables
from journeylake.kpis.daily import daily_kpis
from journeylake.models.tables import SEGMENTS
from journeylake.silver.currency import in_reporting_currency
from journeylake.silver.tables import EVENTS, SESSIONS

log = logging.getLogger("journeylake.kpis")


@dataclass(frozen=True)
class KpiOutcome:
    run_id: str
    rows: int
    days: int
    segmented: bool


def build_kpis(spark: SparkSession, config: Config, run_id: str | None = None) -> KpiOutcome:
    run_id = run_id or uuid.uuid4().hex
    lakehouse.require_tables(spark, config, (EVENTS, SESSIONS), "kpis", "silver")
    events = in_reporting_currency(lakehouse.read_table(spark, config, EVENTS),
                                   config.silver.currency.reporting)
    sessions = lakehouse.read_table(spark, config, SESSIONS)
    segmented = lakehouse.table_exists(spark, config, SEGMENTS)
    segments = (lakehouse.read_table(spark, config, SEGMENTS) if segmented else
                spark.createDataFrame([], "person_id string, segment_label string"))
    if not segmented:
        log.warning("no %s yet (`journeylake train` builds it): every person's segment is "
                    "unassigned", SEGMENTS.name)
    data_end = events.agg(F.max(utc_date("ts"))).first()[0]
    if data_end is None:
        raise JobError("kpis: silver_events has no event")
    kpis = daily_kpis(sessions, events, segments,
                      conversion_touchpoints=config.silver.conversion_touchpoints,
                      churn_days=config.kpis.churn_days, data_end=data_end)
    stamped = kpis.withColumn(tables.BUILT_AT, F.lit(utc_now())).withColumn(
        tables.RUN_ID, F.lit(run_id))
    lakehouse.overwrite_table(spark, config, tables.KPIS_DAILY, stamped)
    stored = lakehouse.read_table(spark, config, tables.KPIS_DAILY).agg(
        F.count(F.lit(1)).alias("rows"), F.count_distinct("kpi_date").alias("days")).first()
    log.info("%s: %d rows over %d days", tables.KPIS_DAILY.name, stored.rows, stored.days)
    return KpiOutcome(run_id, stored.rows, stored.days, segmented)


def describe_kpis(outcome: KpiOutcome) -> str:
    segments = "" if outcome.segmented else " (no segments yet: all unassigned)"
    return (f"kpis run {outcome.run_id}: {tables.KPIS_DAILY.name} {outcome.rows:,} rows over "
            f"{outcome.days} days{segments}")


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("kpis", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    print(describe_kpis(build_kpis(build_session(config), config)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("kpis", main))
