"""Amounts in the reporting currency. Every amount keeps its own currency; `revenue_reporting`
is its value in the reporting currency at the rate valid on its date (`silver.currency`), so
amounts in euros, pounds and dollars can be added up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.config import CurrencySettings

RATE_PERIODS = "_currency string, _valid_from date, _valid_to date, _rate decimal(18,8)"
REPORTING_AMOUNT = "revenue_reporting"


def rate_periods(settings: CurrencySettings) -> list[tuple[str, date, date | None, float]]:
    """(currency, valid_from, valid_to, rate) of each configured rate: it holds from its date
    until the currency's next rate (valid_to, exclusive; None for the latest)."""
    ordered = sorted(settings.rates, key=lambda r: (r.currency, r.valid_from))
    periods = []
    for index, rate in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        until = (date.fromisoformat(following.valid_from)
                 if following is not None and following.currency == rate.currency else None)
        periods.append((rate.currency, date.fromisoformat(rate.valid_from), until, rate.rate))
    return periods


def with_reporting_amount(events: DataFrame, settings: CurrencySettings) -> DataFrame:
    """`events` (revenue, currency, event_date) plus `revenue_reporting`: the revenue in the
    reporting currency, at the rate valid on the event's date, rounded to cents. NULL where the
    revenue is NULL, and where no rate covers the currency on that date (`unconvertible` lists
    those: an amount must never silently count as nothing)."""
    require_columns(events, ("revenue", "currency", "event_date"), "with_reporting_amount")
    spark = events.sparkSession
    # The rates are a handful of rows: broadcast, so the events are not shuffled.
    periods = [(*period[:3], Decimal(str(period[3]))) for period in rate_periods(settings)]
    rates = F.broadcast(spark.createDataFrame(periods, RATE_PERIODS))
    covers = ((F.col("currency") == F.col("_currency"))
              & (F.col("event_date") >= F.col("_valid_from"))
              & (F.col("_valid_to").isNull() | (F.col("event_date") < F.col("_valid_to"))))
    converted = (
        F.when(F.col("revenue").isNull(), F.lit(None))
        .when(F.col("currency") == F.lit(settings.reporting), F.col("revenue"))
        .otherwise(F.round(F.col("revenue") * F.col("_rate"), 2))
    ).cast("decimal(18,2)")
    return events.join(rates, covers, "left").withColumn(REPORTING_AMOUNT, converted).drop(
        "_currency", "_valid_from", "_valid_to", "_rate")


def unconvertible(events: DataFrame) -> DataFrame:
    """currency, first_date, last_date, amounts: the amounts `with_reporting_amount` could not
    convert, by currency (few rows: currencies)."""
    require_columns(events, ("revenue", "currency", "event_date", REPORTING_AMOUNT),
                    "unconvertible")
    return events.where(F.col("revenue").isNotNull() & F.col(REPORTING_AMOUNT).isNull()).groupBy(
        "currency").agg(F.min("event_date").alias("first_date"),
                        F.max("event_date").alias("last_date"),
                        F.count(F.lit(1)).alias("amounts"))


def in_reporting_currency(events: DataFrame, reporting: str) -> DataFrame:
    """The timeline as the aggregations read it: `revenue` is the reporting-currency amount and
    `currency` the reporting currency, so sums add like with like."""
    require_columns(events, (REPORTING_AMOUNT,), "in_reporting_currency")
    return events.withColumn("revenue", F.col(REPORTING_AMOUNT)).withColumn(
        "currency", F.lit(reporting))
