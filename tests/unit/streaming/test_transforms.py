"""Streamed records become the lines batch ingestion reads, and a micro-batch's id is stable."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from journeylake.streaming.transforms import kafka_lines, stream_batch_id, stream_batch_prefix


def test_a_kafka_message_is_a_line_named_by_topic_partition_and_offset(spark: SparkSession
                                                                       ) -> None:
    messages = spark.createDataFrame(
        [(bytearray(b'{"event_id": "e1"}'), "clicks", 0, 41),
         (None, "clicks", 1, 7)],  # a tombstone: no value
        "value binary, topic string, partition int, offset bigint")
    expected = spark.createDataFrame(
        [('{"event_id": "e1"}', "kafka://clicks/0/41"), ("", "kafka://clicks/1/7")],
        "_raw string, _source_file string")
    assert_df_equality(kafka_lines(messages), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_kafka_lines_names_the_columns_it_lacks(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="offset"):
        kafka_lines(spark.createDataFrame([("x", "t", 0)], "value string, topic string, "
                                          "partition int"))


def test_a_micro_batch_id_carries_the_query_and_the_batch_number() -> None:
    batch_id = stream_batch_id("clickstream", "5fbe092c-1111-2222", 12)
    assert batch_id == "clickstream-stream-5fbe092c-00000012"
    assert batch_id.startswith(stream_batch_prefix("clickstream"))
