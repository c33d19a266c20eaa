"""Duplicate keys, blank and header lines, quarantine rows and file bookkeeping."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.ingestion import (
    FILE_PROBLEMS_SCHEMA,
    BatchCounts,
    IngestCountMismatch,
    SourceFile,
    batch_id_for,
    bronze_rows,
    classify_lines,
    file_problem,
    flag_duplicate_keys,
    header_problem,
    new_files,
    quarantine_rows,
    split_lines,
    validate_records,
    with_ingestion_metadata,
)
from journeylake.bronze.tables import BATCH_ID, ERRORS, RAW, RECORD_KEY, SOURCE_FILE
from journeylake.core.config import CsvOptions, FieldSpec, SourceSpec
from journeylake.core.lakehouse import LINE_POSITION, FileEdges

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


def test_header_in_another_order_is_a_problem_naming_both_orders() -> None:
    assert header_problem("amount,order_id", ORDERS) == (
        "header ['amount', 'order_id'] does not match source 'orders', which expects "
        "['order_id', 'amount'] in this order; map renamed columns with `source:`, or list the "
        "file's own columns in `csv.columns`, in conf/sources/orders.yaml"
    )
    assert header_problem("order_id, amount", ORDERS) is None


@pytest.mark.parametrize(
    ("head", "last", "first_line", "expected"),
    [
        (b"orde", b"\n", "order_id,amount", None),
        (b"orde", b"\r", "order_id,amount", None),
        (b"", b"", None, None),  # empty: no record to quarantine
        (b"\xef\xbb\xbfo", b"\n", "order_id,amount", None),  # UTF-8's own mark
        (b"\xff\xfeo\x00", b"\x00", "\ufffd\ufffdo", ("bad_encoding", True)),
        (b"\xfe\xff\x00o", b"\n", "\ufffd\ufffd", ("bad_encoding", True)),
        (b"amou", b"\n", "amount,order_id", ("bad_header", True)),
        (b"orde", b"5", "order_id,amount", ("truncated_record", False)),
        (b"amou", b"5", "amount,order_id", ("bad_header", True)),
    ],
)
def test_a_file_problem_comes_from_its_mark_header_and_last_byte(
    head: bytes, last: bytes, first_line: str | None, expected: tuple[str, bool] | None
) -> None:
    problem = file_problem(ORDERS, FileEdges(head, last, "file:/l/a.csv"), first_line)
    assert (problem and (problem.code, problem.whole_file)) == expected
    assert problem is None or problem.line_path == "file:/l/a.csv"


def test_one_problem_replaces_the_others_and_only_a_cut_file_loses_its_last_line(
    spark: SparkSession,
) -> None:
    rows = [
        ("o1,5", "f1", 0), ("o2,5", "f1", 1),  # f1 is cut: its last line is o2
        ("o3,x", "f2", 0), ("o4,5", "f2", 1),  # f2 has a wrong header
        ("o5,\u00005", "f3", 0), ("o6,5\ufffd", "f3", 1), ("o7,-1", "f3", 2),
    ]
    batch = spark.createDataFrame(
        [(raw, source_file, (0, row)) for raw, source_file, row in rows],
        f"{RAW} string, {SOURCE_FILE} string, "
        f"{LINE_POSITION} struct<split_start: bigint, row: bigint>",
    )
    problems = spark.createDataFrame(
        [("f1", "truncated_record", "cut", False), ("f2", "bad_header", "header", True)],
        FILE_PROBLEMS_SCHEMA,
    )
    classified = classify_lines(batch, ORDERS, None, "b1", F.lit(AT), 24, problems)
    actual = {r[RAW]: r.codes for r in error_codes(classified).collect()}
    assert actual == {
        "o1,5": [], "o2,5": ["truncated_record"], "o3,x": ["bad_header"],
        "o4,5": ["bad_header"], "o5,\u00005": ["binary_content"], "o6,5\ufffd": ["bad_encoding"],
        "o7,-1": ["out_of_range"],
    }
    assert LINE_POSITION not in classified.columns


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
    assert header_problem("customer,amount", MINIMAL) is None
    assert "header ['amount', 'customer'] does not match source 'orders', which expects " \
        "['customer', 'amount']" in (header_problem("amount,customer", MINIMAL) or "")
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
