"""A table's declared schema is what its rows must have: conform reorders, and names every
difference otherwise."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType

from journeylake.core.frames import union_all
from journeylake.core.table_spec import SchemaMismatch, TableSpec, conform, schema

PEOPLE = TableSpec("people", schema(("person_id", StringType()), ("visits", LongType())),
                   keys=("person_id",))


def test_conform_puts_the_columns_in_the_declared_order(spark: SparkSession) -> None:
    rows = spark.createDataFrame([(3, "p1")], "visits bigint, person_id string")
    assert_df_equality(conform(rows, PEOPLE),
                       spark.createDataFrame([("p1", 3)], "person_id string, visits bigint"))


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("person_id string", r"missing \['visits'\]"),
        ("person_id string, visits bigint, extra int", r"not declared \['extra'\]"),
        ("person_id string, visits int", "visits is int, declared bigint"),
    ],
)
def test_conform_names_what_differs(spark: SparkSession, ddl: str, message: str) -> None:
    rows = spark.createDataFrame([], ddl)
    with pytest.raises(SchemaMismatch,
                       match=f"rows for people do not match its schema: .*{message}"):
        conform(rows, PEOPLE)


def test_a_spec_refuses_keys_outside_its_schema() -> None:
    with pytest.raises(ValueError, match=r"\['visit_id'\] are not in the schema"):
        TableSpec("visits", schema(("person_id", StringType())), keys=("visit_id",))


def test_union_all_matches_columns_by_name(spark: SparkSession) -> None:
    first = spark.createDataFrame([("a", 1)], "k string, v int")
    second = spark.createDataFrame([(2, "b")], "v int, k string")
    assert_df_equality(union_all([first, second]),
                       spark.createDataFrame([("a", 1), ("b", 2)], "k string, v int"),
                       ignore_row_order=True)
    with pytest.raises(ValueError, match="at least one"):
        union_all([])
