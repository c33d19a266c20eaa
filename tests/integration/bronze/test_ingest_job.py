"""The ingest job against Delta tables on a temporary lakehouse, with hand-written landed files."""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import ingest
from journeylake.bronze.tables import AUDIT_INGESTION, INGESTED_FILES, QUARANTINE
from journeylake.core import lakehouse
from journeylake.core.config import Config, load_config
from tests.conftest import CONF_DIR, make_config

STORES_HEADER = "store_id,name,city,lat,lon"


def land(config: Config, source: str, name: str, *lines: str) -> Path:
    folder = Path(config.source_path(config.sources[source]))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def count(spark: SparkSession, config: Config, table: str) -> int:
    return lakehouse.read_table(spark, config, table).count()


def audit(spark: SparkSession, config: Config, source: str) -> list[tuple]:
    rows = (
        lakehouse.read_table(spark, config, AUDIT_INGESTION)
        .where(F.col("source") == source)
        .orderBy("started_at", "finished_at")
        .select("status", "files", "rows_read", "rows_kept", "rows_quarantined")
        .collect()
    )
    return [tuple(row) for row in rows]


def test_rerun_adds_nothing_and_a_new_file_is_picked_up(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    land(
        config,
        "stores",
        "stores-1.csv",
        STORES_HEADER,
        "S1,Main,Paris,48.85,2.35",
        "S2,Dock,Lyon,45.76,4.83",
        "S3,Nowhere,Atlantis,123.0,2.0",
        "",
    )

    first = ingest(spark, config, ["stores"])
    second = ingest(spark, config, ["stores"])
    land(
        config,
        "stores",
        "stores-2.csv",
        STORES_HEADER,
        "S4,Gare,Lille,50.63,3.06",
        "S1,Main,Paris,48.85,2.35",
    )
    third = ingest(spark, config, ["stores"])

    assert [o.status for o in (first[0], second[0], third[0])] == [
        "succeeded",
        "no_new_files",
        "succeeded",
    ]
    assert (first[0].counts.blank_lines, first[0].counts.header_lines) == (1, 1)
    assert audit(spark, config, "stores") == [
        ("succeeded", 1, 3, 2, 1),
        ("no_new_files", 0, 0, 0, 0),
        ("succeeded", 1, 2, 1, 1),
    ]
    stores = lakehouse.read_table(spark, config, "bronze_stores")
    assert sorted(r.store_id for r in stores.collect()) == ["S1", "S2", "S4"]
    reasons = sorted(
        r.reason for r in lakehouse.read_table(spark, config, QUARANTINE).collect()
    )
    assert reasons[0] == "key S1 was already ingested by batch " + first[0].batch_id
    assert reasons[1] == "lat '123.0' is above the maximum 90"
    assert spark.table("journeylake.bronze_stores").count() == 3


def test_retried_batch_after_a_crash_duplicates_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    land(
        config,
        "stores",
        "stores.csv",
        STORES_HEADER,
        "S1,Main,Paris,48.85,2.35",
        "S1,Main,Paris,48.85,2.35",
        "S2,Dock,Lyon,x,4.83",
    )
    first = ingest(spark, config, ["stores"])
    # The crash: bronze and quarantine were written, the file log was not.
    shutil.rmtree(config.table_path(INGESTED_FILES.name))

    retry = ingest(spark, config, ["stores"])

    assert retry[0].batch_id == first[0].batch_id
    assert (retry[0].counts.rows_kept, retry[0].counts.rows_quarantined) == (1, 2)
    assert count(spark, config, "bronze_stores") == 1
    assert count(spark, config, QUARANTINE) == 2


def test_new_source_loads_with_a_configuration_file_only(
    spark: SparkSession, tmp_path: Path
) -> None:
    conf_dir = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf_dir)
    (conf_dir / "sources" / "partner_orders.yaml").write_text(
        """
name: partner_orders
format: csv
path: partner
glob: "*.txt"
key: [order_id]
event_time: ts
csv: {delimiter: ";"}
fields:
  - {name: order_id, source: OrderNo, required: true}
  - {name: customer_id, source: Client}
  - {name: ts, source: When, type: timestamp, format: "dd/MM/yyyy HH:mm", required: true}
  - {name: amount, source: Total, type: "decimal(18,2)", required: true, min: 0}
  - {name: currency, source: Curr, required: true, allowed: [EUR, USD, GBP]}
"""
    )
    config = load_config(
        "local",
        [
            f"lakehouse.root={tmp_path / 'lake'}",
            f"lakehouse.landing_root={tmp_path / 'landing'}",
            "spark.catalog=in-memory",
        ],
        conf_dir=conf_dir,
    )
    land(
        config,
        "partner_orders",
        "orders.txt",
        "OrderNo;Client;When;Total;Curr",
        "P1;C7;31/05/2026 18:30;19.99;EUR",
        "P2;C8;01/06/2026 09:00;-4;EUR",
    )

    outcome = ingest(spark, config, ["partner_orders"])[0]

    assert outcome.status == "succeeded"
    rows = lakehouse.read_table(spark, config, "bronze_partner_orders").collect()
    assert [
        (r.order_id, r.customer_id, str(r.ts), str(r.amount), str(r.event_date)) for r in rows
    ] == [("P1", "C7", "2026-05-31 18:30:00", "19.99", "2026-05-31")]
    assert count(spark, config, QUARANTINE) == 1


def test_a_file_with_an_unexpected_header_is_quarantined_and_the_others_load(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    land(config, "stores", "stores.csv", "id,name,city,lat,lon", "S1,Main,Paris,48.85,2.35")
    land(config, "stores", "stores-2.csv", STORES_HEADER, "S2,Dock,Lyon,45.76,4.83")

    outcome = ingest(spark, config, ["stores"])[0]

    assert audit(spark, config, "stores") == [("succeeded", 2, 3, 1, 2)]
    assert [r.store_id for r in lakehouse.read_table(spark, config, "bronze_stores").collect()
            ] == ["S2"]
    bad = lakehouse.read_table(spark, config, QUARANTINE).collect()
    assert sorted(r.raw_record for r in bad) == ["S1,Main,Paris,48.85,2.35",
                                                 "id,name,city,lat,lon"]
    assert {tuple(r.reason_codes) for r in bad} == {("bad_header",)}
    assert bad[0].reason.startswith("header ['id', 'name', 'city', 'lat', 'lon'] does not match")
    assert outcome.counts.header_lines == 1
