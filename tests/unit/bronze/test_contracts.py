"""Each validation rule of a source contract, on a handful of raw lines."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import ContractError, check_json_types
from journeylake.bronze.ingestion import validate_records
from journeylake.bronze.tables import ERRORS, RAW, SOURCE_FILE
from journeylake.core.config import ConfigError, CsvOptions, FieldSpec, SourceSpec
from journeylake.core.source_spec import check_type

INGESTED_AT = datetime(2026, 7, 1, 12, 0, 0)

EVENTS = SourceSpec(
    name="events",
    format="json",
    path="events",
    key=("event_id",),
    event_time="ts",
    fields=(
        FieldSpec("event_id", required=True),
        FieldSpec("ts", type="timestamp", source="timestamp", required=True),
        FieldSpec("kind", allowed=("view", "buy")),
        FieldSpec("price", type="decimal(18,2)", min=0),
        FieldSpec("tags", type="json:array<string>"),
    ),
)

PINGS = SourceSpec(
    name="pings",
    format="csv",
    path="pings",
    key=("device", "ts"),
    hash_key=True,
    event_time="ts",
    csv=CsvOptions(delimiter=";"),
    fields=(
        FieldSpec("device", source="Device", required=True),
        FieldSpec("lat", type="double", min=-90, max=90, required=True),
        FieldSpec("ts", source="When", type="timestamp", format="dd/MM/yyyy HH:mm", required=True),
    ),
)


def validate(spark: SparkSession, source: SourceSpec, *lines: str) -> DataFrame:
    raw = spark.createDataFrame(
        [(line, "file:/f") for line in lines], f"{RAW} string, {SOURCE_FILE} string"
    )
    return validate_records(raw, source, F.lit(INGESTED_AT), max_future_hours=24)


def codes_of(spark: SparkSession, source: SourceSpec, line: str) -> list[str]:
    row = validate(spark, source, line).select(F.transform(ERRORS, lambda e: e["code"])).first()
    return row[0]


def messages_of(spark: SparkSession, source: SourceSpec, line: str) -> list[str]:
    row = validate(spark, source, line).select(F.transform(ERRORS, lambda e: e["message"])).first()
    return row[0]


GOOD = '{"event_id":"e1","timestamp":"2026-06-30T10:00:00Z","kind":"view","price":9.5,"tags":["a"]}'


def test_valid_json_record_is_typed_and_has_no_problems(spark: SparkSession) -> None:
    actual = validate(spark, EVENTS, GOOD).select("event_id", "ts", "kind", "price", "tags", ERRORS)
    expected = spark.createDataFrame(
        [("e1", datetime(2026, 6, 30, 10, 0), "view", Decimal("9.50"), ["a"], [])],
        "event_id string, ts timestamp, kind string, price decimal(18,2), tags array<string>, "
        "_errors array<struct<code:string,message:string>>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_truncated_json_is_malformed_and_nothing_else(spark: SparkSession) -> None:
    assert messages_of(spark, EVENTS, GOOD[:-10]) == ["not a valid JSON record"]
    assert codes_of(spark, EVENTS, GOOD[:-10]) == ["malformed_record"]


def test_json_that_is_not_one_object_is_malformed(spark: SparkSession) -> None:
    assert codes_of(spark, EVENTS, '["e1"]') == ["malformed_record"]
    assert codes_of(spark, EVENTS, GOOD + " trailing") == ["malformed_record"]


def test_missing_required_field_names_the_field(spark: SparkSession) -> None:
    line = '{"timestamp":"2026-06-30T10:00:00Z","kind":"view"}'
    assert messages_of(spark, EVENTS, line) == ["required field event_id is missing"]


def test_wrong_type_shows_the_value(spark: SparkSession) -> None:
    line = '{"event_id":"e1","timestamp":"2026-06-30T10:00:00Z","price":"n/a"}'
    assert messages_of(spark, EVENTS, line) == ["price: 'n/a' is not a valid decimal(18,2)"]


def test_negative_amount_is_out_of_range(spark: SparkSession) -> None:
    line = '{"event_id":"e1","timestamp":"2026-06-30T10:00:00Z","price":-3}'
    assert messages_of(spark, EVENTS, line) == ["price '-3.00' is below the minimum 0"]


def test_value_outside_the_allowed_list_is_rejected(spark: SparkSession) -> None:
    line = '{"event_id":"e1","timestamp":"2026-06-30T10:00:00Z","kind":"pageview"}'
    assert codes_of(spark, EVENTS, line) == ["not_allowed"]


def test_timestamp_far_in_the_future_is_rejected(spark: SparkSession) -> None:
    line = '{"event_id":"e1","timestamp":"2029-01-01T00:00:00Z"}'
    assert codes_of(spark, EVENTS, line) == ["future_timestamp"]


def test_timestamp_within_the_tolerance_is_accepted(spark: SparkSession) -> None:
    # 23 hours after ingestion, inside the 24-hour tolerance for clock skew.
    line = '{"event_id":"e1","timestamp":"2026-07-02T11:00:00Z"}'
    assert codes_of(spark, EVENTS, line) == []


def test_unparseable_timestamp_is_a_bad_type(spark: SparkSession) -> None:
    line = '{"event_id":"e1","timestamp":"yesterday"}'
    assert codes_of(spark, EVENTS, line) == ["bad_type"]


def test_every_problem_of_a_record_is_listed(spark: SparkSession) -> None:
    line = '{"timestamp":"2026-06-30T10:00:00Z","kind":"x","price":-1}'
    assert codes_of(spark, EVENTS, line) == ["missing_required", "not_allowed", "out_of_range"]


def test_csv_maps_renamed_columns_and_parses_a_custom_timestamp(spark: SparkSession) -> None:
    actual = validate(spark, PINGS, "d1;45.5;30/06/2026 10:15").select(
        "device", "lat", "ts", ERRORS
    )
    expected = spark.createDataFrame(
        [("d1", 45.5, datetime(2026, 6, 30, 10, 15), [])],
        "device string, lat double, ts timestamp, "
        "_errors array<struct<code:string,message:string>>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_csv_with_too_many_fields_is_malformed(spark: SparkSession) -> None:
    assert codes_of(spark, PINGS, "d1;45.5;30/06/2026 10:15;extra") == ["malformed_record"]


def test_impossible_coordinate_is_out_of_range(spark: SparkSession) -> None:
    assert messages_of(spark, PINGS, "d1;123.4;30/06/2026 10:15") == [
        "lat '123.4' is above the maximum 90"
    ]


def test_blank_csv_field_counts_as_missing(spark: SparkSession) -> None:
    assert codes_of(spark, PINGS, " ;45.5;30/06/2026 10:15") == ["missing_required"]


def test_hashed_key_is_stable_and_differs_per_record(spark: SparkSession) -> None:
    df = validate(spark, PINGS, "d1;45.5;30/06/2026 10:15", "d1;45.5;30/06/2026 10:16")
    keys = [row[0] for row in df.orderBy("ts").select("_record_key").collect()]
    again = [
        row[0]
        for row in validate(spark, PINGS, "d1;45.5;30/06/2026 10:15")
        .select("_record_key")
        .collect()
    ]
    assert len(set(keys)) == 2
    assert keys[0] == again[0]
    assert len(keys[0]) == 64


def test_unknown_type_in_a_contract_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sources.x.fields.a.type: unknown type 'numbr'"):
        check_type("numbr", "sources.x.fields.a.type")


def test_json_type_that_is_not_spark_ddl_fails_naming_the_field(spark: SparkSession) -> None:
    source = SourceSpec(
        name="x",
        format="json",
        path="x",
        key=("a",),
        fields=(FieldSpec("a"), FieldSpec("items", type="json:array<strct<a:int>>")),
    )
    with pytest.raises(
        ContractError, match=r"sources\.x\.fields\.items\.type: 'array<strct<a:int>>'"
    ):
        check_json_types(spark, source)
    check_json_types(spark, EVENTS)
