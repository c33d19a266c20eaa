"""`journeylake <command>`: one console script for every job."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from journeylake.core.job_runner import run_main

COMMANDS = {
    "generate": ("journeylake.generator.job", "write a realistic raw data set with planted truth"),
    "ingest": ("journeylake.bronze.job", "load landed files into bronze Delta tables"),
    "silver": ("journeylake.silver.job", "identity map, unified timeline, store visits, sessions"),
    "gold": ("journeylake.gold.job",
             "journeys, journey graph, funnels, cohorts, attribution, social influence"),
    "train": ("journeylake.models.job:main_train",
              "features, segments, propensity scores, CLV, recommendations; MLflow registry"),
    "score": ("journeylake.models.job:main_score", "score customers with the champion models"),
    "kpis": ("journeylake.kpis.job", "daily KPIs overall, per channel and per segment"),
    "stream": ("journeylake.streaming.job",
               "Kafka or a landing folder -> bronze and quarantine (exactly once), gold_kpis_live"),
    "replay": ("journeylake.streaming.replay",
               "send a generated day of clickstream to a Kafka topic at a chosen rate"),
    "dashboard": ("journeylake.dashboard.job",
                  "one self-contained HTML page of charts from the gold tables; --serve"),
    "forget": ("journeylake.privacy.job",
               "erase customers from every table and every readable Delta version"),
    "run": ("journeylake.pipeline", "the whole pipeline on the configured environment"),
    "tables": ("journeylake.explore.table_list",
               "list lakehouse tables with row counts and locations"),
    "sql": ("journeylake.explore.sql_shell", "open spark-sql on the lakehouse tables"),
}

USAGE = "usage: journeylake <command> [options]   (journeylake <command> --help for its options)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE + "\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<10} {summary}")
        print(
            "\ncommon options: --env {local,cluster,databricks}  --conf KEY=VALUE  --conf-dir DIR"
        )
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(
            f"journeylake: unknown command {command!r}; one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    # "package.module" runs its `main`; "package.module:function" names another.
    module_name, _, function = COMMANDS[command][0].partition(":")
    module = importlib.import_module(module_name)
    return run_main(command, getattr(module, function or "main"), rest)


if __name__ == "__main__":
    sys.exit(main())
