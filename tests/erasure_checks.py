"""What an erased customer must no longer be anywhere (tests only): the terms the generator's
truth gives for the customer, and a sweep of every table at every readable Delta version."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.generator.writer import TRUTH
from journeylake.privacy.pii_scan import holds_any
from journeylake.silver.pseudonymisation import PiiKey
from journeylake.silver.tables import IDENTITY_MAP


def customer_terms(spark: SparkSession, config: Config, key: PiiKey, customer: str
                   ) -> list[str]:
    """Lower-case: the customer id, their own (not shared) cookies and devices, email and
    handle raw and as silver hashes them, their phone, and their person ids in the map."""
    truth = Path(config.resolve(config.lakehouse.landing_root), TRUTH)
    links = spark.read.parquet(str(truth / "identity_links")).where(
        (F.col("customer_id") == customer) & ~F.col("shared")).collect()
    terms = {link.identifier.lower() for link in links}
    for link in links:
        if link.identifier_type in ("email", "handle"):
            value = link.identifier.strip().lower().lstrip("@")
            terms.add(hmac.new(key.secret, value.encode(), hashlib.sha256).hexdigest())
    phone = spark.read.parquet(str(truth / "customers")).where(
        F.col("customer_id") == customer).first().phone
    terms.add(phone.lower())
    persons = lakehouse.read_table(spark, config, IDENTITY_MAP).where(
        F.col("identifier") == customer).select("person_id").collect()
    return sorted(terms | {row.person_id for row in persons})


@dataclass
class Sweep:
    versions_read: int = 0
    versions_gone: int = 0
    holding: list[tuple[str, int, int]] = None  # (table, version, rows) still naming them


def sweep_versions(spark: SparkSession, config: Config, terms: list[str]) -> Sweep:
    """Read every Delta table of the lakehouse at every version its history lists; a version
    whose files are gone (vacuumed) counts as gone, any other is searched for the terms."""
    sweep = Sweep(holding=[])
    for name in lakehouse.delta_table_names(spark, config):
        path = config.table_path(name)
        versions = [row.version for row in DeltaTable.forPath(spark, path).history()
                    .select("version").collect()]
        for version in versions:
            try:
                frame = spark.read.format("delta").option("versionAsOf", version).load(path)
                rows = frame.where(holds_any(frame.schema, terms)).count()
            except Exception as error:  # noqa: BLE001 - only a vacuumed file may stop a read
                if "does not exist" not in str(error) and "FileNotFound" not in str(error) \
                        and "FILE_NOT_EXIST" not in str(error):
                    raise
                sweep.versions_gone += 1
                continue
            sweep.versions_read += 1
            if rows:
                sweep.holding.append((name, version, rows))
    return sweep


def tables_holding(spark: SparkSession, config: Config, terms: list[str],
                   tables: set[str]) -> set[str]:
    """Those of `tables` whose current version has a row naming one of the terms."""
    holding = set()
    for name in sorted(tables):
        frame = lakehouse.read_table(spark, config, name)
        if frame.where(holds_any(frame.schema, terms)).limit(1).count():
            holding.add(name)
    return holding
