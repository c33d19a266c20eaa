"""Schema contracts: parse raw lines of a source into typed columns and list, per record, every
way it breaks its contract.

Every field is first read as text, so a wrong type is reported as a reason instead of silently
becoming NULL, and then converted with the `try_*` functions. All of it is Spark SQL: no UDFs.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from journeylake.bronze.tables import ERRORS, EVENT_DATE, RAW, RECORD_KEY
from journeylake.core.errors import UserError
from journeylake.core.source_spec import (
    JSON_PREFIX,
    PRIMITIVE_TYPES,
    FieldSpec,
    SourceSpec,
)

TIMESTAMP_FORMATS = ("iso8601", "epoch_millis", "epoch_seconds")
_CORRUPT = "_corrupt_record"
_EXTRA = "_extra_columns"


class ContractError(UserError, ValueError):
    """The data cannot be read under its contract at all (as opposed to a bad row)."""


def check_json_types(spark: SparkSession, source: SourceSpec) -> None:
    """Fail with the field's name when a `json:` type is not a Spark DDL type; Spark itself would
    only fail later, deep inside the first query."""
    for spec in source.fields:
        if not spec.type.startswith(JSON_PREFIX):
            continue
        ddl = spec.type[len(JSON_PREFIX) :].strip()
        try:
            _ = spark.range(0).select(F.from_json(F.lit(None).cast("string"), ddl)).schema
        except Exception as error:  # noqa: BLE001 - Spark raises parse and analysis errors alike
            first_line = str(error).strip().splitlines()[0]
            raise ContractError(
                f"sources.{source.name}.fields.{spec.name}.type: {ddl!r} is not a Spark DDL "
                f"type ({first_line})"
            ) from None


def source_text_schema(source: SourceSpec) -> StructType:
    """Every source column as text, in contract order."""
    return StructType([StructField(spec.source_name, StringType()) for spec in source.fields])


def parse_raw(raw: DataFrame, source: SourceSpec) -> DataFrame:
    """Parse `_raw` lines into one text column per source field plus `_malformed`.

    Needs `_raw`; keeps every input column. CSV header lines must already be removed.
    """
    if RAW not in raw.columns:
        raise ContractError(f"parse_raw needs a {RAW} column; got {raw.columns}")
    schema = source_text_schema(source)
    if source.format == "json":
        parsed = F.from_json(
            RAW,
            StructType([*schema.fields, StructField(_CORRUPT, StringType())]),
            {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT},
        )
        # Spark's parser accepts an object followed by trailing text; a record is one object.
        line = F.trim(F.col(RAW))
        malformed = parsed[_CORRUPT].isNotNull() | ~(line.startswith("{") & line.endswith("}"))
    else:
        # One spare column catches lines with more fields than the contract has.
        columns = [*(field.name for field in schema.fields), _EXTRA]
        parsed = F.from_csv(RAW, _ddl_of_text_columns(columns), csv_options(source))
        malformed = parsed[_EXTRA].isNotNull()
    with_parsed = raw.withColumn("_parsed", parsed)
    return with_parsed.select(
        *raw.columns,
        *[F.col("_parsed")[spec.source_name].alias(spec.source_name) for spec in source.fields],
        malformed.alias("_malformed"),
    )


def _ddl_of_text_columns(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}` string" for name in names)


def csv_options(source: SourceSpec) -> dict[str, str]:
    # RFC 4180 quoting: a quote inside a quoted field is doubled.
    return {
        "sep": source.csv.delimiter,
        "quote": source.csv.quote,
        "escape": source.csv.quote,
        "mode": "PERMISSIVE",
    }


def header_tokens(raw: Column, source: SourceSpec) -> Column:
    """The fields of a CSV line as an array of text, to recognise header lines."""
    width = len(source.fields) + 1
    parsed = F.from_csv(
        raw, _ddl_of_text_columns([f"c{i}" for i in range(width)]), csv_options(source)
    )
    return F.filter(
        F.array(*[parsed[f"c{i}"] for i in range(width)]), lambda token: token.isNotNull()
    )


def _blank_to_null(raw_text: Column) -> Column:
    # CSV has no NULL: an empty or blank field counts as missing.
    value = F.trim(raw_text)
    return F.when(value != "", value)


def typed_value(spec: FieldSpec, text: Column) -> Column:
    """`text` converted to the field's contract type; NULL where it does not convert."""
    type_name = spec.type
    if type_name == "timestamp":
        return _parse_timestamp(text, spec.format or "iso8601")
    if type_name == "date":
        return (
            F.try_to_timestamp(text, F.lit(spec.format)).cast("date")
            if spec.format
            else (text.try_cast("date"))
        )
    if type_name.startswith(JSON_PREFIX):
        return F.from_json(text, type_name[len(JSON_PREFIX) :].strip(), {"mode": "PERMISSIVE"})
    if type_name == "string":
        return text
    return text.try_cast(PRIMITIVE_TYPES.get(type_name, type_name))


def _parse_timestamp(text: Column, fmt: str) -> Column:
    if fmt == "epoch_millis":
        return F.timestamp_millis(text.try_cast("bigint"))
    if fmt == "epoch_seconds":
        return F.timestamp_seconds(text.try_cast("bigint"))
    if fmt == "iso8601":
        return F.try_to_timestamp(text)
    return F.try_to_timestamp(text, F.lit(fmt))


def _problem(condition: Column, code: str, message: Column | str) -> Column:
    message_col = F.lit(message) if isinstance(message, str) else message
    return F.when(condition, F.struct(F.lit(code).alias("code"), message_col.alias("message")))


def _shown(value: Column) -> Column:
    # Long values are cut so a reason stays readable.
    text = value.cast("string")
    return F.concat(
        F.lit("'"),
        F.when(F.length(text) > 40, F.concat(F.substring(text, 1, 40), F.lit("..."))).otherwise(
            text
        ),
        F.lit("'"),
    )


def field_problems(spec: FieldSpec, text: Column, typed: Column) -> list[Column]:
    """One nullable problem struct per rule of the field, NULL where the rule holds; `text` is the
    field as it arrived (blank as NULL), `typed` the converted value."""
    type_label = spec.type if not spec.type.startswith(JSON_PREFIX) else "JSON value"
    if spec.type == "timestamp" and spec.format:
        type_label = f"timestamp in format {spec.format}"
    problems = [
        _problem(
            text.isNull() & F.lit(spec.required),
            "missing_required",
            f"required field {spec.name} is missing",
        ),
        _problem(
            text.isNotNull() & typed.isNull(),
            "bad_type",
            F.concat(F.lit(f"{spec.name}: "), _shown(text), F.lit(f" is not a valid {type_label}")),
        ),
    ]
    if spec.min is not None:
        problems.append(
            _problem(
                typed < F.lit(spec.min),
                "out_of_range",
                F.concat(
                    F.lit(f"{spec.name} "),
                    _shown(typed),
                    F.lit(f" is below the minimum {_number(spec.min)}"),
                ),
            )
        )
    if spec.max is not None:
        problems.append(
            _problem(
                typed > F.lit(spec.max),
                "out_of_range",
                F.concat(
                    F.lit(f"{spec.name} "),
                    _shown(typed),
                    F.lit(f" is above the maximum {_number(spec.max)}"),
                ),
            )
        )
    if spec.allowed is not None:
        problems.append(
            _problem(
                typed.isNotNull() & ~typed.isin(list(spec.allowed)),
                "not_allowed",
                F.concat(
                    F.lit(f"{spec.name} "),
                    _shown(typed),
                    F.lit(" is not one of the allowed values"),
                ),
            )
        )
    return problems


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def apply_contract(
    parsed: DataFrame, source: SourceSpec, ingested_at: Column, max_future_hours: float
) -> DataFrame:
    """Typed contract columns plus `_errors` (array of code/message), `_record_key` and, when the
    source has an event time, `event_date`.

    Needs the output of `parse_raw`; keeps the columns that are not source fields (`_raw`,
    `_source_file`, ...). A malformed record gets exactly one problem: the other rules would only
    repeat it.
    """
    passthrough = [
        c
        for c in parsed.columns
        if c not in {s.source_name for s in source.fields} and c != "_malformed"
    ]
    texts = {spec.name: _blank_to_null(F.col(spec.source_name)) for spec in source.fields}
    typed = parsed.select(
        *passthrough,
        "_malformed",
        *[texts[spec.name].alias(f"_text_{spec.name}") for spec in source.fields],
        *[typed_value(spec, texts[spec.name]).alias(spec.name) for spec in source.fields],
    )
    problems: list[Column] = [
        problem
        for spec in source.fields
        for problem in field_problems(spec, F.col(f"_text_{spec.name}"), F.col(spec.name))
    ]
    if source.event_time:
        event_time = F.col(source.event_time)
        horizon = ingested_at + F.expr(f"INTERVAL {int(max_future_hours * 3600)} SECONDS")
        problems.append(
            _problem(
                event_time > horizon,
                "future_timestamp",
                F.concat(
                    F.lit(f"{source.event_time} "),
                    _shown(event_time),
                    F.lit(f" is more than {_number(max_future_hours)} hours after ingestion"),
                ),
            )
        )
    malformed_problem = F.array(
        F.struct(
            F.lit("malformed_record").alias("code"),
            F.lit(f"not a valid {source.format.upper()} record").alias("message"),
        )
    )
    errors = F.when(F.col("_malformed"), malformed_problem).otherwise(
        F.filter(F.array(*problems), lambda problem: problem.isNotNull())
    )
    result = typed.withColumn(ERRORS, errors).withColumn(RECORD_KEY, record_key(source))
    if source.event_time:
        result = result.withColumn(EVENT_DATE, F.to_date(source.event_time))
    return result.drop("_malformed", *[f"_text_{spec.name}" for spec in source.fields])


def record_key(source: SourceSpec) -> Column:
    """The identity of a record: its natural key, or a SHA-256 of the key columns."""
    parts = [F.coalesce(F.col(name).cast("string"), F.lit("")) for name in source.key]
    if source.hash_key:
        return F.sha2(F.concat_ws("\u0001", *parts), 256)
    if len(parts) == 1:
        return F.col(source.key[0]).cast("string")
    return F.concat_ws("|", *parts)


def contract_columns(source: SourceSpec) -> Sequence[str]:
    return [spec.name for spec in source.fields]
