"""Amounts keep their currency and get their reporting-currency value at the rate of their date;
an amount without a rate is reported, never silently lost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from journeylake.core.config import ConfigError, CurrencySettings, ExchangeRate, load_config
from journeylake.silver.currency import rate_periods, unconvertible, with_reporting_amount
from tests.conftest import CONF_DIR

RATES = CurrencySettings("EUR", (
    ExchangeRate("GBP", "2026-06-15", 1.20), ExchangeRate("GBP", "2026-01-01", 1.10),
    ExchangeRate("USD", "2026-06-01", 0.90),
))


def test_each_rate_holds_until_the_next_one_of_its_currency() -> None:
    assert rate_periods(RATES) == [
        ("GBP", date(2026, 1, 1), date(2026, 6, 15), 1.10),
        ("GBP", date(2026, 6, 15), None, 1.20),
        ("USD", date(2026, 6, 1), None, 0.90),
    ]


def test_amounts_are_converted_at_the_rate_of_their_date(spark: SparkSession) -> None:
    ddl = "event_key string, revenue decimal(18,2), currency string, event_date date"
    events = spark.createDataFrame([
        ("eur", Decimal("10.00"), "EUR", date(2026, 6, 20)),
        ("gbp_before", Decimal("10.00"), "GBP", date(2026, 6, 14)),   # 10 x 1.10
        ("gbp_from", Decimal("10.00"), "GBP", date(2026, 6, 15)),     # 10 x 1.20
        ("usd_round", Decimal("0.05"), "USD", date(2026, 6, 2)),      # 0.045 -> 0.05
        ("usd_too_early", Decimal("8.00"), "USD", date(2026, 5, 31)),  # no rate yet
        ("page_view", None, None, date(2026, 6, 2)),
    ], ddl)
    expected = spark.createDataFrame([
        ("eur", Decimal("10.00"), "EUR", date(2026, 6, 20), Decimal("10.00")),
        ("gbp_before", Decimal("10.00"), "GBP", date(2026, 6, 14), Decimal("11.00")),
        ("gbp_from", Decimal("10.00"), "GBP", date(2026, 6, 15), Decimal("12.00")),
        ("usd_round", Decimal("0.05"), "USD", date(2026, 6, 2), Decimal("0.05")),
        ("usd_too_early", Decimal("8.00"), "USD", date(2026, 5, 31), None),
        ("page_view", None, None, date(2026, 6, 2), None),
    ], f"{ddl}, revenue_reporting decimal(18,2)")
    converted = with_reporting_amount(events, RATES)
    assert_df_equality(converted, expected, ignore_row_order=True, ignore_nullable=True)
    assert [tuple(r) for r in unconvertible(converted).collect()] == [
        ("USD", date(2026, 5, 31), date(2026, 5, 31), 1)]


@pytest.mark.parametrize(("override", "message"), [
    ("silver.currency.rates=[{currency: GBP, valid_from: '2026-13-01', rate: 1.1}]",
     r"rates\[0\].valid_from: '2026-13-01' is not a date"),
    ("silver.currency.rates=[{currency: GBP, valid_from: 2026-13-01, rate: 1.1}]",
     "--conf silver.currency.rates: .* is not a valid YAML value: month must be in 1..12"),
    ("silver.currency.rates=[{currency: GBP, valid_from: '2026-01-01', rate: 0}]",
     r"rates\[0\].rate: must be positive"),
    ("silver.currency.rates=[{currency: EUR, valid_from: '2026-01-01', rate: 1.0}]",
     "EUR is the reporting currency"),
])
def test_a_rate_that_cannot_be_used_is_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("local", [override], conf_dir=CONF_DIR)
