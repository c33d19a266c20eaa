"""Lakes more than one integration module reads, built once per test session."""

from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import SparkSession

from journeylake.bronze.job import ingest
from journeylake.core.config import Config
from journeylake.generator import generate
from journeylake.gold.job import GoldOutcome, build_gold
from journeylake.silver.job import build_silver
from journeylake.silver.pseudonymisation import load_key
from tests.conftest import make_config


@dataclasses.dataclass
class GoldLake:
    config: Config
    first: GoldOutcome


@pytest.fixture(scope="session")
def gold_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> GoldLake:
    """Generated data through bronze, silver and gold (no models, no KPIs). The gold tests hold
    it to the truth; the dashboard draws a copy of it. Nobody may change it: build on a copy."""
    root = tmp_path_factory.mktemp("gold")
    config = make_config(root, "generate.customers=300", "generate.days=10",
                         "generate.bad_share=0.01", "generate.files_per_source=1")
    generate(spark, config.generate, config.resolve(config.lakehouse.landing_root))
    ingest(spark, config)
    build_silver(spark, config, load_key(None))
    return GoldLake(config, build_gold(spark, config))
