"""Benchmark: generate a data set and ingest it into bronze, timing each stage.

    .venv/bin/python bench/run_bench.py --customers 20000 --days 30
    make bench                       # the default scale below

Prints a Markdown table for docs/benchmarks.md. Wall times include Spark job scheduling; the
machine's cores are shared by the driver and the local executors.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

from journeylake.bronze.job import ingest
from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.generator import generate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=str(ROOT / "data" / "bench"))
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    config = load_config(
        "local",
        [
            f"lakehouse.root={work / 'lakehouse'}",
            f"lakehouse.landing_root={work / 'landing'}",
            f"spark.checkpoint_dir={work / 'checkpoints'}",
            "spark.catalog=in-memory",
            f"spark.conf.spark.driver.memory={args.driver_memory}",
        ],
    )
    settings = dataclasses.replace(
        config.generate, customers=args.customers, days=args.days, seed=args.seed
    )
    spark = build_session(config)
    spark.sparkContext.setLogLevel("ERROR")

    started = time.perf_counter()
    manifest = generate(spark, settings, config.resolve(config.lakehouse.landing_root))
    generated = time.perf_counter() - started

    started = time.perf_counter()
    outcomes = ingest(spark, config)
    ingested = time.perf_counter() - started

    started = time.perf_counter()
    rerun = ingest(spark, config)
    rerun_seconds = time.perf_counter() - started

    rows = sum(o.counts.rows_read for o in outcomes)
    cores = os.cpu_count()
    print(f"\n`bench/run_bench.py --customers {args.customers} --days {args.days}` "
          f"on {cores} cores, master {config.spark.master}\n")
    print("| stage | rows | wall s | rows/s | rows/s per core |")
    print("|---|---:|---:|---:|---:|")
    stages = (("generate + write raw files", generated), ("ingest to bronze", ingested))
    for name, seconds in stages:
        print(f"| {name} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} | "
              f"{rows / seconds / cores:,.0f} |")
    print(f"| re-run ingest (no new files) | 0 | {rerun_seconds:.1f} | | |")
    print("\n| source | read | kept | quarantined |")
    print("|---|---:|---:|---:|")
    for outcome in outcomes:
        c = outcome.counts
        print(f"| {outcome.source} | {c.rows_read:,} | {c.rows_kept:,} | {c.rows_quarantined:,} |")
    assert all(o.status == "no_new_files" for o in rerun), "re-run ingested something"
    del manifest


if __name__ == "__main__":
    main()
