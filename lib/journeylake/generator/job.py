"""Generate a realistic raw data set (clickstream, social, geolocation, transactions, stores)
with planted ground truth, as the sources would land it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from journeylake.core.config import Config, GenerateSettings
from journeylake.core.job_runner import (
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session
from journeylake.generator.anomalies import parse_anomaly
from journeylake.generator.window import check_settings
from journeylake.generator.writer import generate


def parser() -> argparse.ArgumentParser:
    parser = job_parser("generate", __doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, help="number of customers (generate.customers)")
    parser.add_argument("--days", type=int, help="days of activity ending at --end-date")
    parser.add_argument("--seed", type=int, help="the same seed gives the same data")
    parser.add_argument("--end-date", help="last day of activity, YYYY-MM-DD")
    parser.add_argument("--bad-share", type=float, help="share of corrupted rows per source")
    parser.add_argument("--files-per-source", type=int, help="files written per source")
    parser.add_argument(
        "--anomaly", action="append", default=[], metavar="KIND_AND_DAY",
        help="plant an anomaly (repeatable; added to generate.anomalies), e.g. "
        "kind=checkout_broken,date=2026-06-25,start_hour=10,end_hour=18 or "
        "kind=campaign_spike,date=2026-06-27,channel=email,lift=3 or "
        "kind=tracking_outage,date=2026-06-28,channel=paid_search")
    parser.add_argument("--out", help="landing folder (default: lakehouse.landing_root)")
    parser.add_argument(
        "--batch",
        default="batch-0000",
        help="label of this delivery; a new label adds files beside earlier ones",
    )
    return parser


def settings_from_args(args: argparse.Namespace, config: Config) -> GenerateSettings:
    chosen = {
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
        "end_date": args.end_date,
        "bad_share": args.bad_share,
        "files_per_source": args.files_per_source,
    }
    chosen["anomalies"] = (*config.generate.anomalies,
                           *(parse_anomaly(text) for text in args.anomaly)) or None
    return dataclasses.replace(
        config.generate, **{key: value for key, value in chosen.items() if value is not None}
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    settings = settings_from_args(args, config)
    check_settings(settings)  # a wrong setting fails before the minute a session takes
    out = config.resolve(args.out or config.lakehouse.landing_root)
    spark = build_session(config)
    manifest = generate(spark, settings, out, batch=args.batch)
    print(json.dumps(manifest, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("generate", main))
