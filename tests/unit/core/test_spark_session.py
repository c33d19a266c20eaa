from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from journeylake.core.config import load_config
from journeylake.core.spark_session import SessionError, local_jars


def test_session_writes_and_reads_delta(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    spark.range(3).write.format("delta").save(path)
    assert spark.read.format("delta").load(path).count() == 3
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_missing_jars_fail_with_the_set_up_command(tmp_path: Path) -> None:
    config = load_config("local", [f"spark.jars_dir={tmp_path}"])
    with pytest.raises(SessionError, match="make setup"):
        local_jars(config.spark, config.project_root)
