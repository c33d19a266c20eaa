"""Pseudonymised personal identifiers: keyed hashes (HMAC-SHA256) computed in Spark SQL.

Emails, phone numbers, names and social handles leave bronze only as `hmac_sha256(key,
normalised value)`. The same key gives the same hash on every run and cluster, so links between
sources still join on the hashes; without the key a hash cannot be reversed by hashing guesses.

HMAC is built from Spark's native `sha2` over binary (RFC 2104: H(K^opad || H(K^ipad || m))):
the padded key halves are computed once on the driver and enter the plan as binary literals, so
no Python UDF runs per row.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.errors import UserError

KEY_ENV = "JOURNEYLAKE_PII_KEY"
KEY_FILE_ENV = "JOURNEYLAKE_PII_KEY_FILE"
_BLOCK_BYTES = 64  # SHA-256's block size
_MIN_KEY_BYTES = 16


class MissingKeyError(UserError, RuntimeError):
    """No usable pseudonymisation key: the message says where one is looked for."""


@dataclass(frozen=True)
class PiiKey:
    """The secret key of the keyed hash. Its repr never shows the key."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_KEY_BYTES:
            raise MissingKeyError(
                f"the pseudonymisation key has {len(self.secret)} bytes; use at least "
                f"{_MIN_KEY_BYTES} (for example `openssl rand -hex 32`)"
            )

    def __repr__(self) -> str:
        return "PiiKey(<secret>)"

    def fingerprint(self) -> str:
        """A short, non-secret id of the key, to tell in an audit which key hashed a table."""
        return hashlib.sha256(b"journeylake-key-id:" + self.secret).hexdigest()[:12]


def load_key(key_file: str | None = None) -> PiiKey:
    """The key from `$JOURNEYLAKE_PII_KEY`, else the file named by `$JOURNEYLAKE_PII_KEY_FILE`,
    else `key_file` (configuration). Never a default: a missing key fails here, before Spark
    work, because hashes under a made-up key would not join with earlier runs."""
    value = os.environ.get(KEY_ENV)
    if value:
        return PiiKey(value.strip().encode("utf-8"))
    path = os.environ.get(KEY_FILE_ENV) or key_file
    if path:
        file = Path(path)
        if not file.is_file():
            raise MissingKeyError(
                f"pseudonymisation key file {file} does not exist; create it (for example "
                f"`make secrets`) or set {KEY_ENV}"
            )
        text = file.read_text().strip()
        if not text:
            raise MissingKeyError(f"pseudonymisation key file {file} is empty")
        return PiiKey(text.encode("utf-8"))
    raise MissingKeyError(
        f"no pseudonymisation key: set {KEY_ENV}, or {KEY_FILE_ENV} to a file holding it, or "
        "privacy.key_file in conf/"
    )


def _padded_key(key: PiiKey, pad: int) -> bytes:
    secret = key.secret
    if len(secret) > _BLOCK_BYTES:
        secret = hashlib.sha256(secret).digest()
    return bytes(byte ^ pad for byte in secret.ljust(_BLOCK_BYTES, b"\0"))


def hmac_sha256(value: Column, key: PiiKey) -> Column:
    """Lower-case hex HMAC-SHA256 of the UTF-8 bytes of string `value` (NULL stays NULL)."""
    inner_key = F.lit(_padded_key(key, 0x36))
    outer_key = F.lit(_padded_key(key, 0x5C))
    inner = F.unhex(F.sha2(F.concat(inner_key, value.cast("binary")), 256))
    return F.sha2(F.concat(outer_key, inner), 256)


def normalise_email(value: Column) -> Column:
    """Trimmed and lower-cased; empty becomes NULL, so it links nothing."""
    cleaned = F.lower(F.trim(value))
    return F.when(cleaned != "", cleaned)


def normalise_handle(value: Column) -> Column:
    """Trimmed, lower-cased and without a leading `@`; empty becomes NULL."""
    cleaned = F.regexp_replace(F.lower(F.trim(value)), "^@+", "")
    return F.when(cleaned != "", cleaned)


def normalise_phone(value: Column) -> Column:
    """Digits only, with a leading `+` for an international number (`00` counts as `+`): the
    spaces, dashes, dots and brackets of a web form go. Fewer than 6 digits is NULL: no number."""
    digits = F.regexp_replace(value, "[^0-9]", "")
    international = F.trim(value).startswith("+") | F.trim(value).startswith("00")
    cleaned = F.when(F.trim(value).startswith("00"), F.substring(digits, 3, 1 << 20)).otherwise(
        digits)
    return F.when(F.length(cleaned) >= 6,
                  F.when(international, F.concat(F.lit("+"), cleaned)).otherwise(cleaned))


def normalise_name(value: Column) -> Column:
    """Lower-cased, single-spaced, "Last, First" turned into "first last"; empty is NULL."""
    spaced = F.regexp_replace(F.lower(F.trim(value)), r"\s+", " ")
    ordered = F.trim(F.regexp_replace(spaced, r"^([^,]+),\s*(.+)$", "$2 $1"))
    return F.when(ordered != "", ordered)


def pseudonymise_email(value: Column, key: PiiKey) -> Column:
    return hmac_sha256(normalise_email(value), key)


def pseudonymise_handle(value: Column, key: PiiKey) -> Column:
    return hmac_sha256(normalise_handle(value), key)


def pseudonymise_phone(value: Column, key: PiiKey) -> Column:
    return hmac_sha256(normalise_phone(value), key)


def pseudonymise_name(value: Column, key: PiiKey) -> Column:
    return hmac_sha256(normalise_name(value), key)


PSEUDONYMISERS = {"email": pseudonymise_email, "handle": pseudonymise_handle,
                  "phone": pseudonymise_phone, "name": pseudonymise_name}
# How each kind is normalised before hashing (what PSEUDONYMISERS hash).
NORMALISERS = {"email": normalise_email, "handle": normalise_handle, "phone": normalise_phone,
               "name": normalise_name}


def pseudonymise_columns(frame: DataFrame, columns: Mapping[str, str], key: PiiKey) -> DataFrame:
    """Replace each raw column `c` of `columns` (column -> kind, a key of PSEUDONYMISERS) by
    `c_hash`;
    the raw column is dropped, so nothing downstream can read it by mistake."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"cannot pseudonymise {missing}: not columns of {frame.columns}")
    hashed = frame
    for name, kind in columns.items():
        if kind not in PSEUDONYMISERS:
            raise ValueError(f"unknown kind {kind!r} for {name}; one of {sorted(PSEUDONYMISERS)}")
        hashed = hashed.withColumn(f"{name}_hash", PSEUDONYMISERS[kind](F.col(name), key))
    return hashed.drop(*columns)
