"""Identity resolution: identifiers seen together become one person.

An identifier is a node `<rank>|<type>|<value>`; the rank orders types by how much they say about
a person (customer id first, cookie last), so the smallest node of a group is its best anchor.
Personal values (emails, handles) arrive here already pseudonymised.

The steps, each a pure function:
1. `links_from_*`: co-occurrences in bronze rows -> nodes and links.
2. `untrusted_identifiers`: cardinality rules (one email, one customer...) -> identifiers that
   link too many others; they keep their events but link nobody.
3. `resolve_components`: connected components of the trusted links, with a guard that splits a
   component holding more customers than a person may have around its customers.
4. `assign_person_ids`: stable person ids: an identifier keeps its person across runs; a person
   changes id only when merged into another or split, and every change is logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.config import IDENTIFIER_TYPES, CardinalityRule, IdentitySettings
from journeylake.core.frames import union_all
from journeylake.graphs.algorithms import connected_components
from journeylake.silver.pseudonymisation import PiiKey, hmac_sha256

CUSTOMER = "customer"
NODE_SEPARATOR = "|"
# Reported reasons for an identifier that links nobody.
TOO_MANY_LINKS = "too_many_links"
BRIDGES_CUSTOMERS = "bridges_customers"
MERGED, SPLIT = "merged", "split"

LINK_COLUMNS = ("node_a", "node_b", "source", "first_seen_at")


def node(identifier_type: str, value: Column) -> Column:
    """The node key of an identifier; NULL when the value is NULL or blank."""
    if identifier_type not in IDENTIFIER_TYPES:
        raise ValueError(f"unknown identifier type {identifier_type!r}")
    rank = IDENTIFIER_TYPES.index(identifier_type) + 1
    cleaned = F.trim(value.cast("string"))
    return F.when(cleaned != "", F.concat(F.lit(f"{rank}{NODE_SEPARATOR}{identifier_type}"
                                                f"{NODE_SEPARATOR}"), cleaned))


def node_type(node_key: Column) -> Column:
    return F.split_part(node_key, F.lit(NODE_SEPARATOR), F.lit(2))


def node_value(node_key: Column) -> Column:
    # The value may itself contain the separator: everything after the second one.
    return F.regexp_extract(node_key, r"^[^|]*\|[^|]*\|(.*)$", 1)


def _pairs(rows: DataFrame, pairs: Sequence[tuple[Column, Column]], source: str) -> DataFrame:
    """Links (node_a < node_b) from column pairs, first seen at the earliest `ts`."""
    frames = [
        rows.select(F.least(a, b).alias("node_a"), F.greatest(a, b).alias("node_b"), "ts")
        for a, b in pairs
    ]
    return (
        union_all(frames).where("node_a IS NOT NULL AND node_b IS NOT NULL AND node_a <> node_b")
        .groupBy("node_a", "node_b")
        .agg(F.min("ts").alias("first_seen_at"))
        .select("node_a", "node_b", F.lit(source).alias("source"), "first_seen_at")
    )


def _nodes(rows: DataFrame, nodes: Sequence[Column]) -> DataFrame:
    frames = [rows.select(column.alias("node"), "ts") for column in nodes]
    return (
        union_all(frames).where("node IS NOT NULL").groupBy("node")
        .agg(F.min("ts").alias("first_seen_at"))
    )


def clickstream_identifiers(events: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(nodes, links) of clickstream rows (cookie_id, user_id, device_id, ts): a login links
    the cookie and the device to the customer; an app event links its cookie to its device."""
    cookie, customer, device = (
        node("cookie", F.col("cookie_id")),
        node(CUSTOMER, F.col("user_id")),
        node("device", F.col("device_id")),
    )
    links = _pairs(events, [(cookie, customer), (device, customer), (cookie, device)],
                   "clickstream")
    return _nodes(events, [cookie, customer, device]), links


def transaction_identifiers(orders: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(nodes, links) of orders (customer_id, email_hash, ts): the order links both."""
    customer, email = node(CUSTOMER, F.col("customer_id")), node("email", F.col("email_hash"))
    return _nodes(orders, [customer, email]), _pairs(orders, [(customer, email)], "transactions")


def social_identifiers(posts: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(nodes, links) of social rows (handle_hash, target_handle_hash, email_hash, ts): a
    profile that shows an email links handle and email; a target handle is a node only."""
    handle, target, email = (
        node("handle", F.col("handle_hash")),
        node("handle", F.col("target_handle_hash")),
        node("email", F.col("email_hash")),
    )
    return _nodes(posts, [handle, target, email]), _pairs(posts, [(handle, email)], "social")


def device_identifiers(pings: DataFrame) -> DataFrame:
    """Nodes of location pings (device_id, ts): a device alone links nothing."""
    return _nodes(pings, [node("device", F.col("device_id"))])


def untrusted_identifiers(links: DataFrame, rules: Sequence[CardinalityRule]) -> DataFrame:
    """node, reason, detail for every identifier that breaks a cardinality rule: linked to more
    distinct identifiers of a type than the rule allows. Needs links (node_a, node_b)."""
    if not rules:
        return links.sparkSession.createDataFrame([], "node string, reason string, "
                                                      "detail string")
    both_ways = links.select(F.col("node_a").alias("node"), F.col("node_b").alias("other")).union(
        links.select(F.col("node_b").alias("node"), F.col("node_a").alias("other"))
    )
    counts = both_ways.groupBy(
        "node", node_type(F.col("node")).alias("node_type"),
        node_type(F.col("other")).alias("linked_type"),
    ).agg(F.countDistinct("other").alias("linked"))
    limits = links.sparkSession.createDataFrame(
        [(rule.identifier_type, rule.linked_type, rule.max) for rule in rules],
        "node_type string, linked_type string, max_linked int",
    )
    broken = counts.join(F.broadcast(limits), ["node_type", "linked_type"]).where(
        "linked > max_linked"
    )
    return broken.groupBy("node").agg(
        F.lit(TOO_MANY_LINKS).alias("reason"),
        F.concat_ws(
            "; ",
            F.array_sort(F.collect_list(F.format_string(
                "%s linked to %d %s identifiers (at most %d)",
                "node_type", "linked", "linked_type", "max_linked"))),
        ).alias("detail"),
    )


def _without(links: DataFrame, nodes: DataFrame) -> DataFrame:
    dropped = nodes.select("node")
    return links.join(dropped.withColumnRenamed("node", "node_a"), "node_a", "left_anti").join(
        dropped.withColumnRenamed("node", "node_b"), "node_b", "left_anti"
    )


def resolve_components(
    nodes: DataFrame,
    links: DataFrame,
    rules: Sequence[CardinalityRule],
    max_customers_per_person: int,
) -> tuple[DataFrame, DataFrame]:
    """(components, dropped).

    components: node, component (the smallest node of its component: a customer id when it
    has one), linked (false for identifiers that link nobody). dropped: node, reason, detail.
    Needs nodes (node) and links (node_a, node_b); every link end becomes a node.
    """
    untrusted = untrusted_identifiers(links, rules).localCheckpoint()
    trusted = _without(links, untrusted)
    vertices = nodes.select("node").unionByName(links.select(F.col("node_a").alias("node")))
    vertices = vertices.unionByName(links.select(F.col("node_b").alias("node"))).distinct()
    first = connected_components(
        vertices.withColumnRenamed("node", "id"),
        trusted.select(F.col("node_a").alias("src"), F.col("node_b").alias("dst")),
    ).localCheckpoint()
    is_customer = node_type(F.col("id")) == CUSTOMER
    crowded = (
        first.groupBy("component")
        .agg(F.count_if(is_customer).alias("customers"))
        .where(F.col("customers") > max_customers_per_person)
        .select("component")
    )
    if crowded.limit(1).count() == 0:
        labelled = first.select(F.col("id").alias("node"), "component")
        return _with_link_flag(labelled, untrusted), untrusted
    members = first.join(crowded, "component").select(F.col("id").alias("node"))
    # In a crowded component only direct links to a customer survive, and only from identifiers
    # that link exactly one customer: each identifier then joins at most one customer's star.
    member_links = trusted.join(members.withColumnRenamed("node", "node_a"), "node_a").join(
        members.withColumnRenamed("node", "node_b"), "node_b"
    )
    customer_links = member_links.where(
        (node_type(F.col("node_a")) == CUSTOMER) != (node_type(F.col("node_b")) == CUSTOMER)
    ).select(
        F.when(node_type(F.col("node_a")) == CUSTOMER, F.col("node_b"))
        .otherwise(F.col("node_a")).alias("node"),
        F.when(node_type(F.col("node_a")) == CUSTOMER, F.col("node_a"))
        .otherwise(F.col("node_b")).alias("customer"),
    )
    single = customer_links.groupBy("node").agg(F.countDistinct("customer").alias("customers"))
    anchored = customer_links.join(single.where("customers = 1").select("node"), "node")
    bridging = members.where(node_type(F.col("node")) != CUSTOMER).join(
        anchored.select("node"), "node", "left_anti"
    ).select("node", F.lit(BRIDGES_CUSTOMERS).alias("reason"),
             F.lit("in a group with more customers than a person may have, and not linked to "
                   "exactly one of them").alias("detail"))
    untouched = trusted.join(
        members.withColumnRenamed("node", "node_a"), "node_a", "left_anti"
    )
    final_links = untouched.select("node_a", "node_b").unionByName(
        anchored.select(F.least("node", "customer").alias("node_a"),
                        F.greatest("node", "customer").alias("node_b"))
    )
    dropped = untrusted.unionByName(bridging)
    components = connected_components(
        vertices.withColumnRenamed("node", "id"),
        final_links.select(F.col("node_a").alias("src"), F.col("node_b").alias("dst")),
    ).select(F.col("id").alias("node"), "component")
    return _with_link_flag(components, dropped), dropped


def _with_link_flag(components: DataFrame, dropped: DataFrame) -> DataFrame:
    flagged = components.join(
        dropped.select("node", F.lit(True).alias("_dropped")), "node", "left"
    )
    return flagged.select("node", "component", F.col("_dropped").isNull().alias("linked"))


def person_id_of(canonical: Column, salt: Column | None = None) -> Column:
    """`p_` and 24 hex digits of the hash of the canonical node (and of `salt` for a person
    split off another one, so it cannot take an id that still exists)."""
    text = canonical if salt is None else F.concat_ws("#", canonical, salt)
    return F.concat(F.lit("p_"), F.substring(F.sha2(text, 256), 1, 24))


def salted_nodes(nodes: DataFrame, erased: DataFrame, key: PiiKey) -> DataFrame:
    """node, salt: the nodes (column `node`) erased by `journeylake forget` (`erased`:
    silver_erased_identifiers, the keyed hash of the lower-cased node), salted with the request
    that erased them."""
    return nodes.select("node").distinct().join(
        F.broadcast(erased.select("node_hash", F.col("request_id").alias("salt"))),
        hmac_sha256(F.lower(F.col("node")), key) == F.col("node_hash"),
    ).select("node", "salt")


def assign_person_ids(
    components: DataFrame, previous: DataFrame, salted: DataFrame | None = None
) -> tuple[DataFrame, DataFrame]:
    """(assigned, changes).

    components: node, component. previous: node, person_id (the last map; may be empty).
    assigned: node, person_id. A component whose members had no person gets the id of its
    canonical node; one whose members had one person keeps it; one joining several persons
    keeps the person of its best previously known member (the smallest node) and the others
    are merged into it. A person whose members now fall into several components stays with the
    component holding its best member; the others get new ids. changes: old_person_id,
    new_person_id, change (merged or split) - one row per person id that stops being used.
    salted (node, salt; `salted_nodes`): a new person whose canonical node was erased gets an
    id salted with the erasure, so a returning identifier never takes the erased id back.
    """
    known = components.join(previous.select("node", F.col("person_id").alias("old")), "node",
                            "left")
    # Per component: the person of its smallest previously known member survives.
    survivor = known.where("old IS NOT NULL").groupBy("component").agg(
        F.min_by("old", "node").alias("survivor")
    )
    # Per old person: the component holding its smallest member keeps it.
    keeper = known.where("old IS NOT NULL").groupBy("old").agg(
        F.min_by("component", "node").alias("keeper")
    )
    canonical = components.select("component").distinct()
    if salted is None:
        canonical = canonical.withColumn("salt", F.lit(None).cast("string"))
    else:
        canonical = canonical.join(salted.withColumnRenamed("node", "component"), "component",
                                   "left")
    decided = (
        canonical
        .join(survivor, "component", "left")
        .join(keeper, (F.col("survivor") == F.col("old")), "left")
        .select(
            "component",
            # concat_ws skips a NULL salt: an unerased canonical node keeps its plain id.
            F.when(F.col("survivor").isNull(), person_id_of(F.col("component"), F.col("salt")))
            .when(F.col("keeper") == F.col("component"), F.col("survivor"))
            .otherwise(person_id_of(F.col("component"), F.col("survivor")))
            .alias("person_id"),
        )
    )
    assigned = components.join(decided, "component").select("node", "person_id")
    moves = known.where("old IS NOT NULL").join(decided, "component").where(
        "old <> person_id"
    )
    still_used = decided.select(F.col("person_id").alias("old"))
    changes = (
        moves.join(still_used, "old", "left_anti")
        .groupBy("old")
        .agg(
            # The person's best member decides where it went; several targets mean a split.
            F.min_by("person_id", "node").alias("new_person_id"),
            F.countDistinct("person_id").alias("targets"),
        )
        .select(
            F.col("old").alias("old_person_id"),
            "new_person_id",
            F.when(F.col("targets") > 1, F.lit(SPLIT)).otherwise(F.lit(MERGED)).alias("change"),
        )
    )
    split_off = (
        moves.join(still_used, "old")  # the old id lives on elsewhere: these members split off
        .select(F.col("old").alias("old_person_id"), F.col("person_id").alias("new_person_id"),
                F.lit(SPLIT).alias("change"))
        .distinct()
    )
    return assigned, changes.unionByName(split_off)


# Which identifiers each bronze source shows together, and how.
IDENTIFIERS_BY_SOURCE = {
    "clickstream": clickstream_identifiers,
    "transactions": transaction_identifiers,
    "social": social_identifiers,
}
# Sources whose identifiers link nothing: their nodes only.
NODES_BY_SOURCE = {"geolocation": device_identifiers}


def batch_identifiers(rows: Mapping[str, DataFrame]) -> tuple[DataFrame | None, DataFrame | None]:
    """(nodes, links) of new bronze rows by source name (pseudonymised where personal); either
    is None when no source gives any. Sources without identifiers are ignored."""
    found = [IDENTIFIERS_BY_SOURCE[source](frame) for source, frame in sorted(rows.items())
             if source in IDENTIFIERS_BY_SOURCE]
    nodes = [pair[0] for pair in found] + [
        NODES_BY_SOURCE[source](frame) for source, frame in sorted(rows.items())
        if source in NODES_BY_SOURCE]
    links = [pair[1] for pair in found]
    return (union_all(nodes).select("node") if nodes else None,
            earliest_sightings(union_all(links)) if links else None)


def earliest_sightings(links: DataFrame) -> DataFrame:
    """LINK_COLUMNS with one row per pair: the same pair seen by several sources keeps its
    earliest sighting (and that sighting's source; ties to the smaller source name)."""
    require_columns(links, LINK_COLUMNS, "earliest_sightings")
    return links.groupBy("node_a", "node_b").agg(
        F.min_by("source", F.struct("first_seen_at", "source")).alias("source"),
        F.min("first_seen_at").alias("first_seen_at"),
    ).select(*LINK_COLUMNS)


@dataclass(frozen=True)
class IdentityResolution:
    """The identity graph after a run. map: node, identifier_type, identifier, person_id,
    linked. dropped: node, reason, detail. changes: old_person_id, new_person_id, change.
    changed: node, person_id, linked, old_person_id, was_linked (identifiers already known
    whose person or link status moved: the events using them must be resolved again)."""

    map: DataFrame
    dropped: DataFrame
    changes: DataFrame
    changed: DataFrame


def resolve_identity(
    previous: DataFrame,
    new_nodes: DataFrame | None,
    links: DataFrame,
    settings: IdentitySettings,
    salted: DataFrame | None = None,
) -> IdentityResolution:
    """Persons of every identifier known so far. previous: the stored map (node, person_id,
    linked; may be empty). new_nodes: node of this run's identifiers. links: every stored link
    (node_a, node_b). salted: erased nodes and their salt (see `assign_person_ids`)."""
    require_columns(previous, ("node", "person_id", "linked"), "resolve_identity previous")
    vertices = previous.select("node")
    if new_nodes is not None:
        vertices = vertices.unionByName(new_nodes.select("node"))
    components, dropped = resolve_components(
        vertices.distinct(), links, settings.cardinality_rules,
        settings.max_customers_per_person,
    )
    components = components.localCheckpoint()
    assigned, changes = assign_person_ids(components.select("node", "component"),
                                          previous.select("node", "person_id"), salted)
    identity_map = assigned.localCheckpoint().join(
        components.select("node", "linked"), "node"
    ).select(
        "node",
        node_type(F.col("node")).alias("identifier_type"),
        node_value(F.col("node")).alias("identifier"),
        "person_id",
        "linked",
    )
    return IdentityResolution(identity_map, dropped, changes,
                              changed_identifiers(identity_map, previous))


def changed_identifiers(identity_map: DataFrame, previous: DataFrame) -> DataFrame:
    """node, person_id, linked, old_person_id, was_linked: the identifiers of `previous` (node,
    person_id, linked) whose person or link status differs in `identity_map`."""
    return identity_map.select("node", "person_id", "linked").join(
        previous.select("node", F.col("person_id").alias("old_person_id"),
                        F.col("linked").alias("was_linked")), "node"
    ).where("person_id <> old_person_id OR linked <> was_linked")


def device_persons(identity_map: DataFrame) -> DataFrame:
    """device_id, person_id of every device in an identity map (node, person_id): a store
    visit is a device's, and belongs to the device's person."""
    return identity_map.where(node_type(F.col("node")) == "device").select(
        node_value(F.col("node")).alias("device_id"), "person_id")


def dropped_rows(dropped: DataFrame) -> DataFrame:
    """identifier_type, identifier, reason, detail of `resolve_components`' dropped nodes."""
    return dropped.select(
        node_type(F.col("node")).alias("identifier_type"),
        node_value(F.col("node")).alias("identifier"),
        "reason", "detail",
    )
