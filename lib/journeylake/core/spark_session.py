"""The one SparkSession factory: builds a session from `SparkSettings`, or adopts the one that
spark-submit or Databricks already made."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from pyspark.sql import SparkSession

from journeylake.core.config import JARS_DIR_ENV, Config, SparkSettings
from journeylake.core.errors import UserError

log = logging.getLogger(__name__)

DELTA_SETTINGS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
DELTA_CLASS = "io.delta.tables.DeltaTable"
GRAPHFRAMES_CLASS = "org.graphframes.GraphFrame"
GRAPHFRAMES_PACKAGE = "graphframes"
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
# Local mode's logging: Spark's warnings without the start-up notices nobody can act on there.
LOCAL_LOGGING = Path(__file__).with_name("log4j2-local.properties")


class SessionError(UserError, RuntimeError):
    """The session cannot do journeylake's work; the message says how to fix it."""


def running_on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def running_under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python its gateway port.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def local_jars(settings: SparkSettings, project_root: str) -> list[str]:
    """The jars `make setup` resolved: `spark.jars_dir`, `$JOURNEYLAKE_JARS_DIR` or `.jars/`."""
    folder = Path(settings.jars_dir or os.environ.get(JARS_DIR_ENV) or Path(project_root, ".jars"))
    if not folder.is_absolute():
        folder = Path(project_root, folder)
    jars = sorted(str(jar) for jar in folder.rglob("*.jar"))
    if not any(Path(jar).name.startswith("delta-spark_") for jar in jars):
        raise SessionError(
            f"no Delta Lake jar in {folder}: run `make setup` (it resolves the jars from Maven "
            "Central), or point spark.jars_dir / $JOURNEYLAKE_JARS_DIR at a folder that has them"
        )
    return jars


def build_session(config: Config, builder: SparkSession.Builder | None = None) -> SparkSession:
    """A session with Delta's extension and catalog, the local jars and a checkpoint dir.

    On Databricks, under spark-submit or with `spark.use_existing_session`, the master and the
    jars come from outside (the cluster, `--jars`), so only session-level settings are applied.
    """
    settings = config.spark
    adopt = settings.use_existing_session or running_on_databricks() or running_under_spark_submit()
    builder = builder or SparkSession.builder
    builder = builder.appName(settings.app_name)
    if not running_on_databricks():
        for key, value in DELTA_SETTINGS.items():
            builder = builder.config(key, value)
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    if not adopt:
        builder = builder.master(settings.master)
        builder = builder.config("spark.jars", ",".join(local_jars(settings, config.project_root)))
        java_options = [settings.conf.get(DRIVER_JAVA_OPTIONS, "")]
        if settings.master.startswith("local"):
            java_options.append(f"-Dlog4j2.configurationFile={LOCAL_LOGGING.as_uri()}")
        if settings.catalog == "hive":
            metastore = local_metastore_settings(config)
            java_options.append(metastore.pop(DRIVER_JAVA_OPTIONS))
            for key, value in metastore.items():
                builder = builder.config(key, value)
            builder = builder.enableHiveSupport()
        options = " ".join(option for option in java_options if option)
        if options:
            builder = builder.config(DRIVER_JAVA_OPTIONS, options)
    spark = builder.getOrCreate()
    if adopt:
        _apply_runtime_settings(spark, settings)
    spark.sparkContext.setCheckpointDir(config.resolve(settings.checkpoint_dir))
    require_jvm_class(
        spark,
        DELTA_CLASS,
        "Delta Lake is not on the classpath: pass the jars of `make setup` with --jars "
        "(deploy/spark-submit.sh does) or install delta-spark on the cluster",
    )
    require_jvm_class(
        spark,
        GRAPHFRAMES_CLASS,
        "GraphFrames is not on the classpath: `make setup` resolves its jar (set "
        "JOURNEYLAKE_MAVEN_REPOS to a Maven repository that serves io.graphframes when Maven "
        "Central does not) and deploy/spark-submit.sh passes it with --jars; on Databricks add "
        "the Maven library io.graphframes:graphframes-spark4_2.13",
    )
    require_python_package(
        GRAPHFRAMES_PACKAGE,
        "the graphframes Python package is missing: pip install graphframes-py (the version of "
        "the jar, see pyproject.toml), or pass it with --py-files as deploy/spark-submit.sh does",
    )
    return spark


def local_metastore_settings(config: Config) -> dict[str, str]:
    """An embedded Derby metastore and warehouse under `spark.metastore_dir`; `journeylake sql`
    opens the same one, so the tables a job registers can be queried by name."""
    folder = Path(config.resolve(config.spark.metastore_dir))
    derby_url = f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true"
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": derby_url,
        DRIVER_JAVA_OPTIONS: (
            f"-Dderby.system.home={folder} -Dderby.stream.error.file={folder / 'derby.log'}"
        ),
    }


def _apply_runtime_settings(spark: SparkSession, settings: SparkSettings) -> None:
    # An existing session only takes runtime (SQL) settings; static ones were fixed at launch.
    for key, value in settings.conf.items():
        if spark.conf.isModifiable(key):
            spark.conf.set(key, value)
        else:
            log.info("%s is fixed when the session starts; kept the existing session's value", key)


def jvm_class_available(spark: SparkSession, class_name: str) -> bool:
    jvm = spark.sparkContext._jvm
    try:
        jvm.java.lang.Class.forName(
            class_name, False, jvm.java.lang.Thread.currentThread().getContextClassLoader()
        )
    except Exception:  # noqa: BLE001 - py4j wraps ClassNotFoundException in its own error
        return False
    return True


def require_jvm_class(spark: SparkSession, class_name: str, hint: str) -> None:
    if not jvm_class_available(spark, class_name):
        raise SessionError(hint)


def require_python_package(name: str, hint: str) -> None:
    if importlib.util.find_spec(name) is None:
        raise SessionError(hint)
