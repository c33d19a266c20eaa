"""Run the pipeline end to end: generate data when the landing folder is empty, ingest it into
bronze, build silver and gold, train the models and score customers, compute the daily KPIs
and alerts, draw the dashboard, and list the tables it produced.

`--from STEP` and `--to STEP` run a part of it, e.g. `--from silver` after an ingest that was
run on its own, or again after a run that died in silver: every step is safe to run again."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from pyspark.sql import SparkSession

from journeylake.bronze.job import describe_outcome, ingest
from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.core.job_runner import (
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.progress import step
from journeylake.core.spark_session import build_session
from journeylake.dashboard.job import build_dashboard, describe_dashboard
from journeylake.explore.table_list import print_tables
from journeylake.generator.writer import generate
from journeylake.gold.job import build_gold
from journeylake.kpis.job import build_kpis, describe_kpis
from journeylake.models.job import describe_scoring, describe_training, score, train
from journeylake.silver.job import build_silver, describe
from journeylake.silver.pseudonymisation import PiiKey, load_key

# A step prints what it did and says whether the pipeline may go on.
Step = Callable[[SparkSession, Config, PiiKey], bool]
T = TypeVar("T")


def _generate(spark: SparkSession, config: Config, _: PiiKey) -> bool:
    landing = config.resolve(config.lakehouse.landing_root)
    if lakehouse.list_files(spark, landing, "*").limit(1).count() == 0:
        print(f"landing folder {landing} is empty: generating data ({config.generate})")
        generate(spark, config.generate, landing)
    else:
        print(
            f"landing folder {landing} has data; generating nothing "
            "(`journeylake generate --batch <new label>` adds a delivery)"
        )
    return True


def _ingest(spark: SparkSession, config: Config, _: PiiKey) -> bool:
    outcomes = ingest(spark, config)
    print("\ningestion:")
    for outcome in outcomes:
        print("  " + describe_outcome(outcome))
    if any(o.status.startswith("failed") for o in outcomes):
        print("ingestion failed for a source: silver not built")
        return False
    return True


def _silver(spark: SparkSession, config: Config, key: PiiKey) -> bool:
    print("\n" + describe(build_silver(spark, config, key)))
    return True


def _gold(spark: SparkSession, config: Config, _: PiiKey) -> bool:
    gold = build_gold(spark, config)
    print(f"\ngold run {gold.run_id}: " + ", ".join(
        f"{table} {rows:,} rows" for table, rows in gold.rows.items()))
    return True


def _described(job: Callable[[SparkSession, Config], T], describe: Callable[[T], str]) -> Step:
    """A step that runs `job` and prints what `describe` says of its outcome."""
    def run(spark: SparkSession, config: Config, _: PiiKey) -> bool:
        print("\n" + describe(job(spark, config)))
        return True
    return run


STEPS: dict[str, Step] = {
    "generate": _generate,
    "ingest": _ingest,
    "silver": _silver,
    "gold": _gold,
    "train": _described(train, describe_training),
    "score": _described(score, describe_scoring),
    "kpis": _described(build_kpis, describe_kpis),
    "dashboard": _described(build_dashboard, describe_dashboard),
}


def steps_between(first: str, last: str) -> list[str]:
    """The pipeline's steps from `first` to `last`, both included, in order."""
    names = list(STEPS)
    if names.index(first) > names.index(last):
        raise argparse.ArgumentTypeError(f"--from {first} comes after --to {last}")
    return names[names.index(first):names.index(last) + 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("run", __doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", choices=STEPS, default="generate",
                        help="the first step to run (default: generate)")
    parser.add_argument("--to", dest="last", choices=STEPS, default="dashboard",
                        help="the last step to run (default: dashboard)")
    args = parser.parse_args(argv)
    try:
        names = steps_between(args.first, args.last)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    configure_logging()
    config = config_from_args(args)
    # The key first: a missing one should fail before minutes of Spark work.
    key = load_key(config.resolve(config.privacy.key_file) if config.privacy.key_file else None)
    spark = build_session(config)
    for name in names:
        step(name)
        if not STEPS[name](spark, config, key):
            return 1
    print(f"\nlakehouse {config.resolve(config.lakehouse.root)}:")
    print_tables(spark, config)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("run", main))
