"""The raw personal values a generated lake holds, and where they appear outside bronze (tests
only): the generator's truth names every customer's email, handle, phone and name, and bronze
holds the precise coordinates of every ping."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import Config
from journeylake.generator.writer import TRUTH
from journeylake.models import tracking
from journeylake.privacy.pii_scan import known_values, scan_files, scan_table

# Bronze and the quarantine hold raw lines by design: they are what is pseudonymised.
RAW_LAYERS = ("bronze_", "quarantine")


def truth_pii(spark: SparkSession, config: Config) -> DataFrame:
    """`known`: every raw personal value of the truth's customers, in each form the files
    write it (a phone with and without spaces, a name as "First Last" or "LAST, FIRST"), and the
    coordinates of bronze_geolocation (as the text of the double)."""
    customers = spark.read.parquet(
        str(Path(config.resolve(config.lakehouse.landing_root), TRUTH, "customers")))
    forms = customers.select(F.explode(F.array(
        "email", "handle", "phone",
        F.concat_ws(" ", F.substring("phone", 1, 3), F.substring("phone", 4, 4),
                    F.substring("phone", 8, 100)),
        F.concat_ws(" ", "first_name", "last_name"),
        F.concat_ws(", ", "last_name", "first_name"),
    )).alias("value"))
    values = [row.value for row in forms.collect()]
    geolocation = Path(config.resolve(config.lakehouse.root), "bronze_geolocation")
    if geolocation.exists():
        pings = spark.read.format("delta").load(str(geolocation))
        values += [row.value for row in pings.select(F.explode(F.array(
            F.col("lat").cast("string"), F.col("lon").cast("string"))).alias("value"))
            .distinct().collect()]
    return known_values(spark, values)


def lake_tables(config: Config) -> list[Path]:
    """Every Delta table folder under the lakehouse root past the raw layers."""
    root = Path(config.resolve(config.lakehouse.root))
    return sorted(p for p in root.iterdir() if (p / "_delta_log").is_dir()
                  and not p.name.startswith(RAW_LAYERS))


def raw_pii_findings(spark: SparkSession, config: Config, with_mlflow: bool = False
                     ) -> tuple[list[str], list[Row]]:
    """(the places scanned, up to 5 findings per place of a truth value in them): each silver,
    gold, model and audit table, and with `with_mlflow` the MLflow artifacts of the lake's
    store (models.mlflow.store_dir)."""
    known = truth_pii(spark, config).cache()
    scanned, found = [], []
    for table in lake_tables(config):
        scanned.append(table.name)
        frame = spark.read.format("delta").load(str(table))
        found += scan_table(table.name, frame, known).limit(5).collect()
    artifacts = tracking.artifact_root(config)
    if with_mlflow:
        folder = Path(str(artifacts).removeprefix("file://"))
        assert folder.is_dir(), f"no MLflow artifacts at {folder}"
        scanned.append("mlflow artifacts")
        found += scan_files(spark, folder, known).limit(5).collect()
    known.unpersist()
    return scanned, found
