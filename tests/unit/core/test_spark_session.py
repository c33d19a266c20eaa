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


def test_the_session_carries_graphframes(spark: SparkSession) -> None:
    from journeylake.core.spark_session import GRAPHFRAMES_CLASS, jvm_class_available

    assert jvm_class_available(spark, GRAPHFRAMES_CLASS)
    assert not jvm_class_available(spark, "org.graphframes.NoSuchClass")


def test_a_session_without_the_graphframes_package_is_refused(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    from journeylake.core.spark_session import build_session
    from tests.conftest import make_config

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "graphframes" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SessionError, match="pip install graphframes-py"):
        build_session(make_config(tmp_path, "spark.catalog=in-memory"))
