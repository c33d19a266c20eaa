"""Bands and alerts on baselines set by hand: the noise floor of each kind of KPI, which series
are judged, the direction and severity, and the channel or segment that moved most."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.kpis.alerts import (
    ALERT_COLUMNS,
    AMOUNT_CV,
    AlertRules,
    detect_alerts,
    kpi_bands,
    monitored,
    with_journey_changes,
)
from journeylake.kpis.baselines import BASELINE_COLUMNS
from journeylake.kpis.journey_change import CHANGE_TYPE

DAY = dt.date(2026, 6, 24)
SCHEMA = ("kpi_date date, breakdown string, breakdown_value string, kpi string, value double, "
          "numerator double, denominator double, expected double, spread double, "
          "inflation double, history int")
RULES = AlertRules(kpis=("sessions", "conversion_rate", "revenue", "average_order_value",
                         "orders"),
                   min_history_days=14, warning=4.0, critical=6.0, min_expected=10.0,
                   min_denominator=50.0, min_relative_sd=0.0, min_orders=30.0)


def _row(kpi: str, value: float | None, expected: float | None, *, spread: float = 0.0,
         breakdown: str = "all", breakdown_value: str = "all", numerator: float | None = None,
         denominator: float | None = None, history: int = 28, inflation: float = 1.0) -> tuple:
    return (DAY, breakdown, breakdown_value, kpi, value, numerator, denominator, expected,
            spread, inflation, history)


def _frame(spark: SparkSession, *rows: tuple) -> DataFrame:
    frame = spark.createDataFrame(list(rows), SCHEMA)
    assert tuple(frame.columns) == BASELINE_COLUMNS
    return frame


def _bands(spark: SparkSession, *rows: tuple, rules: AlertRules = RULES) -> dict[tuple, dict]:
    return {(r.kpi, r.breakdown_value): r.asDict()
            for r in kpi_bands(_frame(spark, *rows), rules).collect()}


def test_a_count_is_at_least_as_noisy_as_poisson(spark: SparkSession) -> None:
    band = _bands(spark, _row("sessions", 150.0, 100.0, spread=2.0, inflation=1.1))[
        ("sessions", "all")]
    # sqrt(100) = 10 beats the MAD's 2; times the inflation 1.1.
    assert math.isclose(band["sd"], 11.0)
    assert math.isclose(band["lower"], 100 - 44.0) and math.isclose(band["upper"], 144.0)
    assert math.isclose(band["deviation"], 50 / 11.0)


def test_a_wide_history_widens_the_band_beyond_the_sampling_noise(spark: SparkSession) -> None:
    band = _bands(spark, _row("sessions", 150.0, 100.0, spread=30.0))[("sessions", "all")]
    assert band["sd"] == 30.0 and math.isclose(band["deviation"], 50 / 30)


def test_a_share_is_at_least_as_noisy_as_binomial_and_stays_within_0_and_1(
        spark: SparkSession) -> None:
    bands = _bands(
        spark,
        _row("conversion_rate", 0.05, 0.2, numerator=5.0, denominator=100.0),
        _row("conversion_rate", 0.5, 0.1, numerator=50.0, denominator=100.0,
             breakdown="channel", breakdown_value="email"),
        _row("conversion_rate", 0.5, 0.9, numerator=50.0, denominator=100.0,
             breakdown="channel", breakdown_value="social"))
    overall = bands[("conversion_rate", "all")]
    assert math.isclose(overall["sd"], math.sqrt(0.2 * 0.8 / 100))  # 0.04
    assert math.isclose(overall["lower"], 0.04) and math.isclose(overall["upper"], 0.36)
    assert math.isclose(overall["deviation"], -0.15 / 0.04)
    assert bands[("conversion_rate", "email")]["lower"] == 0.0  # 0.1 - 4 x 0.03
    assert bands[("conversion_rate", "social")]["upper"] == 1.0  # 0.9 + 4 x 0.03


def test_an_amounts_noise_grows_with_fewer_orders(spark: SparkSession) -> None:
    bands = _bands(
        spark,
        _row("revenue", 5000.0, 4000.0), _row("orders", 40.0, 40.0),
        _row("average_order_value", 125.0, 100.0, numerator=5000.0, denominator=40.0))
    # A sum of 40 orders: sqrt(1 + cv^2) / sqrt(40) of the expected; a mean: cv / sqrt(40).
    assert math.isclose(bands[("revenue", "all")]["sd"],
                        4000 * math.sqrt(1 + AMOUNT_CV ** 2) / math.sqrt(40))
    assert math.isclose(bands[("average_order_value", "all")]["sd"],
                        100 * AMOUNT_CV / math.sqrt(40))


def test_the_relative_floor_applies_when_every_other_estimate_is_smaller(
        spark: SparkSession) -> None:
    rules = AlertRules(kpis=("sessions",), min_relative_sd=0.2)
    band = _bands(spark, _row("sessions", 100.0, 100.0), rules=rules)[("sessions", "all")]
    assert math.isclose(band["sd"], 20.0)


@pytest.mark.parametrize(("row", "why"), [
    (_row("sessions", 0.0, 100.0, history=13), "too little history"),
    (_row("sessions", 0.0, 9.0), "an expected count below min_expected"),
    (_row("conversion_rate", 0.0, 0.2, numerator=0.0, denominator=49.0), "a small denominator"),
    (_row("visitors", 0.0, 100.0), "a KPI not monitored"),
    (_row("average_order_value", 500.0, 100.0, numerator=14500.0, denominator=29.0),
     "an amount of too few orders"),
    (_row("sessions", None, 100.0), "no value"),
    (_row("sessions", 10.0, None, history=0), "no baseline"),
])
def test_series_without_enough_behind_them_are_not_judged(
        spark: SparkSession, row: tuple, why: str) -> None:
    [band] = kpi_bands(_frame(spark, row), RULES).collect()
    assert not band["judged"], why
    assert detect_alerts(kpi_bands(_frame(spark, row), RULES), RULES).count() == 0, why


def test_values_inside_the_band_raise_nothing(spark: SparkSession) -> None:
    rows = [_row("sessions", 139.0, 100.0), _row("sessions", 61.0, 100.0, breakdown="channel",
                                                  breakdown_value="email")]
    assert detect_alerts(kpi_bands(_frame(spark, *rows), RULES), RULES).count() == 0


def test_an_alert_says_how_far_which_way_and_which_channel_moved_most(
        spark: SparkSession) -> None:
    rows = [
        _row("sessions", 160.0, 100.0),  # 6 sd up: critical
        _row("sessions", 75.0, 25.0, breakdown="channel", breakdown_value="email"),  # 10 sd up
        _row("sessions", 45.0, 25.0, breakdown="channel", breakdown_value="social"),  # 4 sd up
        _row("sessions", 5.0, 25.0, breakdown="channel", breakdown_value="direct"),  # 4 sd down
        _row("sessions", 35.0, 25.0, breakdown="segment", breakdown_value="loyal"),  # 2 sd up
        _row("conversion_rate", 0.1, 0.2, numerator=10.0, denominator=100.0),  # 2.5 sd down
    ]
    alerts = {(a.kpi, a.breakdown_value): a.asDict()
              for a in detect_alerts(kpi_bands(_frame(spark, *rows), RULES), RULES).collect()}
    assert set(alerts) == {("sessions", "all"), ("sessions", "email"), ("sessions", "social"),
                           ("sessions", "direct")}
    overall = alerts[("sessions", "all")]
    assert overall["alert_date"] == DAY and overall["observed"] == 160.0
    assert (overall["direction"], overall["severity"]) == ("up", "critical")
    assert math.isclose(overall["deviation"], 6.0)
    assert (overall["lower"], overall["upper"]) == (60.0, 140.0)
    assert (overall["moved_breakdown"], overall["moved_breakdown_value"]) == ("channel", "email")
    assert math.isclose(overall["moved_change"], 2.0)  # 75 against 25 expected
    assert alerts[("sessions", "social")]["severity"] == "warning"
    # A fall is explained by what fell.
    assert alerts[("sessions", "direct")]["moved_breakdown_value"] == "direct"
    assert alerts[("sessions", "direct")]["direction"] == "down"


def test_alerts_carry_their_days_journey_changes_or_an_empty_list(spark: SparkSession) -> None:
    rows = [_row("sessions", 160.0, 100.0)]
    alerts = detect_alerts(kpi_bands(_frame(spark, *rows), RULES), RULES)
    changes = spark.createDataFrame(
        [(DAY, [("checkout_start", "purchase", 0.8, 0.1, -0.7)])],
        f"alert_date date, journey_changes {CHANGE_TYPE}")
    [joined] = with_journey_changes(alerts, changes).collect()
    assert tuple(joined.asDict()) == (*ALERT_COLUMNS, "journey_changes")
    assert joined.journey_changes[0].to_touchpoint == "purchase"
    none = changes.limit(0)
    [alone] = with_journey_changes(alerts, none).collect()
    assert alone.journey_changes == []


def test_unknown_monitored_kpis_are_named() -> None:
    assert monitored(["sessions"]) == ("sessions",)
    with pytest.raises(ValueError, match=r"unknown KPI\(s\) \['sesions'\]"):
        monitored(["sesions"])


def test_a_breakdown_with_a_single_value_is_the_whole_and_never_the_mover(
        spark: SparkSession) -> None:
    rows = [
        _row("sessions", 160.0, 100.0),
        # Nobody has a segment yet: the one segment value is the whole again.
        _row("sessions", 160.0, 100.0, breakdown="segment", breakdown_value="unassigned"),
        _row("sessions", 75.0, 40.0, breakdown="channel", breakdown_value="email"),
        _row("sessions", 60.0, 60.0, breakdown="channel", breakdown_value="direct"),
    ]
    alerts = {a.breakdown_value: a for a in
              detect_alerts(kpi_bands(_frame(spark, *rows), RULES), RULES).collect()}
    assert alerts["all"].moved_breakdown_value == "email"
    assert "unassigned" not in alerts  # the overall alert, said again
