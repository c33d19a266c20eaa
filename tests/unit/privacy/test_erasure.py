"""From a customer id to every term that names the person, and rows found by those terms."""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.privacy.erasure import (
    person_terms,
    persons_of_customers,
    raw_personal_terms,
    subject_hash,
    with_earlier_ids,
)
from journeylake.privacy.pii_scan import holds_any
from journeylake.silver.identity import assign_person_ids, person_id_of, salted_nodes
from journeylake.silver.pseudonymisation import PiiKey

KEY = PiiKey(b"test-key-0123456789abcdef")
MAP = "identifier_type string, identifier string, person_id string, linked boolean, node string"


def _hmac(text: str) -> str:
    return hmac.new(KEY.secret, text.encode(), hashlib.sha256).hexdigest()


def _identity(spark: SparkSession):  # noqa: ANN202
    return spark.createDataFrame([
        ("customer", "C1", "p_a", True, "1|customer|C1"),
        ("cookie", "ck_X", "p_a", True, "3|cookie|ck_X"),
        ("email", "h_e1", "p_a", True, "2|email|h_e1"),
        ("customer", "C2", "p_b", True, "1|customer|C2"),
        ("cookie", "ck_Y", "p_b", True, "3|cookie|ck_Y"),
    ], MAP)


def test_a_customer_s_terms_are_its_person_ids_nodes_and_identifiers(spark: SparkSession
                                                                     ) -> None:
    identity = _identity(spark)
    merges = spark.createDataFrame([("p_old", "p_a", "merged"), ("p_older", "p_old", "merged"),
                                    ("p_other", "p_b", "merged")],
                                   "old_person_id string, new_person_id string, change string")
    persons = with_earlier_ids(persons_of_customers(identity, ["C1"]), merges)
    assert {row.person_id for row in persons.collect()} == {"p_a", "p_old", "p_older"}
    terms = {(row.term, row.kind) for row in person_terms(identity, persons).collect()}
    assert terms == {
        ("p_a", "person"), ("p_old", "person"), ("p_older", "person"),
        ("1|customer|c1", "node"), ("3|cookie|ck_x", "node"), ("2|email|h_e1", "node"),
        ("c1", "identifier"), ("ck_x", "identifier"), ("h_e1", "identifier"),
    }


def test_rows_holding_a_term_whole_or_as_a_token_anywhere_are_found(spark: SparkSession
                                                                    ) -> None:
    rows = spark.createDataFrame([
        ("e1", "p_a", None, None),
        ("e2", "p_b", ["3|cookie|CK_X"], None),  # a node in an array, in another case
        ("e3", "p_b", None, {"url": "https://x.example/?c=ck_x&utm=1"}),  # a token in a map
        ("e4", "p_b", ["3|cookie|ck_xy"], {"url": "https://x.example/ck_x2"}),  # look-alikes
        ("e5", None, None, None),
    ], "event_key string, person_id string, identifiers array<string>, "
       "attributes map<string, string>")
    found = rows.where(holds_any(rows.schema, ["p_a", "3|cookie|ck_x", "ck_x"]))
    assert sorted(row.event_key for row in found.collect()) == ["e1", "e2", "e3"]
    assert rows.where(holds_any(rows.schema, [])).count() == 0


def test_bronze_rows_of_the_person_give_their_raw_emails_and_handles(spark: SparkSession
                                                                     ) -> None:
    bronze = spark.createDataFrame([
        ("o1", "C1", " Anna.Berg@Example.com", "+44 7700 900123", "Anna Berg"),
        ("o2", None, "anna.berg@example.com", None, None),  # found by its email's hash
        ("o3", "C2", "bob@example.com", None, "Anna Berg"),  # same name, not the person
    ], "order_id string, customer_id string, email string, phone string, billing_name string")
    pii = {"email": "email", "phone": "phone", "billing_name": "name"}
    terms = raw_personal_terms(bronze, pii, KEY, ["c1", _hmac("anna.berg@example.com")])
    assert {row.term for row in terms.collect()} == {
        "anna.berg@example.com", "+44 7700 900123", "+447700900123"}


def test_an_erased_canonical_node_never_gets_its_person_id_back(spark: SparkSession) -> None:
    components = spark.createDataFrame([("3|cookie|ck_X", "3|cookie|ck_X"),
                                        ("3|cookie|ck_Z", "3|cookie|ck_Z")],
                                       "node string, component string")
    previous = spark.createDataFrame([], "node string, person_id string")
    erased = spark.createDataFrame([(_hmac("3|cookie|ck_x"), "er_1")],
                                   "node_hash string, request_id string")
    salted = salted_nodes(components, erased, KEY)
    assert [tuple(row) for row in salted.collect()] == [("3|cookie|ck_X", "er_1")]
    assigned, _ = assign_person_ids(components, previous, salted)
    ids = {row.node: row.person_id for row in assigned.collect()}
    plain = spark.range(1).select(person_id_of(F.lit("3|cookie|ck_X")).alias("x"),
                                  person_id_of(F.lit("3|cookie|ck_Z")).alias("z")).first()
    assert ids["3|cookie|ck_X"] != plain.x and ids["3|cookie|ck_X"].startswith("p_")
    assert ids["3|cookie|ck_Z"] == plain.z


def test_the_audit_keeps_a_keyed_hash_of_the_subject_never_the_id() -> None:
    hashed = subject_hash("C000042", KEY)
    assert "C000042" not in hashed and len(hashed) == 64
    assert hashed != _hmac("C000042") and hashed == subject_hash("C000042", KEY)
