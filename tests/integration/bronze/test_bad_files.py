"""Truncated, empty, binary and wrongly-encoded files and a wrong CSV header, landed beside good
files and ingested in one batch: the good lines all land in bronze, each bad file's lines are
quarantined with the reason of its class, and no file fails the others."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import SourceOutcome, ingest
from journeylake.bronze.tables import INGESTED_FILES, QUARANTINE
from journeylake.core import lakehouse
from journeylake.core.config import Config
from tests.conftest import make_config

# The module's lake is one ingest of twelve files (about 30 s on a busy laptop).
pytestmark = pytest.mark.slow


def click(event_id: str, url: str = "/home") -> str:
    return json.dumps({
        "event_id": event_id, "cookie_id": "c1", "platform": "web", "event_type": "page_view",
        "timestamp": "2026-06-30T10:00:00Z", "url": url,
    }, ensure_ascii=False)


STORES_HEADER = "store_id,name,city,lat,lon"
CAFE = "/caf\u00e9"
MOJIBAKE = "/caf\ufffd"

# file name -> bytes, as a broken delivery would leave them.
CLICKSTREAM = {
    "good.jsonl": f"{click('g1')}\n{click('g2')}\n".encode(),
    # Cut in the middle of the second object.
    "truncated.jsonl": f"{click('t1')}\n{click('t2')[:40]}".encode(),
    "empty.jsonl": b"",
    # Random-looking bytes: two lines with NULs, one of bytes that are not UTF-8.
    "binary.jsonl": b"\x89PNG\x00\r\n\x1a\x00\x00\x00IHDR\n\xde\xad\xbe\xef\xff\n",
    # Latin-1 where UTF-8 is expected: an ASCII-only line reads the same in both and is kept.
    "latin1.jsonl": f"{click('l1')}\n{click('l2', CAFE)}\n".encode("latin-1"),
    # UTF-16 with its byte-order mark, two lines.
    "utf16.jsonl": f"{click('u1')}\n{click('u2')}\n".encode("utf-16"),
    # A line with U+FFFD: text already decoded wrongly upstream.
    "mojibake.jsonl": f"{click('m1', MOJIBAKE)}\n{click('m2')}\n".encode(),
}
STORES = {
    "good.csv": f"{STORES_HEADER}\nS1,Main,Paris,48.85,2.35\n".encode(),
    "renamed.csv": b"id,name,city,lat,lon\nS2,Dock,Lyon,45.76,4.83\n\n",
    # The cut line would pass the contract: only the missing line end tells it is incomplete.
    "cut.csv": f"{STORES_HEADER}\nS3,Gare,Lille,50.63,3.06\nS4,Port,Nice,43.7,7.2".encode(),
    "empty.csv": b"",
    # UTF-8 with its byte-order mark: still UTF-8, its header recognised.
    "bom.csv": f"\ufeff{STORES_HEADER}\nS5,Quai,Rouen,49.44,1.09\n".encode(),
}


def land(config: Config, source: str, files: dict[str, bytes]) -> None:
    folder = Path(config.source_path(config.sources[source]))
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)


@pytest.fixture(scope="module")
def bad_lake(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, dict[str, SourceOutcome]]:
    config = make_config(tmp_path_factory.mktemp("bad_files"))
    land(config, "clickstream", CLICKSTREAM)
    land(config, "stores", STORES)
    outcomes = ingest(spark, config, ["clickstream", "stores"])
    return config, {outcome.source: outcome for outcome in outcomes}


def quarantined(spark: SparkSession, config: Config, source: str) -> Counter[tuple[str, str]]:
    """(file name, reason code) of each quarantine row of the source, counted."""
    rows = (
        lakehouse.read_table(spark, config, QUARANTINE)
        .where(F.col("source") == source)
        .select(F.element_at(F.split("_source_file", "/"), -1).alias("file"), "reason_codes")
        .collect()
    )
    return Counter((row.file, ",".join(row.reason_codes)) for row in rows)


def test_every_good_line_lands_and_no_bad_file_fails_the_batch(
    spark: SparkSession, bad_lake: tuple[Config, dict[str, SourceOutcome]]
) -> None:
    config, outcomes = bad_lake
    assert {name: o.status for name, o in outcomes.items()} == {
        "clickstream": "succeeded", "stores": "succeeded"}
    clicks = lakehouse.read_table(spark, config, "bronze_clickstream")
    assert sorted(r.event_id for r in clicks.collect()) == ["g1", "g2", "l1", "m2", "t1"]
    stores = lakehouse.read_table(spark, config, "bronze_stores")
    assert sorted(r.store_id for r in stores.collect()) == ["S1", "S3", "S5"]


def test_each_bad_file_is_quarantined_line_by_line_with_the_reason_of_its_class(
    spark: SparkSession, bad_lake: tuple[Config, dict[str, SourceOutcome]]
) -> None:
    config, _ = bad_lake
    assert quarantined(spark, config, "clickstream") == Counter({
        ("truncated.jsonl", "truncated_record"): 1,
        ("binary.jsonl", "binary_content"): 2,
        ("binary.jsonl", "bad_encoding"): 1,
        ("latin1.jsonl", "bad_encoding"): 1,
        ("utf16.jsonl", "bad_encoding"): 3,  # the last line is the NUL after the final LF
        ("mojibake.jsonl", "bad_encoding"): 1,
    })
    # The header line of the renamed file is quarantined with the rest of it: every line of
    # the file can be replayed from the quarantine once the contract maps the column.
    assert quarantined(spark, config, "stores") == Counter({
        ("renamed.csv", "bad_header"): 2,
        ("cut.csv", "truncated_record"): 1,
    })
    reasons = {
        row.reason for row in lakehouse.read_table(spark, config, QUARANTINE)
        .where(F.array_contains("reason_codes", "bad_header")).collect()
    }
    assert reasons == {
        "header ['id', 'name', 'city', 'lat', 'lon'] does not match source 'stores', which "
        "expects ['store_id', 'name', 'city', 'lat', 'lon'] in this order; map renamed columns "
        "with `source:`, or list the file's own columns in `csv.columns`, in "
        "conf/sources/stores.yaml"
    }


def test_rows_read_are_kept_plus_quarantined_and_every_non_empty_file_is_recorded(
    spark: SparkSession, bad_lake: tuple[Config, dict[str, SourceOutcome]]
) -> None:
    config, outcomes = bad_lake
    counts = {name: o.counts for name, o in outcomes.items()}
    assert (counts["clickstream"].rows_read, counts["clickstream"].rows_kept,
            counts["clickstream"].rows_quarantined) == (14, 5, 9)
    # Blank: the empty line of renamed.csv; header: those of good.csv, cut.csv and bom.csv.
    assert (counts["stores"].rows_read, counts["stores"].rows_kept,
            counts["stores"].rows_quarantined, counts["stores"].blank_lines,
            counts["stores"].header_lines) == (6, 3, 3, 1, 3)
    recorded = lakehouse.read_table(spark, config, INGESTED_FILES).select(
        F.element_at(F.split("file_path", "/"), -1).alias("file"), "size_bytes").collect()
    sizes = {row.file: row.size_bytes for row in recorded}
    # Spark's file listing leaves 0-byte files out: they hold no record, are not recorded, and
    # are listed once something is written to them.
    assert sizes == {
        name: len(content) for name, content in {**CLICKSTREAM, **STORES}.items() if content}


def test_a_file_name_with_spaces_still_gets_its_file_problem(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    land(config, "stores", {"store list (v2).csv": b"id,name\nS1,Main\n"})

    outcome = ingest(spark, config, ["stores"])[0]

    assert (outcome.status, outcome.counts.rows_quarantined) == ("succeeded", 2)
    assert quarantined(spark, config, "stores") == Counter({
        ("store%20list%20(v2).csv", "bad_header"): 2})
