"""Bad records: replace a share of a source's rows by a version that breaks exactly one rule.

The kinds are the reason codes the ingestion emits. Which rows go bad, and how, is decided by
hashes of the row's key, so the same settings always break the same rows in the same way. A
`duplicate_key` row is different: the good row stays and an exact copy of it is added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from journeylake.generator.draws import pick, uniform
from journeylake.generator.expressions import Sql, case, extend, lit
from journeylake.generator.formats import MS_PER_DAY, csv_line, json_line

MALFORMED_RECORD = "malformed_record"
MISSING_REQUIRED = "missing_required"
BAD_TYPE = "bad_type"
OUT_OF_RANGE = "out_of_range"
NOT_ALLOWED = "not_allowed"
FUTURE_TIMESTAMP = "future_timestamp"
DUPLICATE_KEY = "duplicate_key"

# Every records DataFrame carries its row's unique key here; the draws hash it.
KEY = "_key"
# ...and its event time as epoch milliseconds, for `future_timestamp`.
EVENT_MS = "_ms"

Draw = Callable[[str], Sql]  # a uniform number in [0, 1) of the row, for a salt


def _no_fields(draw: Draw) -> Mapping[str, Sql]:
    return {}


@dataclass(frozen=True)
class Breaker:
    """How one kind breaks a row: `fields` gives new values for some fields (of the same type),
    then `line`, if any, changes the rendered line (`line(line, draw)`)."""

    fields: Callable[[Draw], Mapping[str, Sql]] = _no_fields
    line: Callable[[Sql, Draw], Sql] | None = None


@dataclass(frozen=True)
class LineFormat:
    """How a source renders a records row as a line (`style` json or csv, `fields` in order),
    and how each bad kind breaks it. `breakers` lists the kinds of the source except
    `duplicate_key`, which every event source has and which is the same everywhere."""

    source: str
    style: str
    fields: tuple[str, ...]
    breakers: Mapping[str, Breaker] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        return (*self.breakers, DUPLICATE_KEY)

    def render(self, values: Mapping[str, Sql] | None = None) -> Sql:
        """The line of a row, with `values` (field -> SQL) in place of some fields."""
        chosen = [(values or {}).get(name, f"`{name}`") for name in self.fields]
        if self.style == "json":
            return json_line(dict(zip(self.fields, chosen, strict=True)))
        return csv_line(chosen)


def planted_kind(line_format: LineFormat, seed: int, share: float) -> Sql:
    """The bad kind `inject_bad_records` plants in a row (NULL: the row stays good), from its
    `_key`: a truth table can say which of its records reached the files broken."""
    def draw(salt: str) -> Sql:
        return uniform(seed, f"bad-{line_format.source}-{salt}", KEY)

    return case([(f"{draw('share')} < {lit(float(share))}",
                  pick(draw("kind"), line_format.kinds))])


def inject_bad_records(
    records: DataFrame, line_format: LineFormat, seed: int, share: float
) -> DataFrame:
    """`value` (the raw line) and `bad_kind` (NULL for a good line) for every row of `records`,
    plus one extra row per `duplicate_key`.

    Needs `_key` (unique per row) and the `fields` of `line_format`. About `share` of the rows
    get a kind, equally likely among the source's kinds.
    """
    if KEY not in records.columns:
        raise ValueError(f"inject_bad_records needs a {KEY} column; got {records.columns}")
    source = line_format.source

    def draw(salt: str) -> Sql:
        return uniform(seed, f"bad-{source}-{salt}", KEY)

    planted = extend(records, {"_planted": planted_kind(line_format, seed, share)})
    overrides: dict[str, list[tuple[Sql, Sql]]] = {}
    for kind, breaker in line_format.breakers.items():
        for name, value in breaker.fields(draw).items():
            overrides.setdefault(name, []).append((f"_planted = {lit(kind)}", value))
    values = {name: case(branches, f"`{name}`") for name, branches in overrides.items()}
    rendered = extend(planted, {"_line": line_format.render(values)})
    line_changes = [
        (f"_planted = {lit(kind)}", breaker.line("_line", draw))
        for kind, breaker in line_format.breakers.items()
        if breaker.line is not None
    ]
    line = case(line_changes, "_line")
    # A duplicate_key row yields its good line twice: the original and the extra, bad copy.
    # One pass with `inline`, rather than a second pass over the records for the copies.
    lines = (
        f"CASE WHEN _planted = {lit(DUPLICATE_KEY)} "
        f"THEN array(named_struct('value', _line, 'bad_kind', CAST(NULL AS STRING)), "
        f"named_struct('value', _line, 'bad_kind', {lit(DUPLICATE_KEY)})) "
        f"ELSE array(named_struct('value', {line}, 'bad_kind', _planted)) END"
    )
    return rendered.selectExpr(f"inline({lines})")


# Breakers shared by several sources.


def truncated_json() -> Breaker:
    """The line cut somewhere after its tenth character: never the closing brace, so the object
    is never complete and the line is never valid JSON."""
    return Breaker(
        line=lambda line, draw: (
            f"substr({line}, 1, 10 + CAST(floor({draw('cut')} * (length({line}) - 10)) AS INT))"
        )
    )


def extra_csv_field(token: str) -> Breaker:
    """The line with one more (non-empty) field than the contract has."""
    return Breaker(line=lambda line, draw: f"concat({line}, {lit(',' + token)})")


def missing_field(fields: Sequence[str], empty: str | None) -> Breaker:
    """One of `fields` (chosen per row) replaced by `empty`: None (left out of JSON) or ""."""

    def values(draw: Draw) -> dict[str, Sql]:
        chosen = pick(draw("missing"), fields)
        return {
            name: f"CASE WHEN {chosen} = {lit(name)} THEN CAST({lit(empty)} AS STRING) "
            f"ELSE `{name}` END"
            for name in fields
        }

    return Breaker(fields=values)


def replaced_field(name: str, options: Sequence[str]) -> Breaker:
    """Field `name` replaced by one of `options` (chosen per row)."""
    return Breaker(fields=lambda draw: {name: pick(draw(f"replace-{name}"), options)})


def future_timestamp(name: str, spell: Callable[[Sql], Sql]) -> Breaker:
    """Field `name` moved 2 to 5 years later, spelled by `spell` from epoch milliseconds."""

    def values(draw: Draw) -> dict[str, Sql]:
        shift = f"CAST(floor((2 + {draw('future')} * 3) * {365.25 * MS_PER_DAY!r}D) AS BIGINT)"
        return {name: spell(f"({EVENT_MS} + {shift})")}

    return Breaker(fields=values)
