"""A lakehouse table as code: its name, its schema, how it is partitioned and keyed. Each
stage's `tables.py` defines its tables once with these; the jobs write through `conform`, so a
transform that drifts from the declared schema fails at the write with the table's name, not as
a silently different table."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, StructField, StructType


class SchemaMismatch(ValueError):
    """Rows do not have the columns and types their table declares."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: StructType
    partition_by: tuple[str, ...] = ()
    # The columns that identify a row: what MERGEs match on.
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in (*self.partition_by, *self.keys) if c not in self.columns]
        if unknown:
            raise ValueError(f"{self.name}: partition or key columns {unknown} are not in the "
                             f"schema {list(self.columns)}")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.fieldNames())

    def empty(self, spark: SparkSession) -> DataFrame:
        return spark.createDataFrame([], self.schema)


def conform(frame: DataFrame, spec: TableSpec) -> DataFrame:
    """`frame`'s columns in the table's order, checked against its schema: the same names and
    types (nullability aside: Spark derives it from the plan). Extra columns are an error too,
    so nothing is dropped unnoticed."""
    present = {field.name: field.dataType for field in frame.schema.fields}
    missing = [name for name in spec.columns if name not in present]
    extra = [name for name in present if name not in spec.columns]
    wrong = [
        f"{field.name} is {present[field.name].simpleString()}, declared "
        f"{field.dataType.simpleString()}"
        for field in spec.schema.fields
        if field.name in present
        and present[field.name].simpleString() != field.dataType.simpleString()
    ]
    if missing or extra or wrong:
        problems = [*([f"missing {missing}"] if missing else []),
                    *([f"not declared {extra}"] if extra else []), *wrong]
        raise SchemaMismatch(f"rows for {spec.name} do not match its schema: "
                             + "; ".join(problems))
    return frame.select(*spec.columns)


def schema(*columns: tuple[str, DataType]) -> StructType:
    """A StructType of nullable (name, type) columns: Delta stores every column nullable unless
    the table declares a constraint, so the declaration says the same."""
    return StructType([StructField(name, data_type) for name, data_type in columns])
