"""Benchmark: KPI baselines and alerts on many series over many days.

    .venv/bin/python bench/alerts_bench.py --series 1000 --days 365

The KPI rows are synthetic (counts around 500 with Poisson-like noise, busier weekends, and a
drop planted on the last day of every tenth series), so the benchmark measures
`kpis.baselines.kpi_baselines`, `kpis.alerts.kpi_bands` and `detect_alerts`: the range
self-join grows as series x days x window. Prints a Markdown row: rows, wall seconds of the
baselines and bands (written to a Delta table, as the job does) and of the alerts, and the
alerts found against the planted ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.kpis.alerts import AlertRules, detect_alerts, kpi_bands
from journeylake.kpis.baselines import kpi_baselines

ROOT = Path(__file__).resolve().parents[1]


def synthetic_kpis(spark: SparkSession, series: int, days: int) -> DataFrame:
    """KPI_COLUMNS rows: `series` channel series of `sessions` over `days` days to 2026-06-30."""
    grid = spark.range(series * days).select(
        (F.col("id") % series).alias("s"), (F.col("id") / series).cast("int").alias("d"))
    day = F.date_sub(F.lit("2026-06-30").cast("date"), days - 1 - F.col("d"))
    noise = (F.abs(F.xxhash64("s", "d")) % 1_000_003) / 1_000_003.0 - 0.5
    weekend = F.when(F.weekday(day) >= 5, F.lit(1.3)).otherwise(F.lit(1.0))
    planted = (F.col("d") == days - 1) & (F.col("s") % 10 == 0)
    value = F.when(planted, F.lit(100.0)).otherwise(
        F.round(500 * weekend + noise * 2 * F.sqrt(500 * weekend) * 1.7))
    return grid.select(day.alias("kpi_date"), F.lit("channel").alias("breakdown"),
                       F.concat(F.lit("c"), F.col("s").cast("string")).alias("breakdown_value"),
                       F.lit("sessions").alias("kpi"), value.cast("double").alias("value"),
                       F.lit(None).cast("double").alias("numerator"),
                       F.lit(None).cast("double").alias("denominator"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config("local", [f"lakehouse.root={tmp}/lake", "spark.catalog=in-memory",
                                       f"spark.checkpoint_dir={tmp}/checkpoints"],
                             conf_dir=ROOT / "conf")
        spark = build_session(config)
        rules = AlertRules(kpis=("sessions",))
        kpis = synthetic_kpis(spark, args.series, args.days)
        kpis.write.format("delta").save(f"{tmp}/kpis")
        stored = spark.read.format("delta").load(f"{tmp}/kpis")
        started = time.perf_counter()
        bands = kpi_bands(kpi_baselines(stored, window_days=28), rules)
        bands.write.format("delta").save(f"{tmp}/bands")
        banded = time.perf_counter()
        alerts = detect_alerts(spark.read.format("delta").load(f"{tmp}/bands"), rules)
        found = alerts.where(F.col("alert_date") == F.lit("2026-06-30").cast("date")).count()
        total = alerts.count()
        done = time.perf_counter()
        print("| series x days | rows | baselines and bands s | alerts s | alerts (planted) |")
        print("|---|---:|---:|---:|---:|")
        print(f"| {args.series:,} x {args.days} | {args.series * args.days:,} | "
              f"{banded - started:.1f} | {done - banded:.1f} | {total} ({found} on the planted "
              f"day; {(args.series + 9) // 10} planted) |")
        spark.stop()


if __name__ == "__main__":
    main()
