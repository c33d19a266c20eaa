"""The live alert rules as the stream runs them after each live micro-batch: gold_alerts_live
holds the alerts of the days the changed windows fall on, replaced on every run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from journeylake.core import lakehouse
from journeylake.kpis.tables import ALERTS_LIVE
from journeylake.streaming.job import alert_live
from journeylake.streaming.tables import LIVE_KPIS, UPDATED_AT
from tests.conftest import make_config

UTC = dt.timezone.utc
TODAY = dt.date(2026, 6, 30)


def _rows(today_orders: float) -> list[tuple]:
    rows = []
    for back in range(4):
        day = TODAY - dt.timedelta(days=back)
        for minute in (0, 5, 10, 15, 20):
            start = dt.datetime(day.year, day.month, day.day, 12, minute, tzinfo=UTC)
            orders = today_orders if (back == 0 and minute == 0) else 40.0 + minute % 3
            rows.append((day, start, start + dt.timedelta(minutes=5), "all", "all", "orders",
                         orders, None, None))
    return rows


def _write(spark: SparkSession, config, rows: list[tuple]) -> None:  # noqa: ANN001
    schema = StructType([f for f in LIVE_KPIS.schema.fields if f.name != UPDATED_AT])
    frame = spark.createDataFrame(rows, schema).withColumn(UPDATED_AT, F.current_timestamp())
    lakehouse.overwrite_table(spark, config, LIVE_KPIS, frame)


def test_live_alerts_follow_the_windows_as_they_change(spark: SparkSession, tmp_path: Path
                                                       ) -> None:
    config = make_config(tmp_path)
    _write(spark, config, _rows(today_orders=0.0))
    changed = lakehouse.read_table(spark, config, LIVE_KPIS).where(F.col("kpi_date") == TODAY)
    assert alert_live(spark, config, changed) == 1
    [alert] = lakehouse.read_table(spark, config, ALERTS_LIVE).collect()
    assert (alert.kpi, alert.direction, alert.observed) == ("orders", "down", 0.0)
    assert alert.window_start.astimezone(UTC).hour == 12 and alert.window_start.minute == 0

    # The 12:00 window is corrected by late events: its alert goes, in the same run.
    _write(spark, config, _rows(today_orders=41.0))
    assert alert_live(spark, config, changed) == 0
    assert lakehouse.read_table(spark, config, ALERTS_LIVE).count() == 0
