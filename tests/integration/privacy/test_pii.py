"""No raw personal value of the generated customers reaches silver or gold: every table past
bronze is scanned for every email, handle, phone, name and ping coordinate of the truth."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from journeylake.privacy.pii_scan import scan_table
from tests.integration.conftest import GoldLake
from tests.pii import lake_tables, raw_pii_findings, truth_pii

pytestmark = pytest.mark.slow


def test_bronze_holds_the_raw_values_the_scan_looks_for(spark: SparkSession,
                                                        gold_lake: GoldLake) -> None:
    # The scan can fail: bronze holds every kind of value it looks for, in the columns named.
    root = gold_lake.config.resolve(gold_lake.config.lakehouse.root)
    known = truth_pii(spark, gold_lake.config)
    columns = set()
    for source in ("transactions", "social", "geolocation"):
        bronze = spark.read.format("delta").load(f"{root}/bronze_{source}")
        columns |= {(source, row.column) for row in scan_table(source, bronze, known).collect()}
    assert {("transactions", "email"), ("transactions", "phone"),
            ("transactions", "billing_name"), ("social", "handle"), ("social", "email"),
            ("geolocation", "lat"), ("geolocation", "lon")} <= columns


def test_no_silver_or_gold_table_holds_a_raw_personal_value(spark: SparkSession,
                                                            gold_lake: GoldLake) -> None:
    scanned, found = raw_pii_findings(spark, gold_lake.config)
    assert {"silver_events", "silver_identity_map", "silver_sessions", "gold_journeys",
            "gold_person_profile", "audit_silver"} <= set(scanned)
    assert scanned == [table.name for table in lake_tables(gold_lake.config)]
    assert found == [], found
