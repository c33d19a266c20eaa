"""Spark SQL expression text, the generator's building material.

Why text and not `Column`s: every PySpark function call on a Column is a Py4J round trip
(about a millisecond each), and a realistic generator needs tens of thousands of them, which
took longer than generating the data. An expression string is parsed by the JVM in one call
whatever its size, and gives the same plan. The helpers here keep the text readable: literals
are quoted in one place, and every function that builds an expression returns `Sql`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyspark.sql import DataFrame

Sql = str  # a Spark SQL expression

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1


def lit(value: object) -> Sql:
    """A SQL literal: strings quoted and escaped, floats as DOUBLE (a bare `0.5` would be a
    DECIMAL in Spark SQL), large ints as BIGINT."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if _INT_MIN <= value <= _INT_MAX else f"{value}L"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"no SQL literal for {value!r}")
        return f"{value!r}D"
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
            .replace("\r", "\\r")
        )
        return f"'{escaped}'"
    raise TypeError(f"no SQL literal for {value!r}")


def array(values: Iterable[object]) -> Sql:
    return f"array({', '.join(lit(value) for value in values)})"


def case(branches: Sequence[tuple[Sql, Sql]], otherwise: Sql = "NULL") -> Sql:
    """`CASE WHEN c1 THEN v1 ... ELSE otherwise END`."""
    if not branches:
        return otherwise
    whens = " ".join(f"WHEN {condition} THEN {value}" for condition, value in branches)
    return f"CASE {whens} ELSE {otherwise} END"


def named_struct(fields: Mapping[str, Sql]) -> Sql:
    return f"named_struct({', '.join(f'{lit(name)}, {value}' for name, value in fields.items())})"


def select(df: DataFrame, keep: Sequence[str] = (), columns: Mapping[str, Sql] | None = None
           ) -> DataFrame:
    """`df` reduced to the columns `keep` (SQL too: "*" or a name) and `columns` (name -> SQL)."""
    computed = [f"{sql} AS `{name}`" for name, sql in (columns or {}).items()]
    return df.selectExpr(*keep, *computed)


def extend(df: DataFrame, columns: Mapping[str, Sql]) -> DataFrame:
    """`df` with `columns` (name -> SQL) added. They are computed side by side, so one cannot use
    another: chain calls for that, each call is one projection."""
    return select(df, ["*"], columns)


def fence(df: DataFrame) -> DataFrame:
    """`df` unchanged, behind a wall Spark's optimizer does not see through.

    Generated columns are deep stacks of expressions that use each other several times. A
    filter or projection downstream would be rewritten in terms of the innermost columns, each
    use copied, and the copies multiply with the depth until planning runs out of memory. Spark
    neither pushes filters through nor merges projections with a non-deterministic expression;
    `spark_partition_id() >= 0` is one that is always true, so the values stay exactly the same.
    """
    guarded = [
        f"CASE WHEN spark_partition_id() >= 0 THEN `{name}` END AS `{name}`" for name in df.columns
    ]
    return df.selectExpr(*guarded)
