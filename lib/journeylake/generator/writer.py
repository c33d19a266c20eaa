"""Writing a generated data set: each source's raw files in a fresh batch folder, the truth
tables and a manifest with the counts a test of the ingestion needs.

Layout under `out` (the landing root):

    <source>/<batch>/<source>-00000.<jsonl|csv>   files_per_source files (stores: stores.csv)
    _truth/{customers,identity_links,store_visits,sessions,anomalies,consent}/   parquet
    _truth/manifest.json                          the latest batch's manifest
    _truth/manifests/<batch>.json                 every batch's manifest

Files are moved and cleaned with the Hadoop FileSystem API of the session's JVM, so the same
code works on a local disk, HDFS and cloud storage (it needs a classic session, not Spark
Connect).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import GenerateSettings
from journeylake.generator import geolocation, model, stores, transactions
from journeylake.generator.customers import family_tablets
from journeylake.generator.dataset import (
    EVENT_SOURCES,
    LINE_FORMATS,
    SOURCES,
    GeneratedData,
    build_dataset,
)
from journeylake.generator.expressions import lit
from journeylake.generator.social import influencer_count
from journeylake.generator.window import DataWindow

DEFAULT_BATCH = "batch-0000"
WRITERS = 4  # Spark jobs submitted at the same time by write_dataset
TRUTH = "_truth"
STAGING = "_staging"
_BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RawFile:
    """How a source's files are named and whether they start with a header."""

    extension: str
    header: str | None = None  # CSV files start with it


RAW_FILES = {
    "clickstream": RawFile("jsonl"),
    "social": RawFile("jsonl"),
    "geolocation": RawFile("csv", geolocation.HEADER),
    "transactions": RawFile("csv", transactions.HEADER),
    "stores": RawFile("csv", stores.HEADER),
    "consent": RawFile("jsonl"),
}


@dataclass(frozen=True)
class WrittenSource:
    """What `write_source` wrote and counted."""

    paths: tuple[str, ...]  # relative to the landing root
    lines: int  # data lines, headers not included
    bad: Mapping[str, int]  # lines per planted kind


class _HadoopFiles:
    """The few file operations the writer needs, through the JVM's Hadoop FileSystem."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None, "the writer needs a classic SparkSession (with a JVM gateway)"
        self._path = jvm.org.apache.hadoop.fs.Path
        conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
        fs = self._path(root).getFileSystem(conf)
        # The local file system keeps a hidden `.<name>.crc` beside every file and carries it
        # along on rename; its raw file system neither writes nor moves them.
        checksummed = jvm.java.lang.Class.forName("org.apache.hadoop.fs.ChecksumFileSystem")
        self._fs = fs.getRawFileSystem() if checksummed.isInstance(fs) else fs

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._path(path))

    def rename(self, source: str, target: str) -> None:
        if not self._fs.rename(self._path(source), self._path(target)):
            raise OSError(f"could not move {source} to {target}")

    def list(self, path: str) -> list[tuple[str, str]]:
        """(name, full path) of the entries of folder `path`, sorted by name; none if absent."""
        if not self._fs.exists(self._path(path)):
            return []
        entries = [
            (status.getPath().getName(), status.getPath().toString())
            for status in self._fs.listStatus(self._path(path))
        ]
        return sorted(entries)

    def write_text(self, path: str, text: str) -> None:
        stream = self._fs.create(self._path(path), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()


def _file_name(source: str, index: int, raw: RawFile) -> str:
    if source == "stores":
        return f"{source}.{raw.extension}"
    return f"{source}-{index:05d}.{raw.extension}"


def write_source(
    labeled: DataFrame, out: str, source: str, batch: str, files: int
) -> WrittenSource:
    """Write the lines of `labeled` (`value`; `bad_kind` is counted, not written) as `files`
    files of `<out>/<source>/<batch>/`, each CSV file starting with one header line.

    The file of a line is a hash of the whole line, so an exact duplicate lands in the same
    file as its original. Lines are sorted within a file, so the files are byte-identical from
    run to run. The batch folder is replaced if it exists; other batches are left alone. The
    counts are observed while writing: no second pass over the data.
    """
    spark = labeled.sparkSession
    raw = RAW_FILES[source]
    kinds = LINE_FORMATS[source].kinds if source in LINE_FORMATS else ()
    fs = _HadoopFiles(spark, out)
    staging = f"{out}/{STAGING}/{batch}/{source}"
    target = f"{out}/{source}/{batch}"
    observation = Observation(f"generator-{source}-{uuid.uuid4().hex}")
    counted = labeled.observe(
        observation,
        F.expr("count(1)").alias("lines"),
        *[F.expr(f"count_if(bad_kind = {lit(kind)})").alias(kind) for kind in kinds],
    )
    frame = counted.selectExpr(
        "value", f"CAST(pmod(xxhash64(value), {files}) AS INT) AS file_index", "1 AS line_order"
    )
    if raw.header is not None:
        # One header row per file, ordered before the file's data rows.
        headers = spark.range(files).selectExpr(
            f"{lit(raw.header)} AS value", "CAST(id AS INT) AS file_index", "0 AS line_order"
        )
        frame = frame.unionByName(headers)
    fs.delete(staging)
    # Repartitioning by file_index puts each file's rows in one task, and partitionBy then gives
    # that task's rows one folder each: exactly one part file per file_index, in sorted order.
    (
        frame.repartition(files, "file_index")
        .sortWithinPartitions("file_index", "line_order", "value")
        .drop("line_order")  # the writer keeps the order: it only needs file_index first
        .write.mode("overwrite")
        .partitionBy("file_index")
        .option("compression", "none")
        .text(staging)
    )
    metrics = observation.get
    fs.delete(target)
    fs.mkdirs(target)
    written = []
    for folder, folder_path in fs.list(staging):
        if not folder.startswith("file_index="):
            continue
        parts = [path for name, path in fs.list(folder_path) if name.startswith("part-")]
        if len(parts) != 1:
            raise RuntimeError(f"expected one part file in {folder_path}, found {len(parts)}")
        name = _file_name(source, int(folder.split("=", 1)[1]), raw)
        fs.rename(parts[0], f"{target}/{name}")
        written.append(f"{source}/{batch}/{name}")
    fs.delete(staging)
    return WrittenSource(
        paths=tuple(written),
        lines=int(metrics["lines"]),
        bad={kind: int(metrics[kind]) for kind in kinds},
    )


def write_dataset(
    data: GeneratedData, out: str, settings: GenerateSettings, batch: str = DEFAULT_BATCH
) -> dict[str, Any]:
    """Write the raw files of every source under `<out>/<source>/<batch>/` and the truth under
    `<out>/_truth/`; return the manifest (also written as `_truth/manifest.json`).

    Writing the same batch again replaces that batch; a new batch label adds files beside the
    old ones. Record ids depend on the seed and the dates: a second batch that should not
    repeat the first one's records needs another seed or another end_date.
    """
    if not _BATCH_NAME.match(batch):
        raise ValueError(f"batch {batch!r}: use letters, digits, '.', '_' and '-' only")
    out = out.rstrip("/")
    spark = data.clickstream.sparkSession
    fs = _HadoopFiles(spark, out)
    # The nine writes are independent Spark jobs: submitted side by side, one job's planning
    # and small stages overlap another's tasks instead of leaving cores idle.
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        sources = {
            source: pool.submit(
                write_source, data.labeled[source], out, source, batch,
                1 if source == "stores" else settings.files_per_source,
            )
            for source in SOURCES
        }
        truths = [
            pool.submit(table.write.mode("overwrite").parquet, f"{out}/{TRUTH}/{name}")
            for name, table in data.truth_tables().items()
        ]
        written = {source: future.result() for source, future in sources.items()}
        for future in truths:
            future.result()
    fs.delete(f"{out}/{STAGING}/{batch}")
    if not fs.list(f"{out}/{STAGING}"):
        fs.delete(f"{out}/{STAGING}")
    manifest = build_manifest(settings, batch, written)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    fs.mkdirs(f"{out}/{TRUTH}/manifests")
    fs.write_text(f"{out}/{TRUTH}/manifest.json", text)
    fs.write_text(f"{out}/{TRUTH}/manifests/{batch}.json", text)
    return manifest


def build_manifest(
    settings: GenerateSettings, batch: str, written: Mapping[str, WrittenSource]
) -> dict[str, Any]:
    """The manifest: settings, batch, files, row counts, bad records per kind, planted truth.

    `rows[source]`: lines_written (headers excluded) = good + bad; the ingestion should keep
    `good` lines and quarantine exactly `bad` ones (a duplicate_key copy is one bad line).
    """
    window = DataWindow.of(settings)
    rows = {}
    for source, result in written.items():
        bad = sum(result.bad.values())
        rows[source] = {
            "files": len(result.paths),
            "header_lines": len(result.paths) if RAW_FILES[source].header is not None else 0,
            "lines_written": result.lines,
            "good": result.lines - bad,
            "bad": bad,
        }
    return {
        "batch": batch,
        # As JSON has it (lists, not tuples), so the manifest returned equals the one written.
        "settings": json.loads(json.dumps(asdict(settings))),
        "window": {"start_date": window.start_date(), "end_date": window.end_date(),
                   "days": window.days, "time_zone": "UTC"},
        "files": {source: list(result.paths) for source, result in written.items()},
        "rows": rows,
        "bad_records": {source: dict(written[source].bad) for source in EVENT_SOURCES},
        "population": {
            "customers": settings.customers,
            "anonymous_visitors": max(1, settings.customers // 5),
            "family_tablets": family_tablets(settings.customers),
            "influencers": influencer_count(settings.customers),
            "stores": settings.stores,
        },
        **model.truth(),
        "truth_tables": {name: f"{TRUTH}/{name}" for name in
                         ("customers", "identity_links", "store_visits", "sessions",
                          "consent")},
    }


def generate(
    spark: SparkSession, settings: GenerateSettings, out: str, batch: str = DEFAULT_BATCH
) -> dict[str, Any]:
    """Build and write a data set: `write_dataset(build_dataset(spark, settings), ...)`."""
    return write_dataset(build_dataset(spark, settings), out, settings, batch)
