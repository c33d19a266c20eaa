"""Daily KPIs on a timeline small enough to count by hand: sessions, orders, first and repeat
buyers, unsubscribes and lapsed persons, overall, per channel and per segment, with zeros on
days a series has nothing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.kpis.daily import KPI_COLUMNS, daily_kpis
from journeylake.kpis.definitions import KPI_NAMES, KPIS
from journeylake.kpis.tables import KPIS_DAILY

SESSION_SCHEMA = ("session_id string, person_id string, start_ts timestamp, "
                  "entry_channel string, touchpoints array<string>, converted boolean")
EVENT_SCHEMA = ("person_id string, ts timestamp, channel string, touchpoint string, "
                "revenue decimal(18,2)")
CONVERSIONS = ("purchase", "store_purchase")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# June 1: a (email) buys after a cart; b (direct) fills a cart and leaves; c (direct) only looks.
# June 2: a (email) buys again; nobody else comes. June 3: b unsubscribes by email.
SESSIONS = [
    ("s1", "a", _ts("2026-06-01 09:00:00"), "email", ["page_view", "add_to_cart", "purchase"],
     True),
    ("s2", "b", _ts("2026-06-01 10:00:00"), "direct", ["product_view", "add_to_cart"], False),
    ("s3", "c", _ts("2026-06-01 23:59:59"), "direct", ["page_view"], False),
    ("s4", "a", _ts("2026-06-02 08:00:00"), "email", ["purchase"], True),
]
EVENTS = [
    ("a", _ts("2026-06-01 09:05:00"), "email", "purchase", Decimal("40.00")),
    ("b", _ts("2026-06-01 10:00:00"), "direct", "add_to_cart", None),
    ("c", _ts("2026-06-01 23:59:59"), "direct", "page_view", None),
    ("a", _ts("2026-06-02 08:01:00"), "email", "purchase", Decimal("60.00")),
    ("b", _ts("2026-06-03 12:00:00"), "email", "unsubscribe", None),
]
SEGMENTS = [("a", "loyal"), ("b", "browsers")]  # c has no segment


@pytest.fixture(scope="module")
def kpis(spark: SparkSession) -> dict[tuple, tuple]:
    frame = _kpis(spark, churn_days=2, data_end=date(2026, 6, 3))
    return {(r.kpi_date.isoformat(), r.breakdown, r.breakdown_value, r.kpi):
            (r.value, r.numerator, r.denominator) for r in frame.collect()}


def _kpis(spark: SparkSession, churn_days: int, data_end: date) -> DataFrame:
    return daily_kpis(
        spark.createDataFrame(SESSIONS, SESSION_SCHEMA),
        spark.createDataFrame(EVENTS, EVENT_SCHEMA),
        spark.createDataFrame(SEGMENTS, "person_id string, segment_label string"),
        conversion_touchpoints=CONVERSIONS, churn_days=churn_days, data_end=data_end)


def test_rows_have_the_table_s_columns_and_every_kpi_is_defined_once(spark: SparkSession
                                                                      ) -> None:
    frame = _kpis(spark, churn_days=2, data_end=date(2026, 6, 3))
    assert tuple(frame.columns) == KPI_COLUMNS
    assert [c for c in KPIS_DAILY.columns if not c.startswith("_")] == list(KPI_COLUMNS)
    assert len(set(KPI_NAMES)) == len(KPIS)
    assert {r.kpi for r in frame.select("kpi").distinct().collect()} == set(KPI_NAMES)


def test_session_kpis_of_the_first_day_counted_by_hand(kpis: dict[tuple, tuple]) -> None:
    day = "2026-06-01"
    assert kpis[(day, "all", "all", "visitors")] == (3.0, None, None)
    assert kpis[(day, "all", "all", "sessions")] == (3.0, None, None)
    assert kpis[(day, "all", "all", "conversion_rate")] == pytest.approx((1 / 3, 1.0, 3.0))
    assert kpis[(day, "all", "all", "add_to_cart_rate")] == pytest.approx((2 / 3, 2.0, 3.0))
    assert kpis[(day, "all", "all", "cart_abandonment")] == (0.5, 1.0, 2.0)
    assert kpis[(day, "channel", "direct", "sessions")] == (2.0, None, None)
    assert kpis[(day, "channel", "direct", "cart_abandonment")] == (1.0, 1.0, 1.0)
    assert kpis[(day, "segment", "unassigned", "visitors")] == (1.0, None, None)


def test_orders_split_first_buyers_from_returning_ones(kpis: dict[tuple, tuple]) -> None:
    assert kpis[("2026-06-01", "all", "all", "orders")][0] == 1.0
    assert kpis[("2026-06-01", "all", "all", "new_customers")][0] == 1.0
    assert kpis[("2026-06-01", "all", "all", "returning_customers")][0] == 0.0
    assert kpis[("2026-06-02", "segment", "loyal", "returning_customers")][0] == 1.0
    assert kpis[("2026-06-02", "segment", "loyal", "new_customers")][0] == 0.0
    assert kpis[("2026-06-02", "channel", "email", "revenue")][0] == 60.0
    assert kpis[("2026-06-02", "all", "all", "average_order_value")] == (60.0, 60.0, 1.0)


def test_a_day_without_a_series_events_is_zero_and_a_ratio_without_denominator_null(
    kpis: dict[tuple, tuple],
) -> None:
    # June 3 has no session at all, and direct has no session on June 2.
    assert kpis[("2026-06-03", "all", "all", "sessions")] == (0.0, None, None)
    assert kpis[("2026-06-03", "all", "all", "conversion_rate")] == (None, 0.0, 0.0)
    assert kpis[("2026-06-02", "channel", "direct", "visitors")] == (0.0, None, None)
    assert kpis[("2026-06-03", "channel", "email", "unsubscribes")][0] == 1.0
    assert kpis[("2026-06-03", "segment", "browsers", "unsubscribes")][0] == 1.0
    assert kpis[("2026-06-01", "all", "all", "unsubscribes")][0] == 0.0


def test_a_person_lapses_churn_days_after_their_last_event_up_to_the_data_end(
    kpis: dict[tuple, tuple], spark: SparkSession,
) -> None:
    # c's last event is on June 1: lapsed on June 3. a (June 2) and b (June 3) lapse after it.
    assert kpis[("2026-06-03", "all", "all", "churned")][0] == 1.0
    assert kpis[("2026-06-03", "channel", "direct", "churned")][0] == 1.0
    assert kpis[("2026-06-03", "segment", "unassigned", "churned")][0] == 1.0
    later = {(r.kpi_date.isoformat(), r.value) for r in _kpis(
        spark, churn_days=2, data_end=date(2026, 6, 5)).where(
        "kpi = 'churned' AND breakdown = 'all'").collect()}
    assert later == {("2026-06-01", 0.0), ("2026-06-02", 0.0), ("2026-06-03", 1.0),
                     ("2026-06-04", 1.0), ("2026-06-05", 1.0)}


def test_churn_days_must_be_positive(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="churn_days"):
        _kpis(spark, churn_days=0, data_end=date(2026, 6, 3))
