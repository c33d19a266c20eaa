"""Evaluate the expectations of the tables a job wrote, record them in audit_quality (one Delta
transaction per job run) and stop the job when a hard one failed.

The evaluation itself is `core.quality.evaluate`; this module reads each table at the version
just written, and the tables the expectations refer to, and writes the audit."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession

from journeylake.core import lakehouse, quality
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.core.quality import QualityError, Result
from journeylake.core.table_spec import TableSpec
from journeylake.quality.tables import AUDIT_QUALITY

log = logging.getLogger("journeylake.quality")


def check_declarations(config: Config, specs: Sequence[TableSpec]) -> None:
    """Every configured expectation of `specs` names columns the table has (before any Spark
    work on the data)."""
    for spec in specs:
        settings = config.quality.tables.get(spec.name)
        if settings is not None:
            quality.check_declared(spec.name, spec.columns, spec.keys, settings.expectations,
                                   settings.sample_by)


def audit_rows(spark: SparkSession, results: Sequence[tuple[Result, int]], run_id: str,
               job: str) -> DataFrame:
    """The audit_quality rows of (result, table version) pairs (one per expectation: few)."""
    now = utc_now()
    return spark.createDataFrame(
        [(run_id, job, r.table, version, r.expectation, r.kind, r.severity, r.passed,
          r.failing_rows, r.rows_checked, list(r.failing_keys), r.detail, now)
         for r, version in results],
        AUDIT_QUALITY.schema)


def check_tables(spark: SparkSession, config: Config, job: str, run_id: str,
                 specs: Sequence[TableSpec]) -> list[Result]:
    """Evaluate the expectations of each of `specs` that exists, at its latest version; append
    the results to audit_quality once per (job, run); a QualityError naming every failed hard
    expectation, with its failing keys, after they are recorded."""
    check_declarations(config, specs)
    now = utc_now()
    evaluated: list[tuple[Result, int]] = []
    for spec in specs:
        settings = config.quality.tables.get(spec.name)
        if settings is None or not settings.expectations:
            continue
        if not lakehouse.table_exists(spark, config, spec):
            continue
        version = lakehouse.table_version(spark, config, spec)
        rows = lakehouse.read_table(spark, config, spec, version=version)
        others = sorted(quality.referenced_tables(settings.expectations) - {spec.name})
        missing = [name for name in others if not lakehouse.table_exists(spark, config, name)]
        if missing:
            raise QualityError(f"{spec.name}: its expectations read {', '.join(missing)}, "
                               "which does not exist")
        references = {name: lakehouse.read_table(spark, config, name) for name in others}
        references[spec.name] = rows
        results = quality.evaluate(spec.name, rows, settings.expectations,
                                   lakehouse.sample_columns(config, spec), references, now,
                                   config.quality.sample_size)
        evaluated += [(result, version) for result in results]
    if not evaluated:
        return []
    lakehouse.append_once(spark, config, AUDIT_QUALITY, audit_rows(spark, evaluated, run_id, job),
                          f"quality-{job}-{run_id}")
    results = [result for result, _ in evaluated]
    failed = [r for r in results if not r.passed]
    for result in failed:
        log.warning("%s: %s expectation %s failed: %s", result.table, result.severity,
                    result.expectation, result.detail)
    message = quality.failure_message(results)
    if message:
        raise QualityError(message)
    return results
