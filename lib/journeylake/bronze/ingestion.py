"""Bronze ingestion as pure transforms: raw lines in, bronze rows and quarantine rows out.

Every record that is read ends in exactly one of the two outputs, so rows read = rows kept +
rows quarantined holds by construction; the job still checks it, and checks it again against
what Delta reports it wrote.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.bronze.contracts import ContractError, apply_contract, header_tokens, parse_raw
from journeylake.bronze.tables import (
    BATCH_ID,
    ERRORS,
    EVENT_DATE,
    INGESTED_AT,
    INGESTION_METADATA,
    RAW,
    RECORD_KEY,
    SOURCE_FILE,
)
from journeylake.core.config import SourceSpec


class IngestCountMismatch(RuntimeError):
    """Rows were lost or invented between reading and writing; the batch must not be trusted."""


@dataclass(frozen=True)
class SourceFile:
    path: str
    modification_time: object  # datetime, as Spark returns it
    size_bytes: int


def batch_id_for(source: str, files: Sequence[SourceFile]) -> str:
    """A batch id derived from what the batch reads, so a retried batch has the same id."""
    digest = hashlib.sha256(source.encode())
    for item in sorted(files, key=lambda f: f.path):
        digest.update(f"\n{item.path}|{item.modification_time}|{item.size_bytes}".encode())
    return f"{source}-{digest.hexdigest()[:16]}"


def new_files(listing: DataFrame, ingested: DataFrame) -> DataFrame:
    """Files of `listing` (path, modification_time, size_bytes) not yet in `ingested` (file_path,
    modification_time); a file rewritten in place counts as new."""
    return listing.join(
        ingested.select(F.col("file_path").alias("path"), "modification_time"),
        on=["path", "modification_time"],
        how="left_anti",
    )


def check_header(first_line: str, source: SourceSpec, file_path: str) -> None:
    """Fail the batch, naming the file, when a CSV file's header is not the contract's columns.

    Columns are matched by position, so a different name or order would silently shift values
    into the wrong fields; a renamed column is a `source:` mapping in conf/sources, a file with
    other columns or another order lists them in `csv.columns`.
    """
    expected = list(source.file_columns)
    found = next(
        csv.reader([first_line], delimiter=source.csv.delimiter, quotechar=source.csv.quote), []
    )
    if [token.strip() for token in found] != expected:
        raise ContractError(
            f"{file_path}: header {found} does not match source {source.name!r}, which expects "
            f"{expected} in this order; map renamed columns with `source:`, or list the file's "
            f"own columns in `csv.columns`, in conf/sources/{source.name}.yaml"
        )


def split_lines(lines: DataFrame, source: SourceSpec) -> tuple[DataFrame, Column, Column]:
    """Records of `lines` (`_raw`, `_source_file`), and predicates for blank and header lines.

    Blank lines and CSV headers are not records: they are counted, not quarantined.
    """
    blank = F.trim(F.col(RAW)) == ""
    if source.format == "csv" and source.csv.header:
        names = F.array(*[F.lit(name) for name in source.file_columns])
        header = ~blank & (header_tokens(F.col(RAW), source) == names)
    else:
        header = F.lit(False)
    records = lines.where(~blank & ~header)
    return records, blank, header


def validate_records(
    records: DataFrame, source: SourceSpec, ingested_at: Column, max_future_hours: float
) -> DataFrame:
    """Contract columns, `_record_key`, `_errors` and metadata for every record of `records`."""
    parsed = parse_raw(records, source)
    return apply_contract(parsed, source, ingested_at, max_future_hours)


def flag_duplicate_keys(
    validated: DataFrame, existing_keys: DataFrame | None, batch_id: str
) -> DataFrame:
    """Add a `duplicate_key` problem to records whose key repeats.

    Within the batch the first valid record (by file, then raw text) wins. Against `existing_keys`
    (`_record_key`, `_batch_id` of bronze) a key already ingested by another batch is a duplicate;
    one ingested by this same batch is a retry of it and stays valid, so a re-run after a crash
    adds nothing and loses nothing.
    """
    valid = F.size(ERRORS) == 0
    order = Window.partitionBy(RECORD_KEY, valid).orderBy(SOURCE_FILE, RAW)
    ranked = validated.withColumn("_rank", F.row_number().over(order))
    in_batch = F.when(
        valid & (F.col("_rank") > 1),
        F.struct(
            F.lit("duplicate_key").alias("code"),
            F.concat(
                F.lit("key "),
                F.col(RECORD_KEY),
                F.lit(" appears more than once in this batch; the first is kept"),
            ).alias("message"),
        ),
    )
    if existing_keys is not None:
        existing = existing_keys.select(
            F.col(RECORD_KEY), F.col(BATCH_ID).alias("_existing_batch")
        ).dropDuplicates([RECORD_KEY])
        ranked = ranked.join(existing, on=RECORD_KEY, how="left")
        earlier = F.when(
            valid & F.col("_existing_batch").isNotNull() & (F.col("_existing_batch") != batch_id),
            F.struct(
                F.lit("duplicate_key").alias("code"),
                F.concat(
                    F.lit("key "),
                    F.col(RECORD_KEY),
                    F.lit(" was already ingested by batch "),
                    F.col("_existing_batch"),
                ).alias("message"),
            ),
        )
    else:
        earlier = F.lit(None)
    problems = F.filter(F.array(in_batch, earlier), lambda problem: problem.isNotNull())
    flagged = ranked.withColumn(ERRORS, F.concat(F.col(ERRORS), problems))
    return flagged.drop("_rank", "_existing_batch")


def with_ingestion_metadata(df: DataFrame, batch_id: str, ingested_at: Column) -> DataFrame:
    return df.withColumn(INGESTED_AT, ingested_at).withColumn(BATCH_ID, F.lit(batch_id))


def classify_lines(
    lines: DataFrame,
    source: SourceSpec,
    existing_keys: DataFrame | None,
    batch_id: str,
    ingested_at: Column,
    max_future_hours: float,
) -> DataFrame:
    """Every record of `lines` (`_raw`, `_source_file`) validated against the contract, its
    duplicate keys flagged (see `flag_duplicate_keys`) and stamped with the batch: what
    `bronze_rows` and `quarantine_rows` split. The one path from lines to bronze and quarantine,
    shared by `journeylake ingest` (files) and `journeylake stream` (micro-batches)."""
    records, _, _ = split_lines(lines, source)
    validated = validate_records(records, source, ingested_at, max_future_hours)
    return with_ingestion_metadata(
        flag_duplicate_keys(validated, existing_keys, batch_id), batch_id, ingested_at
    )


def batch_counts(
    lines: DataFrame, source: SourceSpec, kept: DataFrame, quarantined: DataFrame
) -> BatchCounts:
    """The counts of one batch: records, blank and header lines of `lines`; rows of the split."""
    _, blank, header = split_lines(lines, source)
    line_stats = lines.agg(
        F.count_if(blank).alias("blank"),
        F.count_if(header).alias("header"),
        F.count_if(~blank & ~header).alias("records"),
    ).first()
    return BatchCounts(
        rows_read=line_stats["records"],
        rows_kept=kept.count(),
        rows_quarantined=quarantined.count(),
        blank_lines=line_stats["blank"],
        header_lines=line_stats["header"],
    )


def bronze_rows(classified: DataFrame, source: SourceSpec) -> DataFrame:
    """The valid records in the bronze table's column order."""
    columns = [spec.name for spec in source.fields]
    columns += INGESTION_METADATA
    if source.event_time:
        columns.append(EVENT_DATE)
    return classified.where(F.size(ERRORS) == 0).select(*columns)


def quarantine_rows(classified: DataFrame, source: SourceSpec) -> DataFrame:
    """The invalid records: raw text, the readable reason and the reason codes.

    `quarantine_id` tells apart identical lines of one file (a line sent twice is two rows),
    so that a retried batch merges onto itself instead of collapsing them.
    """
    bad = classified.where(F.size(ERRORS) > 0)
    occurrence = F.row_number().over(Window.partitionBy(SOURCE_FILE, RAW).orderBy(F.lit(1)))
    return bad.select(
        F.sha2(
            F.concat_ws(
                "\u0001", F.col(BATCH_ID), F.col(SOURCE_FILE), F.col(RAW), occurrence.cast("string")
            ),
            256,
        ).alias("quarantine_id"),
        F.lit(source.name).alias("source"),
        F.array_join(F.transform(ERRORS, lambda problem: problem["message"]), "; ").alias("reason"),
        F.array_distinct(F.transform(ERRORS, lambda problem: problem["code"])).alias(
            "reason_codes"
        ),
        F.col(RAW).alias("raw_record"),
        SOURCE_FILE,
        INGESTED_AT,
        BATCH_ID,
    )


@dataclass(frozen=True)
class BatchCounts:
    rows_read: int
    rows_kept: int
    rows_quarantined: int
    blank_lines: int
    header_lines: int

    def check(self, source: str) -> None:
        missing = self.rows_read - self.rows_kept - self.rows_quarantined
        if missing:
            raise IngestCountMismatch(
                f"{source}: read {self.rows_read} rows but kept {self.rows_kept} and quarantined "
                f"{self.rows_quarantined}; {missing} rows unaccounted for"
            )
