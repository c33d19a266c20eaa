"""Spark side of the dashboard: each function turns a gold table into the few rows one chart
draws, so that what reaches the driver is bounded by the settings (days, KPIs, bins, deciles,
top N), never by the number of persons or events.

Every function is DataFrame -> DataFrame; the figure builders (`figures.py`) collect the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns

OVERALL = "all"  # the breakdown (and breakdown value) of a KPI over every row
KPI_SERIES_COLUMNS = ("kpi_date", "kpi", "value", "expected", "lower", "upper")
ALERT_COLUMNS = ("alert_date", "kpi", "breakdown", "breakdown_value", "observed", "expected",
                 "lower", "upper", "direction", "severity", "deviation", "moved_breakdown",
                 "moved_breakdown_value", "moved_change", "journey_changes")
DECILES = 10


def _last_days(frame: DataFrame, date_column: str, days: int) -> DataFrame:
    """The rows of the `days` days up to the latest date in the frame."""
    last = frame.agg(F.max(date_column).alias("_last"))
    return frame.crossJoin(F.broadcast(last)).where(
        F.col(date_column) > F.date_sub("_last", days)).drop("_last")


def kpi_series(baselines: DataFrame, kpis: Sequence[str], days: int) -> DataFrame:
    """KPI_SERIES_COLUMNS of the overall breakdown for `kpis`, the last `days` days.

    baselines: gold_kpi_baselines (kpi_date, breakdown, breakdown_value, kpi, value, expected,
    lower, upper), or gold_kpis_daily (no band: expected, lower and upper come back NULL).
    """
    require_columns(baselines, ("kpi_date", "breakdown", "breakdown_value", "kpi", "value"),
                    "kpi_series")
    band = [F.col(c) if c in baselines.columns else F.lit(None).cast("double").alias(c)
            for c in ("expected", "lower", "upper")]
    overall = baselines.where((F.col("breakdown") == OVERALL) & F.col("kpi").isin(list(kpis)))
    return _last_days(overall, "kpi_date", days).select("kpi_date", "kpi", "value", *band)


def alerts_on_series(alerts: DataFrame, kpis: Sequence[str], days: int) -> DataFrame:
    """ALERT_COLUMNS of the alerts on the overall series of `kpis` in the last `days` days
    before the latest alert (the markers of the KPI trends)."""
    require_columns(alerts, ALERT_COLUMNS, "alerts_on_series")
    overall = alerts.where((F.col("breakdown") == OVERALL) & F.col("kpi").isin(list(kpis)))
    return _last_days(overall, "alert_date", days).select(*ALERT_COLUMNS)


def latest_alerts(alerts: DataFrame, limit: int) -> DataFrame:
    """ALERT_COLUMNS of the `limit` latest alerts of any breakdown: newest day first, then
    critical before warning, then the largest deviation."""
    require_columns(alerts, ALERT_COLUMNS, "latest_alerts")
    critical_first = F.when(F.col("severity") == "critical", 0).otherwise(1)
    return alerts.select(*ALERT_COLUMNS).orderBy(
        F.desc("alert_date"), critical_first, F.desc(F.abs("deviation")), "kpi", "breakdown",
        "breakdown_value").limit(limit)


def top_paths(paths: DataFrame, limit: int) -> DataFrame:
    """outcome, rank, path, journeys: the `limit` most common paths of each outcome
    (gold_top_paths is ranked per outcome already)."""
    require_columns(paths, ("outcome", "rank", "path", "journeys"), "top_paths")
    return paths.where(F.col("rank") <= limit).select("outcome", "rank", "path", "journeys")


def busiest_edges(edges: DataFrame, limit: int) -> DataFrame:
    """src, dst, transitions, probability, conversion_rate: the `limit` most travelled edges
    of the touchpoint graph (ties by name, so the same edges on every build)."""
    require_columns(edges, ("src", "dst", "transitions", "probability", "conversion_rate"),
                    "busiest_edges")
    return edges.select("src", "dst", "transitions", "probability", "conversion_rate").orderBy(
        F.desc("transitions"), "src", "dst").limit(limit)


def latest_segment_profiles(profiles: DataFrame) -> DataFrame:
    """gold_segment_profiles rows of its latest reference date and model version only."""
    require_columns(profiles, ("segment", "segment_label", "persons", "share", "feature_means",
                               "reference_date", "model_version"), "latest_segment_profiles")
    latest = profiles.agg(F.max(F.struct("reference_date", "model_version")).alias("_latest"))
    return profiles.crossJoin(F.broadcast(latest)).where(
        (F.col("reference_date") == F.col("_latest.reference_date"))
        & (F.col("model_version") == F.col("_latest.model_version"))).drop("_latest")


def score_histogram(scores: DataFrame, bins: int) -> DataFrame:
    """model, bin, lower, upper, persons: the 0-100 scores of each model in `bins` equal bins;
    every bin of every model is there (0 persons when empty); 100 falls in the last bin."""
    require_columns(scores, ("model", "score"), "score_histogram")
    width = 100.0 / bins
    counted = scores.where(F.col("score").isNotNull()).groupBy(
        "model", F.least(F.floor(F.col("score") / width), F.lit(bins - 1)).cast("int")
        .alias("bin")).agg(F.count(F.lit(1)).alias("persons"))
    grid = scores.select("model").distinct().crossJoin(
        scores.sparkSession.range(bins).select(F.col("id").cast("int").alias("bin")))
    return grid.join(counted, ["model", "bin"], "left").select(
        "model", "bin", (F.col("bin") * width).alias("lower"),
        ((F.col("bin") + 1) * width).alias("upper"),
        F.coalesce("persons", F.lit(0)).alias("persons"))


def clv_deciles(clv: DataFrame, accuracy: int = 10_000) -> DataFrame:
    """decile (1 lowest .. 10 highest), persons, lower, upper, total_clv, mean_clv: persons
    split at the approximate deciles of their CLV (Spark's percentile_approx, so no sort of
    every person on one executor). Persons tied at a decile bound share its lower decile, so
    a CLV that many persons share (0) can leave deciles empty: those have no row."""
    require_columns(clv, ("clv",), "clv_deciles")
    known = clv.where(F.col("clv").isNotNull())
    cuts = known.agg(F.percentile_approx(
        "clv", [d / DECILES for d in range(1, DECILES)], accuracy).alias("_cuts"))
    placed = known.crossJoin(F.broadcast(cuts)).select(
        "clv", (F.size(F.filter("_cuts", lambda cut: cut < F.col("clv"))) + 1).alias("decile"))
    return placed.groupBy("decile").agg(
        F.count(F.lit(1)).alias("persons"), F.min("clv").alias("lower"),
        F.max("clv").alias("upper"), F.sum("clv").alias("total_clv"),
        F.avg("clv").alias("mean_clv"))


def latest_cohorts(retention: DataFrame, period: str, cohorts: int) -> DataFrame:
    """cohort_start, period_offset, cohort_size, active_persons, retention of the latest
    `cohorts` cohorts of one period (day, week, month)."""
    require_columns(retention, ("period", "cohort_start", "period_offset", "cohort_size",
                                "active_persons", "retention"), "latest_cohorts")
    of_period = retention.where(F.col("period") == period)
    kept = of_period.select("cohort_start").distinct().orderBy(F.desc("cohort_start")).limit(
        cohorts)
    return of_period.join(F.broadcast(kept), "cohort_start").select(
        "cohort_start", "period_offset", "cohort_size", "active_persons", "retention")


QUALITY_COLUMNS = ("table_name", "expectation", "kind", "severity", "passed", "failing_rows",
                   "rows_checked", "failing_keys", "detail", "job", "evaluated_at")


def latest_quality(audit: DataFrame) -> DataFrame:
    """QUALITY_COLUMNS of the latest result of each expectation of each table (audit_quality):
    failed first, hard before soft, then by table and expectation. One row per configured
    expectation, however many runs the audit holds."""
    require_columns(audit, QUALITY_COLUMNS, "latest_quality")
    latest = audit.groupBy("table_name", "expectation").agg(
        F.max_by(F.struct(*[c for c in QUALITY_COLUMNS
                            if c not in ("table_name", "expectation")]),
                 "evaluated_at").alias("_latest"))
    return latest.select("table_name", "expectation", "_latest.*").orderBy(
        "passed", F.when(F.col("severity") == "hard", 0).otherwise(1), "table_name",
        "expectation").select(*QUALITY_COLUMNS)
