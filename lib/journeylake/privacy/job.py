"""`journeylake forget`: erase customers completely (the right to erasure).

For each request: the customers' persons and every identifier of theirs come from the identity
graph (`privacy.erasure`), are kept in `privacy_erasure_pending` while the request runs, and the
keyed hash of each identity node goes to `silver_erased_identifiers`. Then every Delta table of
the lakehouse (bronze, quarantine, silver, gold, features, scores, KPIs, streaming, audits)
loses the rows that hold one of them, each table in one DELETE, and each table that lost rows
is purged (deletion vectors rewritten, VACUUM with no retention), so that no Delta version
still readable holds them. `audit_erasure` records the request and what was done, not the data.

A killed request resumes from its pending list when run again with the same ids, and then
purges every table, since it cannot know which deletes the killed run committed.

Models are not retrained here: the segmentation, propensity and CLV models are aggregates
holding no row or identifier of anyone (the PII scan of the MLflow artifacts proves it), and
the next `journeylake train` fits them without the person; `models_trained_on_them` in the
audit names the registered models whose current versions saw the person's data.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.core.errors import UserError
from journeylake.core.frames import union_all
from journeylake.core.job_runner import config_from_args, configure_logging, job_parser, run_main
from journeylake.core.progress import step
from journeylake.core.spark_session import build_session
from journeylake.privacy.erasure import (
    erased_nodes,
    person_terms,
    persons_of_customers,
    raw_personal_terms,
    subject_hash,
    with_earlier_ids,
)
from journeylake.privacy.pii_scan import holds_any
from journeylake.privacy.tables import AUDIT_ERASURE, ERASURE_PENDING, TABLES
from journeylake.silver.pseudonymisation import PiiKey, load_key
from journeylake.silver.tables import (
    ERASED_IDENTIFIERS,
    IDENTITY_MAP,
    IDENTITY_MERGES,
)

ERASED, NOT_FOUND = "erased", "not_found"
SUBJECT = "subject"
# The registered models a person's features trained (models.job: SEGMENTS_MODEL, the targets).
FEATURES_TABLE = "gold_customer_features"
# Tables the erasure keeps: its own record, and the hashes that keep the promise.
KEPT = {*(spec.name for spec in TABLES), ERASED_IDENTIFIERS.name}


class ErasureRequestError(UserError, ValueError):
    """A request without a customer id, or a file of ids that cannot be read."""


@dataclass(frozen=True)
class ErasureOutcome:
    request_id: str
    status: str
    persons: int
    identifiers: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    tables_purged: tuple[str, ...] = ()
    resumed: bool = False


def _is_identity_table(name: str) -> bool:
    return name.startswith("silver_identity_")


def _pending(spark: SparkSession, config: Config, subject: str) -> DataFrame | None:
    if not lakehouse.table_exists(spark, config, ERASURE_PENDING):
        return None
    pending = lakehouse.read_table(spark, config, ERASURE_PENDING)
    request = pending.where((F.col("kind") == SUBJECT) & (F.col("term") == subject)).select(
        "request_id").limit(1).collect()
    if not request:
        return None
    return pending.where(F.col("request_id") == request[0].request_id)


def _find_terms(spark: SparkSession, config: Config, key: PiiKey,
                customer_ids: Sequence[str]) -> DataFrame:
    """TERM_COLUMNS of the customers' persons: ids, identity nodes and identifiers, and the raw
    personal values bronze holds for them."""
    identity_map = lakehouse.read_table_or_empty(spark, config, IDENTITY_MAP)
    persons = persons_of_customers(identity_map, customer_ids)
    if lakehouse.table_exists(spark, config, IDENTITY_MERGES):
        persons = with_earlier_ids(persons, lakehouse.read_table(spark, config,
                                                                 IDENTITY_MERGES))
    terms = person_terms(identity_map, persons.localCheckpoint()).localCheckpoint()
    # Customer ids never stitched (no identity row yet) still name rows in bronze.
    given = spark.createDataFrame([(c.lower(), "identifier") for c in customer_ids],
                                  "term string, kind string")
    known = sorted({row.term for row in terms.unionByName(given).collect()})
    raw = [raw_personal_terms(lakehouse.read_table(spark, config, f"bronze_{source.name}"),
                              source.pii, key, known)
           for source in config.ingest_sources()
           if source.pii and lakehouse.table_exists(spark, config, f"bronze_{source.name}")]
    return union_all([terms, given, *raw]).distinct()


def forget(spark: SparkSession, config: Config, key: PiiKey, customer_ids: Sequence[str]
           ) -> ErasureOutcome:
    """Erase the persons of `customer_ids` from every table; see the module's docstring."""
    ids = sorted({c.strip() for c in customer_ids if c and c.strip()})
    if not ids:
        raise ErasureRequestError("no customer id to forget: give --customer ID or --file")
    subject = "|".join(subject_hash(c, key) for c in ids)
    started = utc_now()
    pending = _pending(spark, config, subject)
    resumed = pending is not None
    if pending is None:
        request_id = f"er_{uuid.uuid4().hex[:16]}"
        step("find the persons and their identifiers")
        terms = _find_terms(spark, config, key, ids).localCheckpoint()
        work = terms.select(F.lit(request_id).alias("request_id"), "term", "kind").unionByName(
            spark.createDataFrame([(request_id, subject, SUBJECT)], ERASURE_PENDING.schema))
        lakehouse.append_once(spark, config, ERASURE_PENDING, work, f"erasure-{request_id}")
        pending = lakehouse.read_table(spark, config, ERASURE_PENDING).where(
            F.col("request_id") == request_id)
    rows = pending.where(F.col("kind") != SUBJECT).select("term", "kind").collect()
    request_id = pending.select("request_id").first().request_id
    terms = sorted({row.term for row in rows})
    persons = sum(1 for row in rows if row.kind == "person")
    identifiers = sum(1 for row in rows if row.kind != "person")
    if persons:
        lakehouse.insert_new(spark, config, ERASED_IDENTIFIERS,
                             erased_nodes(pending, key, request_id, started))

    deleted, purged = _erase_everywhere(spark, config, terms, resumed)
    trained = ([] if FEATURES_TABLE not in deleted
               else ["segments", *config.models.propensity.targets])
    status = ERASED if persons or deleted else NOT_FOUND
    audit = spark.createDataFrame([(
        request_id, started, utc_now(), subject.split("|"), status, persons, identifiers,
        deleted, purged, trained,
        ("resumed after an interrupted run; " if resumed else "")
        + f"{sum(deleted.values())} rows deleted from {len(deleted)} tables",
    )], AUDIT_ERASURE.schema)
    lakehouse.append_once(spark, config, AUDIT_ERASURE, audit, f"erasure-audit-{request_id}")
    # The work list held the identifiers only while the request ran.
    lakehouse.delete_where(spark, config, ERASURE_PENDING, F.col("request_id") == request_id)
    lakehouse.purge_history(spark, config, ERASURE_PENDING)
    return ErasureOutcome(request_id, status, persons, identifiers, deleted, tuple(purged),
                          resumed)


def _erase_everywhere(spark: SparkSession, config: Config, terms: Sequence[str], resumed: bool
                      ) -> tuple[dict[str, int], list[str]]:
    """Delete the rows holding `terms` from every table but KEPT, and purge the history of
    each that lost rows (of every one, when resuming); a few tables at once on one session.
    (rows deleted per table, tables purged, the identity tables last)."""
    def erase(table: str) -> tuple[str, int, bool]:
        step(f"erase from {table}")
        schema = lakehouse.read_table(spark, config, table).schema
        count = lakehouse.delete_where(spark, config, table, holds_any(schema, terms))
        if count or resumed:
            lakehouse.purge_history(spark, config, table)
        return table, count, bool(count or resumed)

    tables = [t for t in lakehouse.delta_table_names(spark, config) if t not in KEPT]
    # The identity tables after all the others: a reader between two deletes still finds the
    # person nowhere but in the graph, which is what the erasure starts from.
    waves = [[t for t in tables if not _is_identity_table(t)],
             [t for t in tables if _is_identity_table(t)]]
    done: list[tuple[str, int, bool]] = []
    with ThreadPoolExecutor(max_workers=config.privacy.erase_parallelism,
                            thread_name_prefix="erase") as pool:
        for wave in waves:
            done.extend(pool.map(erase, wave))
    return ({table: count for table, count, _ in done if count},
            [table for table, _, was_purged in done if was_purged])


def read_ids(path: str) -> list[str]:
    """Customer ids from a text file, one per line (blank lines and `#` comments skipped)."""
    file = Path(path)
    if not file.is_file():
        raise ErasureRequestError(f"no file of customer ids at {file}")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ErasureRequestError(f"{file} is not UTF-8 text: {error}") from error
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def describe(outcome: ErasureOutcome) -> str:
    if outcome.status == NOT_FOUND:
        return f"forget {outcome.request_id}: no such customer in the lakehouse; recorded"
    tables = ", ".join(f"{t} {n:,}" for t, n in sorted(outcome.rows_deleted.items()))
    return (f"forget {outcome.request_id}: {outcome.persons} persons, {outcome.identifiers} "
            f"identifiers; rows deleted: {tables or 'none'}; {len(outcome.tables_purged)} "
            "tables purged of earlier versions")


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("forget", __doc__.splitlines()[0])
    parser.add_argument("--customer", action="append", default=[], metavar="ID",
                        help="a customer id to erase (repeatable)")
    parser.add_argument("--file", default=None, help="a file of customer ids, one per line")
    args = parser.parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    ids = [*args.customer, *(read_ids(args.file) if args.file else [])]
    if not ids:  # before Spark starts
        raise ErasureRequestError("no customer id to forget: give --customer ID or --file")
    key = load_key(config.resolve(config.privacy.key_file) if config.privacy.key_file else None)
    spark = build_session(config)
    print(describe(forget(spark, config, key, ids)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("forget", main))
