"""The alert rules on the live KPIs (gold_kpis_live, per 5-minute window): gold_alerts_live.

Traffic follows the clock, so a closed window is compared with the same window of the day on the
`days` days before it (10:05 with earlier 10:05s): their median and MAD are its baseline. The
band, the judged series and the alerts are the daily ones (`alerts.kpi_bands`, `detect_alerts`),
with the window in place of the day. A window is judged once it is closed, when the watermark has
passed its end: a window still filling would look like a fall.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.kpis.alerts import AlertRules, detect_alerts, kpi_bands
from journeylake.kpis.baselines import MAD_TO_SD, MEDIAN_VARIANCE, SERIES
from journeylake.kpis.definitions import Kpi

LIVE_COLUMNS = ("window_start", "window_end", *SERIES, "value", "numerator", "denominator")
LIVE_ALERT_COLUMNS = ("alert_date", "window_start", "window_end", "kpi", "breakdown",
                      "breakdown_value", "observed", "expected", "lower", "upper", "direction",
                      "severity", "deviation", "moved_breakdown", "moved_breakdown_value",
                      "moved_change")
SECONDS_PER_DAY = 86_400


def live_baselines(live: DataFrame, *, days: int) -> DataFrame:
    """The baseline columns of `baselines.kpi_baselines` per live row, with `kpi_date` holding
    the window's start (the period the alert rules key on) and `window_end` kept: the median
    and MAD of the same window of the day on the `days` days before."""
    require_columns(live, LIVE_COLUMNS, "live_baselines")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    timed = live.select("*", F.unix_date(F.to_date("window_start")).alias("_day"),
                        (F.unix_seconds("window_start") % SECONDS_PER_DAY).alias("_time"))
    past = timed.where(F.col("value").isNotNull()).select(
        *[F.col(c).alias(f"_h_{c}") for c in SERIES], F.col("_day").alias("_h_day"),
        F.col("_time").alias("_h_time"), F.col("value").alias("_h_value"))
    same_window = [F.col(c) == F.col(f"_h_{c}") for c in SERIES] + [
        F.col("_time") == F.col("_h_time"),
        F.col("_h_day").between(F.col("_day") - days, F.col("_day") - 1)]
    pairs = timed.select(*SERIES, "window_start", "_day", "_time").join(past, same_window)
    level = pairs.groupBy(*SERIES, "window_start").agg(
        F.median("_h_value").alias("expected"), F.count(F.lit(1)).alias("history"))
    spread = pairs.join(level, [*SERIES, "window_start"]).groupBy(*SERIES, "window_start").agg(
        (MAD_TO_SD * F.median(F.abs(F.col("_h_value") - F.col("expected")))).alias("spread"))
    fitted = level.join(spread, [*SERIES, "window_start"]).select(
        *SERIES, "window_start", "expected", "spread",
        F.sqrt(1 + MEDIAN_VARIANCE / F.col("history")).alias("inflation"), "history")
    return live.join(fitted, [*SERIES, "window_start"], "left").select(
        F.col("window_start").alias("kpi_date"), *SERIES, "value", "numerator", "denominator",
        "expected", "spread", "inflation",
        F.coalesce(F.col("history"), F.lit(0)).cast("int").alias("history"), "window_end")


def live_alerts(live: DataFrame, rules: AlertRules, *, days: int, closed_by: datetime,
                definitions: Sequence[Kpi]) -> DataFrame:
    """LIVE_ALERT_COLUMNS: the alerts of the live windows that ended by `closed_by` (the
    watermark), judged against their baselines. `definitions`: the live KPIs (their units)."""
    baselined = live_baselines(live, days=days)
    closed = baselined.where(F.col("window_end") <= F.lit(closed_by))
    ends = closed.select(F.col("kpi_date").alias("alert_date"), "window_end").distinct()
    found = detect_alerts(kpi_bands(closed.drop("window_end"), rules, definitions), rules)
    return found.join(ends, "alert_date").select(
        F.to_date("alert_date").alias("alert_date"), F.col("alert_date").alias("window_start"),
        *LIVE_ALERT_COLUMNS[2:])


def closed_by(latest_window_end: datetime | None, watermark_minutes: int) -> datetime | None:
    """The end a window must have reached to be closed: the newest window's end less the
    watermark (the stream keeps a window open that long for late events)."""
    if latest_window_end is None:
        return None
    return datetime.fromtimestamp(latest_window_end.timestamp() - 60 * watermark_minutes,
                                  tz=latest_window_end.tzinfo)

