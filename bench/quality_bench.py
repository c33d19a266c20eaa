"""Benchmark: the data-quality expectations of every configured table of an existing lakehouse,
evaluated (read only: nothing is written, no audit row, no constraint).

    .venv/bin/python bench/quality_bench.py [--conf lakehouse.root=/path/to/lakehouse]

Prints a Markdown row per table: rows, expectations, failed ones and wall seconds of
`core.quality.evaluate` (the aggregate, the unique and references passes, the samples).
"""

from __future__ import annotations

import argparse
import time

from journeylake.core import lakehouse, quality
from journeylake.core.clock import utc_now
from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.gold import tables as gold
from journeylake.kpis import tables as kpis
from journeylake.models import tables as models
from journeylake.silver import tables as silver

SPECS = {spec.name: spec for spec in (*silver.TABLES, *gold.TABLES, *models.TABLES,
                                      *kpis.TABLES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", action="append", default=[])
    args = parser.parse_args()
    config = load_config("local", args.conf)
    spark = build_session(config)
    spark.sparkContext.setLogLevel("ERROR")
    now = utc_now()
    print("| table | rows | expectations | failed | seconds |\n|---|---|---|---|---|")
    total = 0.0
    for name, settings in config.quality.tables.items():
        spec = SPECS[name]
        if not lakehouse.table_exists(spark, config, spec):
            continue
        rows = lakehouse.read_table(spark, config, spec)
        others = quality.referenced_tables(settings.expectations)
        references = {other: lakehouse.read_table(spark, config, other) for other in others}
        started = time.perf_counter()
        results = quality.evaluate(name, rows, settings.expectations,
                                   lakehouse.sample_columns(config, spec), references, now,
                                   config.quality.sample_size)
        seconds = time.perf_counter() - started
        total += seconds
        failed = [r.expectation for r in results if not r.passed]
        print(f"| {name} | {results[0].rows_checked if results else 0:,} | {len(results)} | "
              f"{', '.join(failed) or '-'} | {seconds:.1f} |")
    print(f"| all | | | | {total:.1f} |")


if __name__ == "__main__":
    main()
