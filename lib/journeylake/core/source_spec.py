"""Source contracts as configuration: where a source lands, how to parse it, its fields with
their types and checks. Pure Python (no Spark), so configuration is validated before a session
exists; `journeylake.bronze.contracts` turns a contract into Spark SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

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

PII_KINDS = ("email", "handle")


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

    @property
    def source_name(self) -> str:
        return self.source or self.name


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    quote: str = '"'


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
        check_type(spec.type, f"{where}.fields.{spec.name}.type")
