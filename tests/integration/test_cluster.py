"""deploy/ scripts against a real standalone cluster: a master and a worker started through
spark-class, and an ingest job submitted with deploy/spark-submit.sh."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from journeylake.bronze.job import ingest
from journeylake.generator import generate
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
PORT = "7177"


@pytest.fixture(scope="module")
def standalone_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        **os.environ,
        "CLUSTER_DIR": str(tmp_path_factory.mktemp("cluster")),
        "SPARK_MASTER_PORT": PORT,
        "SPARK_MASTER_WEBUI_PORT": "18180",
        "SPARK_WORKER_WEBUI_PORT": "18181",
        "SPARK_WORKER_CORES": "1",
        "SPARK_WORKER_MEMORY": "2g",
    }
    script = str(ROOT / "deploy" / "standalone-cluster.sh")
    started = subprocess.run(
        [script, "start"], env=env, capture_output=True, text=True, timeout=180
    )
    try:
        assert started.returncode == 0, started.stderr
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, timeout=60)


@pytest.mark.cluster
def test_ingest_job_runs_on_a_standalone_cluster(
    standalone_master: str, spark: SparkSession, tmp_path: Path
) -> None:
    landing = tmp_path / "landing" / "stores"
    landing.mkdir(parents=True)
    (landing / "stores.csv").write_text(
        "store_id,name,city,lat,lon\nS1,Main,Paris,48.85,2.35\nS2,Dock,Lyon,45.76,4.83\n"
        "S3,Bad,Nowhere,200,1\n"
    )
    lake = tmp_path / "lake"
    env = {
        **os.environ,
        "SPARK_MASTER": standalone_master,
        "SUBMIT_OPTS": "--driver-memory 1g --executor-memory 1g --total-executor-cores 1",
    }
    result = subprocess.run(
        [
            str(ROOT / "deploy" / "spark-submit.sh"),
            "ingest",
            "--sources",
            "stores",
            "--conf",
            f"lakehouse.root={lake}",
            "--conf",
            f"lakehouse.landing_root={tmp_path / 'landing'}",
            "--conf",
            f"spark.checkpoint_dir={tmp_path / 'checkpoints'}",
            "--conf",
            "spark.conf.spark.sql.shuffle.partitions=2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "stores         succeeded" in result.stdout
    stores = spark.read.format("delta").load(str(lake / "bronze_stores"))
    assert sorted(r.store_id for r in stores.collect()) == ["S1", "S2"]
    assert spark.read.format("delta").load(str(lake / "quarantine")).count() == 1


@pytest.mark.cluster
def test_silver_runs_on_a_standalone_cluster(
    standalone_master: str, spark: SparkSession, tmp_path: Path
) -> None:
    # Ingestion is submitted in the test above; here generation and ingestion run in-process
    # and silver (pseudonymisation key, graph checkpoints, MERGEs) goes through spark-submit.
    # Gold is submitted the same way; its many small jobs cost minutes on one executor core.
    config = make_config(tmp_path, "generate.customers=25", "generate.days=2",
                         "generate.files_per_source=1", "spark.conf.spark.sql.shuffle.partitions=2")
    generate(spark, config.generate, config.resolve(config.lakehouse.landing_root))
    ingest(spark, config)
    env = {
        **os.environ,  # carries the pseudonymisation key of the test session
        "SPARK_MASTER": standalone_master,
        "SUBMIT_OPTS": "--driver-memory 1g --executor-memory 1g --total-executor-cores 1",
    }
    lake = Path(config.resolve(config.lakehouse.root))
    common = [
        "--conf", f"lakehouse.root={lake}",
        "--conf", f"lakehouse.landing_root={config.resolve(config.lakehouse.landing_root)}",
        "--conf", f"spark.checkpoint_dir={tmp_path / 'checkpoints'}",
        "--conf", "spark.conf.spark.sql.shuffle.partitions=2",
    ]
    result = subprocess.run(
        [str(ROOT / "deploy" / "spark-submit.sh"), "silver", *common],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = spark.read.format("delta").load(str(lake / "silver_events"))
    bronze = sum(spark.read.format("delta").load(str(lake / f"bronze_{source}")).count()
                 for source in ("clickstream", "social", "transactions"))
    assert events.where("touchpoint <> 'store_visit'").count() == bronze > 0
    assert spark.read.format("delta").load(str(lake / "silver_sessions")).count() > 0
