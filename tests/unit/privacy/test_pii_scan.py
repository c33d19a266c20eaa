"""The PII scan finds a known raw value wherever it sits in a row, and nothing else."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from journeylake.privacy.pii_scan import known_values, leaf_values, scan_files, scan_table

SCHEMA = ("id string, email_hash string, url string, lat double, cell double, visits int, "
          "tags array<string>, contact struct<name: string, phones: array<string>>, "
          "extra map<string, string>")


def _rows(spark: SparkSession):  # noqa: ANN202
    return spark.createDataFrame([
        ("r1", "9f2c", "https://shop.example/?u=Anna.Berg@Example.com&x=1", 52.520008, 52.52, 3,
         ["vip", "+447700900123"], ("anna berg", ["n/a"]), {"k": "v"}),
        ("r2", None, None, None, 13.4, None, None, None, {"BERG": "x"}),
        ("r3", "ab", "/home", 1.5, 1.5, 7, [], ("someone else", []), {}),
    ], SCHEMA)


def test_every_string_and_double_leaf_is_listed_with_its_path(spark: SparkSession) -> None:
    leaves = {(row.column, row.value) for row in leaf_values(_rows(spark)).collect()}
    assert ("contact.phones[]", "n/a") in leaves and ("tags[]", "vip") in leaves
    assert ("extra{key}", "BERG") in leaves and ("lat", "52.520008") in leaves
    assert not any(column == "visits" for column, _ in leaves)  # integers are not PII
    assert len(leaves) == 11 + 4 + 6  # per row, counted by hand


def test_a_known_value_is_found_whole_inside_a_url_in_an_array_and_in_a_struct(
    spark: SparkSession,
) -> None:
    known = known_values(spark, ["anna.berg@example.com", "+447700900123", "Anna Berg",
                                 "52.520008", "berg", "nobody@example.com"])
    found = {(row.column, row.value) for row in scan_table("t", _rows(spark), known).collect()}
    assert found == {
        ("url", "https://shop.example/?u=Anna.Berg@Example.com&x=1"),
        ("tags[]", "+447700900123"),
        ("contact.name", "anna berg"),  # whole, and its token "berg"
        ("lat", "52.520008"),  # the precise coordinate; the coarsened cell is not
        ("extra{key}", "BERG"),
    }


def test_files_are_scanned_line_by_line_and_parquet_by_column(
    spark: SparkSession, tmp_path: Path
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.json").write_text(
        '{"top": "x"}\n{"who": "anna.berg@example.com"}\n')
    (tmp_path / "run" / "plot.png").write_bytes(b"anna.berg@example.com")  # not readable text
    _rows(spark).coalesce(1).write.parquet(str(tmp_path / "model" / "data"))
    known = known_values(spark, ["anna.berg@example.com", "+447700900123"])
    found = scan_files(spark, tmp_path, known).collect()
    places = sorted((Path(row.place).suffix or Path(row.place).name, row.column) for row in found)
    assert places == [(".json", "line"), (".parquet", "tags[]"), (".parquet", "url")]
