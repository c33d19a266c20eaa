"""How values are spelled in the raw files, as SQL expressions: timestamps, decimals, CSV fields
and JSON lines.

Times are carried as epoch milliseconds (UTC) and spelled out with integer arithmetic rather
than `date_format`, whose output follows the session time zone: the files must say UTC even when
the session is set to something else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from journeylake.generator.expressions import Sql, lit, named_struct

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
_EPOCH = dt.date(1970, 1, 1)
# A CSV field needs quotes when it holds the delimiter, a quote or a line break.
_NEEDS_QUOTES = lit('[,"\r\n]')


def day_to_date(day: Sql) -> Sql:
    """A DATE from an epoch-day number."""
    return f"date_add(DATE'1970-01-01', CAST({day} AS INT))"


def _two(part: Sql) -> Sql:
    return f"lpad(CAST({part} AS STRING), 2, '0')"


def _date_and_clock(ms: Sql) -> tuple[Sql, Sql, Sql, Sql, Sql]:
    """Date text, hour, minute, second and millisecond of epoch milliseconds `ms` (>= 0)."""
    in_day = f"pmod({ms}, {MS_PER_DAY}L)"
    return (
        f"CAST({day_to_date(f'({ms}) div {MS_PER_DAY}L')} AS STRING)",
        _two(f"{in_day} div {MS_PER_HOUR}L"),
        _two(f"pmod({ms}, {MS_PER_HOUR}L) div {MS_PER_MINUTE}L"),
        _two(f"pmod({ms}, {MS_PER_MINUTE}L) div {MS_PER_SECOND}L"),
        f"lpad(CAST(pmod({ms}, {MS_PER_SECOND}L) AS STRING), 3, '0')",
    )


def iso_utc(ms: Sql) -> Sql:
    """ISO-8601 with milliseconds and `Z`, e.g. `2026-06-01T10:15:30.123Z`."""
    date, hour, minute, second, millis = _date_and_clock(ms)
    return f"concat({date}, 'T', {hour}, ':', {minute}, ':', {second}, '.', {millis}, 'Z')"


def sql_utc(ms: Sql) -> Sql:
    """`yyyy-MM-dd HH:mm:ss` (UTC, milliseconds dropped), e.g. `2026-06-01 10:15:30`."""
    date, hour, minute, second, _ = _date_and_clock(ms)
    return f"concat({date}, ' ', {hour}, ':', {minute}, ':', {second})"


def epoch_day(date_text: str) -> int:
    """Days since 1970-01-01 of a `YYYY-MM-DD` date."""
    return (dt.date.fromisoformat(date_text) - _EPOCH).days


def decimal_text(value: Sql, scale: int) -> Sql:
    """A number as plain text with exactly `scale` decimals (never `1.0E-4`, never `1,5`)."""
    return f"CAST(CAST({value} AS DECIMAL(18,{scale})) AS STRING)"


def csv_field(value: Sql) -> Sql:
    """One CSV field (RFC 4180): NULL as empty; quoted, inner quotes doubled, when it holds the
    delimiter, a quote or a line break."""
    text = f"coalesce(CAST({value} AS STRING), '')"
    quoted = f"concat('\"', replace({text}, '\"', '\"\"'), '\"')"
    return f"CASE WHEN {text} RLIKE {_NEEDS_QUOTES} THEN {quoted} ELSE {text} END"


def csv_line(values: Sequence[Sql]) -> Sql:
    """A CSV line of `values` in order. Every field is coalesced first: `concat_ws` would
    silently skip a NULL and shift every later field one column to the left."""
    return f"concat_ws(',', {', '.join(csv_field(value) for value in values)})"


def json_line(fields: Mapping[str, Sql]) -> Sql:
    """A JSON object of `fields` in order; NULL fields are left out, as a tracker would."""
    return f"to_json({named_struct(fields)}, map('ignoreNullFields', 'true'))"
