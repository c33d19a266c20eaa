"""A transactions source with only a customer id, a date and an amount, loaded by the shipped
example contract (conf/examples/transactions_minimal.yaml copied over the default transactions
contract): defaults fill the missing columns, the order id is derived, a second landing of the
same file adds nothing, bad rows are quarantined with their reasons, and silver makes purchases
with revenue of it."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import SourceOutcome, ingest
from journeylake.bronze.tables import QUARANTINE
from journeylake.core import lakehouse
from journeylake.core.config import Config, load_config
from journeylake.silver.job import build_silver
from journeylake.silver.pseudonymisation import load_key
from journeylake.silver.tables import EVENTS
from tests.conftest import CONF_DIR

EXAMPLE = CONF_DIR / "examples" / "transactions_minimal.yaml"
GOOD = ("C1,2026-05-03,19.99", "C2,2026-05-04,5", "C1,2026-05-10,42.50")
BAD = ("C3,2026-05-05,", "C4,2026-13-45,10")
FILE = ("customer,date,amount", *GOOD, *BAD)


def order_id(customer: str, day: str, amount: str) -> str:
    """The derived key, computed apart from Spark: the typed values' text joined by \\x01."""
    return hashlib.sha256(f"{customer}\x01{day} 00:00:00\x01{amount}".encode()).hexdigest()


@dataclasses.dataclass
class Lake:
    config: Config
    first: SourceOutcome
    second: SourceOutcome
    bronze_after_first: list[tuple]


def bronze(spark: SparkSession, config: Config) -> list[tuple]:
    rows = lakehouse.read_table(spark, config, "bronze_transactions").orderBy("ts", "customer_id")
    return [tuple(row) for row in rows.select(
        "order_id", "customer_id", "email", "store_id", "ts", "items", "amount", "currency",
        "channel", "_record_key").collect()]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("minimal")
    conf_dir = root / "conf"
    shutil.copytree(CONF_DIR, conf_dir)
    (conf_dir / "sources" / "transactions.yaml").write_text(EXAMPLE.read_text())
    config = load_config("local", [
        f"lakehouse.root={root / 'lakehouse'}",
        f"lakehouse.landing_root={root / 'landing'}",
        f"spark.checkpoint_dir={root / 'checkpoints'}",
        "spark.catalog=in-memory",
    ], conf_dir=conf_dir)
    folder = Path(config.source_path(config.sources["transactions"]))
    folder.mkdir(parents=True)
    (folder / "orders-1.csv").write_text("\n".join(FILE) + "\n")
    first = ingest(spark, config, ["transactions"])[0]
    after_first = bronze(spark, config)
    # The same file delivered again under another name: a new batch of the same orders.
    shutil.copy(folder / "orders-1.csv", folder / "orders-2.csv")
    second = ingest(spark, config, ["transactions"])[0]
    yield Lake(config, first, second, after_first)


def test_every_good_row_is_a_full_order_with_defaults_and_a_derived_key(
    spark: SparkSession, lake: Lake
) -> None:
    assert lake.first.status == "succeeded"
    assert lake.bronze_after_first == [
        (order_id("C1", "2026-05-03", "19.99"), "C1", None, "online", datetime(2026, 5, 3),
         None, Decimal("19.99"), "EUR", "online", order_id("C1", "2026-05-03", "19.99")),
        (order_id("C2", "2026-05-04", "5.00"), "C2", None, "online", datetime(2026, 5, 4),
         None, Decimal("5.00"), "EUR", "online", order_id("C2", "2026-05-04", "5.00")),
        (order_id("C1", "2026-05-10", "42.50"), "C1", None, "online", datetime(2026, 5, 10),
         None, Decimal("42.50"), "EUR", "online", order_id("C1", "2026-05-10", "42.50")),
    ]


def test_bad_rows_are_quarantined_with_their_reasons_and_every_row_is_counted(
    spark: SparkSession, lake: Lake
) -> None:
    counts = lake.first.counts
    assert (counts.rows_read, counts.rows_kept, counts.rows_quarantined, counts.header_lines) == (
        5, 3, 2, 1)
    rows = lakehouse.read_table(spark, lake.config, QUARANTINE).where(
        F.col("_batch_id") == lake.first.batch_id).collect()
    assert sorted((r.raw_record, r.reason, tuple(r.reason_codes)) for r in rows) == [
        ("C3,2026-05-05,",
         "required field amount is missing; order_id cannot be derived without a valid amount",
         ("missing_required",)),
        ("C4,2026-13-45,10",
         "ts: '2026-13-45' is not a valid timestamp in format yyyy-MM-dd; "
         "order_id cannot be derived without a valid ts",
         ("bad_type", "missing_required")),
    ]


def test_a_second_landing_of_the_same_file_adds_no_order(
    spark: SparkSession, lake: Lake
) -> None:
    counts = lake.second.counts
    assert lake.second.status == "succeeded"
    assert lake.second.batch_id != lake.first.batch_id
    assert (counts.rows_read, counts.rows_kept, counts.rows_quarantined) == (5, 0, 5)
    assert bronze(spark, lake.config) == lake.bronze_after_first
    reasons = sorted(
        r.reason for r in lakehouse.read_table(spark, lake.config, QUARANTINE)
        .where((F.col("_batch_id") == lake.second.batch_id)
               & F.array_contains("reason_codes", "duplicate_key")).collect())
    assert reasons == sorted(
        f"key {order_id(*row.split(','))} was already ingested by batch {lake.first.batch_id}"
        for row in ("C1,2026-05-03,19.99", "C2,2026-05-04,5.00", "C1,2026-05-10,42.50"))


@pytest.mark.slow
def test_silver_makes_each_order_a_purchase_with_revenue_on_its_customer(
    spark: SparkSession, lake: Lake
) -> None:
    outcome = build_silver(spark, lake.config, load_key(None))

    assert outcome.status == "ok"
    events = lakehouse.read_table(spark, lake.config, EVENTS).where(
        F.col("source") == "transactions").collect()
    assert sorted((e.source_key, e.touchpoint, e.channel, e.revenue) for e in events) == sorted(
        (row[0], "purchase", "direct", row[6]) for row in lake.bronze_after_first)
    persons = {e.source_key: e.person_id for e in events}
    c1_orders = [row[0] for row in lake.bronze_after_first if row[1] == "C1"]
    assert None not in persons.values()
    assert persons[c1_orders[0]] == persons[c1_orders[1]]
