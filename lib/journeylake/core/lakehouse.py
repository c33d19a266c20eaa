"""All Delta and file I/O: listing landed files, reading their lines, and reading, merging and
registering lakehouse tables. Everything else in journeylake is pure DataFrame code.

A table is named by its `TableSpec` (rows written to it are checked against the declared schema
by `conform`, and its keys and partitioning come from the spec) or, for the bronze tables whose
columns a source contract defines, by its name."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from journeylake.core import quality
from journeylake.core.config import Config, Expectation
from journeylake.core.job_runner import JobError
from journeylake.core.quality import QualityError
from journeylake.core.table_spec import TableSpec, conform

Table = str | TableSpec
T = TypeVar("T")
log = logging.getLogger("journeylake.lakehouse")

# Names of the columns of a landed line; bronze reads them.
RAW_LINE = "_raw"
SOURCE_FILE = "_source_file"
# Where a line sits in its file: (start of the file split read, row number within the read), so
# the largest of a file is its last line. Only `read_lines` sets it.
LINE_POSITION = "_line_position"


def _name(table: Table) -> str:
    return table.name if isinstance(table, TableSpec) else table


def _conformed(table: Table, rows: DataFrame) -> DataFrame:
    return conform(rows, table) if isinstance(table, TableSpec) else rows


def _partitioning(table: Table, partition_by: Sequence[str]) -> Sequence[str]:
    return table.partition_by if isinstance(table, TableSpec) and not partition_by else partition_by


def list_files(spark: SparkSession, root: str, glob: str) -> DataFrame:
    """Files under `root` (recursively) whose name matches `glob`: path, modification_time,
    size_bytes. Only metadata is read; an absent folder is an empty listing."""
    schema = "path string, modification_time timestamp, size_bytes bigint"
    if not _exists(spark, root):
        return spark.createDataFrame([], schema)
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", glob)
        .load(root)
        .select(
            F.col("path"),
            F.col("modificationTime").alias("modification_time"),
            F.col("length").alias("size_bytes"),
        )
    )


def _exists(spark: SparkSession, path: str) -> bool:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop_path.getFileSystem(conf).exists(hadoop_path)


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Every line of the files as `_raw`, with the file it came from as `_source_file` (the
    path URL-encoded, see `FileEdges.line_path`) and its place in the file as `_line_position`.

    Bytes that are not UTF-8 stay as they are in `_raw` (`is_valid_utf8` is false there).
    """
    # monotonically_increasing_id counts the rows of each task in read order, and one task
    # reads a split of a file from its start: within a file, (split start, id) follows the lines.
    position = F.struct(
        F.col("_metadata.file_block_start").alias("split_start"),
        F.monotonically_increasing_id().alias("row"),
    )
    return spark.read.text(list(paths)).select(
        F.col("value").alias(RAW_LINE),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        position.alias(LINE_POSITION),
    )


@dataclass(frozen=True)
class FileEdges:
    """What ingestion checks of a landed file before reading its lines."""

    head: bytes  # its first bytes (up to 4): a byte-order mark tells another encoding
    last: bytes  # its last byte (b"" when empty): a line end, or a file cut short
    # The path as `read_lines` spells it in `_source_file`: Spark URL-encodes it (a space is
    # %20), so a listing's path does not match it as it is.
    line_path: str


def file_edges(spark: SparkSession, path: str) -> FileEdges:
    """The first four and the last byte of one file, read on the driver (a few bytes per file,
    whatever its size)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    size = fs.getFileStatus(hadoop_path).getLen()
    stream = fs.open(hadoop_path)
    try:
        head = bytearray()
        while len(head) < min(4, size):
            byte = stream.read()
            if byte < 0:
                break
            head.append(byte)
        last = b""
        if size > 0:
            stream.seek(size - 1)
            byte = stream.read()
            last = bytes([byte]) if byte >= 0 else b""
    finally:
        stream.close()
    line_path = str(hadoop_path.makeQualified(fs.getUri(), fs.getWorkingDirectory()).toUri()
                    .toString())
    return FileEdges(bytes(head), last, line_path)


def read_lines_stream(spark: SparkSession, root: str, glob: str, max_files_per_trigger: int
                      ) -> DataFrame:
    """New files under `root` whose name matches `glob`, as a stream of lines: `_raw` and
    `_source_file`, like `read_lines`. The folder is created when absent (a file stream needs
    it). Which files were read lives in the query's checkpoint."""
    make_dirs(spark, root)
    return (
        spark.readStream.format("text")
        .option("pathGlobFilter", glob)
        .option("maxFilesPerTrigger", str(max_files_per_trigger))
        .load(root)
        .select(F.col("value").alias(RAW_LINE), F.col("_metadata.file_path").alias(SOURCE_FILE))
    )


def make_dirs(spark: SparkSession, path: str) -> None:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).mkdirs(hadoop_path)


def read_table_stream(spark: SparkSession, config: Config, table: Table) -> DataFrame:
    """The table's appends as a stream (Delta source); where it got to lives in the query's
    checkpoint."""
    return spark.readStream.format("delta").load(config.table_path(_name(table)))


def read_first_line(spark: SparkSession, path: str) -> str:
    """The first line of one file, read on the driver (a header, not data)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(hadoop_path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
    finally:
        stream.close()
    return (line or "").lstrip("\ufeff")


def table_exists(spark: SparkSession, config: Config, table: Table) -> bool:
    return DeltaTable.isDeltaTable(spark, config.table_path(_name(table)))


def read_table(spark: SparkSession, config: Config, table: Table, version: int | None = None
               ) -> DataFrame:
    """The table, or its state at Delta `version` (time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(config.table_path(_name(table)))


def require_tables(spark: SparkSession, config: Config, tables: Sequence[Table], command: str,
                   made_by: str) -> None:
    """A JobError naming the first of `tables` that does not exist yet and the command
    (`made_by`) that builds it."""
    for table in tables:
        if not table_exists(spark, config, table):
            raise JobError(f"{command} reads {_name(table)}, which does not exist yet: run "
                           f"`journeylake {made_by}` first")


def _latest_commit(spark: SparkSession, config: Config, table: Table):  # noqa: ANN202
    return DeltaTable.forPath(spark, config.table_path(_name(table))).history(1).first()


def table_version(spark: SparkSession, config: Config, table: Table) -> int:
    """The table's latest Delta version: what a model trained on it records."""
    return int(_latest_commit(spark, config, table).version)


def read_table_or_empty(
    spark: SparkSession, config: Config, table: Table, schema: StructType | None = None
) -> DataFrame:
    """The table, or no rows of its schema (the spec's unless `schema` is given) before its
    first write."""
    if table_exists(spark, config, table):
        return read_table(spark, config, table)
    if schema is None:
        if not isinstance(table, TableSpec):
            raise TypeError(f"read_table_or_empty({table!r}) needs a schema or a TableSpec")
        schema = table.schema
    return spark.createDataFrame([], schema)


def append_once(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    write_id: str,
    partition_by: Sequence[str] = (),
    write_version: int = 0,
    register_name: bool = True,
) -> None:
    """Append `rows` unless a write with the same `write_id` and a `write_version` at least as
    high already committed to the table.

    Delta's idempotent writes (txnAppId/txnVersion) make a retried batch a no-op without the
    full-table join a MERGE would pay; the caller guarantees the rows' keys are new. A batch
    job writes once per id (version 0); a stream keeps one id per query and counts its
    micro-batches in the version, so a replayed micro-batch is skipped.
    """
    writer = (
        _conformed(table, rows).write.format("delta")
        .mode("append")
        .partitionBy(*_partitioning(table, partition_by))
        .option("txnAppId", write_id)
        .option("txnVersion", write_version)
    )
    # Retried, the same txnAppId and version: a commit that did land is not repeated.
    _write(spark, config, table, rows, lambda: writer.save(config.table_path(_name(table))),
           partition_by)
    # A stream registers once, not on each micro-batch: the catalog lookup costs a job.
    if register_name:
        register(spark, config, _name(table))


def register(spark: SparkSession, config: Config, table: str) -> None:
    """Make `<database>.<table>` name the Delta folder, so `spark-sql` can query it by name."""
    database = config.lakehouse.database
    path = config.table_path(table)
    # Once per session, name and folder: the catalog lookups cost a Spark job or two, and
    # every write registers its table.
    known = (spark.sparkContext.applicationId, database, table)
    if _registered.get(known) == path:
        return
    _register(spark, database, table, path)
    _registered[known] = path


_registered: dict[tuple[str, str, str], str] = {}


def _register(spark: SparkSession, database: str, table: str, path: str) -> None:
    if not spark.catalog.databaseExists(database):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    name = f"`{database}`.`{table}`"
    if spark.catalog.tableExists(f"{database}.{table}"):
        location = spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]
        if _same_location(location, path):
            return
        # An external table: dropping the name leaves the data where it is.
        spark.sql(f"DROP TABLE IF EXISTS {name}")
    # IF [NOT] EXISTS: two jobs of one session writing the same new table both find it
    # unnamed, and the second to name it must not fail on the first's name.
    spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{path}'")


def _same_location(location: str, path: str) -> bool:
    def normalise(value: str) -> str:
        return value.removeprefix("file:").replace("///", "/").rstrip("/")

    return normalise(location) == normalise(path)


def delta_table_names(spark: SparkSession, config: Config) -> list[str]:
    """The names of every Delta table folder under the lakehouse root, sorted."""
    root = config.resolve(config.lakehouse.root)
    if not _exists(spark, root):
        return []
    jvm = spark.sparkContext._jvm
    root_path = jvm.org.apache.hadoop.fs.Path(root)
    fs = root_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    names = [status.getPath().getName() for status in fs.listStatus(root_path)
             if status.isDirectory()]
    return sorted(name for name in names
                  if DeltaTable.isDeltaTable(spark, config.table_path(name)))


def register_existing(spark: SparkSession, config: Config) -> None:
    """Register every Delta table folder under the lakehouse root (a session whose catalog
    forgets names, or a lakehouse copied from elsewhere, gets its names back)."""
    for name in delta_table_names(spark, config):
        register(spark, config, name)


def delete_where(spark: SparkSession, config: Config, table: Table, condition: Column) -> int:
    """Delete the rows matching `condition` in one Delta transaction (retried when it lost to
    a concurrent writer); the number deleted, from the commit's own metrics rather than a
    second scan."""
    before = table_version(spark, config, table)
    with_commit_retries(config, _name(table), lambda: DeltaTable.forPath(
        spark, config.table_path(_name(table))).delete(condition))
    commit = _latest_commit(spark, config, table)
    if commit.version == before or commit.operation != "DELETE":
        return 0  # nothing matched, nothing committed
    return int((commit.operationMetrics or {}).get("numDeletedRows", "0"))


_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_PARALLEL_VACUUM = "spark.databricks.delta.vacuum.parallelDelete.enabled"
_vacuum_lock = threading.Lock()
_vacuum_users = 0
_vacuum_saved: dict[str, str | None] = {}


@contextmanager
def _zero_retention_vacuum(spark: SparkSession) -> Iterator[None]:
    """The session allows VACUUM with no retention (and deletes files in parallel) while any
    thread is inside; set and restored once, so concurrent purges do not undo each other's."""
    global _vacuum_users
    with _vacuum_lock:
        if _vacuum_users == 0:
            for name, value in ((_RETENTION_CHECK, "false"), (_PARALLEL_VACUUM, "true")):
                _vacuum_saved[name] = spark.conf.get(name, None)
                spark.conf.set(name, value)
        _vacuum_users += 1
    try:
        yield
    finally:
        with _vacuum_lock:
            _vacuum_users -= 1
            if _vacuum_users == 0:
                for name, value in _vacuum_saved.items():
                    if value is None:
                        spark.conf.unset(name)
                    else:
                        spark.conf.set(name, value)


def purge_history(spark: SparkSession, config: Config, table: Table) -> None:
    """Make deleted rows unreadable at every version: rewrite the files that only hide rows
    behind deletion vectors (REORG ... APPLY (PURGE), on a table that has them enabled), then
    VACUUM with no retention, so no file of an earlier version is left to time-travel to. The
    table's history before this point can no longer be read: erasure wins over time travel.
    Files no version ever committed (left by a killed write) are not the log's to know: a full
    VACUUM, which lists the folder, removes those."""
    path = config.table_path(_name(table))
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").select("properties").first()
    if (properties.properties or {}).get("delta.enableDeletionVectors") == "true":
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    with _zero_retention_vacuum(spark):
        try:
            # LITE: the files to delete come from the log's removals, not from listing the
            # folder (a full VACUUM costs about a minute even on a small table locally).
            spark.sql(f"VACUUM delta.`{path}` LITE RETAIN 0 HOURS").collect()
        except (AnalysisException, CapturedException) as error:
            # A log truncated past the last VACUUM: only a full listing finds every file.
            if "VACUUM_LITE" not in str(error):
                raise
            DeltaTable.forPath(spark, path).vacuum(0.0)


def table_summary(spark: SparkSession, config: Config) -> list[tuple[str, int, str]]:
    """(name, rows, location) of every lakehouse table."""
    register_existing(spark, config)
    database = config.lakehouse.database
    if not spark.catalog.databaseExists(database):
        return []
    summary = []
    for table in sorted(t.name for t in spark.catalog.listTables(database)):
        detail = spark.sql(f"DESCRIBE DETAIL `{database}`.`{table}`").first()
        rows = spark.table(f"`{database}`.`{table}`").count()
        summary.append((f"{database}.{table}", rows, detail["location"]))
    return summary


def overwrite_table(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    partition_by: Sequence[str] = (),
    commit_note: str | None = None,
) -> None:
    """Replace the table's rows with `rows` (a new Delta version; time travel keeps the old).
    The overwrite keeps the table's CHECK constraints (Delta carries them over). `commit_note`
    is kept as the commit's userMetadata (see `latest_commit_note`)."""
    writer = (
        _conformed(table, rows).write.format("delta")
        .mode("overwrite")
        # The whole table: the session's dynamic partition overwrite would keep old partitions.
        .option("partitionOverwriteMode", "static")
        .option("overwriteSchema", "true")
        .partitionBy(*_partitioning(table, partition_by))
    )
    if commit_note is not None:
        writer = writer.option("userMetadata", commit_note)
    _write(spark, config, table, rows, lambda: writer.save(config.table_path(_name(table))),
           partition_by)
    register(spark, config, _name(table))


def overwrite_partitions(
    spark: SparkSession, config: Config, table: TableSpec, rows: DataFrame,
    commit_note: str | None = None,
) -> None:
    """Replace the partitions (of the spec's partition columns) that `rows` has, keep the
    others: one Delta transaction (dynamic partition overwrite). `commit_note` is kept as the
    commit's userMetadata (see `latest_commit_note`)."""
    if not table.partition_by:
        raise ValueError(f"overwrite_partitions into {table.name} needs partition columns")
    writer = (
        _conformed(table, rows).write.format("delta")
        .mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*table.partition_by)
    )
    if commit_note is not None:
        writer = writer.option("userMetadata", commit_note)
    _write(spark, config, table, rows, lambda: writer.save(config.table_path(table.name)))
    register(spark, config, table.name)


def latest_commit_note(spark: SparkSession, config: Config, table: Table) -> str | None:
    """The userMetadata of the table's latest commit; None when it has none or the table does
    not exist yet."""
    if not table_exists(spark, config, table):
        return None
    return _latest_commit(spark, config, table).userMetadata


def insert_new(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    keys: Sequence[str] = (),
    partition_by: Sequence[str] = (),
) -> None:
    """Insert the rows whose `keys` (the spec's unless given) the table does not hold yet
    (MERGE, insert only): running the same rows twice adds nothing. Creates the table on first
    use."""
    keys = keys or (table.keys if isinstance(table, TableSpec) else ())
    if not keys:
        raise ValueError(f"insert_new into {_name(table)} needs the key columns to match on")
    rows = _conformed(table, rows)
    path = config.table_path(_name(table))

    def merge() -> None:
        # Decided on each attempt: a writer that created the table first turns ours into a
        # MERGE, so its rows are not inserted twice.
        if not table_exists(spark, config, table):
            (
                rows.write.format("delta")
                .mode("errorifexists")
                .partitionBy(*_partitioning(table, partition_by))
                .save(path)
            )
        else:
            condition = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
            (
                DeltaTable.forPath(spark, path)
                .alias("t")
                .merge(rows.alias("s"), condition)
                .whenNotMatchedInsertAll()
                .execute()
            )

    _write(spark, config, table, rows, merge, partition_by)
    register(spark, config, _name(table))


def upsert(spark: SparkSession, config: Config, table: TableSpec, rows: DataFrame,
           register_name: bool = True) -> None:
    """Insert `rows`, or update the table's rows with the same keys (the spec's), in one MERGE:
    writing the same rows again changes nothing. `rows` must hold each key once."""
    if not table.keys:
        raise ValueError(f"upsert into {table.name} needs the table's key columns")
    rows = conform(rows, table)
    if not table_exists(spark, config, table):
        insert_new(spark, config, table, rows)
        return
    condition = " AND ".join(f"t.`{key}` = s.`{key}`" for key in table.keys)
    _write(spark, config, table, rows, lambda: (
        DeltaTable.forPath(spark, config.table_path(table.name))
        .alias("t")
        .merge(rows.alias("s"), condition)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    ))
    if register_name:
        register(spark, config, table.name)


def replace_rows(
    spark: SparkSession, config: Config, table: TableSpec, stale: DataFrame, rows: DataFrame
) -> None:
    """In one Delta transaction, delete the table's rows whose keys `stale` lists and insert or
    update `rows` (matched on the spec's keys): a rebuild of part of a table.

    One MERGE, so a job killed half-way leaves the table as it was or wholly rebuilt, never
    with the old rows deleted and the new ones missing. stale: the spec's key columns (other
    columns are ignored); a key in both `stale` and `rows` is updated, not deleted.
    """
    if not table.keys:
        raise ValueError(f"replace_rows into {table.name} needs the table's key columns")
    if not table_exists(spark, config, table):
        insert_new(spark, config, table, rows)
        return
    rows = conform(rows, table)
    keys = list(table.keys)
    replaced = "_replaced"
    gone = stale.select(*keys).distinct().join(rows.select(*keys), keys, "left_anti")
    source = rows.withColumn(replaced, F.lit(False)).unionByName(gone.select(
        *[F.col(f.name) if f.name in keys else F.lit(None).cast(f.dataType).alias(f.name)
          for f in table.schema.fields], F.lit(True).alias(replaced)))
    condition = " AND ".join(f"t.`{key}` = s.`{key}`" for key in keys)
    assignments = {f"`{name}`": f"s.`{name}`" for name in table.columns}
    _write(spark, config, table, rows, lambda: (
        DeltaTable.forPath(spark, config.table_path(table.name))
        .alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedDelete(condition=f"s.{replaced}")
        .whenMatchedUpdate(set=assignments)
        .whenNotMatchedInsert(condition=f"NOT s.{replaced}", values=assignments)
        .execute()
    ))
    register(spark, config, table.name)


def update_matching(
    spark: SparkSession,
    config: Config,
    table: Table,
    updates: DataFrame,
    condition: str,
    assignments: dict[str, str],
) -> None:
    """Set `assignments` (column -> expression over `t` and `s`) on the matched table rows."""
    if not table_exists(spark, config, table):
        return
    with_commit_retries(config, _name(table), lambda: (
        DeltaTable.forPath(spark, config.table_path(_name(table)))
        .alias("t")
        .merge(updates.alias("s"), condition)
        .whenMatchedUpdate(set=assignments)
        .execute()
    ))


def sample_columns(config: Config, table: TableSpec) -> tuple[str, ...]:
    """The columns that name a row of `table` in quality samples: quality.tables.<table>.
    sample_by, else its keys, else its first column."""
    settings = config.quality.tables.get(table.name)
    return (settings.sample_by if settings else ()) or table.keys or table.columns[:1]


def _enforced_rules(config: Config, table: Table) -> list[Expectation]:
    settings = config.quality.tables.get(_name(table))
    if not isinstance(table, TableSpec) or settings is None or not config.quality.delta_constraints:
        return []
    return quality.hard_row_rules(settings.expectations)


def ensure_constraints(spark: SparkSession, config: Config, table: TableSpec,
                       partition_by: Sequence[str] = ()) -> list[Expectation]:
    """Make the table's Delta CHECK constraints the hard row rules configured for it (adding
    the missing, replacing the changed, dropping those no longer configured) and return the
    rules. A table that does not exist yet is created empty first, so its first write is
    checked too. Existing rows that break a new rule: a QualityError with their keys."""
    rules = _enforced_rules(config, table)
    path = config.table_path(table.name)
    if not rules:
        return rules
    if not table_exists(spark, config, table):
        (table.empty(spark).write.format("delta").mode("errorifexists")
         .partitionBy(*_partitioning(table, partition_by)).save(path))
    wanted = {quality.constraint_name(rule): rule for rule in rules}
    prefix = "delta.constraints."
    present = {key[len(prefix):]: value for key, value in
               DeltaTable.forPath(spark, path).detail().first()["properties"].items()
               if key.startswith(prefix + quality.CONSTRAINT_PREFIX)}
    target = f"delta.`{path}`"
    kept = {name for name, expression in present.items()
            if name in wanted and _same_expression(expression, wanted[name])}
    for name in present.keys() - kept:
        spark.sql(f"ALTER TABLE {target} DROP CONSTRAINT IF EXISTS `{name}`")
    for name, rule in wanted.items():
        expression = quality.row_predicate(rule)
        if name in kept:
            continue
        try:
            spark.sql(f"ALTER TABLE {target} ADD CONSTRAINT `{name}` CHECK ({expression})")
        except AnalysisException as error:
            if error.getCondition() != "DELTA_NEW_CHECK_CONSTRAINT_VIOLATION":
                raise
            keys = quality.failing_rows_sample(read_table(spark, config, table), rule,
                                               sample_columns(config, table),
                                               config.quality.sample_size)
            raise QualityError(f"{table.name}: rows already stored break hard expectation "
                               f"{rule.name} ({expression}); failing keys "
                               f"{', '.join(keys)}") from None
    return rules


def _same_expression(stored: str, rule: Expectation) -> bool:
    # Delta keeps the expression re-tokenised ("( `a` >= 0 )"): compare without the spacing.
    return "".join(stored.split()) == "".join((quality.row_predicate(rule) or "").split())


def _is_constraint_violation(error: Exception) -> bool:
    """Whether Delta refused the write for a CHECK or NOT NULL constraint (by the exception's
    class anywhere in its causes; the failing rows are found by evaluating the rules)."""
    cause = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    while cause is not None:
        if "DeltaInvariantViolationException" in cause.getClass().getName():
            return True
        cause = cause.getCause()
    return False


@contextmanager
def _constrained(spark: SparkSession, config: Config, table: Table, rows: DataFrame,
                 partition_by: Sequence[str] = ()) -> Iterator[None]:
    """Around a write of `rows` to `table`: its constraints in place before, and Delta's
    constraint violation turned into a QualityError naming the table, the rule and a sample of
    the failing keys among `rows`."""
    if not isinstance(table, TableSpec) or not _enforced_rules(config, table):
        yield
        return
    rules = ensure_constraints(spark, config, table, partition_by)
    try:
        yield
    except (Py4JJavaError, CapturedException) as error:
        if not _is_constraint_violation(error):
            raise
        rows = _conformed(table, rows)
        keys = sample_columns(config, table)
        broken = [(rule, quality.failing_rows_sample(rows, rule, keys,
                                                     config.quality.sample_size))
                  for rule in rules]
        named = [f"hard expectation {rule.name} ({quality.row_predicate(rule)}); failing keys "
                 f"{', '.join(sample)}" for rule, sample in broken if sample]
        raise QualityError(f"{table.name}: Delta refused the write: "
                           + ("; ".join(named) or "a CHECK constraint failed")) from None


# Delta's optimistic concurrency: the commit lost to another writer's, nothing of it landed.
# By class (anywhere in the causes) and by error condition, which Delta gives either way.
_CONFLICT_CLASSES = (
    "ConcurrentAppendException", "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException", "ConcurrentTransactionException",
    "ConcurrentWriteException", "MetadataChangedException", "ProtocolChangedException",
)
_CONFLICT_CONDITIONS = (
    "DELTA_CONCURRENT_APPEND", "DELTA_CONCURRENT_DELETE_READ", "DELTA_CONCURRENT_DELETE_DELETE",
    "DELTA_CONCURRENT_TRANSACTION", "DELTA_CONCURRENT_WRITE", "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    # A create-if-absent that another writer's create beat (insert_new, ensure_constraints):
    # tried again, it finds the table, or the constraint, in place.
    "DELTA_PATH_EXISTS", "DELTA_CONSTRAINT_ALREADY_EXISTS",
)


_CONDITION_IN_MESSAGE = re.compile(r"\[([A-Z][A-Z0-9_.]*)\]")


class CommitConflictError(JobError):
    """A write that lost to concurrent writers more often than lakehouse.commit_retries."""


def _java_causes(error: Exception) -> Iterator[object]:
    cause = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    while cause is not None:
        yield cause
        cause = cause.getCause()


def is_commit_conflict(error: Exception) -> bool:
    """Whether `error` is a Delta commit that lost to a concurrent one (safe to try again)."""
    # delta-spark converts its own exceptions to Python classes of the same names that carry
    # neither the condition nor the Java origin: their class and message say it.
    if any(kind.__name__ in _CONFLICT_CLASSES for kind in type(error).__mro__):
        return True
    condition = error.getCondition() if isinstance(error, CapturedException) else None
    named = _CONDITION_IN_MESSAGE.match(str(error).lstrip())
    if any(found and found.startswith(_CONFLICT_CONDITIONS)
           for found in (condition, named and named.group(1))):
        return True
    return any(cause.getClass().getSimpleName() in _CONFLICT_CLASSES
               for cause in _java_causes(error))


def with_commit_retries(config: Config, table: str, write: Callable[[], T]) -> T:
    """Run `write` (one Delta transaction), again when it lost to a concurrent writer, at most
    lakehouse.commit_retries more times with a growing random wait; then a
    CommitConflictError naming the table. `write` must decide what to commit on each attempt
    (a MERGE's source is evaluated again)."""
    settings = config.lakehouse
    for attempt in range(settings.commit_retries + 1):
        try:
            return write()
        except (Py4JJavaError, CapturedException) as error:
            if not is_commit_conflict(error):
                raise
            if attempt == settings.commit_retries:
                first_line = str(error).strip().splitlines()[0][:300]
                raise CommitConflictError(
                    f"{table}: the write lost to concurrent writers {attempt + 1} times "
                    f"(lakehouse.commit_retries={settings.commit_retries}); last: {first_line}"
                ) from None
            wait = settings.commit_backoff_seconds * 2 ** attempt * (0.5 + random.random())
            log.warning("%s: commit lost to a concurrent writer (attempt %d of %d); again in "
                        "%.1f s", table, attempt + 1, settings.commit_retries + 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _write(spark: SparkSession, config: Config, table: Table, rows: DataFrame,
           commit: Callable[[], object], partition_by: Sequence[str] = ()) -> None:
    """One logical write: the table's constraints in place, then `commit`, each retried when
    it lost to a concurrent writer; a constraint violation is a QualityError."""
    def attempt() -> None:
        with _constrained(spark, config, table, rows, partition_by):
            commit()

    with_commit_retries(config, _name(table), attempt)
