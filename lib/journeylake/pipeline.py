"""Run the pipeline end to end: generate data when the landing folder is empty, ingest it into
bronze, build silver and gold, train the models and score customers, compute the daily KPIs
and alerts, draw the dashboard, and list the tables it produced."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from journeylake.bronze.job import describe_outcome, ingest
from journeylake.core import lakehouse
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
from journeylake.silver.pseudonymisation import load_key


def main(argv: Sequence[str] | None = None) -> int:
    args = job_parser("run", __doc__.splitlines()[0]).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    # The key first: a missing one should fail before minutes of Spark work.
    key = load_key(config.resolve(config.privacy.key_file) if config.privacy.key_file else None)
    spark = build_session(config)
    landing = config.resolve(config.lakehouse.landing_root)
    if lakehouse.list_files(spark, landing, "*").limit(1).count() == 0:
        print(f"landing folder {landing} is empty: generating data ({config.generate})")
        step("generate")
        generate(spark, config.generate, landing)
    else:
        print(
            f"landing folder {landing} has data; generating nothing "
            "(`journeylake generate --batch <new label>` adds a delivery)"
        )
    step("ingest")
    outcomes = ingest(spark, config)
    print("\ningestion:")
    for outcome in outcomes:
        print("  " + describe_outcome(outcome))
    if any(o.status.startswith("failed") for o in outcomes):
        print("ingestion failed for a source: silver not built")
        return 1
    step("silver")
    print("\n" + describe(build_silver(spark, config, key)))
    step("gold")
    gold = build_gold(spark, config)
    print(f"\ngold run {gold.run_id}: " + ", ".join(
        f"{table} {rows:,} rows" for table, rows in gold.rows.items()))
    step("train")
    print("\n" + describe_training(train(spark, config)))
    step("score")
    print("\n" + describe_scoring(score(spark, config)))
    step("kpis")
    print("\n" + describe_kpis(build_kpis(spark, config)))
    step("dashboard")
    print("\n" + describe_dashboard(build_dashboard(spark, config)))
    print(f"\nlakehouse {config.resolve(config.lakehouse.root)}:")
    print_tables(spark, config)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("run", main))
