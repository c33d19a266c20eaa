"""The generator end to end on a tiny data set, written once per module and checked from the
files: what the ingestion will read. Expected values are computed independently of the
generator (Python's json, csv and datetime; the project's contracts for the rules)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import apply_contract, parse_raw
from journeylake.core.config import GenerateSettings, load_config
from journeylake.generator import SOURCES, GeneratedData, build_dataset, window, write_dataset
from journeylake.generator.transactions import FIELDS as TRANSACTION_FIELDS
from journeylake.generator.writer import write_source

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
# 50 customers for a week; 40 % bad rows so that every kind of every source is planted (this
# seed plants all 28, which one test checks).
SETTINGS = GenerateSettings(
    customers=50, days=7, seed=3, end_date="2026-06-30", bad_share=0.4, stores=5,
    files_per_source=2,
)
INGESTED_AT = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.timezone.utc)
FUTURE_AFTER = INGESTED_AT + dt.timedelta(hours=24)
WINDOW_START = dt.datetime(2026, 6, 24, tzinfo=dt.timezone.utc)
WINDOW_END = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)
KINDS = {
    "clickstream": {"malformed_record", "missing_required", "bad_type", "not_allowed",
                    "future_timestamp", "duplicate_key"},
    "social": {"malformed_record", "missing_required", "future_timestamp", "duplicate_key"},
    "geolocation": {"malformed_record", "missing_required", "bad_type", "out_of_range",
                    "future_timestamp", "duplicate_key"},
    "transactions": {"malformed_record", "missing_required", "bad_type", "out_of_range",
                     "future_timestamp", "duplicate_key"},
    "consent": {"malformed_record", "missing_required", "bad_type", "not_allowed",
                "future_timestamp", "duplicate_key"},
}
HEADERS = {
    "geolocation": "device_id,lat,lon,timestamp_ms,accuracy_m",
    "transactions": "order_id,customer_id,email,store_id,ts,items,amount,currency,channel,phone,"
                    "billing_name",
    "stores": "store_id,name,city,lat,lon",
}
CLICK_FIELDS = {"event_id", "cookie_id", "user_id", "device_id", "platform", "timestamp",
                "event_type", "url", "referrer", "utm_source", "utm_medium", "utm_campaign",
                "product_id", "price", "currency"}
EVENT_TYPES = {"page_view", "product_view", "search", "add_to_cart", "checkout_start",
               "purchase", "chat", "offer_click", "store_locator", "email_open", "email_click",
               "unsubscribe"}


@dataclass(frozen=True)
class Landing:
    out: Path
    manifest: dict[str, Any]
    data: GeneratedData
    truths: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def files(self, source: str) -> list[Path]:
        return [self.out / path for path in self.manifest["files"][source]]

    def lines(self, source: str) -> list[str]:
        """Every data line of the source's files (CSV headers left out)."""
        lines = []
        for path in self.files(source):
            text = path.read_text(encoding="utf-8").splitlines()
            lines.extend(text[1:] if source in HEADERS else text)
        return lines

    def truth(self, spark: SparkSession, table: str) -> list[dict[str, Any]]:
        """A truth table's rows, read once; timestamps as aware UTC datetimes (collect() would
        give naive ones in the machine's zone)."""
        if table not in self.truths:
            self.truths[table] = self._read_truth(spark, table)
        return self.truths[table]

    def _read_truth(self, spark: SparkSession, table: str) -> list[dict[str, Any]]:
        frame = spark.read.parquet(str(self.out / "_truth" / table))
        stamps = [name for name, kind in frame.dtypes if kind == "timestamp"]
        frame = frame.select(*[F.unix_millis(name).alias(name) if name in stamps else name
                               for name in frame.columns])
        rows = [row.asDict() for row in frame.collect()]
        for row in rows:
            for name in stamps:
                if row[name] is not None:
                    row[name] = dt.datetime.fromtimestamp(row[name] / 1000, tz=dt.timezone.utc)
        return rows


@pytest.fixture(scope="module")
def landing(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Landing:
    out = tmp_path_factory.mktemp("landing")
    data = build_dataset(spark, SETTINGS)
    return Landing(out=out, manifest=write_dataset(data, str(out), SETTINGS), data=data)


def _parsed_json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _iso(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def _good_clicks(landing: Landing) -> list[dict[str, Any]]:
    """Clickstream events that break no rule (duplicates included)."""
    events = [_parsed_json(line) or {} for line in landing.lines("clickstream")]
    return [event for event in events if not _click_problems(event)]


def _click_problems(event: dict[str, Any]) -> list[str]:
    """The contract of conf/sources/clickstream.yaml, restated in plain Python."""
    if not event:
        return ["malformed_record"]
    problems = []
    if any(not event.get(name) for name in ("event_id", "cookie_id", "timestamp", "event_type")):
        problems.append("missing_required")
    price = event.get("price")
    if price is not None and not isinstance(price, int | float):
        problems.append("bad_type")
    elif price is not None and price < 0:
        problems.append("out_of_range")
    if event.get("event_type") and event["event_type"] not in EVENT_TYPES:
        problems.append("not_allowed")
    if event.get("platform") not in (None, "web", "app"):
        problems.append("not_allowed")
    moment = _iso(event.get("timestamp"))
    if event.get("timestamp") and moment is None:
        problems.append("bad_type")
    if moment is not None and moment > FUTURE_AFTER:
        problems.append("future_timestamp")
    if not set(event) <= CLICK_FIELDS:
        problems.append("unknown_field")
    return problems


def _csv_rows(landing: Landing, source: str) -> list[list[str]]:
    return list(csv.reader(landing.lines(source)))


def test_every_written_line_is_counted_as_good_or_bad(landing: Landing) -> None:
    for source in SOURCES:
        rows = landing.manifest["rows"][source]
        assert len(landing.lines(source)) == rows["lines_written"], source
        assert rows["lines_written"] == rows["good"] + rows["bad"], source
        assert rows["bad"] == sum(landing.manifest["bad_records"].get(source, {}).values())
    assert landing.manifest["rows"]["stores"] == {
        "files": 1, "header_lines": 1, "lines_written": 5, "good": 5, "bad": 0
    }


def test_every_kind_of_bad_record_is_planted_in_its_sources(landing: Landing) -> None:
    planted = landing.manifest["bad_records"]
    assert {source: set(kinds) for source, kinds in planted.items()} == KINDS
    assert all(count > 0 for kinds in planted.values() for count in kinds.values()), planted


def test_files_carry_readable_names_in_the_batch_folder_and_nothing_else(
    landing: Landing,
) -> None:
    for source in SOURCES:
        folder = landing.out / source / "batch-0000"
        names = sorted(path.name for path in folder.iterdir())
        if source == "stores":
            assert names == ["stores.csv"]
        else:
            extension = "csv" if source in HEADERS else "jsonl"
            assert names == [f"{source}-00000.{extension}", f"{source}-00001.{extension}"]
    assert not (landing.out / "_staging").exists()
    manifest = json.loads((landing.out / "_truth" / "manifest.json").read_text())
    assert manifest == landing.manifest
    assert manifest["batch"] == "batch-0000" and manifest["settings"]["seed"] == 3


def test_each_csv_file_starts_with_exactly_one_header_line(landing: Landing) -> None:
    for source, header in HEADERS.items():
        for path in landing.files(source):
            lines = path.read_text(encoding="utf-8").splitlines()
            assert lines[0] == header, path
            assert lines.count(header) == 1, path


def test_clickstream_lines_follow_the_contract_except_the_planted_bad_ones(
    landing: Landing,
) -> None:
    problems = [_click_problems(_parsed_json(line) or {}) for line in landing.lines("clickstream")]
    assert all(len(found) <= 1 for found in problems), [p for p in problems if len(p) > 1][:3]
    found = Counter(found[0] for found in problems if found)
    planted = dict(landing.manifest["bad_records"]["clickstream"])
    planted.pop("duplicate_key")
    assert found == Counter(planted)
    good = _good_clicks(landing)
    assert {event["event_type"] for event in good} == EVENT_TYPES
    assert all(WINDOW_START <= _iso(event["timestamp"]) < WINDOW_END for event in good)
    assert all(event["platform"] == "web" or event.get("device_id") for event in good)


def test_each_bad_line_breaks_exactly_its_own_rule_of_the_contract(
    spark: SparkSession, landing: Landing
) -> None:
    config = load_config("local", conf_dir=CONF_DIR)
    checked: list[DataFrame] = []
    for source in KINDS:
        spec = config.sources[source]
        raw = spark.read.text([str(path) for path in landing.files(source)]).where(
            F.col("value") != F.lit(HEADERS.get(source, ""))
        )
        validated = apply_contract(
            parse_raw(raw.withColumnRenamed("value", "_raw"), spec), spec, F.lit(INGESTED_AT), 24
        )
        checked.append(validated.select(
            F.lit(source).alias("source"),
            F.transform("_errors", lambda error: error["code"]).alias("codes"),
            "_record_key",
        ))
    rows = reduce(DataFrame.unionByName, checked).collect()
    for source, kinds in KINDS.items():
        mine = [row for row in rows if row.source == source]
        assert all(len(row.codes) <= 1 for row in mine), source
        found = Counter(row.codes[0] for row in mine if row.codes)
        valid_keys = [row["_record_key"] for row in mine if not row.codes]
        # The ingestion flags a repeated key of a valid record as the duplicate_key problem.
        found["duplicate_key"] = len(valid_keys) - len(set(valid_keys))
        assert found == Counter(landing.manifest["bad_records"][source]), source
        assert set(found) == kinds


def test_duplicates_are_exact_copies_of_good_lines(landing: Landing) -> None:
    for source in KINDS:
        lines = landing.lines(source)
        surplus = sum(count - 1 for count in Counter(lines).values())
        assert surplus == landing.manifest["bad_records"][source]["duplicate_key"], source
    # No two different lines share an event id: a repeated id is always a whole repeated line.
    for source in ("clickstream", "social"):
        by_id: dict[str, set[str]] = {}
        for line in landing.lines(source):
            event = _parsed_json(line)
            if event and event.get("event_id"):
                by_id.setdefault(event["event_id"], set()).add(line)
        assert all(len(variants) == 1 for variants in by_id.values()), source
    duplicated = [line for line, count in Counter(landing.lines("clickstream")).items()
                  if count > 1]
    assert duplicated and all(_click_problems(_parsed_json(line) or {}) == []
                              for line in duplicated)


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _good_pings(landing: Landing) -> list[tuple[str, float, float, dt.datetime]]:
    pings = []
    for row in _csv_rows(landing, "geolocation"):
        try:
            device, lat, lon, millis = row[0], float(row[1]), float(row[2]), int(row[3])
        except (ValueError, IndexError):
            continue
        at = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)
        if len(row) == 5 and device and abs(lat) <= 90 and abs(lon) <= 180 and at < WINDOW_END:
            pings.append((device, lat, lon, at))
    return pings


def test_store_visit_pings_lie_within_50_m_of_the_store(
    spark: SparkSession, landing: Landing
) -> None:
    stores = {row[0]: (float(row[3]), float(row[4])) for row in _csv_rows(landing, "stores")}
    visits = landing.truth(spark, "store_visits")
    assert visits
    pings = _good_pings(landing)
    checked = 0
    for visit in visits:
        start, end = visit["start_ts"], visit["end_ts"]
        assert dt.timedelta(minutes=4) <= end - start <= dt.timedelta(minutes=40)
        store_lat, store_lon = stores[visit["store_id"]]
        during = [(lat, lon) for device, lat, lon, at in pings
                  if device == visit["device_id"] and start <= at <= end]
        for lat, lon in during:
            assert _haversine_m(lat, lon, store_lat, store_lon) <= 50
            checked += 1
    everyday = [
        (lat, lon) for device, lat, lon, at in pings
        if not any(v["device_id"] == device and v["start_ts"] <= at <= v["end_ts"]
                   for v in visits)
    ]
    # A visit has 3 to 21 pings; with 40 % bad rows a few of them are quarantine material.
    assert checked >= 3 * len(visits) and everyday
    assert all(_haversine_m(lat, lon, *store) >= 1_000 for lat, lon in everyday
               for store in stores.values())


def test_order_amounts_are_the_sum_of_their_items(landing: Landing) -> None:
    checked = 0
    for row in _csv_rows(landing, "transactions"):
        if len(row) != len(TRANSACTION_FIELDS) or not row[6] or row[6].startswith("-"):
            continue
        try:
            amount = Decimal(row[6])
        except ArithmeticError:
            continue
        items = json.loads(row[5])
        assert amount == sum(Decimal(str(i["unit_price"])) * i["quantity"] for i in items), row
        assert amount.as_tuple().exponent == -2
        checked += 1
    assert checked > 10


def test_purchase_events_match_their_online_orders(landing: Landing) -> None:
    orders = {}
    for row in _csv_rows(landing, "transactions"):
        if len(row) == len(TRANSACTION_FIELDS) and row[3] == "online":
            orders[(row[1], row[4])] = row[6]
    purchases = [event for event in _good_clicks(landing) if event["event_type"] == "purchase"]
    matched = 0
    for event in purchases:
        second = _iso(event["timestamp"]).strftime("%Y-%m-%d %H:%M:%S")
        amount = orders.get((event["user_id"], second))
        if amount is not None and not amount.startswith("-"):
            matched += 1
    assert purchases and matched >= len(purchases) // 2


def test_family_tablets_are_shared_by_two_to_four_customers(
    spark: SparkSession, landing: Landing
) -> None:
    links = landing.truth(spark, "identity_links")
    users: dict[str, set[str]] = {}
    for link in links:
        if link["identifier_type"] == "device":
            users.setdefault(link["identifier"], set()).add(link["customer_id"])
    shared = {device for device, people in users.items() if len(people) > 1}
    assert shared and all(2 <= len(users[device]) <= 4 for device in shared)
    assert all(link["shared"] == (link["identifier"] in shared)
               for link in links if link["identifier_type"] == "device")
    customers = {row["customer_id"] for row in landing.truth(spark, "customers")}
    with_email = {link["customer_id"] for link in links if link["identifier_type"] == "email"}
    assert with_email == customers


def test_logged_in_events_link_cookies_to_their_own_customer(
    spark: SparkSession, landing: Landing
) -> None:
    cookies: dict[str, set[str]] = {}
    for link in landing.truth(spark, "identity_links"):
        if link["identifier_type"] == "cookie":
            cookies.setdefault(link["identifier"], set()).add(link["customer_id"])
    logged_in = [event for event in _good_clicks(landing) if event.get("user_id")]
    assert logged_in
    assert all(event["user_id"] in cookies.get(event["cookie_id"], ()) for event in logged_in)
    anonymous = [event for event in _good_clicks(landing) if event["cookie_id"] not in cookies]
    assert anonymous and not any(event.get("user_id") for event in anonymous)


def test_churned_customers_are_silent_from_their_churn_date(
    spark: SparkSession, landing: Landing
) -> None:
    churned = {row["customer_id"]: row["churn_date"] for row in landing.truth(spark, "customers")
               if row["churned"]}
    assert churned
    clicks = [event for event in _good_clicks(landing) if event.get("user_id") in churned]
    assert clicks
    assert all(_iso(event["timestamp"]).date() < churned[event["user_id"]] for event in clicks)
    unsubscribed = {event["user_id"] for event in clicks if event["event_type"] == "unsubscribe"}
    assert unsubscribed <= churned.keys() and unsubscribed


def test_store_orders_link_an_email_to_its_customer(spark: SparkSession, landing: Landing) -> None:
    emails = {row["email"]: row["customer_id"] for row in landing.truth(spark, "customers")}
    store_rows = [row for row in _csv_rows(landing, "transactions")
                  if len(row) == len(TRANSACTION_FIELDS) and row[8] == "store"]
    assert store_rows
    assert all(row[2] in emails for row in store_rows if row[2])
    assert all(emails[row[2]] == row[1] for row in store_rows if row[1] and row[2])


def test_online_orders_carry_their_customers_phone_and_name(
    spark: SparkSession, landing: Landing
) -> None:
    truth = {row["customer_id"]: row for row in landing.truth(spark, "customers")}
    rows = [dict(zip(TRANSACTION_FIELDS, row, strict=True))
            for row in _csv_rows(landing, "transactions") if len(row) == len(TRANSACTION_FIELDS)]
    online = [row for row in rows if row["store_id"] == "online" and row["customer_id"] in truth]
    assert online and not any(row["phone"] or row["billing_name"] for row in rows
                              if row["store_id"] not in ("online", ""))
    for row in online:
        customer = truth[row["customer_id"]]
        assert row["billing_name"] in (f"{customer['first_name']} {customer['last_name']}",
                                       f"{customer['last_name']}, {customer['first_name']}".upper())
        assert row["phone"] in ("", customer["phone"], " ".join(
            (customer["phone"][:3], customer["phone"][3:7], customer["phone"][7:])))
    styles = Counter((" " in row["phone"], row["billing_name"].isupper()) for row in online
                     if row["phone"])
    assert len(styles) == 4, styles  # both ways of writing each are planted


def test_rebuilding_gives_the_same_lines_whatever_the_partitioning(
    spark: SparkSession, landing: Landing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The landing was built in one partition per range; this build splits 50 customers in 2.
    monkeypatch.setattr(window, "PEOPLE_PER_PARTITION", 30)
    rebuilt = build_dataset(spark, SETTINGS)
    assert rebuilt.customers.rdd.getNumPartitions() == 2
    again = reduce(DataFrame.unionByName, [
        rebuilt.lines(source).select(F.lit(source).alias("source"), "value") for source in SOURCES
    ]).localCheckpoint()
    written = reduce(DataFrame.unionByName, [
        spark.read.text([str(path) for path in landing.files(source)])
        .where(F.col("value") != F.lit(HEADERS.get(source, "")))
        .select(F.lit(source).alias("source"), "value")
        for source in SOURCES
    ])
    # Both ways empty: the same lines, each as many times (a duplicate_key line twice).
    assert again.exceptAll(written).unionByName(written.exceptAll(again)).isEmpty()


def test_a_second_batch_adds_files_beside_the_first(
    spark: SparkSession, landing: Landing
) -> None:
    before = sorted(path.read_text() for path in landing.files("transactions"))
    labeled = spark.createDataFrame(
        [("o1,C000001,,online,2026-07-01 10:00:00,[],0.00,EUR,online", None)],
        "value string, bad_kind string",
    )
    written = write_source(labeled, str(landing.out), "transactions", "batch-0001", 2)
    assert sorted(path.read_text() for path in landing.files("transactions")) == before
    new_files = [landing.out / path for path in written.paths]
    assert [path.parent.name for path in new_files] == ["batch-0001"] * len(new_files)
    assert sum(len(path.read_text().splitlines()) for path in new_files) == 1 + len(new_files)
    assert written.lines == 1 and written.bad["duplicate_key"] == 0


def _iso_ms(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_consent_lines_are_the_truth_s_intact_lines_and_plant_every_history(
    spark: SparkSession, landing: Landing
) -> None:
    truth = landing.truth(spark, "consent")
    intact = [row for row in truth if row["bad_kind"] in (None, "duplicate_key")]
    expected = Counter(json.dumps({name: value for name, value in (
        ("consent_id", row["consent_id"]), ("subject_type", row["subject_type"]),
        ("subject_id", row["subject_id"]), ("purpose", row["purpose"]),
        ("granted_at", _iso_ms(row["granted_at"])),
        ("withdrawn_at", _iso_ms(row["withdrawn_at"])),
        ("recorded_at", _iso_ms(row["recorded_at"])), ("captured_via", row["captured_via"]),
    ) if value is not None}, separators=(",", ":")) for row in intact)
    lines = Counter(landing.lines("consent"))
    duplicates = sum(1 for row in truth if row["bad_kind"] == "duplicate_key")
    assert sum(lines.values()) == len(truth) + duplicates
    # Every intact line is in the files as the truth says (a duplicate_key line twice).
    for line, count in expected.items():
        assert lines[line] >= count, line
    # A withdrawn consent's second line repeats its grant and records the withdrawal.
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in truth:
        by_id.setdefault(row["consent_id"], []).append(row)
    withdrawn = [rows for rows in by_id.values() if len(rows) == 2]
    assert withdrawn and all(
        sorted(r["withdrawn_at"] is None for r in rows) == [False, True]
        and rows[0]["granted_at"] == rows[1]["granted_at"] for rows in withdrawn)
    finals = [max(rows, key=lambda r: r["recorded_at"]) for rows in by_id.values()]
    links = {(row["identifier"], row["customer_id"]) for row in landing.truth(
        spark, "identity_links") if row["identifier_type"] == "cookie"}
    customers = {(row["customer_id"], row["purpose"]): [] for row in finals}
    for row in finals:
        customers[(row["customer_id"], row["purpose"])].append(row)
    regranted = 0
    for (customer, _), rows in customers.items():
        if customer is None:
            # Anonymous visitors: banner answers by a cookie no customer has, never withdrawn.
            assert all(r["subject_type"] == "cookie" and r["withdrawn_at"] is None
                       and not any(c == r["subject_id"] for c, _ in links) for r in rows)
            continue
        rows.sort(key=lambda r: r["granted_at"])
        first, *again = rows
        assert (first["subject_type"], first["subject_id"]) == ("customer", customer)
        if again:
            # A re-grant comes after the withdrawal, on the customer's own cookie.
            (second,) = again
            regranted += 1
            assert first["withdrawn_at"] is not None
            assert second["granted_at"] > first["withdrawn_at"]
            assert (second["subject_id"], customer) in links
    window_start = WINDOW_START
    firsts = [r for r in finals if r["subject_type"] == "customer"]
    assert regranted and any(r["granted_at"] < window_start for r in firsts)
    assert any(window_start <= r["granted_at"] < WINDOW_END for r in firsts)
    assert all(r["withdrawn_at"] is None or window_start <= r["withdrawn_at"] < WINDOW_END
               for r in finals)
    never = {(row["customer_id"], purpose) for row in landing.truth(spark, "customers")
             for purpose in ("analytics", "marketing", "profiling")} - set(customers)
    assert never  # some customers never grant some purpose
