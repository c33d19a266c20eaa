"""Data-quality expectations: what each kind means in Spark SQL, and their evaluation on a
table's rows.

The expectations are declared in `conf/quality.yaml`, keyed by table name (a user adds a soft
one without code); `core.config.Expectation` holds one. Kinds:

- `not_null(columns)`: none of the columns is NULL.
- `range(column, min, max)`: the column is within [min, max] (either bound may be left out).
- `accepted_values(column, values)`: the column is one of the values.
- `unique(columns)`: no two rows share the columns (the table's keys when none are given).
- `references(column -> table.column)`: every non-null value appears in the other table.
- `freshness(column, max_age_hours, relative_to)`: the latest value is at most that old, against
  the run's clock or the latest value of another table's column (the data's own time, so a
  replayed history is not stale).

The first three are row rules: a predicate each row must satisfy, which `core.lakehouse` also
installs as a Delta CHECK constraint when the rule is hard, so Delta itself rejects a write that
breaks it. A NULL in a range or accepted-values column passes them (NULLs are not_null's
business); Delta's CHECK fails a row whose predicate is NULL, so the predicate says so. The
other kinds need other rows or tables and are evaluated after a write.

Why not a library: Great Expectations 1.24.1 installs and runs on Spark 4.2.0 (tried in a
throwaway venv with pandas 2.3.3), but every expectation is its own graph of metrics (several
Spark jobs each, 1-3 s apiece on a three-row DataFrame in local mode) where one aggregate per
table does here; it has no referential expectation between two Spark DataFrames (set membership
takes the set as a Python list, which grows with persons); failing-row samples come from the
COMPLETE result format, which collects every failing row to the driver; and it adds seven
runtime packages (altair, marshmallow, jsonschema, mistune, ruamel.yaml, tzlocal and itself).
pydeequ needs a deequ jar built for Spark 4 / Scala 2.13, which the Maven registry here does
not serve. Delta's own CHECK constraints do the enforcement that can live in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.config import Expectation
from journeylake.core.errors import UserError

HARD, SOFT = "hard", "soft"
ROW_KINDS = ("not_null", "range", "accepted_values")
# Delta constraints journeylake installs start with this, so one no longer configured is
# dropped without touching constraints someone else added.
CONSTRAINT_PREFIX = "expect_"
# The `relative_to` of a freshness rule measured against the run's clock.
CLOCK = "clock"


class QualityError(UserError):
    """A hard expectation failed: the message names the table, the rule and failing keys."""


@dataclass(frozen=True)
class Result:
    """One expectation evaluated on one table."""

    table: str
    expectation: str
    kind: str
    severity: str
    passed: bool
    failing_rows: int
    rows_checked: int
    failing_keys: tuple[str, ...]
    detail: str


def _quoted(name: str) -> str:
    return f"`{name}`"


def _literal(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def row_predicate(expectation: Expectation) -> str | None:
    """The Spark SQL predicate every row satisfies under a row rule (a Delta CHECK expression);
    None for the kinds that are not row rules."""
    if expectation.kind == "not_null":
        return " AND ".join(f"{_quoted(c)} IS NOT NULL" for c in expectation.columns)
    column = _quoted(expectation.column or "")
    if expectation.kind == "range":
        bounds = [*([f"{column} >= {_literal(expectation.min)}"]
                    if expectation.min is not None else []),
                  *([f"{column} <= {_literal(expectation.max)}"]
                    if expectation.max is not None else [])]
        return f"{column} IS NULL OR ({' AND '.join(bounds)})"
    if expectation.kind == "accepted_values":
        values = ", ".join("'" + value.replace("'", "''") + "'" for value in expectation.values)
        return f"{column} IS NULL OR {column} IN ({values})"
    return None


def constraint_name(expectation: Expectation) -> str:
    return f"{CONSTRAINT_PREFIX}{expectation.name}"


def hard_row_rules(expectations: Sequence[Expectation]) -> list[Expectation]:
    """The expectations Delta can enforce itself: hard row rules."""
    return [e for e in expectations if e.severity == HARD and e.kind in ROW_KINDS]


def _broken(expectation: Expectation) -> Column:
    # A NULL predicate is a failure, as in Delta's CHECK.
    return ~F.coalesce(F.expr(row_predicate(expectation) or "true"), F.lit(False))


def key_string(columns: Sequence[str]) -> Column:
    """A row's key as one readable string: the value of a single key, `a=1,b=x` for more."""
    text = [F.coalesce(F.col(c).cast("string"), F.lit("null")) for c in columns]
    if len(columns) == 1:
        return text[0]
    return F.concat_ws(",", *[F.concat(F.lit(f"{c}="), t)
                              for c, t in zip(columns, text, strict=True)])


def columns_needed(expectation: Expectation, keys: Sequence[str]) -> list[str]:
    """The table columns an expectation reads (unique without columns reads the keys)."""
    if expectation.kind in ("not_null", "unique"):
        return list(expectation.columns or keys)
    return [expectation.column or ""]


def referenced_tables(expectations: Sequence[Expectation]) -> set[str]:
    """The other tables the expectations read: references targets and freshness anchors."""
    found = set()
    for expectation in expectations:
        if expectation.kind == "references":
            found.add((expectation.references or "").partition(".")[0])
        if expectation.kind == "freshness" and expectation.relative_to != CLOCK:
            found.add(expectation.relative_to.partition(".")[0])
    return found


def check_declared(table: str, columns: Sequence[str], keys: Sequence[str],
                   expectations: Sequence[Expectation], sample_by: Sequence[str] = ()) -> None:
    """A QualityError naming the table, expectation and column when an expectation (or the
    sample columns) names a column the table does not have, or a unique rule has no keys."""
    for column in sample_by:
        if column not in columns:
            raise QualityError(f"quality.tables.{table}.sample_by: {column!r} is not a column "
                               f"of {table} ({', '.join(columns)})")
    for expectation in expectations:
        needed = columns_needed(expectation, keys)
        if expectation.kind == "unique" and not needed:
            raise QualityError(f"quality.tables.{table}: unique {expectation.name} needs "
                               f"`columns`: {table} declares no keys")
        unknown = [c for c in needed if c not in columns]
        if unknown:
            raise QualityError(f"quality.tables.{table}: expectation {expectation.name} names "
                               f"{unknown}, not columns of {table} ({', '.join(columns)})")


def failing_rows_sample(rows: DataFrame, expectation: Expectation, keys: Sequence[str],
                        size: int) -> tuple[str, ...]:
    """Up to `size` keys of the rows that break a row rule (a limit: never all of them)."""
    found = rows.where(_broken(expectation)).select(key_string(keys).alias("k")).limit(size)
    return tuple(sorted(row.k for row in found.collect()))


def _freshness_detail(latest: object, anchor: object, age_hours: float | None,
                      expectation: Expectation) -> str:
    against = "now" if expectation.relative_to == CLOCK else f"{expectation.relative_to}"
    if latest is None:
        return f"no {expectation.column} value"
    return (f"latest {expectation.column} {latest} is {age_hours:.1f} h before {against} "
            f"({anchor}); at most {expectation.max_age_hours:g} h allowed")


def evaluate(
    table: str,
    rows: DataFrame,
    expectations: Sequence[Expectation],
    keys: Sequence[str],
    references: Mapping[str, DataFrame],
    now: datetime,
    sample_size: int,
) -> list[Result]:
    """Every expectation of `table` on `rows`, in their order: one aggregate over the rows
    (row counts of each row rule, each freshness column's latest value), one pass per unique
    and references rule, and a sample of at most `sample_size` keys per failed rule.

    keys: the columns a failing row is named by. references: the tables `referenced_tables`
    names, by name. now: the run's clock, for freshness against `clock`."""
    row_rules = [e for e in expectations if e.kind in ROW_KINDS]
    fresh = [e for e in expectations if e.kind == "freshness"]
    aggregates = [F.count(F.lit(1)).alias("rows"),
                  *[F.count_if(_broken(e)).alias(f"r{i}") for i, e in enumerate(row_rules)],
                  *[F.max(F.col(e.column or "").cast("timestamp")).alias(f"f{i}")
                    for i, e in enumerate(fresh)]]
    summary = rows.agg(*aggregates).first()
    total = int(summary["rows"])
    results = {}
    for index, expectation in enumerate(row_rules):
        failing = int(summary[f"r{index}"])
        sample = failing_rows_sample(rows, expectation, keys, sample_size) if failing else ()
        results[expectation.name] = _result(table, expectation, failing, total, sample,
                                            f"{failing} of {total} rows break "
                                            f"{row_predicate(expectation)}")
    for index, expectation in enumerate(fresh):
        results[expectation.name] = _freshness(table, expectation, summary[f"f{index}"],
                                               total, references, now)
    for expectation in expectations:
        if expectation.kind == "unique":
            results[expectation.name] = _unique(table, rows, expectation, keys, total,
                                                sample_size)
        elif expectation.kind == "references":
            results[expectation.name] = _references(table, rows, expectation, references,
                                                    sample_size)
    return [results[e.name] for e in expectations]


def _result(table: str, expectation: Expectation, failing: int, checked: int,
            sample: Sequence[str], detail: str) -> Result:
    return Result(table, expectation.name or "", expectation.kind, expectation.severity,
                  failing == 0, failing, checked, tuple(sample), detail)


def _unique(table: str, rows: DataFrame, expectation: Expectation, keys: Sequence[str],
            total: int, sample_size: int) -> Result:
    columns = list(expectation.columns or keys)
    repeated = rows.groupBy(*columns).agg(F.count(F.lit(1)).alias("n")).where(F.col("n") > 1)
    counted = repeated.agg(F.coalesce(F.sum("n"), F.lit(0)).alias("rows"),
                           F.count(F.lit(1)).alias("keys")).first()
    failing = int(counted["rows"])
    sample: tuple[str, ...] = ()
    if failing:
        sample = tuple(sorted(r.k for r in repeated.select(
            key_string(columns).alias("k")).limit(sample_size).collect()))
    return _result(table, expectation, failing, total, sample,
                   f"{counted['keys']} values of ({', '.join(columns)}) on {failing} rows "
                   "appear more than once")


def _references(table: str, rows: DataFrame, expectation: Expectation,
                references: Mapping[str, DataFrame], sample_size: int) -> Result:
    column = expectation.column or ""
    target_table, _, target_column = (expectation.references or "").partition(".")
    target = references[target_table].select(F.col(target_column).alias(column)).distinct(
    ).withColumn("_found", F.lit(True))
    # One pass over the rows counts both the checked and the orphaned (distinct targets: the
    # left join keeps each row once).
    present = rows.select(column).where(F.col(column).isNotNull()).join(target, column, "left")
    orphans = present.where(F.col("_found").isNull())
    counted = present.agg(F.count(F.lit(1)).alias("rows"),
                          F.count_if(F.col("_found").isNull()).alias("orphans")).first()
    failing = int(counted["orphans"])
    sample: tuple[str, ...] = ()
    if failing:
        sample = tuple(sorted(r.k for r in orphans.select(
            key_string([column]).alias("k")).distinct().limit(sample_size).collect()))
    return _result(table, expectation, failing, int(counted["rows"]), sample,
                   f"{failing} rows have a {column} not in {expectation.references}")


def _freshness(table: str, expectation: Expectation, latest: datetime | None, total: int,
               references: Mapping[str, DataFrame], now: datetime) -> Result:
    if expectation.relative_to == CLOCK:
        anchor: datetime | None = now
    else:
        other, _, column = expectation.relative_to.partition(".")
        anchor = references[other].agg(F.max(F.col(column).cast("timestamp"))).first()[0]
    age = None
    if latest is not None and anchor is not None:
        age = (anchor - latest).total_seconds() / 3600
    # No data at all is stale; an empty anchor table leaves nothing to be behind.
    stale = latest is None or (age is not None and age > (expectation.max_age_hours or 0))
    sample = (str(latest),) if stale and latest is not None else ()
    return _result(table, expectation, 1 if stale else 0, total, sample,
                   _freshness_detail(latest, anchor, age, expectation))


def failure_message(results: Sequence[Result]) -> str:
    """One line naming each failed hard expectation's table, rule and failing keys."""
    parts = [f"{r.table}: hard expectation {r.expectation} ({r.kind}) failed on "
             f"{r.failing_rows} of {r.rows_checked} rows"
             + (f"; failing keys {', '.join(r.failing_keys)}" if r.failing_keys else "")
             for r in results if r.severity == HARD and not r.passed]
    return "; ".join(parts)
