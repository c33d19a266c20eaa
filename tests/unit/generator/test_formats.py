from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from journeylake.generator.formats import csv_line, iso_utc, json_line, sql_utc


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


@pytest.fixture
def new_york_session(spark: SparkSession) -> Iterator[SparkSession]:
    """The shared session, set to a zone far from UTC for the length of one test."""
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        yield spark
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)


def test_timestamps_are_spelled_in_utc_whatever_the_session_time_zone(
    new_york_session: SparkSession,
) -> None:
    spark = new_york_session
    moments = [
        dt.datetime(2026, 6, 1, 10, 15, 30, 123000),
        dt.datetime(2028, 2, 29, 23, 59, 59, 7000),
        dt.datetime(1999, 12, 31, 0, 0, 0),
    ]
    actual = spark.createDataFrame([(_epoch_ms(m),) for m in moments], "ms long").selectExpr(
        f"{iso_utc('ms')} AS iso", f"{sql_utc('ms')} AS plain"
    )
    expected = spark.createDataFrame(
        [
            ("2026-06-01T10:15:30.123Z", "2026-06-01 10:15:30"),
            ("2028-02-29T23:59:59.007Z", "2028-02-29 23:59:59"),
            ("1999-12-31T00:00:00.000Z", "1999-12-31 00:00:00"),
        ],
        "iso string, plain string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_csv_fields_are_quoted_only_when_they_hold_a_comma_a_quote_or_a_line_break(
    spark: SparkSession,
) -> None:
    rows = [
        ("plain", "JourneyLake Paris, Centre", 'Quartier "Les Halles"', None),
        ("two\nlines", "", '[{"a":1}]', "x"),
    ]
    actual = spark.createDataFrame(rows, "a string, b string, c string, d string").selectExpr(
        f"{csv_line(['a', 'b', 'c', 'd'])} AS line"
    )
    expected = spark.createDataFrame(
        [
            ('plain,"JourneyLake Paris, Centre","Quartier ""Les Halles""",',),
            ('"two\nlines",,"[{""a"":1}]",x',),
        ],
        "line string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_json_lines_leave_out_null_fields_and_keep_numbers_as_numbers(
    spark: SparkSession,
) -> None:
    actual = spark.createDataFrame(
        [("e1", None, 19.99), ("e2", "C000001", None)], "id string, user string, price double"
    ).selectExpr(
        json_line({"event_id": "id", "user_id": "user",
                   "price": "CAST(price AS DECIMAL(18,2))"}) + " AS line"
    )
    expected = spark.createDataFrame(
        [('{"event_id":"e1","price":19.99}',), ('{"event_id":"e2","user_id":"C000001"}',)],
        "line string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
