"""Consent decisions (JSON lines, contract `conf/sources/consent.yaml`) and their planted truth.

Per customer and purpose (analytics, marketing, profiling), a history drawn from
`GenerateSettings.consent`: never granted; granted before the window or inside it (not before
signing up), through the account, the app or a till; withdrawn inside the window; granted again
later on the web site's cookie banner, which knows the customer only by their first web cookie.
Anonymous visitors answer the banner by cookie, never withdrawing. A customer's periods never
overlap, so whatever the identifiers, "consented at t" is "inside one of its periods".

The source is a change log: a consent is one line when granted and a second line, with
`withdrawn_at` and a later `recorded_at`, when withdrawn. `_truth/consent` has one row per line
with the bad kind the corruption planted in it (NULL: it reached the files intact), so a test
knows which decisions the lakehouse could have seen.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from journeylake.core.config import CONSENT_PURPOSES, GenerateSettings
from journeylake.generator.corruption import (
    BAD_TYPE,
    EVENT_MS,
    FUTURE_TIMESTAMP,
    KEY,
    MALFORMED_RECORD,
    MISSING_REQUIRED,
    NOT_ALLOWED,
    LineFormat,
    future_timestamp,
    missing_field,
    planted_kind,
    replaced_field,
    truncated_json,
)
from journeylake.generator.draws import composite_number, opaque_id, pick, uniform
from journeylake.generator.expressions import Sql, array, extend, lit, named_struct, select
from journeylake.generator.formats import MS_PER_DAY, iso_utc
from journeylake.generator.window import DataWindow

FIELDS = ("consent_id", "subject_type", "subject_id", "purpose", "granted_at", "withdrawn_at",
          "recorded_at", "captured_via")
CUSTOMER_CHANNELS = ("account", "app", "store")
BANNER = "web_banner"
_CUSTOMER_RECORD, _ANONYMOUS_RECORD = 0, 1
_RECORD = ("STRUCT<period: INT, subject_type: STRING, subject_id: STRING, granted_ms: BIGINT, "
           "withdrawn_ms: BIGINT, captured_via: STRING>")
RECORD_COLUMNS = ("kind", "person", "customer_id", "purpose", "purpose_index", "record")


def _purposes(frame: DataFrame) -> DataFrame:
    """One row per input row and purpose: `purpose`, `purpose_index` (0-based)."""
    return frame.selectExpr("*", f"posexplode({array(CONSENT_PURPOSES)}) AS "
                                 "(purpose_index, purpose)")


def _purpose_share(settings: GenerateSettings) -> Sql:
    shares = settings.consent
    whens = " ".join(f"WHEN {lit(purpose)} THEN {lit(float(getattr(shares, f'{purpose}_share')))}"
                     for purpose in CONSENT_PURPOSES)
    return f"CASE purpose {whens} END"


def _record(period: int, subject_type: str, subject_id: Sql, granted: Sql, withdrawn: Sql,
            via: Sql) -> Sql:
    return named_struct({"period": lit(period), "subject_type": lit(subject_type),
                         "subject_id": subject_id, "granted_ms": f"CAST({granted} AS BIGINT)",
                         "withdrawn_ms": f"CAST({withdrawn} AS BIGINT)", "captured_via": via})


def customer_records(customers: DataFrame, settings: GenerateSettings, window: DataWindow
                     ) -> DataFrame:
    """RECORD_COLUMNS: each consent period of each customer and purpose. Needs person,
    customer_id, signup_day and cookies of `customers.build_customers`."""
    seed, shares = settings.seed, settings.consent

    def u(salt: str) -> Sql:
        return uniform(seed, f"consent-{salt}", "person", "purpose_index")

    start, end = window.start_ms, window.end_ms
    span = end - start
    drawn = extend(_purposes(customers.select("person", "customer_id", "signup_day", "cookies")),
                   {"ever": f"{u('ever')} < {_purpose_share(settings)}",
                    "before": f"{u('before')} < {lit(float(shares.before_window_share))}",
                    "withdraws": f"{u('withdraws')} < {lit(float(shares.withdrawn_share))}",
                    "regrants": f"{u('regrants')} < {lit(float(shares.regranted_share))}",
                    # Not before signing up: a new customer consents on the signup form.
                    "signup_ms": f"CAST(signup_day AS BIGINT) * {MS_PER_DAY}L "
                                 f"+ CAST(floor({u('signup-time')} * {MS_PER_DAY}) AS BIGINT)"})
    granted = extend(drawn, {"granted_ms": (
        f"greatest(signup_ms, CASE WHEN before "
        f"THEN {start}L - 1L - CAST(floor({u('lead')} * {365 * MS_PER_DAY}D) AS BIGINT) "
        f"ELSE {start}L + CAST(floor({u('inside')} * {0.6 * span}D) AS BIGINT) END)")})
    # Withdrawn between 10 % and 70 % of the way from the grant (or the window's start) to the
    # window's end; granted again between 10 % and 80 % of the way from there.
    withdrawn = extend(granted, {"withdrawn_ms": (
        f"CASE WHEN withdraws THEN greatest(granted_ms, {start}L) + CAST(floor(({end}L - "
        f"greatest(granted_ms, {start}L)) * (0.1D + 0.6D * {u('withdrawn-at')})) AS BIGINT) END")})
    regranted = extend(withdrawn, {"regrant_ms": (
        f"CASE WHEN withdraws AND regrants THEN withdrawn_ms + CAST(floor(({end}L - "
        f"withdrawn_ms) * (0.1D + 0.7D * {u('regranted-at')})) AS BIGINT) END")})
    first = _record(0, "customer", "customer_id", "granted_ms", "withdrawn_ms",
                    pick(u("via"), CUSTOMER_CHANNELS))
    again = _record(1, "cookie", "cookies[0]", "regrant_ms", "NULL", lit(BANNER))
    records = (f"filter(array({first}, {again}), _r -> ever AND _r.granted_ms IS NOT NULL "
               f"AND _r.granted_ms < {end}L)")
    return select(regranted, ["person", "customer_id", "purpose", "purpose_index"],
                  {"kind": lit(_CUSTOMER_RECORD), "record": f"explode(CAST({records} AS "
                                                            f"ARRAY<{_RECORD}>))"})


def anonymous_records(anonymous: DataFrame, settings: GenerateSettings, window: DataWindow
                      ) -> DataFrame:
    """RECORD_COLUMNS: the banner answers of anonymous visitors (`person`, `cookies` of
    `customers.build_anonymous_visitors`), one grant per purpose granted, never withdrawn."""
    seed, shares = settings.seed, settings.consent
    answers = f"{uniform(seed, 'consent-anonymous-answers', 'person')} < " \
              f"{lit(float(shares.anonymous_share))}"
    at = (f"{window.start_ms}L + CAST(floor({uniform(seed, 'consent-anonymous-at', 'person')} "
          f"* {0.8 * (window.end_ms - window.start_ms)}D) AS BIGINT)")
    visitors = _purposes(anonymous.select("person", "cookies"))
    granted = f"{uniform(seed, 'consent-anonymous-grants', 'person', 'purpose_index')} < " \
              f"{_purpose_share(settings)}"
    return select(visitors.where(f"{answers} AND {granted}"), ["person", "purpose",
                                                               "purpose_index"],
                  {"kind": lit(_ANONYMOUS_RECORD), "customer_id": "CAST(NULL AS STRING)",
                   "record": _record(0, "cookie", "cookies[0]", at, "NULL", lit(BANNER))})


def consent_lines(records: DataFrame, seed: int) -> DataFrame:
    """One row per line: the file's FIELDS (text), `customer_id`, `granted_ms`, `withdrawn_ms`
    (truth only), `_ms` (recorded) and `_key`. A withdrawn consent has two lines: granted, then
    withdrawn."""
    number = composite_number(("kind", 0), ("person", 24), ("purpose_index", 2),
                              ("record.period", 1))
    versions = ("filter(array(named_struct('version', 0, 'withdrawn_ms', CAST(NULL AS BIGINT)), "
                "named_struct('version', 1, 'withdrawn_ms', record.withdrawn_ms)), "
                "_v -> _v.version = 0 OR _v.withdrawn_ms IS NOT NULL)")
    exploded = select(records, ["*"], {"consent_id": opaque_id("cn_", number, seed, "consent"),
                                       "line": f"explode({versions})"})
    timed = select(exploded, ["consent_id", "customer_id", "purpose", "record"], {
        "granted_ms": "record.granted_ms", "withdrawn_ms": "line.withdrawn_ms",
        EVENT_MS: "coalesce(line.withdrawn_ms, record.granted_ms)"})
    return select(timed, ["consent_id", "customer_id", "purpose", "granted_ms", "withdrawn_ms",
                          EVENT_MS], {
        "subject_type": "record.subject_type",
        "subject_id": "record.subject_id",
        "granted_at": iso_utc("granted_ms"),
        "withdrawn_at": iso_utc("withdrawn_ms"),
        "recorded_at": iso_utc(EVENT_MS),
        "captured_via": "record.captured_via",
        KEY: f"concat(consent_id, '@', CAST({EVENT_MS} AS STRING))",
    })


def consent_truth(lines: DataFrame, seed: int, bad_share: float) -> DataFrame:
    """consent_id, subject_type, subject_id, customer_id (NULL for an anonymous visitor),
    purpose, granted_at, withdrawn_at, recorded_at (timestamps), captured_via, and bad_kind:
    what the corruption planted in the line (NULL: intact; a duplicate_key line is intact too,
    its extra copy is the bad one). Needs the columns of `consent_lines`."""
    return select(extend(lines, {"bad_kind": planted_kind(LINE_FORMAT, seed, bad_share)}),
                  ["consent_id", "subject_type", "subject_id", "customer_id", "purpose"],
                  {"granted_at": "timestamp_millis(granted_ms)",
                   "withdrawn_at": "timestamp_millis(withdrawn_ms)",
                   "recorded_at": f"timestamp_millis({EVENT_MS})",
                   "captured_via": "captured_via", "bad_kind": "bad_kind"})


LINE_FORMAT = LineFormat(
    source="consent",
    style="json",
    fields=FIELDS,
    breakers={
        MALFORMED_RECORD: truncated_json(),
        # Not the key (consent_id, recorded_at): a record without it could not be told apart.
        MISSING_REQUIRED: missing_field(("subject_type", "subject_id", "purpose", "granted_at",
                                         "captured_via"), None),
        BAD_TYPE: replaced_field("granted_at", ("yesterday", "31/06/2026 10:00", "n/a")),
        NOT_ALLOWED: replaced_field("purpose", ("advertising", "all", "research")),
        FUTURE_TIMESTAMP: future_timestamp("recorded_at", iso_utc),
    },
)
