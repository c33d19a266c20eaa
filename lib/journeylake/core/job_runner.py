"""What every job shares: the command line for environment and overrides, logging, the session."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from journeylake.core.config import ENVIRONMENTS, Config, load_config, parse_overrides
from journeylake.core.errors import UserError
from journeylake.core.faults import check_crash_setting
from journeylake.core.progress import job_progress


def job_parser(command: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"journeylake {command}", description=description)
    add_config_arguments(parser)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        default="local",
        choices=ENVIRONMENTS,
        help="configuration profile: conf/base.yaml merged with conf/<env>.yaml (default: local)",
    )
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --conf lakehouse.root=/tmp/lake "
        "--conf spark.conf.spark.sql.shuffle.partitions=16 (repeatable)",
    )
    parser.add_argument("--conf-dir", default=None, help="configuration folder (default: conf/)")


def config_from_args(args: argparse.Namespace, extra: Sequence[str] = ()) -> Config:
    return load_config(args.env, [*parse_overrides(args.conf), *extra], conf_dir=args.conf_dir)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # py4j logs every gateway call at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)


class JobError(UserError, RuntimeError):
    """A job stopped for a reason its user can fix; the message says what and where."""


def run_main(command: str, main: Callable[[Sequence[str] | None], int],
             argv: Sequence[str] | None = None) -> int:
    """Run a job's `main` under its console progress, turning a user error into one readable
    line on stderr."""
    try:
        check_crash_setting()
        with job_progress(command):
            return main(argv)
    except UserError as error:
        logging.getLogger(f"journeylake.{command}").debug("stopped", exc_info=True)
        print(f"journeylake {command}: error: {error}", file=sys.stderr)
        return 2
