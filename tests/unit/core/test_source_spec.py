"""Contract validation of defaults, derived fields and a CSV's own column list: a contract that
cannot be applied fails at configuration load, naming the source and the field, before Spark."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from journeylake.core.config import ConfigError, load_config
from journeylake.core.source_spec import (
    CsvOptions,
    FieldSpec,
    SourceSpec,
    parse_literal,
    validate_source,
)
from tests.conftest import CONF_DIR

EXAMPLE = CONF_DIR / "examples" / "transactions_minimal.yaml"

MINIMAL = SourceSpec(
    name="orders",
    format="csv",
    path="orders",
    key=("order_id",),
    event_time="ts",
    csv=CsvOptions(columns=("customer", "date", "amount")),
    fields=(
        FieldSpec("order_id", derive_from=("customer_id", "ts", "amount")),
        FieldSpec("customer_id", source="customer", required=True),
        FieldSpec("email"),
        FieldSpec("ts", source="date", type="timestamp", format="yyyy-MM-dd", required=True),
        FieldSpec("amount", type="decimal(18,2)", required=True, min=0),
        FieldSpec("currency", required=True, default="EUR", allowed=("EUR", "USD", "GBP")),
    ),
)


def with_field(source: SourceSpec, spec: FieldSpec) -> SourceSpec:
    """`source` with the field of the same name replaced by `spec` (or added)."""
    fields = [spec if other.name == spec.name else other for other in source.fields]
    if spec.name not in {other.name for other in source.fields}:
        fields.append(spec)
    return replace(source, fields=tuple(fields))


def test_a_minimal_contract_with_defaults_and_a_derived_key_is_valid() -> None:
    validate_source(MINIMAL)
    assert MINIMAL.file_columns == ("customer", "date", "amount")
    assert [spec.name for spec in MINIMAL.read_fields] == [
        "customer_id", "email", "ts", "amount", "currency"]
    assert [MINIMAL.in_file(spec) for spec in MINIMAL.fields] == [
        False, True, False, True, True, False]


def test_without_csv_columns_a_file_has_the_read_fields_in_contract_order() -> None:
    source = replace(MINIMAL, csv=CsvOptions())
    assert source.file_columns == ("customer", "email", "date", "amount", "currency")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FieldSpec("currency", default="CHF", allowed=("EUR", "USD")),
         r"sources\.orders\.fields\.currency\.default: 'CHF' is not one of the allowed values "
         r"\['EUR', 'USD'\]"),
        (FieldSpec("amount", type="decimal(18,2)", default="-1", min=0),
         r"sources\.orders\.fields\.amount\.default: '-1' is below the minimum 0"),
        (FieldSpec("quantity", type="int", default="1000", max=99),
         r"fields\.quantity\.default: '1000' is above the maximum 99"),
        (FieldSpec("quantity", type="int", default="1.5"),
         r"fields\.quantity\.default: '1\.5' is not a valid int"),
        (FieldSpec("quantity", type="int", default="3000000000"),
         r"fields\.quantity\.default: '3000000000' is not a valid int"),
        (FieldSpec("amount", type="decimal(4,2)", default="100"),
         r"fields\.amount\.default: '100' is not a valid decimal\(4,2\)"),
        (FieldSpec("gift", type="boolean", default="maybe"),
         r"fields\.gift\.default: 'maybe' is not a valid boolean"),
        (FieldSpec("ts", source="date", type="timestamp", format="yyyy-MM-dd",
                   default="03/05/2026"),
         r"fields\.ts\.default: '03/05/2026' is not a timestamp in ISO-8601"),
        (FieldSpec("day", type="date", default="2026-02-30"),
         r"fields\.day\.default: '2026-02-30' is not a date in ISO-8601"),
        (FieldSpec("items", type="json:array<string>", default="[a]"),
         r"fields\.items\.default: '\[a\]' is not a JSON value"),
        (FieldSpec("channel", default="  "),
         r"fields\.channel\.default: a default cannot be blank"),
    ],
)
def test_a_default_that_breaks_its_own_field_is_a_config_error(
    spec: FieldSpec, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_source(with_field(MINIMAL, spec))


@pytest.mark.parametrize(
    ("type_name", "text", "value"),
    [
        ("string", "online", "online"),
        ("int", "-3", -3),
        ("long", "9000000000", 9000000000),
        ("double", "1.5", 1.5),
        ("boolean", "true", True),
        ("boolean", "no", False),
        ("decimal(18,2)", "0", Decimal("0")),
        ("date", "2026-05-03", date(2026, 5, 3)),
        ("timestamp", "2026-05-03", datetime(2026, 5, 3)),
        ("timestamp", "2026-05-03T10:15:00", datetime(2026, 5, 3, 10, 15)),
        ("json:array<string>", "[]", []),
    ],
)
def test_a_default_is_a_literal_of_its_type(type_name: str, text: str, value: object) -> None:
    assert parse_literal(type_name, text) == value


def test_a_required_field_is_satisfied_by_its_default_even_when_the_file_lacks_it() -> None:
    validate_source(with_field(MINIMAL, FieldSpec("channel", required=True, default="online")))
    with pytest.raises(
        ConfigError,
        match=r"sources\.orders\.fields\.channel: a required field whose column is not in "
        r"csv\.columns \['customer', 'date', 'amount'\] needs a default",
    ):
        validate_source(with_field(MINIMAL, FieldSpec("channel", required=True)))


def test_a_source_column_missing_from_csv_columns_is_named() -> None:
    with pytest.raises(
        ConfigError,
        match=r"sources\.orders\.fields\.customer_id\.source: 'custmer' is not one of "
        r"csv\.columns",
    ):
        validate_source(with_field(MINIMAL, FieldSpec("customer_id", source="custmer")))


def test_csv_columns_are_for_csv_sources_and_listed_once() -> None:
    with pytest.raises(ConfigError, match=r"sources\.orders\.csv\.columns: only a csv source"):
        validate_source(replace(MINIMAL, format="json"))
    with pytest.raises(ConfigError, match=r"csv\.columns: duplicate columns \['date'\]"):
        validate_source(replace(MINIMAL, csv=CsvOptions(columns=("customer", "date", "date",
                                                                 "amount"))))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FieldSpec("order_id", derive_from=("customer_id", "day")),
         r"sources\.orders\.fields\.order_id\.derive_from: \['day'\] are not fields"),
        (FieldSpec("order_id", derive_from=("customer_id", "customer_id")),
         r"fields\.order_id\.derive_from: \['customer_id'\] listed more than once"),
        (FieldSpec("order_id", derive_from=("order_id", "amount")),
         r"fields\.order_id\.derive_from: \['order_id'\] are derived fields themselves"),
        (FieldSpec("order_id", derive_from=("amount",), default="x"),
         r"fields\.order_id: a field with derive_from is computed, not read, and takes no "
         r"\['default'\]"),
        (FieldSpec("order_id", derive_from=("amount",), source="id"),
         r"fields\.order_id: .* takes no \['source'\]"),
        (FieldSpec("order_id", type="long", derive_from=("amount",)),
         r"fields\.order_id\.type: a derived field is a string"),
    ],
)
def test_a_derived_field_that_cannot_be_computed_is_a_config_error(
    spec: FieldSpec, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_source(with_field(MINIMAL, spec))


def test_the_event_time_cannot_be_a_derived_field() -> None:
    with pytest.raises(ConfigError, match=r"sources\.orders\.event_time: 'order_id' is a derived"):
        validate_source(replace(MINIMAL, event_time="order_id"))


def test_defaults_are_checked_when_the_configuration_is_loaded() -> None:
    with pytest.raises(
        ConfigError,
        match=r"sources\.stores\.fields\.city\.default: 'Atlantis' is not one of the allowed",
    ):
        load_config("local", [
            "sources.stores.fields=[{name: store_id, required: true}, "
            "{name: city, default: Atlantis, allowed: [Paris, Lyon]}]"], conf_dir=CONF_DIR)


def test_yaml_literals_become_default_text() -> None:
    config = load_config("local", [
        "sources.stores.fields=[{name: store_id, required: true}, "
        "{name: opened, type: date, default: 2026-01-01}, {name: open, type: boolean, "
        "default: true}, {name: lat, type: double, default: 0}]"], conf_dir=CONF_DIR)
    stores = config.sources["stores"]
    assert [stores.field(name).default for name in ("opened", "open", "lat")] == [
        "2026-01-01", "true", "0"]


def test_the_shipped_minimal_transactions_example_is_a_valid_contract(tmp_path: Path) -> None:
    # Used the way its comments say: copied over conf/sources/transactions.yaml.
    conf_dir = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf_dir)
    (conf_dir / "sources" / "transactions.yaml").write_text(EXAMPLE.read_text())
    source = load_config("local", conf_dir=conf_dir).sources["transactions"]
    assert source.file_columns == ("customer", "date", "amount")
    assert source.field("order_id").derive_from == ("customer_id", "ts", "amount")
    assert {spec.name: spec.default for spec in source.fields if spec.default} == {
        "store_id": "online", "currency": "EUR", "channel": "online"}
