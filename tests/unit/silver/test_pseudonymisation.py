"""Keyed hashes of personal identifiers, computed in Spark SQL, equal Python's HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.silver.pseudonymisation import (
    KEY_ENV,
    KEY_FILE_ENV,
    MissingKeyError,
    PiiKey,
    hmac_sha256,
    load_key,
    normalise_name,
    normalise_phone,
    pseudonymise_email,
    pseudonymise_handle,
    pseudonymise_phone,
)

KEY = PiiKey(b"test-key-0123456789abcdef")


def python_hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "secret",
    [b"test-key-0123456789abcdef", b"k" * 64, b"a much longer key than one block " * 4],
    ids=["short", "one-block", "longer-than-a-block"],
)
def test_hmac_in_spark_equals_python_hmac(spark: SparkSession, secret: bytes) -> None:
    values = ["anna.berg.1@example.com", "", "zoë@exämple.com", "x" * 200]
    frame = spark.createDataFrame([(v,) for v in values], "value string")
    hashed = frame.select("value", hmac_sha256(F.col("value"), PiiKey(secret)).alias("h"))
    assert {row.value: row.h for row in hashed.collect()} == {
        value: python_hmac(secret, value) for value in values
    }


def test_emails_and_handles_are_normalised_before_hashing(spark: SparkSession) -> None:
    frame = spark.createDataFrame(
        [(" Anna.Berg@Example.COM ", "@Anna.B"), ("   ", None)], "email string, handle string"
    )
    row, blank = frame.select(
        pseudonymise_email(F.col("email"), KEY).alias("email"),
        pseudonymise_handle(F.col("handle"), KEY).alias("handle"),
    ).collect()
    assert row.email == python_hmac(KEY.secret, "anna.berg@example.com")
    assert row.handle == python_hmac(KEY.secret, "anna.b")
    assert blank.email is None and blank.handle is None


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("+447123000042", "+447123000042"), ("+44 7123 000042", "+447123000042"),
     ("0044 (7123) 000-042", "+447123000042"), (" 07123.000042 ", "07123000042"),
     ("+44", None), ("", None), (None, None)],
)
def test_phone_numbers_keep_their_digits_and_international_plus(
    spark: SparkSession, raw: str | None, normalised: str | None
) -> None:
    frame = spark.createDataFrame([(raw,)], "phone string")
    row = frame.select(normalise_phone(F.col("phone")).alias("n"),
                       pseudonymise_phone(F.col("phone"), KEY).alias("h")).first()
    assert row.n == normalised
    assert row.h == (None if normalised is None else python_hmac(KEY.secret, normalised))


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("Anna Berg", "anna berg"), ("  ANNA   BERG ", "anna berg"), ("BERG, ANNA", "anna berg"),
     ("Berg,Anna", "anna berg"), ("Zoë  Ünal", "zoë ünal"), ("   ", None), (None, None)],
)
def test_names_are_lower_case_single_spaced_and_first_name_first(
    spark: SparkSession, raw: str | None, normalised: str | None
) -> None:
    frame = spark.createDataFrame([(raw,)], "name string")
    assert frame.select(normalise_name(F.col("name")).alias("n")).first().n == normalised


def test_key_comes_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "pii.key"
    key_file.write_text("from-the-file-0123456789\n")
    monkeypatch.setenv(KEY_ENV, "from-the-environment-0123")
    assert load_key(str(key_file)).secret == b"from-the-environment-0123"
    monkeypatch.delenv(KEY_ENV)
    assert load_key(str(key_file)).secret == b"from-the-file-0123456789"
    assert "from-the-file" not in repr(load_key(str(key_file)))


def test_a_missing_key_fails_with_where_to_put_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    with pytest.raises(MissingKeyError, match=KEY_ENV):
        load_key(None)
    with pytest.raises(MissingKeyError, match="does not exist"):
        load_key(str(tmp_path / "absent.key"))
    (tmp_path / "short.key").write_text("abc")
    with pytest.raises(MissingKeyError, match="at least 16"):
        load_key(str(tmp_path / "short.key"))
