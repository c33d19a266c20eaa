"""Alerts: a KPI that leaves its band (the baseline of `baselines`), with how far, which way, the
channel or segment that moved most, and the journey change behind it.

A day's standard deviation is the largest of three estimates, so that a quiet history cannot
make a tiny band: the baseline's spread (MAD), the sampling noise the KPI cannot avoid (a count:
Poisson, sqrt(expected); a share: binomial, sqrt(p(1-p)/n) with the day's n; an amount of n
orders: a sum sqrt(1 + cv^2 / n), a mean cv / sqrt(n) of the expected value, with the order
values' coefficient of variation cv taken as AMOUNT_CV), and `min_relative_sd` of the expected
value. It is widened by the baseline's inflation (the expected
value is itself an estimate). The band is expected +- `warning` standard deviations; beyond
`critical` the alert is critical.

Only series with enough behind them are judged: `min_history_days` days in the window, an
expected count of `min_expected` or more, a ratio's denominator of `min_denominator` or more that
day, and for an amount `min_orders` orders or more: a sum of a few right-skewed order values
has a far longer upper tail than a normal band allows for. Thousands of small series judged
every day would otherwise raise alerts by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.kpis.baselines import BASELINE_COLUMNS
from journeylake.kpis.definitions import ALL, AMOUNT, COUNT, KPIS, SHARE, Kpi
from journeylake.kpis.journey_change import CHANGE_TYPE

UP, DOWN = "up", "down"
WARNING, CRITICAL = "warning", "critical"
# Order values vary about as much as their mean (a coefficient of variation near 1 is typical
# of retail baskets); it sets the least noise of revenue and the average order value.
AMOUNT_CV = 1.0
BAND_COLUMNS = (*BASELINE_COLUMNS, "sd", "lower", "upper", "deviation", "judged")
ALERT_COLUMNS = ("alert_date", "kpi", "breakdown", "breakdown_value", "observed", "expected",
                 "lower", "upper", "direction", "severity", "deviation", "moved_breakdown",
                 "moved_breakdown_value", "moved_change")


@dataclass(frozen=True)
class AlertRules:
    """When a KPI value raises an alert (conf/kpis.yaml `kpis.alerts`)."""

    kpis: tuple[str, ...]
    min_history_days: int = 14
    warning: float = 4.0
    critical: float = 6.0
    min_expected: float = 10.0
    min_denominator: float = 50.0
    min_relative_sd: float = 0.05
    min_orders: float = 30.0


def _lookup(kpi: Column, attribute: str, default: str | None, definitions: Sequence[Kpi]
            ) -> Column:
    pairs = [x for k in definitions if getattr(k, attribute) is not None
             for x in (F.lit(k.name), F.lit(getattr(k, attribute)))]
    found = F.create_map(*pairs)[kpi] if pairs else F.lit(None).cast("string")
    return F.coalesce(found, F.lit(default)) if default else found


def _with_size(baselined: DataFrame, definitions: Sequence[Kpi]) -> DataFrame:
    """`_size`: how many things the day's value adds up (an amount's orders): the denominator,
    else the value of the count KPI it is `made_of` in the same series and day."""
    keys = ["kpi_date", "breakdown", "breakdown_value"]
    counts = baselined.select(*keys, F.col("kpi").alias("_made_of"),
                              F.col("value").alias("_count"))
    made_of = baselined.select(
        "*", _lookup(F.col("kpi"), "made_of", None, definitions).alias("_made_of"))
    return made_of.join(counts, [*keys, "_made_of"], "left").select(
        *BASELINE_COLUMNS, F.coalesce("denominator", "_count").alias("_size"))


def kpi_bands(baselined: DataFrame, rules: AlertRules, definitions: Sequence[Kpi] = KPIS
              ) -> DataFrame:
    """BAND_COLUMNS: the baselines with the day's standard deviation `sd`, the band
    `lower`..`upper`, the `deviation` of the value in standard deviations, and `judged`
    (whether the rules judge this value at all); NULL sd and band without a baseline.
    `definitions`: the KPIs whose units set the noise floors (the daily ones by default)."""
    require_columns(baselined, BASELINE_COLUMNS, "kpi_bands")
    unit = _lookup(F.col("kpi"), "unit", COUNT, definitions)
    expected, size = F.col("expected"), F.col("_size")
    share = F.least(F.greatest(expected, F.lit(0.0)), F.lit(1.0))
    amount_cv = F.when(F.col("denominator").isNotNull(), F.lit(AMOUNT_CV)).otherwise(
        F.lit((1 + AMOUNT_CV ** 2) ** 0.5))
    sampling = (F.when(unit == COUNT, F.sqrt(F.greatest(expected, F.lit(1.0))))
                .when((unit == SHARE) & (size > 0), F.sqrt(share * (1 - share) / size))
                .when((unit == AMOUNT) & (size > 0), F.abs(expected) * amount_cv / F.sqrt(size))
                .otherwise(F.lit(0.0)))
    sd = F.greatest(F.col("spread"), sampling, rules.min_relative_sd * F.abs(expected)) \
        * F.col("inflation")
    with_sd = _with_size(baselined, definitions).select(
        "*", F.when(expected.isNotNull(), sd).alias("sd"))
    width = rules.warning * F.col("sd")
    ceiling = F.when(unit == SHARE, F.lit(1.0))
    is_ratio = F.col("denominator").isNotNull()
    supported = F.when(unit == AMOUNT, F.coalesce(size >= rules.min_orders, F.lit(False))).when(
        is_ratio, F.col("denominator") >= rules.min_denominator).otherwise(
        expected >= rules.min_expected)
    judged = (F.col("kpi").isin(list(rules.kpis)) & (F.col("history") >= rules.min_history_days)
              & F.col("value").isNotNull() & (F.col("sd") > 0) & supported)
    return with_sd.select(
        *BASELINE_COLUMNS, "sd",
        F.when(expected.isNotNull(), F.greatest(expected - width, F.lit(0.0))).alias("lower"),
        F.when(expected.isNotNull(),
               F.least(expected + width, F.coalesce(ceiling, expected + width))).alias("upper"),
        F.when(F.col("sd") > 0, (F.col("value") - expected) / F.col("sd")).alias("deviation"),
        F.coalesce(judged, F.lit(False)).alias("judged"))


def detect_alerts(banded: DataFrame, rules: AlertRules) -> DataFrame:
    """ALERT_COLUMNS: one row per judged value outside its band (not of a breakdown that has one
    value that day: that is the whole again). `moved_*` name the channel or
    segment series of the same KPI and day that moved most the same way (largest deviation), and
    its relative change from its own expected value; NULL when none moved that way."""
    require_columns(banded, BAND_COLUMNS, "detect_alerts")
    # A breakdown with a single value that day (every person unassigned, say) is the whole
    # again: it repeats the overall alert and cannot say which part moved.
    parts = F.size(F.collect_set("breakdown_value").over(
        Window.partitionBy("kpi_date", "kpi", "breakdown")))
    judged = banded.withColumn("_parts", parts).where(
        F.col("judged") & ((F.col("breakdown") == ALL) | (F.col("_parts") > 1)))
    outside = judged.where(F.abs("deviation") >= rules.warning)
    direction = F.when(F.col("deviation") > 0, F.lit(UP)).otherwise(F.lit(DOWN))
    movers = judged.where(F.col("breakdown") != ALL).select(
        "kpi_date", "kpi", direction.alias("direction"), F.abs("deviation").alias("_size"),
        F.struct(F.col("breakdown").alias("moved_breakdown"),
                 F.col("breakdown_value").alias("moved_breakdown_value"),
                 F.when(F.col("expected") != 0, F.col("value") / F.col("expected") - 1)
                 .alias("moved_change")).alias("_moved"))
    most = movers.groupBy("kpi_date", "kpi", "direction").agg(
        F.max_by("_moved", "_size").alias("_moved"))
    alerts = outside.select(
        "kpi_date", "kpi", "breakdown", "breakdown_value", F.col("value").alias("observed"),
        "expected", "lower", "upper", direction.alias("direction"),
        F.when(F.abs("deviation") >= rules.critical, F.lit(CRITICAL)).otherwise(F.lit(WARNING))
        .alias("severity"), "deviation")
    return alerts.join(most, ["kpi_date", "kpi", "direction"], "left").select(
        F.col("kpi_date").alias("alert_date"), "kpi", "breakdown", "breakdown_value",
        "observed", "expected", "lower", "upper", "direction", "severity", "deviation",
        "_moved.moved_breakdown", "_moved.moved_breakdown_value", "_moved.moved_change")


def with_journey_changes(alerts: DataFrame, changes: DataFrame) -> DataFrame:
    """The alerts with `journey_changes` of their day (`journey_change.journey_changes`); an
    empty list where the day's graph has no supported edge."""
    require_columns(alerts, ALERT_COLUMNS, "with_journey_changes alerts")
    require_columns(changes, ("alert_date", "journey_changes"), "with_journey_changes changes")
    empty = F.array().cast(CHANGE_TYPE)
    return alerts.join(F.broadcast(changes), "alert_date", "left").select(
        *ALERT_COLUMNS, F.coalesce("journey_changes", empty).alias("journey_changes"))


def monitored(kpis: Sequence[str]) -> tuple[str, ...]:
    """The names, checked against `definitions.KPIS`."""
    known = {k.name for k in KPIS}
    unknown = [name for name in kpis if name not in known]
    if unknown:
        raise ValueError(f"unknown KPI(s) {unknown}; known: {sorted(known)}")
    return tuple(kpis)
