"""The social influence graph: people as vertices, follows, mentions and likes as edges from the
one who acts to the one acted upon; PageRank weighted by the interactions says who is
influential, label propagation which community a person belongs to. Both run distributed on
GraphFrames (`journeylake.graphs.algorithms`)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.config import SocialGraphSettings
from journeylake.graphs.algorithms import label_propagation, pagerank
from journeylake.silver.identity import node

# Social touchpoints that point at another person, and how much each says about influence.
INFLUENCE_TOUCHPOINTS = {"social_follow": 1.0, "social_mention": 1.0, "social_like": 0.5}


def social_edges(events: DataFrame, identity_map: DataFrame) -> DataFrame:
    """src, dst (person ids), follows, mentions, likes, weight: one row per ordered pair.

    events: the timeline (person_id, touchpoint, attributes with `target_handle_hash`).
    identity_map: node, person_id. A target handle always has a person (every handle seen is
    in the map, a stranger's as a person of its own); self-edges are dropped.
    """
    require_columns(events, ("person_id", "touchpoint", "attributes"), "social_edges events")
    require_columns(identity_map, ("node", "person_id"), "social_edges identity_map")
    acts = events.where(F.col("touchpoint").isin(list(INFLUENCE_TOUCHPOINTS))).select(
        F.col("person_id").alias("src"),
        "touchpoint",
        node("handle", F.col("attributes")["target_handle_hash"]).alias("node"),
    ).where(F.col("node").isNotNull())
    targeted = acts.join(identity_map.select("node", F.col("person_id").alias("dst")), "node")
    weights = F.create_map(*[item for name, w in INFLUENCE_TOUCHPOINTS.items()
                             for item in (F.lit(name), F.lit(w))])
    return (
        targeted.where(F.col("src") != F.col("dst"))
        .groupBy("src", "dst")
        .agg(
            F.count_if(F.col("touchpoint") == "social_follow").alias("follows"),
            F.count_if(F.col("touchpoint") == "social_mention").alias("mentions"),
            F.count_if(F.col("touchpoint") == "social_like").alias("likes"),
            F.sum(weights[F.col("touchpoint")]).alias("weight"),
        )
    )


def person_influence(edges: DataFrame, settings: SocialGraphSettings) -> DataFrame:
    """person_id, influence (PageRank, sums to 1), influence_rank (1 = most influential),
    community (smallest person id of its label-propagation community), followers, mentioned_by,
    liked_by (distinct people), following. The PageRank walk follows an edge in proportion to
    its `weight` (INFLUENCE_TOUCHPOINTS: a like counts half a follow or a mention)."""
    require_columns(edges, ("src", "dst", "follows", "mentions", "likes", "weight"),
                    "person_influence")
    vertices = edges.select(F.col("src").alias("id")).union(edges.select(F.col("dst").alias("id")))
    ranks = pagerank(vertices, edges, weight="weight",
                     reset_probability=settings.reset_probability,
                     iterations=settings.pagerank_iterations)
    communities = label_propagation(vertices, edges,
                                    iterations=settings.label_propagation_iterations)
    incoming = edges.groupBy(F.col("dst").alias("id")).agg(
        F.count_if(F.col("follows") > 0).alias("followers"),
        F.count_if(F.col("mentions") > 0).alias("mentioned_by"),
        F.count_if(F.col("likes") > 0).alias("liked_by"),
    )
    outgoing = edges.groupBy(F.col("src").alias("id")).agg(
        F.count_if(F.col("follows") > 0).alias("following"))
    joined = ranks.join(communities, "id").join(incoming, "id", "left").join(outgoing, "id",
                                                                             "left")
    return joined.select(
        F.col("id").alias("person_id"),
        F.col("pagerank").alias("influence"),
        # One global order: a single partition, fine for people (not events).
        F.row_number().over(Window.orderBy(F.desc("pagerank"), F.col("id"))).alias(
            "influence_rank"),
        "community",
        *[F.coalesce(F.col(c), F.lit(0)).alias(c)
          for c in ("followers", "mentioned_by", "liked_by", "following")],
    )
