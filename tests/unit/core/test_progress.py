"""Console progress: drawn on a terminal, silent in CI and redirected output, forced either way
by $JOURNEYLAKE_PROGRESS; steps reach the console and the log. And local mode's Spark logging
drops the start-up notices nobody can act on."""

from __future__ import annotations

import io
import logging

import pytest
from pyspark.sql import SparkSession

from journeylake.core.progress import (
    PROGRESS_ENV,
    job_progress,
    progress_wanted,
    spark_tasks,
    step,
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    return monkeypatch


def test_progress_is_drawn_on_a_terminal_only(clean_env: pytest.MonkeyPatch) -> None:
    assert progress_wanted(_Terminal())
    assert not progress_wanted(io.StringIO())


def test_ci_is_quiet_even_on_a_terminal(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CI", "true")
    assert not progress_wanted(_Terminal())


@pytest.mark.parametrize(("setting", "wanted"), [("1", True), ("on", True), ("0", False),
                                                 ("off", False)])
def test_the_environment_forces_progress_either_way(
        clean_env: pytest.MonkeyPatch, setting: str, wanted: bool) -> None:
    clean_env.setenv("CI", "true")
    clean_env.setenv(PROGRESS_ENV, setting)
    assert progress_wanted(io.StringIO()) is wanted
    assert progress_wanted(_Terminal()) is wanted


def test_steps_reach_the_console_and_the_log(spark: SparkSession,
                                             caplog: pytest.LogCaptureFixture) -> None:
    console = io.StringIO()
    with caplog.at_level(logging.INFO, "journeylake.progress"), \
            job_progress("demo", wanted=True, stream=console):
        step("counting")
        assert spark.range(1000).repartition(4).count() == 1000
    assert "demo: counting" in console.getvalue()
    assert "step: counting" in caplog.text


def test_without_progress_a_step_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    console = io.StringIO()
    with caplog.at_level(logging.INFO, "journeylake.progress"), \
            job_progress("demo", wanted=False, stream=console):
        step("quiet")
    assert console.getvalue() == ""
    assert "step: quiet" in caplog.text


def test_no_spark_tasks_are_reported_while_spark_is_idle(spark: SparkSession) -> None:
    assert spark_tasks() is None


def test_local_mode_logs_with_journeylakes_configuration(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    source = jvm.org.apache.logging.log4j.LogManager.getContext(False).getConfiguration() \
        .getConfigurationSource().getLocation()
    assert str(source).endswith("/core/log4j2-local.properties")
    # Its notices a local user cannot act on are raised to ERROR (the suite itself sets
    # Spark's root level to ERROR, so WARN elsewhere is not visible here).
    manager = jvm.org.apache.logging.log4j.LogManager
    for name in ("org.apache.spark.util.Utils", "org.apache.hadoop.util.NativeCodeLoader",
                 "org.apache.hadoop.hive.metastore.ObjectStore"):
        assert str(manager.getLogger(name).getLevel()) == "ERROR", name
