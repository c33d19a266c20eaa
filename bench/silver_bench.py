"""Benchmark: silver (identity, timeline, store visits, sessions) and gold (journeys, graph,
funnels, cohorts, attribution, influence) on a generated data set, and the quality of the
stitched persons against the planted truth.

    .venv/bin/python bench/silver_bench.py --customers 6500 --days 30     # about 1M events
    .venv/bin/python bench/silver_bench.py --customers 65000 --days 30    # about 10M events

"Events" are the bronze rows silver reads: clickstream, social, transactions and location
pings. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

from pyspark.sql import functions as F

from journeylake.bronze.job import ingest
from journeylake.core import lakehouse
from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.generator import generate
from journeylake.gold.job import build_gold
from journeylake.silver.identity_quality import pairwise_quality, truth_nodes
from journeylake.silver.job import build_silver
from journeylake.silver.pseudonymisation import KEY_ENV, load_key
from journeylake.silver.tables import EVENTS, IDENTITY_MAP, SESSIONS

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=6500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=str(ROOT / "data" / "bench-silver"))
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    os.environ.setdefault(KEY_ENV, "benchmark-only-key-0123456789")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    config = load_config("local", [
        f"lakehouse.root={work / 'lakehouse'}",
        f"lakehouse.landing_root={work / 'landing'}",
        f"spark.checkpoint_dir={work / 'checkpoints'}",
        "spark.catalog=in-memory",
        f"spark.conf.spark.driver.memory={args.driver_memory}",
    ])
    settings = dataclasses.replace(config.generate, customers=args.customers, days=args.days,
                                   seed=args.seed)
    spark = build_session(config)
    spark.sparkContext.setLogLevel("ERROR")
    landing = config.resolve(config.lakehouse.landing_root)
    started = time.perf_counter()
    generate(spark, settings, landing)
    ingest(spark, config)
    prepared = time.perf_counter() - started

    key = load_key(None)
    started = time.perf_counter()
    outcome = build_silver(spark, config, key)
    silver_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rerun = build_silver(spark, config, key)
    rerun_seconds = time.perf_counter() - started

    counts = outcome.counts
    events_in = sum(v for k, v in counts.items() if k.startswith("rows_in_"))
    cores = os.cpu_count() or 1
    timeline = lakehouse.read_table(spark, config, EVENTS).count()
    sessions = lakehouse.read_table(spark, config, SESSIONS).count()
    truth = truth_nodes(spark.read.parquet(f"{landing}/_truth/identity_links"), key)
    predicted = lakehouse.read_table(spark, config, IDENTITY_MAP)
    overall = pairwise_quality(predicted, truth)
    links = lakehouse.read_table(spark, config, "silver_identity_links")
    evidenced = links.select(F.col("node_a").alias("node")).union(
        links.select(F.col("node_b").alias("node"))).distinct()
    linked_only = pairwise_quality(predicted.join(evidenced, "node", "left_semi"), truth)

    print(f"\n`bench/silver_bench.py --customers {args.customers} --days {args.days}` on {cores} "
          f"cores, master {config.spark.master} (generate + ingest first: {prepared:.0f} s)\n")
    print("| events read | timeline rows | sessions | silver wall s | events/s | "
          "events/s per core | re-run s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {events_in:,} | {timeline:,} | {sessions:,} | {silver_seconds:.1f} | "
          f"{events_in / silver_seconds:,.0f} | {events_in / silver_seconds / cores:,.0f} | "
          f"{rerun_seconds:.1f} ({rerun.status}) |")
    print("\n| step | wall s |\n|---|---:|")
    for step, value in outcome.seconds.items():
        print(f"| {step} | {value:.1f} |")
    started = time.perf_counter()
    gold = build_gold(spark, config)
    gold_seconds = time.perf_counter() - started
    print(f"\ngold: {gold_seconds:.1f} s wall for {timeline:,} timeline rows "
          f"({timeline / gold_seconds:,.0f} rows/s, {timeline / gold_seconds / cores:,.0f} per "
          "core)\n")
    print("| gold table | rows | wall s |\n|---|---:|---:|")
    for table, rows in gold.rows.items():
        print(f"| {table} | {rows:,} | {gold.seconds[table]:.1f} |")
    print("\n| identity counts | |\n|---|---:|")
    for name in ("identifiers", "persons", "identity_links", "identifiers_dropped",
                 "store_visits_written", "late_events"):
        print(f"| {name} | {counts.get(name, 0):,} |")
    print("\n| stitched persons vs planted truth | identifiers | precision | recall |")
    print("|---|---:|---:|---:|")
    print(f"| every identifier seen | {overall.identifiers:,} | {overall.precision:.4f} | "
          f"{overall.recall:.4f} |")
    print(f"| identifiers with any link evidence | {linked_only.identifiers:,} | "
          f"{linked_only.precision:.4f} | {linked_only.recall:.4f} |")


if __name__ == "__main__":
    main()
