"""Send a generated day of clickstream to a Kafka topic at a chosen rate, in event-time order, so
a running `journeylake stream` can be watched taking it in.

The day is the generator's own (`generator.dataset.build_dataset` over one day), bad records
planted at generate.bad_share included, so the quarantine fills too. Messages go through Spark's
Kafka sink: one small write per second of replay.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from journeylake.core.clock import utc_now
from journeylake.core.config import Config, GenerateSettings
from journeylake.core.job_runner import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session
from journeylake.generator.dataset import build_dataset
from journeylake.streaming import kafka

log = logging.getLogger("journeylake.replay")
SEQUENCE = "_sequence"


@dataclass(frozen=True)
class ReplayOutcome:
    topic: str
    day: str
    sent: int
    bad: int
    seconds: float


def day_settings(config: Config, day: str, customers: int | None = None,
                 seed: int | None = None) -> GenerateSettings:
    """The generator's settings for the one day `day` (YYYY-MM-DD)."""
    try:
        date.fromisoformat(day)
    except ValueError:
        raise JobError(f"--day: {day!r} is not a date in the form YYYY-MM-DD") from None
    return dataclasses.replace(
        config.generate, days=1, end_date=day,
        customers=customers or config.streaming.replay.customers,
        seed=config.generate.seed if seed is None else seed,
    )


def in_send_order(lines: DataFrame) -> DataFrame:
    """`value`, `bad_kind` and `_sequence` (0, 1, ...): the lines ordered by the time they carry,
    as a tracker would send them (a line without a readable time, one of the planted bad ones,
    goes by its text). One day of one source: a global order is affordable."""
    sent_at = F.coalesce(F.get_json_object("value", "$.timestamp"), F.lit(""))
    order = Window.orderBy(sent_at, F.col("value"))
    return lines.select("value", "bad_kind",
                        (F.row_number().over(order) - 1).alias(SEQUENCE))


def replay(
    spark: SparkSession,
    config: Config,
    topic: str,
    events_per_second: float,
    settings: GenerateSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayOutcome:
    """Send the day's clickstream lines to `topic`, about `events_per_second` of them a second
    (one write per second; a write that takes longer slows the replay, never drops lines)."""
    if not events_per_second > 0:
        raise JobError(f"--rate must be positive, got {events_per_second}")
    kafka.check_reachable(config.streaming.kafka)
    kafka.require_connector(spark)
    lines = in_send_order(build_dataset(spark, settings).labeled["clickstream"]).persist()
    stats = lines.agg(F.count(F.lit(1)).alias("lines"),
                      F.count("bad_kind").alias("bad")).first()
    per_write = max(1, math.floor(events_per_second))
    interval = per_write / events_per_second
    writes = math.ceil(stats["lines"] / per_write)
    log.info("replay: %d lines of %s (%d planted bad) to %s, %d a write every %.2f s",
             stats["lines"], settings.end_date, stats["bad"], topic, per_write, interval)
    started = time.monotonic()
    for index in range(writes):
        chunk = lines.where(F.col(SEQUENCE).between(index * per_write,
                                                    (index + 1) * per_write - 1))
        kafka.write_values(chunk.select("value"), config.streaming.kafka, topic)
        ahead = started + (index + 1) * interval - time.monotonic()
        if ahead > 0:
            sleep(ahead)
        if index % 10 == 9:
            log.info("replay: %d of %d lines sent", min((index + 1) * per_write,
                                                         stats["lines"]), stats["lines"])
    lines.unpersist()
    return ReplayOutcome(topic, settings.end_date, stats["lines"], stats["bad"],
                         time.monotonic() - started)


def parser() -> argparse.ArgumentParser:
    parser = job_parser("replay", __doc__.splitlines()[0])
    parser.add_argument("--topic", help="Kafka topic (default: streaming.kafka.topic)")
    parser.add_argument("--rate", type=float, metavar="EVENTS_PER_SEC",
                        help="events sent per second (default: "
                        "streaming.replay.events_per_second)")
    parser.add_argument("--day", help="the generated day, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--customers", type=int,
                        help="customers of the generated day (default: streaming.replay.customers)")
    parser.add_argument("--seed", type=int, help="generator seed (default: generate.seed)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    settings = day_settings(config, args.day or utc_now().date().isoformat(), args.customers,
                            args.seed)
    kafka.check_reachable(config.streaming.kafka)  # before the minute a session takes
    spark = build_session(config)
    outcome = replay(spark, config, args.topic or config.streaming.kafka.topic,
                     args.rate or config.streaming.replay.events_per_second, settings)
    print(f"replay: sent {outcome.sent} clickstream lines of {outcome.day} ({outcome.bad} "
          f"planted bad) to {outcome.topic} in {outcome.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("replay", main))
