"""Each kind of expectation on a handful of rows with planted failures whose keys are known."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.core import quality
from journeylake.core.config import ConfigError, Expectation
from journeylake.core.quality import Result, evaluate
from tests.conftest import make_config

NOW = datetime(2026, 6, 30, 12, 0)


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    # o3 has no person, o4 a negative amount, o5 an unknown status and repeats o1's key
    # (o1 appears twice), p9 is nobody in the identity map.
    return spark.createDataFrame(
        [("o1", "p1", 10.0, "paid", datetime(2026, 6, 29, 10)),
         ("o1", "p1", 12.0, "paid", datetime(2026, 6, 29, 11)),
         ("o2", "p2", 0.0, "refunded", datetime(2026, 6, 28, 9)),
         ("o3", None, 5.0, "paid", datetime(2026, 6, 27, 9)),
         ("o4", "p9", -3.0, None, datetime(2026, 6, 27, 8)),
         ("o5", "p2", 7.0, "lost", datetime(2026, 6, 26, 8))],
        "order_id string, person_id string, amount double, status string, ts timestamp")


@pytest.fixture(scope="module")
def identity(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([("p1", datetime(2026, 6, 30, 6)), ("p2", None)],
                                 "person_id string, seen_at timestamp")


def _one(orders: DataFrame, identity: DataFrame, now: datetime = NOW, sample_size: int = 5,
         **settings: object) -> Result:
    expectation = Expectation(name="rule", **settings)  # type: ignore[arg-type]
    [result] = evaluate("orders", orders, [expectation], ["order_id"],
                        {"orders": orders, "identity": identity}, now, sample_size)
    return result


def test_not_null_counts_the_rows_with_a_null_and_names_them(orders: DataFrame,
                                                            identity: DataFrame) -> None:
    result = _one(orders, identity, kind="not_null", columns=("order_id", "person_id"))
    assert (result.passed, result.failing_rows, result.rows_checked, result.failing_keys) == (
        False, 1, 6, ("o3",))


def test_range_fails_the_out_of_range_rows_and_lets_nulls_pass(orders: DataFrame,
                                                               identity: DataFrame) -> None:
    result = _one(orders, identity, kind="range", column="amount", min=0, max=11)
    # -3 (o4) is below, 12 (the second o1) above; 0 is on the bound.
    assert (result.failing_rows, result.failing_keys) == (2, ("o1", "o4"))
    assert _one(orders, identity, kind="range", column="amount", min=-3).passed


def test_accepted_values_fails_other_values_not_nulls(orders: DataFrame,
                                                       identity: DataFrame) -> None:
    result = _one(orders, identity, kind="accepted_values", column="status",
                  values=("paid", "refunded"))
    assert (result.failing_rows, result.failing_keys) == (1, ("o5",))


def test_unique_counts_every_row_of_a_repeated_key(orders: DataFrame,
                                                   identity: DataFrame) -> None:
    result = _one(orders, identity, kind="unique")
    assert (result.passed, result.failing_rows, result.failing_keys) == (False, 2, ("o1",))
    assert _one(orders, identity, kind="unique", columns=("order_id", "ts")).passed


def test_references_reports_the_orphan_value_and_ignores_nulls(orders: DataFrame,
                                                              identity: DataFrame) -> None:
    result = _one(orders, identity, kind="references", column="person_id",
                  references="identity.person_id")
    assert (result.failing_rows, result.rows_checked, result.failing_keys) == (1, 5, ("p9",))


def test_freshness_against_the_clock(orders: DataFrame, identity: DataFrame) -> None:
    # The latest ts is 2026-06-29 11:00, 25 hours before NOW.
    stale = _one(orders, identity, kind="freshness", column="ts", max_age_hours=24)
    assert (stale.passed, stale.failing_keys) == (False, ("2026-06-29 11:00:00",))
    assert "25.0 h before now" in stale.detail
    assert _one(orders, identity, kind="freshness", column="ts", max_age_hours=25).passed


def test_freshness_against_the_latest_time_of_another_table(orders: DataFrame,
                                                            identity: DataFrame) -> None:
    # identity's latest seen_at is 2026-06-30 06:00: 19 hours after the latest order.
    later_clock = datetime(2027, 1, 1)
    assert _one(orders, identity, later_clock, kind="freshness", column="ts", max_age_hours=19,
                relative_to="identity.seen_at").passed
    stale = _one(orders, identity, later_clock, kind="freshness", column="ts",
                 max_age_hours=18, relative_to="identity.seen_at")
    assert not stale.passed and "19.0 h before identity.seen_at" in stale.detail


def test_an_empty_table_is_stale_and_breaks_no_row_rule(orders: DataFrame,
                                                        identity: DataFrame) -> None:
    empty = orders.limit(0)
    assert not _one(empty, identity, kind="freshness", column="ts", max_age_hours=1000).passed
    assert _one(empty, identity, kind="not_null", columns=("person_id",)).passed


def test_the_sample_holds_at_most_sample_size_keys(orders: DataFrame,
                                                   identity: DataFrame) -> None:
    result = _one(orders, identity, sample_size=2, kind="range", column="amount", min=100)
    assert result.failing_rows == 6 and len(result.failing_keys) == 2


def test_every_expectation_is_evaluated_in_order_with_its_severity(
        orders: DataFrame, identity: DataFrame) -> None:
    rules = [Expectation(kind="unique", name="u", severity="hard"),
             Expectation(kind="not_null", columns=("order_id",), name="n"),
             Expectation(kind="freshness", column="ts", max_age_hours=48, name="f")]
    results = evaluate("orders", orders, rules, ["order_id"], {}, NOW, 5)
    assert [(r.expectation, r.severity, r.passed) for r in results] == [
        ("u", "hard", False), ("n", "soft", True), ("f", "soft", True)]
    assert quality.failure_message(results) == (
        "orders: hard expectation u (unique) failed on 2 of 6 rows; failing keys o1")


def test_row_rules_are_delta_check_expressions() -> None:
    assert quality.row_predicate(Expectation(kind="range", column="a", min=0, max=1.5)) == (
        "`a` IS NULL OR (`a` >= 0 AND `a` <= 1.5)")
    assert quality.row_predicate(Expectation(kind="accepted_values", column="s",
                                             values=("x", "it's"))) == (
        "`s` IS NULL OR `s` IN ('x', 'it''s')")
    assert quality.row_predicate(Expectation(kind="unique")) is None


def test_a_misspelt_column_names_the_table_and_the_expectation() -> None:
    rules = [Expectation(kind="range", column="amont", min=0, name="range_amont")]
    with pytest.raises(quality.QualityError, match=r"orders: expectation range_amont names "
                                                   r"\['amont'\], not columns of orders"):
        quality.check_declared("orders", ("order_id", "amount"), ("order_id",), rules)


@pytest.mark.parametrize(("override", "message"), [
    ("[{kind: nonnull, columns: [a]}]", r"kind: 'nonnull' is not one of"),
    ("[{kind: range, column: a}]", r"range needs `min`, `max` or both"),
    ("[{kind: references, column: a, references: other}]", r"is not <table>.<column>"),
    ("[{kind: freshness, column: a}]", r"freshness needs a non-negative `max_age_hours`"),
    ("[{kind: unique, severity: fatal}]", r"severity: 'fatal' is not one of hard, soft"),
    ("[{kind: unique}, {kind: unique}]", r"a second expectation named 'unique_keys'"),
])
def test_a_wrong_expectation_fails_with_where_it_is(tmp_path: Path, override: str,
                                                    message: str) -> None:
    with pytest.raises(ConfigError, match=r"quality\.tables\.t\.expectations\[\d\].*" + message):
        make_config(tmp_path, f"quality.tables.t.expectations={override}")


def test_expectations_are_named_from_their_kind_and_columns(tmp_path: Path) -> None:
    config = make_config(tmp_path, "quality.tables.t.expectations=[{kind: unique}, "
                                   "{kind: range, column: a, min: 0}]")
    assert [e.name for e in config.quality.tables["t"].expectations] == ["unique_keys",
                                                                        "range_a"]
