"""Open spark-sql on the lakehouse: the same jars, Delta settings and metastore as the jobs, so
tables are queried by name (`SELECT * FROM journeylake.bronze_clickstream LIMIT 5`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pyspark

from journeylake.core.config import Config
from journeylake.core.job_runner import add_config_arguments, config_from_args, run_main
from journeylake.core.spark_session import DELTA_SETTINGS, local_jars, local_metastore_settings


def spark_sql_command(config: Config, sql_args: Sequence[str]) -> list[str]:
    """The spark-sql command line for the configured local lakehouse."""
    settings = {**DELTA_SETTINGS, **config.spark.conf}
    if config.spark.catalog == "hive":
        settings.update(local_metastore_settings(config))
    command = [
        str(Path(pyspark.__file__).parent / "bin" / "spark-sql"),
        "--master", config.spark.master,
        "--jars", ",".join(local_jars(config.spark, config.project_root)),
    ]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "--database", config.lakehouse.database, *sql_args]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="journeylake sql", description=__doc__.splitlines()[0],
        epilog="Anything after -- goes to spark-sql, e.g. journeylake sql -- -e 'SHOW TABLES'",
    )
    add_config_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    config = config_from_args(args)
    if config.spark.catalog != "hive":
        parser.error("spark-sql needs the persistent catalog: use --env local or "
                     "--conf spark.catalog=hive")
    command = spark_sql_command(config, [arg for arg in rest if arg != "--"])
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(run_main("sql", main))
