"""Live alert rules on windows worked out by hand: a closed window against the same window of
the day on the days before; open windows and windows without history are not judged."""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import DataFrame, SparkSession

from journeylake.kpis.alerts import AlertRules
from journeylake.kpis.baselines import MAD_TO_SD
from journeylake.kpis.definitions import SHARE, Kpi
from journeylake.kpis.live_alerts import closed_by, live_alerts, live_baselines

UTC = dt.timezone.utc
TODAY = dt.date(2026, 6, 30)
SCHEMA = ("window_start timestamp, window_end timestamp, breakdown string, "
          "breakdown_value string, kpi string, value double, numerator double, "
          "denominator double")
DEFINITIONS = (Kpi("visitors", "cookies"), Kpi("visitor_conversion_rate", "buyers / visitors",
                                                "buyers", "visitors", SHARE))
RULES = AlertRules(kpis=("visitors", "visitor_conversion_rate"), min_history_days=3,
                   warning=4.0, critical=6.0, min_expected=10.0, min_denominator=50.0,
                   min_relative_sd=0.0)


def _window(day: dt.date, hour: int, minute: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return start, start + dt.timedelta(minutes=5)


def _live(spark: SparkSession) -> DataFrame:
    rows = []
    for back, visitors in zip(range(1, 5), (100.0, 104.0, 96.0, 100.0), strict=True):
        day = TODAY - dt.timedelta(days=back)
        rows.append((*_window(day, 10, 0), "all", "all", "visitors", visitors, None, None))
        rows.append((*_window(day, 10, 5), "all", "all", "visitors", visitors, None, None))
    rows += [
        (*_window(TODAY, 10, 0), "all", "all", "visitors", 20.0, None, None),  # closed, down
        (*_window(TODAY, 10, 5), "all", "all", "visitors", 10.0, None, None),  # still open
        (*_window(TODAY, 11, 0), "all", "all", "visitors", 500.0, None, None),  # no history
    ]
    return spark.createDataFrame(rows, SCHEMA)


def test_a_window_is_expected_to_look_like_the_same_window_on_the_days_before(
        spark: SparkSession) -> None:
    rows = {(r.kpi_date.hour, r.kpi_date.minute, r.kpi_date.date()): r for r in
            live_baselines(_live(spark), days=7).collect()}
    ten = rows[(10, 0, TODAY)]
    # 96 100 100 104: median 100; deviations 4 0 0 4: median 2.
    assert ten.expected == 100.0 and ten.history == 4
    assert math.isclose(ten.spread, MAD_TO_SD * 2)
    assert rows[(11, 0, TODAY)].history == 0 and rows[(11, 0, TODAY)].expected is None
    # Three days back has its own two days of history, not today's.
    assert rows[(10, 0, TODAY - dt.timedelta(days=3))].history == 1


def test_only_closed_windows_with_history_raise_alerts(spark: SparkSession) -> None:
    cutoff = dt.datetime(2026, 6, 30, 10, 6, tzinfo=UTC)  # 10:00-10:05 closed, 10:05 not
    alerts = live_alerts(_live(spark), RULES, days=7, closed_by=cutoff,
                         definitions=DEFINITIONS).collect()
    assert [(a.window_start.astimezone(UTC).strftime("%H:%M"), a.kpi, a.direction)
            for a in alerts] == [("10:00", "visitors", "down")]
    [alert] = alerts
    assert alert.alert_date == TODAY and alert.observed == 20.0 and alert.expected == 100.0
    assert alert.window_end.astimezone(UTC) == dt.datetime(2026, 6, 30, 10, 5, tzinfo=UTC)


def test_a_window_is_closed_once_the_watermark_has_passed_its_end() -> None:
    latest = dt.datetime(2026, 6, 30, 10, 30, tzinfo=UTC)
    assert closed_by(latest, 10) == dt.datetime(2026, 6, 30, 10, 20, tzinfo=UTC)
    assert closed_by(None, 10) is None
