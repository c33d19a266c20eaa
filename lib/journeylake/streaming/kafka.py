"""Kafka through Spark's own connector (spark-sql-kafka-0-10, resolved by `make setup`): the
streaming source of `journeylake stream` and the batch sink of `journeylake replay`. One client
library for both directions, already on Spark's classpath: no second Kafka client in Python.

A broker that does not answer is found before Spark is asked (Spark's client would retry for a
minute and then fail with a Java stack trace), and reported in one line naming the setting and
`make kafka-up`.
"""

from __future__ import annotations

import socket

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import KafkaSettings
from journeylake.core.job_runner import JobError
from journeylake.core.spark_session import require_jvm_class

KAFKA_SOURCE_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"


class KafkaUnreachable(JobError):
    """No broker of streaming.kafka.bootstrap_servers answers."""


def servers(settings: KafkaSettings) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, _, port in
            (server.strip().rpartition(":") for server in settings.bootstrap_servers.split(","))]


def check_reachable(settings: KafkaSettings) -> None:
    """Return when one bootstrap server accepts a TCP connection; else a KafkaUnreachable
    that says how to start a broker or where to point the setting."""
    for host, port in servers(settings):
        try:
            with socket.create_connection((host, port), timeout=settings.connect_timeout_seconds):
                return
        except OSError:
            continue
    raise KafkaUnreachable(
        f"no Kafka broker answers at {settings.bootstrap_servers} "
        "(streaming.kafka.bootstrap_servers): start the local one with `make kafka-up`, or "
        "point --conf streaming.kafka.bootstrap_servers=HOST:PORT at yours"
    )


def require_connector(spark: SparkSession) -> None:
    require_jvm_class(
        spark, KAFKA_SOURCE_CLASS,
        "Spark's Kafka connector is not on the classpath: `make setup` resolves "
        "spark-sql-kafka-0-10 into .jars/kafka (deploy/spark-submit.sh passes it with --jars); "
        "on Databricks it is built in",
    )


def _client_options(settings: KafkaSettings) -> dict[str, str]:
    timeout_ms = str(int(settings.connect_timeout_seconds * 1000))
    return {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        # Fail a lost broker in seconds rather than the client's default minute.
        "kafka.request.timeout.ms": str(max(int(timeout_ms), 5000)),
        "kafka.default.api.timeout.ms": str(max(int(timeout_ms) * 2, 10000)),
    }


def read_stream(spark: SparkSession, settings: KafkaSettings, topic: str) -> DataFrame:
    """The topic as a stream of Spark's Kafka rows (key, value, topic, partition, offset, ...).

    Offsets live in the query's checkpoint, so a restarted query resumes after the last batch
    it committed; `failOnDataLoss` stays on: offsets deleted by retention before they were read
    stop the query instead of skipping records silently.
    """
    reader = spark.readStream.format("kafka").options(**_client_options(settings))
    return (
        reader.option("subscribe", topic)
        .option("startingOffsets", settings.starting_offsets)
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .option("failOnDataLoss", "true")
        .load()
    )


def write_values(values: DataFrame, settings: KafkaSettings, topic: str) -> None:
    """Send each row's `value` (text; `key` too when the frame has one) to `topic`."""
    (
        values.write.format("kafka")
        .options(**_client_options(settings))
        .option("topic", topic)
        .save()
    )
