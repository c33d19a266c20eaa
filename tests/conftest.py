"""One SparkSession for the whole run, built by journeylake's own factory: local[2], two shuffle
partitions, UI off, UTC, Delta, a temporary checkpoint dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from journeylake.core.config import Config, load_config
from journeylake.core.spark_session import build_session
from journeylake.silver.pseudonymisation import KEY_ENV

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# A key for tests only: jobs read it from the environment, as they would a secret on a cluster.
TEST_PII_KEY = "test-only-pseudonymisation-key-0001"
os.environ.setdefault(KEY_ENV, TEST_PII_KEY)


def make_config(tmp_path: Path, *overrides: str) -> Config:
    """The local configuration pointed at a temporary lakehouse and landing folder."""
    return load_config(
        "local",
        [
            f"lakehouse.root={tmp_path / 'lakehouse'}",
            f"lakehouse.landing_root={tmp_path / 'landing'}",
            f"spark.checkpoint_dir={tmp_path / 'checkpoints'}",
            *overrides,
        ],
        conf_dir=CONF_DIR,
    )


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    root = tmp_path_factory.mktemp("spark")
    config = make_config(
        root,
        "spark.master=local[2]",
        "spark.conf.spark.sql.shuffle.partitions=2",
        "spark.conf.spark.ui.enabled=false",
        "spark.conf.spark.driver.memory=4g",
        "spark.conf.spark.databricks.delta.snapshotPartitions=2",
        "spark.catalog=in-memory",
        f"spark.conf.spark.sql.warehouse.dir={root / 'warehouse'}",
    )
    session = build_session(config)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
