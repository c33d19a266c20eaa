"""Hard row rules as Delta CHECK constraints: installed when the table is created, kept in step
with the configuration, and a write Delta refuses surfaces as one line naming the table, the
rule and the failing keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.core.job_runner import run_main
from journeylake.core.quality import QualityError
from journeylake.core.table_spec import TableSpec, schema
from tests.conftest import make_config

# Each test creates a table and adds or drops constraints: a Delta commit each.
pytestmark = pytest.mark.slow

ORDERS = TableSpec("orders", schema(("order_id", StringType()), ("amount", DoubleType()),
                                    ("status", StringType())), keys=("order_id",))
RULES = ("quality.tables.orders.expectations=["
         "{name: required, kind: not_null, columns: [order_id], severity: hard},"
         "{kind: range, column: amount, min: 0, severity: hard},"
         "{kind: accepted_values, column: status, values: [paid], severity: soft}]")


def _config(tmp_path: Path, *overrides: str) -> Config:
    return make_config(tmp_path, "spark.catalog=in-memory", *overrides)


def _constraints(spark: SparkSession, config: Config) -> dict[str, str]:
    properties = DeltaTable.forPath(spark, config.table_path("orders")).detail().first()[
        "properties"]
    # Delta re-spaces the expressions it stores.
    return {k.removeprefix("delta.constraints."): "".join(v.split())
            for k, v in properties.items() if k.startswith("delta.constraints.")}


def test_the_hard_row_rules_are_check_constraints_from_the_first_write(
        spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path, RULES)
    bad = spark.createDataFrame([("o1", 5.0, "paid"), ("o2", -1.0, "paid")], ORDERS.schema)
    with pytest.raises(QualityError, match=r"^orders: Delta refused the write: hard expectation "
                                           r"range_amount \(`amount` IS NULL OR \(`amount` >= 0\)"
                                           r"\); failing keys o2$"):
        lakehouse.overwrite_table(spark, config, ORDERS, bad)
    # Created empty with its constraints first, so the refused write left no row behind; the
    # soft rule is no constraint.
    assert lakehouse.read_table(spark, config, ORDERS).count() == 0
    assert _constraints(spark, config) == {
        "expect_required": "`order_id`ISNOTNULL",
        "expect_range_amount": "`amount`ISNULLOR(`amount`>=0)"}


def test_a_job_that_writes_a_null_key_stops_with_one_line_and_status_2(
        spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, RULES)
    lakehouse.overwrite_table(spark, config, ORDERS, spark.createDataFrame(
        [("o1", 5.0, "lost")], ORDERS.schema))

    def main(argv: object) -> int:
        rows = spark.createDataFrame([(None, 2.0, "paid"), ("o3", -4.0, "paid")], ORDERS.schema)
        lakehouse.append_once(spark, config, ORDERS, rows, "batch-2")
        return 0

    assert run_main("orders", main, []) == 2
    assert capsys.readouterr().err == (
        "journeylake orders: error: orders: Delta refused the write: hard expectation required "
        "(`order_id` IS NOT NULL); failing keys null; hard expectation range_amount (`amount` "
        "IS NULL OR (`amount` >= 0)); failing keys o3\n")
    assert [r.order_id for r in lakehouse.read_table(spark, config, ORDERS).collect()] == ["o1"]


def test_constraints_follow_the_configuration_and_check_the_rows_already_stored(
        spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path, RULES)
    lakehouse.overwrite_table(spark, config, ORDERS, spark.createDataFrame(
        [("o1", 5.0, "paid"), ("o2", 50.0, "paid")], ORDERS.schema))
    # The range rule removed, a tighter one added: o2 breaks it already.
    tighter = _config(tmp_path, "quality.tables.orders.expectations=["
                      "{kind: range, column: amount, max: 10, severity: hard}]")
    with pytest.raises(QualityError, match=r"^orders: rows already stored break hard "
                                           r"expectation range_amount .*; failing keys o2$"):
        lakehouse.ensure_constraints(spark, tighter, ORDERS)
    assert _constraints(spark, config) == {}
    looser = _config(tmp_path, "quality.tables.orders.expectations=["
                     "{kind: range, column: amount, max: 100, severity: hard}]")
    lakehouse.upsert(spark, looser, ORDERS, spark.createDataFrame([("o2", 60.0, "paid")],
                                                                  ORDERS.schema))
    assert _constraints(spark, looser) == {"expect_range_amount":
                                           "`amount`ISNULLOR(`amount`<=100)"}
