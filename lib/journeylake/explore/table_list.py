"""List the lakehouse tables registered under the configured schema, with row counts."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.core.job_runner import (
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session


def print_tables(spark: SparkSession, config: Config) -> None:
    summary = lakehouse.table_summary(spark, config)
    if not summary:
        print(f"no tables registered in schema {config.lakehouse.database}")
        return
    width = max(len(name) for name, _, _ in summary)
    print(f"{'table':<{width}}  {'rows':>10}  location")
    for name, rows, location in summary:
        print(f"{name:<{width}}  {rows:>10}  {location}")


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("tables", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    print_tables(build_session(config), config)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tables", main))
