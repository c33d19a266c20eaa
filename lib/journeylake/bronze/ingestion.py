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

from journeylake.bronze.contracts import (
    CONTROL_CHARACTERS,
    apply_contract,
    header_tokens,
    parse_raw,
    without_bom,
)
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
from journeylake.core.lakehouse import LINE_POSITION, FileEdges


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


def header_problem(first_line: str, source: SourceSpec) -> str | None:
    """Why a CSV file's first line is not the contract's header, or None when it is.

    Columns are matched by position, so a different name or order would silently shift values
    into the wrong fields; a renamed column is a `source:` mapping in conf/sources, a file with
    other columns or another order lists them in `csv.columns`.
    """
    expected = list(source.file_columns)
    found = next(
        csv.reader([first_line], delimiter=source.csv.delimiter, quotechar=source.csv.quote), []
    )
    if [token.strip() for token in found] == expected:
        return None
    return (
        f"header {found} does not match source {source.name!r}, which expects {expected} in "
        f"this order; map renamed columns with `source:`, or list the file's own columns in "
        f"`csv.columns`, in conf/sources/{source.name}.yaml"
    )


# Reason codes of problems found in a landed file rather than in one record's fields.
BAD_HEADER = "bad_header"
BAD_ENCODING = "bad_encoding"
BINARY_CONTENT = "binary_content"
TRUNCATED_RECORD = "truncated_record"
# A byte-order mark of UTF-16 or UTF-32 (the UTF-32 LE one begins like UTF-16 LE's).
_OTHER_BOMS = {
    b"\xff\xfe": "UTF-16 (little-endian)",
    b"\xfe\xff": "UTF-16 (big-endian)",
    b"\x00\x00\xfe\xff": "UTF-32 (big-endian)",
}
_LINE_ENDS = (b"\n", b"\r")
FILE_PROBLEMS_SCHEMA = (
    f"{SOURCE_FILE} string, code string, message string, whole_file boolean"
)


@dataclass(frozen=True)
class FileProblem:
    """A problem of one landed file: every record of it is quarantined with it (`whole_file`),
    or only its last line (a file cut short)."""

    line_path: str  # as `_source_file` spells it
    code: str
    message: str
    whole_file: bool


def file_problem(
    source: SourceSpec, edges: FileEdges, first_line: str | None
) -> FileProblem | None:
    """The problem of one file from its first bytes, last byte and (CSV with a header) first
    line, or None. An empty file has none: it holds no record.

    A UTF-16/32 file is not read as text at all: each of its lines would be NUL-ridden
    mojibake. A wrong header quarantines the file's lines instead of failing the source, so the
    batch's other files still load and the lines stay in the quarantine to be replayed. A file
    whose last byte is not a line end was cut short (or is still being written): its last line
    is quarantined, the complete lines before it are not.
    """
    if not edges.last:
        return None
    for bom, encoding in _OTHER_BOMS.items():
        if edges.head.startswith(bom):
            return FileProblem(
                edges.line_path, BAD_ENCODING,
                f"the file is {encoding} (byte-order mark {bom.hex()}); the contract expects "
                "UTF-8", True,
            )
    if first_line is not None and source.format == "csv" and source.csv.header:
        problem = header_problem(first_line, source)
        if problem:
            return FileProblem(edges.line_path, BAD_HEADER, problem, True)
    if edges.last not in _LINE_ENDS:
        return FileProblem(
            edges.line_path, TRUNCATED_RECORD,
            "the last line of the file has no line end: the file was cut short, the record "
            "may be incomplete", False,
        )
    return None


def line_problem(raw: Column) -> Column:
    """A `binary_content` or `bad_encoding` problem of a raw line, NULL for clean text.

    Spark reads bytes that are not UTF-8 as they are (and shows them as U+FFFD); a line holding
    them, or U+FFFD itself (text decoded wrongly upstream), would land in bronze as mojibake.
    NUL and other control characters (but tab) do not occur in text records: binary data.
    """
    binary = raw.rlike(CONTROL_CHARACTERS)
    not_utf8 = ~F.is_valid_utf8(raw) | raw.contains("\ufffd")
    return F.when(binary, _problem_struct(
        BINARY_CONTENT, "the line holds NUL or other control bytes: binary data, not text"
    )).when(not_utf8, _problem_struct(
        BAD_ENCODING, "the line is not valid UTF-8 (Latin-1 or another encoding?)"
    ))


def _problem_struct(code: str, message: str | Column) -> Column:
    text = F.lit(message) if isinstance(message, str) else message
    return F.struct(F.lit(code).alias("code"), text.alias("message"))


def with_line_problems(
    validated: DataFrame, lines: DataFrame, file_problems: DataFrame | None
) -> DataFrame:
    """`_errors` of `validated` replaced by one problem where the line or its file has one (in
    this order: the file's, binary content, bad encoding, a last line cut short); the field
    rules would only repeat it, or read garbage.

    `lines` (`_source_file`, `_line_position`) are the batch's lines, to find each cut file's
    last line; `file_problems` has `FILE_PROBLEMS_SCHEMA` (one row per file at most), or None.
    """
    checked = validated
    whole = truncated = F.lit(None)
    if file_problems is not None:
        problems = F.broadcast(file_problems)
        whole_files = problems.where("whole_file").select(
            SOURCE_FILE,
            F.struct(F.col("code"), F.col("message")).alias("_file_problem"),
        )
        cut = problems.where(~F.col("whole_file"))
        last_lines = (
            lines.join(cut.select(SOURCE_FILE), SOURCE_FILE, "left_semi")
            .groupBy(SOURCE_FILE)
            .agg(F.max(LINE_POSITION).alias(LINE_POSITION))
            .join(cut, SOURCE_FILE)
            .select(
                SOURCE_FILE, LINE_POSITION,
                F.struct(F.col("code"), F.col("message")).alias("_cut_problem"),
            )
        )
        checked = checked.join(whole_files, SOURCE_FILE, "left").join(
            F.broadcast(last_lines), [SOURCE_FILE, LINE_POSITION], "left"
        )
        whole, truncated = F.col("_file_problem"), F.col("_cut_problem")
    problem = F.coalesce(whole, line_problem(F.col(RAW)), truncated)
    result = checked.withColumn(
        ERRORS, F.when(problem.isNotNull(), F.array(problem)).otherwise(F.col(ERRORS))
    )
    return result.drop("_file_problem", "_cut_problem", LINE_POSITION)


def split_lines(lines: DataFrame, source: SourceSpec) -> tuple[DataFrame, Column, Column]:
    """Records of `lines` (`_raw`, `_source_file`), and predicates for blank and header lines.

    Blank lines and CSV headers are not records: they are counted, not quarantined.
    """
    blank = F.trim(F.col(RAW)) == ""
    if source.format == "csv" and source.csv.header:
        names = F.array(*[F.lit(name) for name in source.file_columns])
        header = ~blank & (header_tokens(without_bom(F.col(RAW)), source) == names)
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
    file_problems: DataFrame | None = None,
) -> DataFrame:
    """Every record of `lines` (`_raw`, `_source_file`; `_line_position` with `file_problems`)
    validated against the contract and its file's problems (see `with_line_problems`), its
    duplicate keys flagged (see `flag_duplicate_keys`) and stamped with the batch: what
    `bronze_rows` and `quarantine_rows` split. The one path from lines to bronze and quarantine,
    shared by `journeylake ingest` (files) and `journeylake stream` (micro-batches)."""
    records, _, _ = split_lines(lines, source)
    validated = validate_records(records, source, ingested_at, max_future_hours)
    # Before the duplicate check: a line of a bad file must not shadow a good line's key.
    checked = with_line_problems(validated, lines, file_problems)
    return with_ingestion_metadata(
        flag_duplicate_keys(checked, existing_keys, batch_id), batch_id, ingested_at
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
