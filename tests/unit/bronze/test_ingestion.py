"""Duplicate keys, blank and header lines, quarantine rows and file bookkeeping."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import ContractError
from journeylake.bronze.ingestion import (
    BatchCounts,
    IngestCountMismatch,
    SourceFile,
    batch_id_for,
    bronze_rows,
    check_header,
    flag_duplicate_keys,
    new_files,
    quarantine_rows,
    split_lines,
    validate_records,
    with_ingestion_metadata,
)
from journeylake.bronze.tables import BATCH_ID, ERRORS, RAW, RECORD_KEY, SOURCE_FILE
from journeylake.core.config import CsvOptions, FieldSpec, SourceSpec

AT = datetime(2026, 7, 1, 12, 0, 0)
ORDERS = SourceSpec(
    name="orders",
    format="csv",
    path="orders",
    key=("order_id",),
    fields=(FieldSpec("order_id", required=True), FieldSpec("amount", type="double", min=0)),
)


def lines(spark: SparkSession, *rows: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame(list(rows), f"{RAW} string, {SOURCE_FILE} string")


def classify(
    spark: SparkSession,
    *rows: tuple[str, str],
    existing: DataFrame | None = None,
    batch: str = "b2",
) -> DataFrame:
    records, _, _ = split_lines(lines(spark, *rows), ORDERS)
    validated = validate_records(records, ORDERS, F.lit(AT), 24)
    return with_ingestion_metadata(
        flag_duplicate_keys(validated, existing, batch), batch, F.lit(AT)
    )


def error_codes(df: DataFrame) -> DataFrame:
    return df.select(RAW, SOURCE_FILE, F.transform(ERRORS, lambda e: e["code"]).alias("codes"))


def test_blank_and_header_lines_are_counted_not_read_as_records(spark: SparkSession) -> None:
    df = lines(spark, ("order_id,amount", "f1"), ("o1,5", "f1"), ("   ", "f1"), ("o2,6", "f1"))
    records, blank, header = split_lines(df, ORDERS)
    stats = df.agg(F.count_if(blank), F.count_if(header)).first()
    assert sorted(r[RAW] for r in records.collect()) == ["o1,5", "o2,6"]
    assert tuple(stats) == (1, 1)


def test_second_copy_of_a_key_in_a_batch_is_a_duplicate(spark: SparkSession) -> None:
    actual = error_codes(classify(spark, ("o1,5", "f2"), ("o1,5", "f1"), ("o2,1", "f1")))
    expected = spark.createDataFrame(
        [("o1,5", "f1", []), ("o1,5", "f2", ["duplicate_key"]), ("o2,1", "f1", [])],
        "_raw string, _source_file string, codes array<string>",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_invalid_record_does_not_shadow_a_valid_one_with_its_key(spark: SparkSession) -> None:
    actual = error_codes(classify(spark, ("o1,-5", "f1"), ("o1,5", "f2")))
    expected = spark.createDataFrame(
        [("o1,-5", "f1", ["out_of_range"]), ("o1,5", "f2", [])],
        "_raw string, _source_file string, codes array<string>",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_key_ingested_by_an_earlier_batch_is_a_duplicate(spark: SparkSession) -> None:
    existing = spark.createDataFrame([("o1", "b1")], f"{RECORD_KEY} string, {BATCH_ID} string")
    actual = classify(spark, ("o1,5", "f1"), ("o2,5", "f1"), existing=existing)
    messages = {
        r[RAW]: r["m"] for r in actual.select(RAW, F.col(ERRORS)["message"].alias("m")).collect()
    }
    assert messages == {"o1,5": ["key o1 was already ingested by batch b1"], "o2,5": []}


def test_key_written_by_the_same_batch_is_a_retry_not_a_duplicate(spark: SparkSession) -> None:
    existing = spark.createDataFrame([("o1", "b2")], f"{RECORD_KEY} string, {BATCH_ID} string")
    actual = classify(spark, ("o1,5", "f1"), existing=existing, batch="b2")
    assert actual.select(F.size(ERRORS)).first()[0] == 0


def test_every_record_lands_in_exactly_one_output(spark: SparkSession) -> None:
    classified = classify(spark, ("o1,5", "f1"), ("o1,5", "f1"), ("o2,x", "f1"), ("o3,1", "f1"))
    kept = bronze_rows(classified, ORDERS)
    quarantined = quarantine_rows(classified, ORDERS)
    assert (kept.count(), quarantined.count()) == (2, 2)
    assert sorted(r.order_id for r in kept.collect()) == ["o1", "o3"]


def test_identical_bad_lines_stay_two_quarantine_rows(spark: SparkSession) -> None:
    classified = classify(spark, ("o9,oops", "f1"), ("o9,oops", "f1"))
    ids = [r.quarantine_id for r in quarantine_rows(classified, ORDERS).collect()]
    assert len(set(ids)) == 2


def test_quarantine_row_carries_raw_text_reason_and_origin(spark: SparkSession) -> None:
    classified = classify(spark, (",-2", "file:/landing/orders/a.csv"))
    actual = quarantine_rows(classified, ORDERS).drop("quarantine_id")
    expected = spark.createDataFrame(
        [
            (
                "orders",
                "required field order_id is missing; amount '-2.0' is below the minimum 0",
                ["missing_required", "out_of_range"],
                ",-2",
                "file:/landing/orders/a.csv",
                AT,
                "b2",
            )
        ],
        "source string, reason string, reason_codes array<string>, raw_record string, "
        "_source_file string, _ingested_at timestamp, _batch_id string",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_header_in_another_order_fails_naming_the_file() -> None:
    with pytest.raises(ContractError, match=r"a\.csv: header \['amount', 'order_id'\]"):
        check_header("amount,order_id", ORDERS, "a.csv")
    check_header("order_id,amount", ORDERS, "a.csv")


# A file with fewer columns than the contract has fields, in its own order.
MINIMAL = SourceSpec(
    name="orders",
    format="csv",
    path="orders",
    key=("order_id",),
    csv=CsvOptions(columns=("customer", "amount")),
    fields=(
        FieldSpec("order_id", derive_from=("customer_id", "amount")),
        FieldSpec("amount", type="double"),
        FieldSpec("customer_id", source="customer"),
        FieldSpec("currency", default="EUR"),
    ),
)


def test_a_file_with_its_own_columns_is_checked_and_split_by_them(spark: SparkSession) -> None:
    check_header("customer,amount", MINIMAL, "a.csv")
    with pytest.raises(ContractError, match=r"a\.csv: header \['amount', 'customer'\] .* expects "
                       r"\['customer', 'amount'\]"):
        check_header("amount,customer", MINIMAL, "a.csv")
    df = lines(spark, ("customer,amount", "f1"), ("C1,5", "f1"))
    records, _, header = split_lines(df, MINIMAL)
    assert [r[RAW] for r in records.collect()] == ["C1,5"]
    assert df.where(header).count() == 1


def test_only_files_not_yet_ingested_are_new(spark: SparkSession) -> None:
    t1, t2 = datetime(2026, 7, 1), datetime(2026, 7, 2)
    listing = spark.createDataFrame(
        [("a", t1, 10), ("b", t1, 10), ("c", t2, 10)],
        "path string, modification_time timestamp, size_bytes bigint",
    )
    ingested = spark.createDataFrame(
        [("a", t1), ("c", t1)], "file_path string, modification_time timestamp"
    )
    assert sorted(r.path for r in new_files(listing, ingested).collect()) == ["b", "c"]


def test_batch_id_depends_on_the_files_not_their_order() -> None:
    a = SourceFile("a", datetime(2026, 7, 1), 1)
    b = SourceFile("b", datetime(2026, 7, 1), 2)
    assert batch_id_for("orders", [a, b]) == batch_id_for("orders", [b, a])
    assert batch_id_for("orders", [a]) != batch_id_for("orders", [a, b])
    assert batch_id_for("orders", [a]).startswith("orders-")


def test_count_mismatch_fails_loudly() -> None:
    BatchCounts(5, 3, 2, 0, 0).check("orders")
    with pytest.raises(IngestCountMismatch, match="1 rows unaccounted for"):
        BatchCounts(6, 3, 2, 0, 0).check("orders")
