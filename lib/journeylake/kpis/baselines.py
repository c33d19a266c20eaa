"""A learned baseline of normal behaviour per KPI series: what each day's value should have been,
given the days before it, and how far it may stray.

Per series (breakdown, breakdown_value, kpi) and day, from the `window_days` days before it (the
day itself never counts, so an anomaly cannot hide in its own baseline):

1. a weekday profile: the median of each weekday's values over the median of all of them (1 for a
   weekday seen fewer than twice), so a busy Saturday is expected on a Saturday;
2. the level: the median of the values divided by their weekday's profile, times the profile of
   the day's weekday: the expected value;
3. the spread: the median absolute deviation (MAD) of those deseasonalised values, scaled to a
   standard deviation (1.4826 x MAD for normal noise) and widened for the medians' own sampling
   error (a median of n values has about pi/2 times the variance of their mean: sigma^2 pi/2n).

Medians and MADs resist outliers: a past anomaly moves neither much. Everything is Spark SQL:
each day's window is a range self-join of its series (days x window rows per series, bounded by
the KPI taxonomy, not by events or persons), then window medians.

Not STL: a seasonal decomposition per series would need a pandas function and a few full cycles
of history to be stable; rolling weekday medians give the same weekly awareness from three weeks
of data and stay native.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns

SERIES = ("breakdown", "breakdown_value", "kpi")
BASELINE_COLUMNS = ("kpi_date", *SERIES, "value", "numerator", "denominator", "expected",
                    "spread", "inflation", "history")
# 1 / Phi^-1(3/4): a MAD times this estimates the standard deviation of normal noise.
MAD_TO_SD = 1.4826
# A median of n values: variance about pi / (2n) times the values' own.
MEDIAN_VARIANCE = math.pi / 2
MIN_PROFILE_DAYS = 2


def kpi_baselines(kpis: DataFrame, *, window_days: int) -> DataFrame:
    """BASELINE_COLUMNS: every row of `kpis` (gold_kpis_daily) with `expected`, `spread` (the
    standard deviation of one day's value around it, from the MAD), `inflation` (how much the
    expected value's own sampling error widens any day's standard deviation: a factor for the
    alert's band) and `history` (the days with a value in its window); NULL expected, spread and
    inflation, history 0, where the window holds no value."""
    require_columns(kpis, ("kpi_date", *SERIES, "value", "numerator", "denominator"),
                    "kpi_baselines")
    if window_days < 7:
        raise ValueError(f"window_days must cover a week (7 or more), got {window_days}")
    days = kpis.select("*", F.unix_date("kpi_date").alias("_day"),
                       F.weekday("kpi_date").alias("_weekday"))
    past = days.where(F.col("value").isNotNull()).select(
        *[F.col(c).alias(f"_h_{c}") for c in SERIES], F.col("_day").alias("_h_day"),
        F.col("_weekday").alias("_h_weekday"), F.col("value").alias("_h_value"))
    in_window = [F.col(c) == F.col(f"_h_{c}") for c in SERIES] + [
        F.col("_h_day").between(F.col("_day") - window_days, F.col("_day") - 1)]
    target = days.select(*SERIES, "kpi_date", "_day", "_weekday")
    pairs = target.join(past, in_window, "inner")

    per_day = Window.partitionBy(*SERIES, "kpi_date")
    per_weekday = Window.partitionBy(*SERIES, "kpi_date", "_h_weekday")
    level = F.median("_h_value").over(per_day)
    weekday_median = F.median("_h_value").over(per_weekday)
    weekday_days = F.count(F.lit(1)).over(per_weekday)
    profiled = pairs.select(
        "*", weekday_days.alias("_weekday_days"),
        F.when((weekday_days >= MIN_PROFILE_DAYS) & (level > 0), weekday_median / level)
        .otherwise(F.lit(1.0)).alias("_profile"))
    deseasonalised = profiled.select(
        "*", F.when(F.col("_profile") > 0, F.col("_h_value") / F.col("_profile"))
        .otherwise(F.col("_h_value")).alias("_adjusted"))
    centred = deseasonalised.select(
        "*", F.abs(F.col("_adjusted") - F.median("_adjusted").over(per_day)).alias("_deviation"))
    on_weekday = F.col("_h_weekday") == F.col("_weekday")
    fitted = centred.groupBy(*SERIES, "kpi_date").agg(
        F.median("_adjusted").alias("_level"),
        F.median("_deviation").alias("_mad"),
        F.count(F.lit(1)).alias("history"),
        F.coalesce(F.max(F.when(on_weekday, F.col("_profile"))), F.lit(1.0)).alias("_day_profile"),
        F.max(F.when(on_weekday & (F.col("_weekday_days") >= MIN_PROFILE_DAYS),
                     F.col("_weekday_days"))).alias("_profile_days"),
    )
    # The expected value carries the level's sampling error, and the profile's when one applies.
    inflation = F.sqrt(1 + MEDIAN_VARIANCE * (1 / F.col("history") + F.coalesce(
        1 / F.col("_profile_days"), F.lit(0.0))))
    baselined = fitted.select(
        *SERIES, "kpi_date", "history",
        (F.col("_level") * F.col("_day_profile")).alias("expected"),
        (MAD_TO_SD * F.col("_mad") * F.col("_day_profile")).alias("spread"),
        inflation.alias("inflation"))
    return kpis.join(baselined, [*SERIES, "kpi_date"], "left").select(
        "kpi_date", *SERIES, "value", "numerator", "denominator", "expected", "spread",
        "inflation", F.coalesce(F.col("history"), F.lit(0)).cast("int").alias("history"))
