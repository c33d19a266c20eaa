"""Each validation rule of a source contract, on a handful of raw lines."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import (
    ContractError,
    check_json_types,
    default_value,
    hash_of,
    parse_raw,
)
from journeylake.bronze.ingestion import validate_records
from journeylake.bronze.tables import ERRORS, RAW, SOURCE_FILE
from journeylake.core.config import ConfigError, CsvOptions, FieldSpec, SourceSpec
from journeylake.core.source_spec import check_type, parse_literal

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


# A transactions file with only a customer id, a date and an amount, mapped onto the
# bronze_transactions columns (as conf/examples/transactions_minimal.yaml does).
ITEMS = "json:array<struct<product_id:string,quantity:int,unit_price:decimal(18,2)>>"
MINIMAL = SourceSpec(
    name="transactions",
    format="csv",
    path="transactions",
    key=("order_id",),
    event_time="ts",
    csv=CsvOptions(columns=("customer", "date", "amount")),
    fields=(
        FieldSpec("order_id", derive_from=("customer_id", "ts", "amount")),
        FieldSpec("customer_id", source="customer", required=True),
        FieldSpec("email"),
        FieldSpec("store_id", required=True, default="online"),
        FieldSpec("ts", source="date", type="timestamp", format="yyyy-MM-dd", required=True),
        FieldSpec("items", type=ITEMS),
        FieldSpec("amount", type="decimal(18,2)", required=True, min=0),
        FieldSpec("currency", required=True, default="EUR", allowed=("EUR", "USD", "GBP")),
        FieldSpec("channel", required=True, default="online", allowed=("online", "app", "store")),
    ),
)
BRONZE_TRANSACTIONS = (
    "order_id string, customer_id string, email string, store_id string, ts timestamp, "
    "items array<struct<product_id:string,quantity:int,unit_price:decimal(18,2)>>, "
    "amount decimal(18,2), currency string, channel string, "
    "_errors array<struct<code:string,message:string>>"
)
COLUMNS = [name.split()[0] for name in BRONZE_TRANSACTIONS.split(", ")
           if not name.startswith(("struct", "quantity", "unit_price"))]


def sha256(*values: str) -> str:
    """The expected derived key, computed apart from Spark: the values' text joined by \\x01."""
    return hashlib.sha256("\x01".join(values).encode()).hexdigest()


def test_a_file_of_customer_date_and_amount_becomes_a_full_transactions_row(
    spark: SparkSession,
) -> None:
    actual = validate(spark, MINIMAL, "C1,2026-05-03,19.99").select(*COLUMNS)
    expected = spark.createDataFrame(
        [(sha256("C1", "2026-05-03 00:00:00", "19.99"), "C1", None, "online",
          datetime(2026, 5, 3), None, Decimal("19.99"), "EUR", "online", [])],
        BRONZE_TRANSACTIONS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_the_derived_key_is_the_record_key_and_depends_only_on_the_typed_values(
    spark: SparkSession,
) -> None:
    rows = validate(spark, MINIMAL, "C1,2026-05-03,19.9", " C1 ,2026-05-03,19.90",
                    "C1,2026-05-04,19.90", "C2,2026-05-03,19.90")
    keys = {row["_raw"]: (row.order_id, row._record_key) for row in rows.collect()}
    assert all(order_id == record_key for order_id, record_key in keys.values())
    # The same order written twice (19.9, 19.90, padding) is one key; another day or customer
    # is another.
    assert keys["C1,2026-05-03,19.9"] == keys[" C1 ,2026-05-03,19.90"]
    assert len({order_id for order_id, _ in keys.values()}) == 3


def test_a_row_without_an_input_of_its_derived_key_is_rejected_with_the_reason(
    spark: SparkSession,
) -> None:
    assert messages_of(spark, MINIMAL, "C1,2026-05-03,") == [
        "required field amount is missing",
        "order_id cannot be derived without a valid amount",
    ]
    assert messages_of(spark, MINIMAL, "C1,2026-13-45,5") == [
        "ts: '2026-13-45' is not a valid timestamp in format yyyy-MM-dd",
        "order_id cannot be derived without a valid ts",
    ]
    assert messages_of(spark, MINIMAL, ",,5") == [
        "required field customer_id is missing",
        "required field ts is missing",
        "order_id cannot be derived without a valid customer_id, ts",
    ]
    assert validate(spark, MINIMAL, ",,5").first().order_id is None


ORDERS = SourceSpec(
    name="orders",
    format="json",
    path="orders",
    key=("order_id",),
    fields=(
        FieldSpec("order_id", required=True),
        FieldSpec("currency", required=True, default="EUR", allowed=("EUR", "USD")),
        FieldSpec("quantity", type="int", default="1", min=1),
        FieldSpec("items", type="json:array<string>", default="[]"),
    ),
)


def test_a_default_fills_an_absent_null_or_blank_value_but_not_a_bad_one(
    spark: SparkSession,
) -> None:
    actual = validate(
        spark, ORDERS,
        '{"order_id":"absent"}',
        '{"order_id":"null","currency":null,"quantity":null,"items":null}',
        '{"order_id":"blank","currency":" ","quantity":""}',
        '{"order_id":"given","currency":"USD","quantity":3,"items":["a"]}',
        '{"order_id":"bad","currency":"XXX","quantity":"many","items":"x"}',
    ).select("order_id", "currency", "quantity", "items",
             F.transform(ERRORS, lambda e: e["code"]).alias("codes"))
    expected = spark.createDataFrame(
        [("absent", "EUR", 1, [], []),
         ("null", "EUR", 1, [], []),
         ("blank", "EUR", 1, [], []),
         ("given", "USD", 3, ["a"], []),
         ("bad", "XXX", None, None, ["not_allowed", "bad_type", "bad_type"])],
        "order_id string, currency string, quantity int, items array<string>, "
        "codes array<string>",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_csv_column_no_field_reads_is_dropped_and_a_short_line_reads_nulls(
    spark: SparkSession,
) -> None:
    source = SourceSpec(
        name="x", format="csv", path="x", key=("a",),
        csv=CsvOptions(columns=("a", "note", "b")),
        fields=(FieldSpec("b", type="int"), FieldSpec("a", required=True),
                FieldSpec("c", default="z")),
    )
    raw = spark.createDataFrame([("k1,hello,2",), ("k2",), ("k3,x,3,extra",)], f"{RAW} string")
    parsed = parse_raw(raw, source)
    assert parsed.columns == [RAW, "b", "a", "c", "_malformed"]
    assert [tuple(row) for row in parsed.orderBy(RAW).collect()] == [
        ("k1,hello,2", "2", "k1", None, False),
        ("k2", None, "k2", None, False),
        ("k3,x,3,extra", "3", "k3", None, True),
    ]


def test_the_hashed_key_is_a_sha256_of_the_key_values_text(spark: SparkSession) -> None:
    # Pinned apart from Spark: bronze keys of earlier loads must stay the keys of later ones.
    key = validate(spark, PINGS, "d1;45.5;30/06/2026 10:15").first()["_record_key"]
    assert key == sha256("d1", "2026-06-30 10:15:00")


def test_a_hash_tells_null_from_empty_text_and_keeps_the_order(spark: SparkSession) -> None:
    row = spark.range(1).select(
        hash_of([F.lit(None).cast("string"), F.lit("a")]).alias("null_a"),
        hash_of([F.lit(""), F.lit("a")]).alias("empty_a"),
        hash_of([F.lit("a"), F.lit(None).cast("string")]).alias("a_null"),
    ).first()
    assert len({row.null_a, row.empty_a, row.a_null}) == 3


def test_a_json_default_that_does_not_fit_its_type_fails_naming_the_field(
    spark: SparkSession,
) -> None:
    source = SourceSpec(
        name="x", format="json", path="x", key=("a",),
        fields=(FieldSpec("a"), FieldSpec("tags", type="json:array<int>", default='{"a": 1}')),
    )
    with pytest.raises(ContractError, match=r"sources\.x\.fields\.tags\.default: '\{\"a\": 1\}'"):
        check_json_types(spark, source)
    check_json_types(spark, ORDERS)


DEFAULT_LITERALS = [
    ("string", "online"), ("int", "-3"), ("long", "9000000000"), ("double", "1.5"),
    ("boolean", "true"), ("boolean", "no"), ("decimal(18,2)", "19.9"), ("date", "2026-05-03"),
    ("timestamp", "2026-05-03"), ("timestamp", "2026-05-03T10:15"),
    ("timestamp", "2026-05-03 10:15:30.5"), ("timestamp", "2026-05-03T10:15:00Z"),
    ("timestamp", "2026-05-03T12:15:00+02:00"), ("json:array<string>", '["a"]'),
]


def test_spark_reads_every_default_the_contract_check_accepts_as_the_same_value(
    spark: SparkSession,
) -> None:
    specs = [FieldSpec(f"f{i}", type=type_name, default=text)
             for i, (type_name, text) in enumerate(DEFAULT_LITERALS)]
    row = spark.range(1).select(*[default_value(spec).alias(spec.name) for spec in specs]).first()
    actual = [row[spec.name] for spec in specs]
    expected = []
    for spec in specs:
        value = parse_literal(spec.type, spec.default or "")
        if isinstance(value, datetime) and value.tzinfo is not None:  # the session is UTC
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        expected.append(value)
    expected[6] = Decimal("19.90")  # the column's scale
    assert actual == expected
