"""Ingest landed files of every configured source into bronze Delta tables.

Valid rows go to `bronze_<source>`, invalid ones to `quarantine` with a readable reason, one
`audit_ingestion` row per source and run counts them, and `audit_ingested_files` remembers which
files were read so the next run picks up only new ones.

Before reading, an ingest claims its new files for one batch in `audit_ingest_claims` (one
MERGE, retried when another writer's commit won): a file another ingest already claimed is read
in that batch, with all of that batch's files. Every write of a batch is idempotent (Delta's
txnAppId per batch id), so two ingests of overlapping files, or an ingest killed and run again,
land each row once, whichever of them finishes the batch.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import datetime

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.contracts import ContractError, check_json_types
from journeylake.bronze.ingestion import (
    FILE_PROBLEMS_SCHEMA,
    BatchCounts,
    FileProblem,
    IngestCountMismatch,
    SourceFile,
    batch_counts,
    batch_id_for,
    bronze_rows,
    classify_lines,
    file_problem,
    new_files,
    quarantine_rows,
)
from journeylake.bronze.tables import AUDIT_INGESTION, INGEST_CLAIMS, INGESTED_FILES
from journeylake.bronze.writing import existing_keys, verify_written, write_batch
from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config, SourceSpec
from journeylake.core.faults import crash_point
from journeylake.core.job_runner import (
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.spark_session import build_session

log = logging.getLogger("journeylake.ingest")


@dataclass(frozen=True)
class SourceOutcome:
    source: str
    batch_id: str | None
    files: int
    counts: BatchCounts
    status: str


def ingest(
    spark: SparkSession,
    config: Config,
    sources: Sequence[str] | None = None,
    run_id: str | None = None,
) -> list[SourceOutcome]:
    """Ingest each source; a source that fails is recorded and the others still run."""
    run_id = run_id or f"{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    selected = [config.sources[name] for name in sources] if sources else config.ingest_sources()
    outcomes = []
    # Sources that read no batch (no new files, or failed) are audited together at the end, in
    # one commit: no rows hang on those audit rows, and a commit costs a second or two.
    unbatched: list[tuple] = []
    for source in selected:
        started_at = _now()
        try:
            done = ingest_source(spark, config, source, started_at)
        except (ContractError, IngestCountMismatch) as error:
            log.error("%s: %s", source.name, error)
            done = [SourceOutcome(
                source.name, None, 0, BatchCounts(0, 0, 0, 0, 0), f"failed: {error}"
            )]
        for outcome in done:
            row = _audit_row(run_id, source, outcome, started_at)
            if outcome.batch_id:
                # Per batch, not per run: two ingests that both finished a batch audit it once.
                _write_audit(spark, config, [row], f"audit-{outcome.batch_id}")
            else:
                unbatched.append(row)
        outcomes.extend(done)
        crash_point("ingest.after_source")
    if unbatched:
        _write_audit(spark, config, unbatched, f"audit-{run_id}")
    return outcomes


def ingest_source(
    spark: SparkSession, config: Config, source: SourceSpec, ingested_at: datetime
) -> list[SourceOutcome]:
    """Ingest the source's new files: one outcome per batch read (one, unless another ingest
    claimed some of the files first), or one `no_new_files`."""
    check_json_types(spark, source)
    listing = lakehouse.list_files(spark, config.source_path(source), source.glob)
    ingested = lakehouse.read_table_or_empty(spark, config, INGESTED_FILES).where(
        F.col("source") == source.name)
    # One row per landed file: small, and the driver needs the paths to read them.
    files = [
        SourceFile(row.path, row.modification_time, row.size_bytes)
        for row in new_files(listing, ingested).orderBy("path").collect()
    ]
    if not files:
        log.info("%s: no new files under %s", source.name, config.source_path(source))
        return [SourceOutcome(source.name, None, 0, BatchCounts(0, 0, 0, 0, 0),
                              "no_new_files")]
    return [_ingest_batch(spark, config, source, batch_id, batch_files, ingested_at)
            for batch_id, batch_files in _claim(spark, config, source, files,
                                                ingested_at).items()]


def _claim(spark: SparkSession, config: Config, source: SourceSpec,
           files: Sequence[SourceFile], at: datetime) -> dict[str, list[SourceFile]]:
    """Batch id -> all of its files, for the batches that hold `files`: those nobody claimed
    yet are claimed now, in one batch (one MERGE: a file claimed already keeps its batch)."""
    batch_id = batch_id_for(source.name, files)
    lakehouse.insert_new(spark, config, INGEST_CLAIMS, spark.createDataFrame(
        [(source.name, item.path, item.modification_time, item.size_bytes, batch_id, at)
         for item in files], INGEST_CLAIMS.schema))
    claims = lakehouse.read_table(spark, config, INGEST_CLAIMS).where(
        F.col("source") == source.name)
    listed = {(item.path, item.modification_time) for item in files}
    held = {(row.file_path, row.modification_time): row for row in claims.where(
        F.col("file_path").isin(sorted({path for path, _ in listed}))).collect()}
    batches = _files_by_batch(row for key, row in held.items() if key in listed)
    others = sorted(set(batches) - {batch_id})
    if others:
        # A batch is read whole, with files this listing may not have seen: a part of it would
        # commit under the batch's id and leave the rest unread. (Our own batch id names
        # exactly the files of this listing, all in `held`.)
        log.info("%s: files claimed by other ingests first; reading batches %s", source.name,
                 ", ".join(others))
        batches.update(_files_by_batch(claims.where(F.col("batch_id").isin(others)).collect()))
    return batches


def _files_by_batch(claims: Iterable[Row]) -> dict[str, list[SourceFile]]:
    """Batch id -> its claimed files, ordered by path."""
    batches: dict[str, list[SourceFile]] = {}
    for row in sorted(claims, key=lambda row: row.file_path):
        batches.setdefault(row.batch_id, []).append(
            SourceFile(row.file_path, row.modification_time, row.size_bytes))
    return batches


def _ingest_batch(spark: SparkSession, config: Config, source: SourceSpec, batch_id: str,
                  files: Sequence[SourceFile], ingested_at: datetime) -> SourceOutcome:
    problems = _file_problems(spark, source, files)

    at = F.lit(ingested_at).cast("timestamp")
    lines = lakehouse.read_lines(spark, [item.path for item in files]).persist()
    classified = classify_lines(
        lines, source, existing_keys(spark, config, source), batch_id, at,
        config.ingest.max_future_hours,
        spark.createDataFrame([astuple(p) for p in problems], FILE_PROBLEMS_SCHEMA)
        if problems else None,
    ).persist()
    kept = bronze_rows(classified, source)
    quarantined = quarantine_rows(classified, source)
    counts = batch_counts(lines, source, kept, quarantined)
    counts.check(source.name)
    write_batch(spark, config, source, kept, quarantined, f"ingest-{batch_id}")
    verify_written(spark, config, source, batch_id, counts)
    _record_files(spark, config, source, files, batch_id, ingested_at)
    classified.unpersist()
    lines.unpersist()
    log.info(
        "%s: batch %s read %d rows from %d files, kept %d, quarantined %d",
        source.name,
        batch_id,
        counts.rows_read,
        len(files),
        counts.rows_kept,
        counts.rows_quarantined,
    )
    return SourceOutcome(source.name, batch_id, len(files), counts, "succeeded")


def _file_problems(
    spark: SparkSession, source: SourceSpec, files: Sequence[SourceFile]
) -> list[FileProblem]:
    """The problems of the batch's files, from a few bytes of each (the first line too for a
    CSV with a header): one file's problem quarantines its own lines, never the batch."""
    problems = []
    for item in files:
        edges = lakehouse.file_edges(spark, item.path)
        first_line = None
        if source.format == "csv" and source.csv.header and edges.last:
            first_line = lakehouse.read_first_line(spark, item.path)
        problem = file_problem(source, edges, first_line)
        if problem:
            log.warning("%s: %s: %s (%s)", source.name, item.path, problem.message, problem.code)
            problems.append(problem)
        elif not edges.last:
            log.info("%s: %s is empty; recorded as read, no rows", source.name, item.path)
    return problems


def _record_files(
    spark: SparkSession,
    config: Config,
    source: SourceSpec,
    files: Sequence[SourceFile],
    batch_id: str,
    ingested_at: datetime,
) -> None:
    rows = [
        (source.name, item.path, item.modification_time, item.size_bytes, batch_id, ingested_at)
        for item in files
    ]
    files_df = spark.createDataFrame(rows, INGESTED_FILES.schema)
    lakehouse.append_once(spark, config, INGESTED_FILES, files_df, f"files-{batch_id}")


def _audit_row(run_id: str, source: SourceSpec, outcome: SourceOutcome, started_at: datetime
               ) -> tuple:
    counts = outcome.counts
    return (
        outcome.batch_id or f"{source.name}-{run_id}",
        run_id,
        source.name,
        source.table_name,
        started_at,
        _now(),
        outcome.files,
        counts.rows_read,
        counts.rows_kept,
        counts.rows_quarantined,
        counts.blank_lines,
        counts.header_lines,
        outcome.status[:1000],
    )


def _write_audit(spark: SparkSession, config: Config, rows: list[tuple], write_id: str) -> None:
    lakehouse.append_once(spark, config, AUDIT_INGESTION,
                          spark.createDataFrame(rows, AUDIT_INGESTION.schema), write_id)


def _now() -> datetime:
    # Whole seconds: the audit is read by people.
    return utc_now().replace(microsecond=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("ingest", __doc__.splitlines()[0])
    parser.add_argument(
        "--sources",
        default=None,
        help="comma-separated sources to ingest (default: ingest.sources)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    sources = args.sources.split(",") if args.sources else None
    unknown = [name for name in sources or [] if name not in config.sources]
    if unknown:
        parser.error(f"unknown source(s) {unknown}; configured: {sorted(config.sources)}")
    spark = build_session(config)
    outcomes = ingest(spark, config, sources)
    for outcome in outcomes:
        print(describe_outcome(outcome))
    return 1 if any(o.status.startswith("failed") for o in outcomes) else 0


def describe_outcome(outcome: SourceOutcome) -> str:
    counts = asdict(outcome.counts)
    return f"{outcome.source:<14} {outcome.status:<14} files={outcome.files} " + " ".join(
        f"{k}={v}" for k, v in counts.items()
    )


if __name__ == "__main__":
    sys.exit(run_main("ingest", main))
