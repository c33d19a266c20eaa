"""Build gold_kpis_daily from silver (sessions, the timeline) and gold_segments, then each
value's baseline (gold_kpi_baselines) and the alerts (gold_alerts).

The KPIs of every day are rebuilt from the whole timeline on each run (one Delta overwrite per
table): new-versus-returning buyers and lapsed persons depend on each person's whole history,
and a late delivery can change any past day.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.clock import utc_date, utc_now
from journeylake.core.config import AlertSettings, Config
from journeylake.core.faults import crash_point
from journeylake.core.job_runner import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.progress import step
from journeylake.core.spark_session import build_session
from journeylake.kpis import tables
from journeylake.kpis.alerts import (
    CRITICAL,
    AlertRules,
    detect_alerts,
    kpi_bands,
    monitored,
    with_journey_changes,
)
from journeylake.kpis.baselines import kpi_baselines
from journeylake.kpis.daily import daily_kpis
from journeylake.kpis.journey_change import journey_changes
from journeylake.models.tables import SEGMENTS
from journeylake.quality.checks import check_declarations, check_tables
from journeylake.silver.currency import in_reporting_currency
from journeylake.silver.tables import EVENTS, SESSIONS

log = logging.getLogger("journeylake.kpis")


@dataclass(frozen=True)
class KpiOutcome:
    run_id: str
    rows: int
    days: int
    segmented: bool
    alerts: int = 0
    critical: int = 0


def alert_rules(settings: AlertSettings) -> AlertRules:
    try:
        kpis = monitored(settings.kpis)
    except ValueError as error:
        raise JobError(f"kpis.alerts.kpis: {error}") from None
    return AlertRules(kpis=kpis, min_history_days=settings.min_history_days,
                      warning=settings.warning_deviations,
                      critical=settings.critical_deviations, min_expected=settings.min_expected,
                      min_denominator=settings.min_denominator,
                      min_relative_sd=settings.min_relative_sd, min_orders=settings.min_orders)


def build_kpis(spark: SparkSession, config: Config, run_id: str | None = None) -> KpiOutcome:
    run_id = run_id or uuid.uuid4().hex
    lakehouse.require_tables(spark, config, (EVENTS, SESSIONS), "kpis", "silver")
    written = (tables.KPIS_DAILY, tables.KPI_BASELINES, tables.ALERTS)
    check_declarations(config, written)
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
    built_at = utc_now()

    def stamped(frame: DataFrame) -> DataFrame:
        return frame.withColumn(tables.BUILT_AT, F.lit(built_at)).withColumn(
            tables.RUN_ID, F.lit(run_id))

    step(f"kpis: {tables.KPIS_DAILY.name}")
    lakehouse.overwrite_table(spark, config, tables.KPIS_DAILY, stamped(kpis))
    stored = lakehouse.read_table(spark, config, tables.KPIS_DAILY)
    counted = stored.agg(F.count(F.lit(1)).alias("rows"),
                         F.count_distinct("kpi_date").alias("days")).first()
    log.info("%s: %d rows over %d days", tables.KPIS_DAILY.name, counted.rows, counted.days)
    crash_point("kpis.after_daily")

    settings = config.kpis.alerts
    rules = alert_rules(settings)
    step(f"kpis: {tables.KPI_BASELINES.name}")
    # Kept for the alerts: the bands are small (series x days), and the rules need the band's
    # inputs the table does not store.
    bands = kpi_bands(kpi_baselines(stored, window_days=settings.window_days),
                      rules).localCheckpoint()
    kept = [name for name in tables.KPI_BASELINES.schema.fieldNames()
            if name not in (tables.BUILT_AT, tables.RUN_ID)]
    lakehouse.overwrite_table(spark, config, tables.KPI_BASELINES, stamped(bands.select(kept)))
    crash_point("kpis.after_baselines")
    found = detect_alerts(bands, rules)
    step(f"kpis: {tables.ALERTS.name}")
    changes = journey_changes(sessions, found.select("alert_date"),
                              window_days=settings.window_days, top=settings.journey_changes,
                              min_transitions=settings.journey_min_transitions)
    lakehouse.overwrite_table(spark, config, tables.ALERTS,
                              stamped(with_journey_changes(found, changes)))
    summary = lakehouse.read_table(spark, config, tables.ALERTS).agg(
        F.count(F.lit(1)).alias("alerts"),
        F.count_if(F.col("severity") == CRITICAL).alias("critical")).first()
    log.info("%s: %d alerts (%d critical)", tables.ALERTS.name, summary.alerts, summary.critical)
    step("kpis: quality")
    check_tables(spark, config, "kpis", run_id, written)
    return KpiOutcome(run_id, counted.rows, counted.days, segmented, summary.alerts,
                      summary.critical)


def describe_kpis(outcome: KpiOutcome) -> str:
    segments = "" if outcome.segmented else " (no segments yet: all unassigned)"
    return (f"kpis run {outcome.run_id}: {tables.KPIS_DAILY.name} {outcome.rows:,} rows over "
            f"{outcome.days} days{segments}; {tables.ALERTS.name} {outcome.alerts} alerts "
            f"({outcome.critical} critical)")


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("kpis", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    print(describe_kpis(build_kpis(build_session(config), config)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("kpis", main))
