"""Schema contracts: parse raw lines of a source into typed columns and list, per record, every
way it breaks its contract.

Every field is first read as text, so a wrong type is reported as a reason instead of silently
becoming NULL, and then converted with the `try_*` functions. A missing value (its column is not
in the file, or it is NULL or blank) takes the field's `default` when it has one; a derived field
(`derive_from`) is a SHA-256 of other fields' typed values. All of it is Spark SQL: no UDFs.
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
    spark_type,
)

TIMESTAMP_FORMATS = ("iso8601", "epoch_millis", "epoch_seconds")
_CORRUPT = "_corrupt_record"
_EXTRA = "_extra_columns"
# The canonical text a hashed key is computed from: each value as text, NULL as a NUL character
# (not "": NULL and "" are different values), joined by a control character. Values without
# NULLs hash as they did before the marker existed, so stored `hash_key` keys stay valid.
HASH_SEPARATOR = "\u0001"
HASH_NULL = "\u0000"
# NUL and the other C0 controls but tab, line feed and carriage return: never in a text record.
CONTROL_CHARACTERS = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]"


class ContractError(UserError, ValueError):
    """The data cannot be read under its contract at all (as opposed to a bad row)."""


def check_json_types(spark: SparkSession, source: SourceSpec) -> None:
    """Fail with the field's name when a `json:` type is not a Spark DDL type, or its default
    does not parse as one; Spark itself would only fail later, deep inside the first query (or
    turn the default into NULL)."""
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
        if spec.default is not None:
            parsed = spark.range(1).select(default_value(spec).isNotNull()).first()
            if not (parsed and parsed[0]):
                raise ContractError(
                    f"sources.{source.name}.fields.{spec.name}.default: {spec.default!r} is not "
                    f"a JSON value of type {ddl}"
                )


def source_text_schema(source: SourceSpec) -> StructType:
    """Every column of a landed file as text, in file order (`SourceSpec.file_columns`)."""
    return StructType([StructField(name, StringType()) for name in source.file_columns])


def parse_raw(raw: DataFrame, source: SourceSpec) -> DataFrame:
    """Parse `_raw` lines into one text column per read field (named by its source column; NULL
    for a field whose column is not in the file) plus `_malformed`.

    Needs `_raw`; keeps every input column. CSV header lines must already be removed.
    """
    if RAW not in raw.columns:
        raise ContractError(f"parse_raw needs a {RAW} column; got {raw.columns}")
    schema = source_text_schema(source)
    text = without_bom(F.col(RAW))
    if source.format == "json":
        parsed = F.from_json(
            text,
            StructType([*schema.fields, StructField(_CORRUPT, StringType())]),
            {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT},
        )
        # Spark's parser accepts an object followed by trailing text; a record is one object.
        line = F.trim(text)
        malformed = parsed[_CORRUPT].isNotNull() | ~(line.startswith("{") & line.endswith("}"))
    else:
        # One spare column catches lines with more fields than the contract has.
        columns = [*(field.name for field in schema.fields), _EXTRA]
        parsed = F.from_csv(text, _ddl_of_text_columns(columns), csv_options(source))
        malformed = parsed[_EXTRA].isNotNull()
    with_parsed = raw.withColumn("_parsed", parsed)
    return with_parsed.select(
        *raw.columns,
        *[
            (
                F.col("_parsed")[spec.source_name]
                if source.in_file(spec)
                else F.lit(None).cast("string")
            ).alias(spec.source_name)
            for spec in source.read_fields
        ],
        malformed.alias("_malformed"),
    )


def without_bom(raw: Column) -> Column:
    """`raw` without the UTF-8 byte-order mark a file's first line may start with (Spark keeps
    it as U+FEFF): a record or header all the same."""
    return F.regexp_replace(raw, "^\ufeff", "")


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
    width = len(source.file_columns) + 1
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


def default_value(spec: FieldSpec) -> Column:
    """The field's default as a value of its type. Dates and timestamps are ISO-8601 (a cast,
    not the file's `format`); the default was checked against the type when the configuration
    was loaded (`journeylake.core.source_spec.check_default`)."""
    if spec.default is None:
        return F.lit(None).cast(spark_type(spec.type))
    if spec.type.startswith(JSON_PREFIX):
        return F.from_json(F.lit(spec.default), spark_type(spec.type), {"mode": "PERMISSIVE"})
    return F.lit(spec.default).cast(spark_type(spec.type))


def value_or_default(spec: FieldSpec, text: Column) -> Column:
    """The typed value of `text` (the field as it arrived, blank as NULL), or the field's
    default where `text` is NULL. A value that is present but invalid stays NULL: a default
    fills a gap, it never hides a bad value."""
    if spec.default is None:
        return typed_value(spec, text)
    return F.when(text.isNull(), default_value(spec)).otherwise(typed_value(spec, text))


def hash_of(values: Sequence[Column]) -> Column:
    """SHA-256 (64 hex characters) of `values` as canonical text: each cast to string, NULL
    as its own marker, joined by a control character. The same values give the same hash on
    every load and in every batch, which duplicate detection and idempotent loads rely on.

    Timestamps are hashed as the session time zone renders them (`spark.sql.session.timeZone`,
    UTC in conf/base.yaml: changing it changes the keys of epoch-based times), decimals with
    their scale (`10.00`).
    """
    parts = [F.coalesce(value.cast("string"), F.lit(HASH_NULL)) for value in values]
    return F.sha2(F.concat_ws(HASH_SEPARATOR, *parts), 256)


def derived_value(spec: FieldSpec) -> Column:
    """A derived field: the hash of its `derive_from` fields (typed, defaults applied), NULL
    when any of them is missing."""
    inputs = [F.col(name) for name in spec.derive_from]
    complete = F.lit(True)
    for value in inputs:
        complete = complete & value.isNotNull()
    return F.when(complete, hash_of(inputs))


def derivation_problem(spec: FieldSpec) -> Column:
    """A `missing_required` problem naming the inputs a derived field lacks, NULL otherwise."""
    lacking = F.filter(
        F.array(*[F.when(F.col(name).isNull(), F.lit(name)) for name in spec.derive_from]),
        lambda name: name.isNotNull(),
    )
    return _problem(
        F.size(lacking) > 0,
        "missing_required",
        F.concat(
            F.lit(f"{spec.name} cannot be derived without a valid "),
            F.array_join(lacking, ", "),
        ),
    )


_EPOCH_UNITS_PER_SECOND = {"epoch_millis": 1000, "epoch_seconds": 1}


def _parse_timestamp(text: Column, fmt: str) -> Column:
    if fmt in _EPOCH_UNITS_PER_SECOND:
        # A Spark timestamp is a long of microseconds: a larger epoch value would overflow
        # (an ARITHMETIC_OVERFLOW error under ANSI, failing the whole batch), so it is no time.
        units = _EPOCH_UNITS_PER_SECOND[fmt]
        number = text.try_cast("bigint")
        limit = (2**63 - 1) // (1_000_000 // units)
        convert = F.timestamp_millis if fmt == "epoch_millis" else F.timestamp_seconds
        return F.when(number.between(-limit, limit), convert(number))
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
            text.isNull() & F.lit(spec.required and spec.default is None),
            "missing_required",
            f"required field {spec.name} is missing",
        ),
        _problem(
            text.isNotNull() & typed.isNull(),
            "bad_type",
            F.concat(F.lit(f"{spec.name}: "), _shown(text), F.lit(f" is not a valid {type_label}")),
        ),
    ]
    if spec.type == "string":
        # A JSON escape (\u0000, \ufffd) puts in a value what `line_problem` finds in raw text.
        problems.append(
            _problem(
                typed.rlike(CONTROL_CHARACTERS) | typed.contains("\ufffd"),
                "bad_encoding",
                f"{spec.name}: the value holds control characters or U+FFFD, not text",
            )
        )
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
    read = source.read_fields
    passthrough = [
        c for c in parsed.columns if c not in {s.source_name for s in read} and c != "_malformed"
    ]
    texts = {spec.name: _blank_to_null(F.col(spec.source_name)) for spec in read}
    typed = parsed.select(
        *passthrough,
        "_malformed",
        *[texts[spec.name].alias(f"_text_{spec.name}") for spec in read],
        *[value_or_default(spec, texts[spec.name]).alias(spec.name) for spec in read],
    )
    derived = [spec for spec in source.fields if spec.derived]
    for spec in derived:
        typed = typed.withColumn(spec.name, derived_value(spec))
    problems: list[Column] = [
        problem
        for spec in read
        for problem in field_problems(spec, F.col(f"_text_{spec.name}"), F.col(spec.name))
    ]
    problems += [derivation_problem(spec) for spec in derived]
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
    return result.drop("_malformed", *[f"_text_{spec.name}" for spec in read])


def record_key(source: SourceSpec) -> Column:
    """The identity of a record: its natural key, or (`hash_key`) the same SHA-256 of the key
    fields a `derive_from` field would be (`hash_of`)."""
    if source.hash_key:
        return hash_of([F.col(name) for name in source.key])
    if len(source.key) == 1:
        return F.col(source.key[0]).cast("string")
    return F.concat_ws("|", *[F.coalesce(F.col(name).cast("string"), F.lit("")) for name in
                               source.key])


def contract_columns(source: SourceSpec) -> Sequence[str]:
    return [spec.name for spec in source.fields]
