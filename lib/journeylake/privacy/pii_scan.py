"""Find raw personal values in tables and files: the proof that PII leaves bronze only hashed.

A scan takes a list of known raw values (a customer file's emails, phones and names, the
coordinates bronze holds) and reports every place one of them appears. Every string and
floating-point leaf of a table is looked at, however deep in arrays, structs and maps, both as
a whole value (lower-cased) and split into tokens, so an email inside a URL or a handle after
an `@` is found too. Doubles are compared by their exact text, which a coordinate coarsened to a
grid cell never equals. It is one pass per table (one `explode` of every leaf) joined with the
broadcast values: no Python runs per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    FloatType,
    MapType,
    StringType,
    StructType,
)

from journeylake.core.frames import union_all

FINDING_COLUMNS = ("place", "column", "value")
# Tokens are what stays between characters an email, a phone number or a handle cannot hold.
TOKEN_SPLIT = r"[^\p{L}\p{N}@.+_-]+"
_TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".txt", ".html", ".csv", ".md", "MLmodel",
                  ".py", ".log")


def _leaf(path: str, value: Column) -> Column:
    return F.array(F.struct(F.lit(path).alias("column"), value.cast("string").alias("value")))


def _has_leaves(data_type: DataType) -> bool:
    if isinstance(data_type, StringType | DoubleType | FloatType):
        return True
    if isinstance(data_type, StructType):
        return any(_has_leaves(f.dataType) for f in data_type.fields)
    if isinstance(data_type, ArrayType):
        return _has_leaves(data_type.elementType)
    if isinstance(data_type, MapType):
        return _has_leaves(data_type.keyType) or _has_leaves(data_type.valueType)
    return False


def _leaves(value: Column, data_type: DataType, path: str) -> Column:
    """An array<struct<column, value>> of every string or floating-point leaf under `value`
    (never NULL); only called on a type that `_has_leaves`."""
    if isinstance(data_type, StringType | DoubleType | FloatType):
        return _leaf(path, value)
    if isinstance(data_type, StructType):
        return F.concat(*[F.coalesce(_leaves(value.getField(f.name), f.dataType,
                                             f"{path}.{f.name}"), F.array())
                          for f in data_type.fields if _has_leaves(f.dataType)])
    if isinstance(data_type, ArrayType):
        return _each(value, data_type.elementType, f"{path}[]")
    if isinstance(data_type, MapType):
        sides = [(F.map_keys(value), data_type.keyType, "{key}"),
                 (F.map_values(value), data_type.valueType, "{value}")]
        return F.concat(*[_each(side, kind, f"{path}{label}")
                          for side, kind, label in sides if _has_leaves(kind)])
    raise TypeError(f"{path}: {data_type.simpleString()} has no string or floating-point leaf")


def _each(items: Column, element_type: DataType, path: str) -> Column:
    return F.coalesce(F.flatten(F.transform(
        items, lambda item: _leaves(item, element_type, path))), F.array())


def row_leaves(row_schema: StructType) -> Column | None:
    """An array<struct<column, value>> of every string and floating-point leaf of a row of
    `row_schema` (a nested one is named by its path, `items[].product_id`); None when the
    schema has none."""
    found = [_leaves(F.col(f"`{f.name}`"), f.dataType, f.name) for f in row_schema.fields
             if _has_leaves(f.dataType)]
    return F.concat(*found) if found else None


def leaf_values(frame: DataFrame) -> DataFrame:
    """column, value: every non-NULL string and floating-point leaf of every row."""
    leaves = row_leaves(frame.schema)
    if leaves is None:
        return frame.sparkSession.createDataFrame([], "column string, value string")
    exploded = frame.select(F.explode(leaves).alias("leaf"))
    return exploded.select("leaf.column", "leaf.value").where("value IS NOT NULL")


def holds_any(row_schema: StructType, terms: Sequence[str]) -> Column:
    """TRUE for a row of `row_schema` with a leaf that is, whole or as one of its tokens, one
    of `terms` (lower-case). The per-row form of the scan, for a DELETE's condition."""
    leaves = row_leaves(row_schema)
    if leaves is None or not terms:
        return F.lit(False)
    wanted = sorted(set(terms))

    def matches(leaf: Column) -> Column:
        text = F.lower(leaf.getField("value"))
        return text.isin(wanted) | F.exists(F.split(text, TOKEN_SPLIT),
                                            lambda token: token.isin(wanted))

    return F.coalesce(F.exists(leaves, matches), F.lit(False))


def _candidates(values: DataFrame) -> DataFrame:
    """The columns of `values` and `candidate`: each value lower-cased whole, and each of its
    tokens."""
    whole = values.select("*", F.lower("value").alias("candidate"))
    tokens = values.select("*", F.explode(
        F.split(F.lower("value"), TOKEN_SPLIT)).alias("candidate"))
    return whole.unionByName(tokens).where("candidate <> ''")


def known_values(spark: SparkSession, values: Iterable[str]) -> DataFrame:
    """`known`: the values to look for, lower-cased and without blanks or repeats."""
    rows = sorted({v.strip().lower() for v in values if v and v.strip()})
    return spark.createDataFrame([(v,) for v in rows], "known string")


def findings(place: str, values: DataFrame, known: DataFrame) -> DataFrame:
    """FINDING_COLUMNS: each (column, value) of `values` holding a known value; `place` names
    the table or file. `known` is small (`known_values`): it is broadcast."""
    hits = _candidates(values).join(F.broadcast(known), F.col("candidate") == F.col("known"))
    return hits.select(F.lit(place).alias("place"), "column", "value").distinct()


def scan_table(place: str, frame: DataFrame, known: DataFrame) -> DataFrame:
    return findings(place, leaf_values(frame), known)


def artifact_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(text files, parquet files) under `root`, the two kinds of artifact a value can sit in
    readably (MLflow's Spark models keep their data as parquet, the rest as JSON/YAML/text)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    texts = [p for p in files if p.name.endswith(_TEXT_SUFFIXES)]
    parquet = [p for p in files if p.suffix == ".parquet"]
    return texts, parquet


def scan_files(spark: SparkSession, root: Path, known: DataFrame) -> DataFrame:
    """FINDING_COLUMNS over the text and parquet files under `root` (for example the MLflow
    artifact store); `place` is the file, `column` its line number or parquet column."""
    texts, parquet = artifact_files(root)
    parts = []
    if texts:
        lines = spark.read.text([str(p) for p in texts]).select(
            F.input_file_name().alias("place"), F.lit("line").alias("column"), "value")
        parts.append(_candidates(lines)
                     .join(F.broadcast(known), F.col("candidate") == F.col("known"))
                     .select(*FINDING_COLUMNS))
    for file in parquet:
        parts.append(scan_table(str(file), spark.read.parquet(str(file)), known))
    if not parts:
        return spark.createDataFrame([], "place string, column string, value string")
    return union_all(parts).distinct()
