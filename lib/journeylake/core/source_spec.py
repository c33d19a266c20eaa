"""Source contracts as configuration: where a source lands, how to parse it, its fields with
their types and checks. Pure Python (no Spark), so configuration is validated before a session
exists; `journeylake.bronze.contracts` turns a contract into Spark SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from journeylake.core.errors import UserError


class ConfigError(UserError, ValueError):
    """A configuration that cannot be used; the message names the offending key."""


# The contract's type names and the Spark SQL type each converts to.
PRIMITIVE_TYPES = {
    "string": "string",
    "int": "int",
    "integer": "int",
    "long": "bigint",
    "bigint": "bigint",
    "double": "double",
    "float": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
DECIMAL_TYPE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
JSON_PREFIX = "json:"

# The kinds silver.pseudonymisation knows how to normalise before hashing (its PSEUDONYMISERS).
PII_KINDS = ("email", "handle", "phone", "name")


@dataclass(frozen=True)
class FieldSpec:
    """One column of a source contract: its name in the source and in bronze, its type, checks."""

    name: str
    type: str = "string"
    source: str | None = None
    required: bool = False
    format: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    # The value of a missing field (its column is not in the file, or the value is NULL or
    # blank), as a literal of the field's type; dates and timestamps in ISO-8601 whatever the
    # file's `format`. It must pass the field's checks, and satisfies `required`.
    default: str | None = None
    # A field computed instead of read: a SHA-256 of these fields' values (see
    # `journeylake.bronze.contracts.hash_of`), for sources without an id of their own.
    derive_from: tuple[str, ...] = ()

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @property
    def derived(self) -> bool:
        return bool(self.derive_from)


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    quote: str = '"'
    # The file's columns in order, when they are not the contract's read fields in contract
    # order: a field whose column is not listed is missing from every row (NULL or its
    # default), a listed column no field reads is dropped.
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where a source lands, how to parse it and the contract its rows must meet."""

    name: str
    format: str
    path: str
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]
    glob: str = "*"
    # Sources without a natural id get a key hashed from `key` columns instead of using them raw.
    hash_key: bool = False
    event_time: str | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)
    table: str | None = None
    # Personal columns (column -> kind: email or handle): silver carries only their keyed hash
    # as `<column>_hash`, never the raw value.
    pii: Mapping[str, str] = field(default_factory=dict)

    @property
    def table_name(self) -> str:
        return self.table or f"bronze_{self.name}"

    @property
    def read_fields(self) -> tuple[FieldSpec, ...]:
        """The fields read from the file (all but the derived ones), in contract order."""
        return tuple(spec for spec in self.fields if not spec.derived)

    @property
    def file_columns(self) -> tuple[str, ...]:
        """The columns of a landed file, in order: what a CSV header must say and which JSON
        keys are read."""
        if self.format == "csv" and self.csv.columns is not None:
            return self.csv.columns
        return tuple(spec.source_name for spec in self.read_fields)

    def in_file(self, spec: FieldSpec) -> bool:
        """Whether the field's column is in the source's files at all."""
        return not spec.derived and spec.source_name in self.file_columns

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def check_type(type_name: str, where: str) -> None:
    """Fail early, naming the key, on a type the contract language does not know."""
    if type_name in PRIMITIVE_TYPES or DECIMAL_TYPE.match(type_name):
        return
    if type_name.startswith(JSON_PREFIX) and type_name[len(JSON_PREFIX) :].strip():
        return
    raise ConfigError(
        f"{where}: unknown type {type_name!r}; use one of {sorted(set(PRIMITIVE_TYPES))}, "
        "decimal(p,s) or json:<Spark DDL type>"
    )


def spark_type(type_name: str) -> str:
    """The Spark SQL type of a contract type (a `json:` type is its DDL)."""
    if type_name.startswith(JSON_PREFIX):
        return type_name[len(JSON_PREFIX) :].strip()
    return PRIMITIVE_TYPES.get(type_name, type_name)


_INTEGER = re.compile(r"^[+-]?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?$"
)
_INTEGER_RANGES = {"int": 2**31, "bigint": 2**63}
# What Spark's cast from text accepts as a boolean.
_BOOLEANS = {"true", "t", "yes", "y", "1", "false", "f", "no", "n", "0"}


def parse_literal(type_name: str, text: str) -> object:
    """`text` as a Python value of the contract type; ValueError naming what it should be.

    Dates and timestamps are ISO-8601 here (a contract's literal, not a file's text); a `json:`
    value is only checked to be JSON (its shape is checked against the DDL with Spark, in
    `journeylake.bronze.contracts.check_json_types`).
    """
    sql_type = spark_type(type_name)
    if type_name.startswith(JSON_PREFIX):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("is not a JSON value") from None
    if sql_type == "string":
        return text
    if sql_type in _INTEGER_RANGES:
        limit = _INTEGER_RANGES[sql_type]
        if not _INTEGER.match(text) or not -limit <= int(text) < limit:
            raise ValueError(f"is not a valid {type_name}")
        return int(text)
    if sql_type == "double":
        try:
            return float(text)
        except ValueError:
            raise ValueError("is not a valid double") from None
    if sql_type == "boolean":
        if text.lower() not in _BOOLEANS:
            raise ValueError("is not a valid boolean (true or false)")
        return text.lower() in {"true", "t", "yes", "y", "1"}
    if sql_type == "date":
        try:
            if not _ISO_DATE.match(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError("is not a date in ISO-8601 (YYYY-MM-DD)") from None
    if sql_type == "timestamp":
        try:
            if not _ISO_TIMESTAMP.match(text):
                raise ValueError
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "is not a timestamp in ISO-8601 (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z])"
            ) from None
    decimal = DECIMAL_TYPE.match(sql_type)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or abs(value) >= Decimal(10) ** (
            precision - scale
        ):
            raise ValueError(f"is not a valid {type_name}")
        return value
    raise ValueError(f"is not a value of type {type_name}")


NUMERIC_SQL_TYPES = ("int", "bigint", "double")


def check_default(spec: FieldSpec, where: str) -> None:
    """Fail, naming the key, on a default that is not a value of the field's type or that its
    own checks (`allowed`, `min`, `max`) would reject: a default is never a bad value."""
    if spec.default is None:
        return
    text = spec.default
    if not text.strip():
        raise ConfigError(f"{where}: a default cannot be blank (a blank value counts as missing)")
    try:
        value = parse_literal(spec.type, text)
    except ValueError as error:
        raise ConfigError(f"{where}: {text!r} {error}") from None
    if spec.allowed is not None:
        allowed_values = []
        for item in spec.allowed:
            try:
                allowed_values.append(parse_literal(spec.type, item))
            except ValueError:
                continue
        if value not in allowed_values:
            raise ConfigError(
                f"{where}: {text!r} is not one of the allowed values {list(spec.allowed)}"
            )
    numeric = spark_type(spec.type) in NUMERIC_SQL_TYPES or DECIMAL_TYPE.match(spec.type)
    if numeric and spec.min is not None and value < spec.min:  # type: ignore[operator]
        raise ConfigError(f"{where}: {text!r} is below the minimum {spec.min}")
    if numeric and spec.max is not None and value > spec.max:  # type: ignore[operator]
        raise ConfigError(f"{where}: {text!r} is above the maximum {spec.max}")


def check_derivation(source: SourceSpec, spec: FieldSpec, where: str) -> None:
    """Fail, naming the key, on a derived field that cannot be computed the same way every
    time: its inputs must be read fields, and it takes no settings of a read field."""
    settings = {
        "source": spec.source,
        "default": spec.default,
        "format": spec.format,
        "min": spec.min,
        "max": spec.max,
        "allowed": spec.allowed,
    }
    given = [name for name, value in settings.items() if value is not None]
    if given:
        raise ConfigError(
            f"{where}: a field with derive_from is computed, not read, and takes no {given}"
        )
    if spec.type != "string":
        raise ConfigError(f"{where}.type: a derived field is a string (a SHA-256), not {spec.type}")
    inputs = list(spec.derive_from)
    duplicates = sorted({name for name in inputs if inputs.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{where}.derive_from: {duplicates} listed more than once")
    fields = {other.name: other for other in source.fields}
    unknown = [name for name in inputs if name not in fields]
    if unknown:
        raise ConfigError(
            f"{where}.derive_from: {unknown} are not fields (fields: {list(fields)})"
        )
    derived = [name for name in inputs if fields[name].derived]
    if derived:
        raise ConfigError(f"{where}.derive_from: {derived} are derived fields themselves")


def check_csv_columns(source: SourceSpec, where: str) -> None:
    """Fail, naming the key, on `csv.columns` that leave a field unreadable."""
    columns = source.csv.columns
    if columns is None:
        return
    if source.format != "csv":
        raise ConfigError(f"{where}.csv.columns: only a csv source lists its columns")
    listed = list(columns)
    duplicates = sorted({name for name in listed if listed.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{where}.csv.columns: duplicate columns {duplicates}")
    for spec in source.read_fields:
        if source.in_file(spec):
            continue
        if spec.source is not None:
            raise ConfigError(
                f"{where}.fields.{spec.name}.source: {spec.source!r} is not one of csv.columns "
                f"{listed}"
            )
        if spec.required and spec.default is None:
            raise ConfigError(
                f"{where}.fields.{spec.name}: a required field whose column is not in "
                f"csv.columns {listed} needs a default"
            )


def validate_source(source: SourceSpec) -> None:
    """Fail, naming the key, on a contract that cannot be used."""
    where = f"sources.{source.name}"
    if source.format not in ("json", "csv"):
        raise ConfigError(f"{where}.format: {source.format!r} is not one of json, csv")
    names = [spec.name for spec in source.fields]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{where}.fields: duplicate names {duplicates}")
    missing = [name for name in source.key if name not in names]
    if missing:
        raise ConfigError(f"{where}.key: {missing} are not fields (fields: {names})")
    if source.event_time and source.event_time not in names:
        raise ConfigError(f"{where}.event_time: {source.event_time!r} is not a field")
    unknown_pii = [name for name in source.pii if name not in names]
    if unknown_pii:
        raise ConfigError(f"{where}.pii: {unknown_pii} are not fields (fields: {names})")
    bad_kinds = {name: kind for name, kind in source.pii.items() if kind not in PII_KINDS}
    if bad_kinds:
        raise ConfigError(f"{where}.pii: kinds {bad_kinds} are not one of {', '.join(PII_KINDS)}")
    for spec in source.fields:
        field_where = f"{where}.fields.{spec.name}"
        check_type(spec.type, f"{field_where}.type")
        if spec.derived:
            check_derivation(source, spec, field_where)
        check_default(spec, f"{field_where}.default")
    if source.event_time and source.field(source.event_time).derived:
        raise ConfigError(f"{where}.event_time: {source.event_time!r} is a derived field")
    check_csv_columns(source, where)
