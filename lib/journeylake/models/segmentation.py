"""Customer segmentation with MLlib: imputation and scaling, then KMeans, BisectingKMeans and a
GaussianMixture for each k of a range; the clustering with the best silhouette wins. Segment
profiles (size, feature means) name each segment from how it differs from everyone else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns

ALGORITHMS = ("kmeans", "bisecting_kmeans", "gaussian_mixture")
SCALED = "scaled_features"
# What describes a customer for segmentation when models.segmentation.features is empty.
DEFAULT_FEATURES = (
    "days_since_last_event", "lifetime_orders", "lifetime_revenue", "sessions",
    "product_views", "offer_click_rate", "converted_session_rate", "store_visits",
    "social_actions", "email_clicks", "tenure_days",
)
CLUSTER = "cluster"


@dataclass(frozen=True)
class ClusteringTrial:
    algorithm: str
    k: int
    silhouette: float


@dataclass
class Segmentation:
    """The winning pipeline (imputer, assembler, scaler, clusterer) and every trial's score."""

    model: PipelineModel
    algorithm: str
    k: int
    silhouette: float
    trials: list[ClusteringTrial] = field(default_factory=list)


def _clusterer(algorithm: str, k: int, max_iterations: int, seed: int):  # noqa: ANN202
    common = {"featuresCol": SCALED, "k": k, "maxIter": max_iterations, "seed": seed}
    if algorithm == "kmeans":
        return KMeans(predictionCol=CLUSTER, **common)
    if algorithm == "bisecting_kmeans":
        return BisectingKMeans(predictionCol=CLUSTER, **common)
    if algorithm == "gaussian_mixture":
        return GaussianMixture(predictionCol=CLUSTER, probabilityCol="cluster_probability",
                               **common)
    raise ValueError(f"unknown clustering algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}")


def preparation(features: Sequence[str], center: bool = True) -> list:
    """Median imputation (a feature undefined for a person, such as the average order value of
    someone who never ordered, takes the typical value), assembly and standard scaling, so no
    feature dominates the distances by its unit. `center` also subtracts the mean.

    Clustering does not center: BisectingKMeans splits a cluster by perturbing its centre in
    proportion to the centre's norm, so a centre at the origin never splits (distances and the
    silhouette do not change with a shift)."""
    imputed = [f"{name}__imputed" for name in features]
    return [
        Imputer(inputCols=list(features), outputCols=imputed, strategy="median"),
        VectorAssembler(inputCols=imputed, outputCol="raw_features"),
        StandardScaler(inputCol="raw_features", outputCol=SCALED, withMean=center,
                       withStd=True),
    ]


def as_doubles(frame: DataFrame, features: Sequence[str]) -> DataFrame:
    """`frame` with `features` cast to DOUBLE (the imputer wants floating point)."""
    require_columns(frame, features, "segmentation features")
    return frame.select(*[F.col(c).cast("double").alias(c) if c in features else F.col(c)
                          for c in frame.columns])


def segment_customers(
    frame: DataFrame,
    features: Sequence[str],
    algorithms: Sequence[str] = ALGORITHMS,
    k_range: Sequence[int] = range(3, 9),
    max_iterations: int = 30,
    seed: int = 7,
) -> Segmentation:
    """Fit every algorithm for every k on `frame` (one row per person, `features` numeric) and
    keep the clustering with the highest silhouette (squared Euclidean on the scaled features).

    Preparation is fitted once and shared, so the trials differ only in the clusterer.
    """
    if not features:
        raise ValueError("segmentation needs at least one feature (models.segmentation.features)")
    data = as_doubles(frame, features)
    prepared_model = Pipeline(stages=preparation(features, center=False)).fit(data)
    prepared = prepared_model.transform(data).select(SCALED).cache()
    evaluator = ClusteringEvaluator(featuresCol=SCALED, predictionCol=CLUSTER,
                                    metricName="silhouette", distanceMeasure="squaredEuclidean")
    trials, best, best_model = [], None, None
    try:
        for algorithm in algorithms:
            for k in k_range:
                fitted = _clusterer(algorithm, k, max_iterations, seed).fit(prepared)
                assigned = fitted.transform(prepared)
                # A clustering that leaves clusters empty is a smaller k; silhouette needs two.
                if assigned.select(CLUSTER).distinct().count() < 2:
                    continue
                score = evaluator.evaluate(assigned)
                trials.append(ClusteringTrial(algorithm, k, score))
                if best is None or score > best.silhouette:
                    best, best_model = trials[-1], fitted
    finally:
        prepared.unpersist()
    if best is None:
        raise ValueError("no clustering found two segments: too few distinct customers")
    model = PipelineModel(stages=[*prepared_model.stages, best_model])
    return Segmentation(model, best.algorithm, best.k, best.silhouette, trials)


def assign_segments(model: PipelineModel, frame: DataFrame, features: Sequence[str]
                    ) -> DataFrame:
    """`frame` plus `cluster` (int)."""
    assigned = model.transform(as_doubles(frame, features))
    return assigned.select(*frame.columns, F.col(CLUSTER).cast("int").alias(CLUSTER))


def segment_profiles(assigned: DataFrame, features: Sequence[str]) -> DataFrame:
    """cluster, persons, share, and the mean of each feature: one row per segment (k rows)."""
    require_columns(assigned, (CLUSTER, *features), "segment_profiles")
    total = assigned.count()
    return assigned.groupBy(CLUSTER).agg(
        F.count(F.lit(1)).alias("persons"),
        *[F.avg(F.col(name).cast("double")).alias(name) for name in features],
    ).withColumn("share", F.col("persons") / F.lit(max(total, 1)))


# Descriptions a segment can earn: (label, feature whose mean is high (+) or low (-), ...).
# The label of a segment is the description whose features set it furthest apart from the
# population, in population standard deviations; a segment close to average on all of them is
# "average customers".
DESCRIPTIONS: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("high-value loyal", (("lifetime_revenue", 1), ("lifetime_orders", 1))),
    ("deal seekers", (("offer_click_rate", 1), ("offer_clicks", 1))),
    ("browsers", (("product_views", 1), ("converted_session_rate", -1))),
    ("at risk", (("days_since_last_event", 1), ("sessions", -1))),
    ("newcomers", (("tenure_days", -1),)),
    ("store shoppers", (("store_visits", 1),)),
    ("social fans", (("social_actions", 1),)),
    ("email responsive", (("email_clicks", 1),)),
    ("occasional visitors", (("sessions", -1), ("lifetime_orders", -1))),
)
AVERAGE = "average customers"
MIN_DISTINCTION = 0.25  # standard deviations


def label_segments(profiles: Mapping[int, Mapping[str, float]],
                   population: Mapping[str, tuple[float, float]]) -> dict[int, str]:
    """A readable, unique label per cluster, derived from its profile.

    profiles: cluster -> feature means. population: feature -> (mean, standard deviation).
    Each description scores the mean signed z of its features present in both; a segment takes
    its best-scoring description, once per label (the segment that fits a label best keeps it;
    another segment takes its next best). Pure Python: k rows.
    """
    def z(cluster: int, name: str) -> float | None:
        if name not in population or profiles[cluster].get(name) is None:
            return None
        mean, spread = population[name]
        return (profiles[cluster][name] - mean) / spread if spread and spread > 0 else 0.0

    scored: list[tuple[float, int, str]] = []
    for cluster in profiles:
        for label, parts in DESCRIPTIONS:
            values = [z(cluster, name) for name, _ in parts]
            if any(v is None for v in values):
                continue
            score = sum(sign * v for (_, sign), v in zip(parts, values, strict=True)) / len(parts)
            scored.append((score, cluster, label))
    labels: dict[int, str] = {}
    taken: set[str] = set()
    for score, cluster, label in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if cluster in labels or label in taken or score < MIN_DISTINCTION:
            continue
        labels[cluster] = label
        taken.add(label)
    averages = sorted(c for c in profiles if c not in labels)
    for index, cluster in enumerate(averages):
        labels[cluster] = AVERAGE if index == 0 else f"{AVERAGE} {index + 1}"
    return labels


def adjusted_rand_index(assigned: DataFrame, truth: DataFrame, predicted: str = CLUSTER,
                        actual: str = "segment", key: str = "person_id") -> float:
    """The adjusted Rand index of two partitions of the persons both name (1: identical, about
    0: no better than chance). The contingency table has k x (true segments) cells, so it is
    counted in Spark and combined on the driver."""
    joined = assigned.select(key, predicted).join(truth.select(key, actual), key)
    cells = [(row[0], row[1], row[2]) for row in
             joined.groupBy(predicted, actual).count().collect()]
    n = sum(count for _, _, count in cells)
    if n < 2:
        raise ValueError("the adjusted Rand index needs at least two persons in both partitions")
    rows: dict[object, int] = {}
    columns: dict[object, int] = {}
    for a, b, count in cells:
        rows[a] = rows.get(a, 0) + count
        columns[b] = columns.get(b, 0) + count
    pairs = sum(math.comb(count, 2) for _, _, count in cells)
    row_pairs = sum(math.comb(count, 2) for count in rows.values())
    column_pairs = sum(math.comb(count, 2) for count in columns.values())
    expected = row_pairs * column_pairs / math.comb(n, 2)
    maximum = (row_pairs + column_pairs) / 2
    if maximum == expected:
        return 1.0
    return (pairs - expected) / (maximum - expected)
