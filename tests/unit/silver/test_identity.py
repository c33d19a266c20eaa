"""Identity resolution: links, cardinality rules, the mega-person guard and stable person ids."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import CardinalityRule
from journeylake.silver.identity import (
    BRIDGES_CUSTOMERS,
    MERGED,
    SPLIT,
    TOO_MANY_LINKS,
    assign_person_ids,
    clickstream_identifiers,
    node,
    node_type,
    node_value,
    person_id_of,
    resolve_components,
    social_identifiers,
    transaction_identifiers,
)

RULES = (
    CardinalityRule("email", "customer", 1),
    CardinalityRule("device", "customer", 1),
    CardinalityRule("cookie", "customer", 1),
    CardinalityRule("handle", "email", 1),
)
C1, C2, C3 = "1|customer|C1", "1|customer|C2", "1|customer|C3"


def links(spark: SparkSession, *pairs: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame(
        [(min(a, b), max(a, b)) for a, b in pairs], "node_a string, node_b string"
    )


def nodes(spark: SparkSession, *names: str) -> DataFrame:
    return spark.createDataFrame([(name,) for name in names], "node string")


def components_of(frame: DataFrame) -> dict[str, str]:
    return {row.node: row.component for row in frame.collect()}


def test_node_keys_rank_customers_first_and_round_trip(spark: SparkSession) -> None:
    frame = spark.createDataFrame([("C1", "ck|9", " ")], "c string, k string, blank string")
    row = frame.select(
        node("customer", F.col("c")).alias("c"), node("cookie", F.col("k")).alias("k"),
        node("email", F.col("blank")).alias("blank"),
    ).select("*", node_type(F.col("k")).alias("k_type"), node_value(F.col("k")).alias("k_value"))
    assert row.first().asDict() == {"c": C1, "k": "5|cookie|ck|9", "blank": None,
                                    "k_type": "cookie", "k_value": "ck|9"}
    assert row.first().c < row.first().k


def test_sources_link_the_identifiers_seen_together(spark: SparkSession) -> None:
    clicks = spark.createDataFrame(
        [("ck1", None, None, "2026-06-01 10:00:00"), ("ck1", "C1", "dv1", "2026-06-01 10:05:00"),
         ("ck1", "C1", "dv1", "2026-06-01 09:00:00")],
        "cookie_id string, user_id string, device_id string, ts string",
    ).withColumn("ts", F.to_timestamp("ts"))
    click_nodes, click_links = clickstream_identifiers(clicks)
    assert sorted(map(tuple, click_links.select("node_a", "node_b", "first_seen_at")
                      .selectExpr("node_a", "node_b", "string(first_seen_at)").collect())) == [
        (C1, "4|device|dv1", "2026-06-01 09:00:00"),
        (C1, "5|cookie|ck1", "2026-06-01 09:00:00"),
        ("4|device|dv1", "5|cookie|ck1", "2026-06-01 09:00:00"),
    ]
    assert click_nodes.count() == 3
    orders = spark.createDataFrame([("C1", "h1", None)], "customer_id string, email_hash string,"
                                                         " ts timestamp")
    assert [tuple(r)[:2] for r in transaction_identifiers(orders)[1].collect()] == [
        (C1, "2|email|h1")]
    posts = spark.createDataFrame([("hx", "hy", "h1", None)],
                                  "handle_hash string, target_handle_hash string, "
                                  "email_hash string, ts timestamp")
    social_nodes, social_links = social_identifiers(posts)
    assert [tuple(r)[:2] for r in social_links.collect()] == [("2|email|h1", "3|handle|hx")]
    assert sorted(r.node for r in social_nodes.collect()) == [
        "2|email|h1", "3|handle|hx", "3|handle|hy"]


def test_transitive_links_make_one_person_anchored_on_the_customer(spark: SparkSession) -> None:
    graph = links(spark, ("5|cookie|k1", C1), ("2|email|e1", C1), ("3|handle|h1", "2|email|e1"),
                  ("4|device|d1", "5|cookie|k2"), ("4|device|d1", C1))
    components, dropped = resolve_components(nodes(spark, "5|cookie|lonely"), graph, RULES, 1)
    assert components_of(components) == {
        C1: C1, "5|cookie|k1": C1, "2|email|e1": C1, "3|handle|h1": C1, "4|device|d1": C1,
        "5|cookie|k2": C1, "5|cookie|lonely": "5|cookie|lonely",
    }
    assert dropped.count() == 0


def test_an_email_of_two_customers_links_neither(spark: SparkSession) -> None:
    graph = links(spark, ("2|email|shared", C1), ("2|email|shared", C2), ("5|cookie|k1", C1))
    components, dropped = resolve_components(nodes(spark), graph, RULES, 1)
    found = components_of(components)
    assert found[C1] != found[C2]
    assert found["5|cookie|k1"] == C1
    assert found["2|email|shared"] == "2|email|shared"
    assert [(r.node, r.reason, r.detail) for r in dropped.collect()] == [
        ("2|email|shared", TOO_MANY_LINKS, "email linked to 2 customer identifiers (at most 1)")]
    linked = {row.node: row.linked for row in components.collect()}
    assert linked["2|email|shared"] is False and linked[C1] is True


def test_a_family_tablet_shared_by_three_customers_is_not_a_link(spark: SparkSession) -> None:
    tablet, app_cookie = "4|device|tablet", "5|cookie|tablet-app"
    graph = links(spark, (tablet, C1), (tablet, C2), (tablet, C3), (app_cookie, C1),
                  (app_cookie, C2), (app_cookie, tablet), ("5|cookie|k3", C3))
    components, dropped = resolve_components(nodes(spark), graph, RULES, 1)
    found = components_of(components)
    assert len({found[C1], found[C2], found[C3]}) == 3
    assert found["5|cookie|k3"] == C3
    assert {r.node for r in dropped.collect()} == {tablet, app_cookie}


def test_a_component_with_two_customers_is_split_around_them(spark: SparkSession) -> None:
    # No rule catches the handle (rules off): it joins two customers through their emails.
    handle = "3|handle|h"
    graph = links(spark, (handle, "2|email|e1"), (handle, "2|email|e2"), ("2|email|e1", C1),
                  ("2|email|e2", C2), ("5|cookie|k1", C1), ("5|cookie|k1", "4|device|d1"))
    components, dropped = resolve_components(nodes(spark), graph, (), 1)
    found = components_of(components)
    assert found["2|email|e1"] == C1 and found["5|cookie|k1"] == C1
    assert found["2|email|e2"] == C2
    assert found[handle] == handle
    # the device reached C1 only through the cookie: it cannot be placed and is reported
    assert {(r.node, r.reason) for r in dropped.collect()} == {
        (handle, BRIDGES_CUSTOMERS), ("4|device|d1", BRIDGES_CUSTOMERS)}
    _, allowed = resolve_components(nodes(spark), graph, (), 2)
    assert allowed.count() == 0


def components(spark: SparkSession, *rows: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame(rows, "node string, component string")


def previous(spark: SparkSession, *rows: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame(rows, "node string, person_id string")


def expected_id(spark: SparkSession, canonical: str, salt: str | None = None) -> str:
    frame = spark.createDataFrame([(canonical, salt)], "c string, s string")
    column = person_id_of(F.col("c"), None if salt is None else F.col("s"))
    return frame.select(column).first()[0]


def test_new_persons_get_the_id_of_their_canonical_member(spark: SparkSession) -> None:
    assigned, changes = assign_person_ids(
        components(spark, ("a", "a"), ("b", "a"), ("c", "c")), previous(spark)
    )
    pa, pc = expected_id(spark, "a"), expected_id(spark, "c")
    assert dict(map(tuple, assigned.collect())) == {"a": pa, "b": pa, "c": pc}
    assert pa.startswith("p_") and len(pa) == 26
    assert changes.count() == 0


def test_a_person_keeps_its_id_when_a_smaller_member_joins(spark: SparkSession) -> None:
    # `a` arrives later and becomes the canonical member: the person still keeps P-old.
    assigned, changes = assign_person_ids(
        components(spark, ("a", "a"), ("b", "a"), ("c", "a")),
        previous(spark, ("b", "P-old"), ("c", "P-old")),
    )
    assert {row.person_id for row in assigned.collect()} == {"P-old"}
    assert changes.count() == 0


def test_joining_two_persons_keeps_the_best_members_id_and_logs_the_merge(
    spark: SparkSession,
) -> None:
    assigned, changes = assign_person_ids(
        components(spark, ("a", "a"), ("b", "a"), ("c", "a"), ("d", "d")),
        previous(spark, ("b", "P-b"), ("c", "P-c"), ("d", "P-d")),
    )
    assert dict(map(tuple, assigned.collect())) == {"a": "P-b", "b": "P-b", "c": "P-b",
                                                    "d": "P-d"}
    expected = spark.createDataFrame([("P-c", "P-b", MERGED)],
                                     "old_person_id string, new_person_id string, change string")
    assert_df_equality(changes, expected, ignore_nullable=True)


def test_a_person_falling_apart_keeps_its_id_where_its_best_member_is(
    spark: SparkSession,
) -> None:
    assigned, changes = assign_person_ids(
        components(spark, ("a", "a"), ("b", "b"), ("c", "b")),
        previous(spark, ("a", "P"), ("b", "P"), ("c", "P")),
    )
    split_off = expected_id(spark, "b", "P")
    assert dict(map(tuple, assigned.collect())) == {"a": "P", "b": split_off, "c": split_off}
    assert [tuple(r) for r in changes.collect()] == [("P", split_off, SPLIT)]


def test_assignment_is_the_same_on_every_run(spark: SparkSession) -> None:
    comps = components(spark, ("a", "a"), ("b", "a"), ("c", "c"), ("d", "c"))
    old = previous(spark, ("b", "P1"), ("d", "P2"), ("c", "P1"))
    first = sorted(map(tuple, assign_person_ids(comps, old)[0].collect()))
    second = sorted(map(tuple, assign_person_ids(comps.repartition(3), old)[0].collect()))
    assert first == second


def test_pairwise_quality_counts_pairs_from_group_sizes(spark: SparkSession) -> None:
    from journeylake.silver.identity_quality import pairwise_quality

    predicted = spark.createDataFrame(
        [("a", "P1"), ("b", "P1"), ("c", "P1"), ("d", "P2"), ("e", "P3"), ("zz", "P9")],
        "node string, person_id string")
    truth = spark.createDataFrame(
        [("a", "C1"), ("b", "C1"), ("c", "C2"), ("d", "C2"), ("e", "C3"), ("unseen", "C3")],
        "node string, customer_id string")
    quality = pairwise_quality(predicted, truth)
    # made: ab ac bc (3); truth: ab cd (2); correct: ab (1)
    assert (quality.identifiers, quality.predicted_pairs, quality.true_pairs,
            quality.correct_pairs) == (5, 3, 2, 1)
    assert (quality.precision, quality.recall) == (1 / 3, 1 / 2)


def test_batch_identifiers_link_across_sources_and_keep_the_earliest_sighting(
    spark: SparkSession,
) -> None:
    from journeylake.silver.identity import batch_identifiers

    clicks = spark.createDataFrame(
        [("ck1", "C1", None, "2026-06-01 10:00:00")],
        "cookie_id string, user_id string, device_id string, ts string",
    ).withColumn("ts", F.to_timestamp("ts"))
    orders = spark.createDataFrame(
        [("C1", "h1", "2026-06-01 09:00:00"), ("C1", "h1", "2026-06-01 11:00:00")],
        "customer_id string, email_hash string, ts string",
    ).withColumn("ts", F.to_timestamp("ts"))
    pings = spark.createDataFrame([("dv9", "2026-06-01 08:00:00")], "device_id string, ts string")
    found_nodes, found_links = batch_identifiers(
        {"clickstream": clicks, "transactions": orders, "geolocation": pings,
         "stores": spark.createDataFrame([("S1",)], "store_id string")})
    assert sorted(r.node for r in found_nodes.distinct().collect()) == [
        C1, "2|email|h1", "4|device|dv9", "5|cookie|ck1"]
    assert sorted((r.node_a, r.node_b, r.source, str(r.first_seen_at))
                  for r in found_links.collect()) == [
        (C1, "2|email|h1", "transactions", "2026-06-01 09:00:00"),
        (C1, "5|cookie|ck1", "clickstream", "2026-06-01 10:00:00"),
    ]
    assert batch_identifiers({"geolocation": pings})[1] is None


def test_a_pair_seen_by_two_sources_keeps_its_first_sighting(spark: SparkSession) -> None:
    from journeylake.silver.identity import earliest_sightings

    seen = spark.createDataFrame(
        [("a", "b", "social", "2026-06-02 00:00:00"), ("a", "b", "transactions",
                                                       "2026-06-01 00:00:00"),
         ("a", "c", "social", "2026-06-03 00:00:00")],
        "node_a string, node_b string, source string, first_seen_at string",
    ).withColumn("first_seen_at", F.to_timestamp("first_seen_at"))
    expected = spark.createDataFrame(
        [("a", "b", "transactions", "2026-06-01 00:00:00"), ("a", "c", "social",
                                                             "2026-06-03 00:00:00")],
        "node_a string, node_b string, source string, first_seen_at string",
    ).withColumn("first_seen_at", F.to_timestamp("first_seen_at"))
    assert_df_equality(earliest_sightings(seen), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_resolving_again_reports_only_identifiers_whose_person_or_link_moved(
    spark: SparkSession,
) -> None:
    from journeylake.core.config import IdentitySettings
    from journeylake.silver.identity import resolve_identity

    # Before: C1 with cookie k1; C2 alone. Now an email links to C1 and the cookie k1 is also
    # seen logged in as C2, which makes it a shared cookie: it stops linking.
    previous_links = links(spark, ("5|cookie|k1", C1))
    first = resolve_identity(
        spark.createDataFrame([], "node string, person_id string, linked boolean"),
        nodes(spark, C2), previous_links, IdentitySettings(RULES, 1))
    previous = first.map.select("node", "person_id", "linked").localCheckpoint()
    now = links(spark, ("5|cookie|k1", C1), ("5|cookie|k1", C2), ("2|email|e1", C1))
    second = resolve_identity(previous, nodes(spark, "2|email|e1"), now,
                              IdentitySettings(RULES, 1))
    before = {r.node: r.person_id for r in first.map.collect()}
    persons = {r.node: r.person_id for r in second.map.collect()}
    assert persons["2|email|e1"] == persons[C1] == before[C1]
    assert persons[C2] == before[C2] != persons[C1]
    changed = {(r.node, r.linked, r.was_linked) for r in second.changed.collect()}
    assert changed == {("5|cookie|k1", False, True)}
    assert {(r.identifier_type, r.identifier) for r in second.map.where("NOT linked").collect()
            } == {("cookie", "k1")}


def test_device_persons_project_the_devices_of_a_map(spark: SparkSession) -> None:
    from journeylake.silver.identity import device_persons

    identity_map = spark.createDataFrame(
        [("4|device|d1", "p1"), ("5|cookie|k1", "p1"), ("4|device|a|b", "p2")],
        "node string, person_id string")
    expected = spark.createDataFrame([("d1", "p1"), ("a|b", "p2")],
                                     "device_id string, person_id string")
    assert_df_equality(device_persons(identity_map), expected, ignore_row_order=True,
                       ignore_nullable=True)
