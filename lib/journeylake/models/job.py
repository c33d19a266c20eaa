"""Train the models on silver and gold (`journeylake train`) and score customers with the
registered champions (`journeylake score`).

Training writes the point-in-time features (the reference dates it computes replace theirs),
segments, CLV and recommendations, and registers the segmentation and each propensity model in
MLflow, where a new version becomes `champion` only when it beats the current one on the same
holdout. Scoring loads the champions and re-scores only the persons whose features (or whose
model version) changed since they were last scored.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from time import perf_counter

from pyspark.ml import PipelineModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config
from journeylake.core.errors import UserError
from journeylake.core.faults import crash_point
from journeylake.core.frames import union_all
from journeylake.core.job_runner import (
    JobError,
    config_from_args,
    configure_logging,
    job_parser,
    run_main,
)
from journeylake.core.progress import step
from journeylake.core.spark_session import build_session
from journeylake.core.table_spec import TableSpec
from journeylake.gold import journeys, social_influence, touchpoint_graph
from journeylake.gold.journeys import session_journeys
from journeylake.models import (
    clv,
    feature_catalogue,
    recommendations,
    segmentation,
    tables,
    tracking,
)
from journeylake.models import features as feature_builder
from journeylake.models import propensity as propensity_models
from journeylake.models.feature_catalogue import LABEL_BY_TARGET, numeric_features
from journeylake.models.features import (
    ReferenceDates,
    customer_features,
    midnight,
    reference_dates,
)
from journeylake.quality.checks import check_declarations, check_tables
from journeylake.silver.consent import MARKETING, PROFILING, consent_status, with_consent
from journeylake.silver.currency import in_reporting_currency
from journeylake.silver.tables import CONSENT, EVENTS, IDENTITY_MAP, SESSIONS

log = logging.getLogger("journeylake.models")
SEGMENTS_MODEL = "segments"
DECILES_FILE = "deciles.json"
SEGMENT_LABELS_FILE = "segment_labels.json"
IMPORTANCES_FILE = "importances.json"
IMPORTANCES_BY_MODEL_FILE = "importances_by_model.json"


@dataclass
class TrainOutcome:
    run_id: str
    references: dict[str, str] = field(default_factory=dict)
    decisions: list[tracking.PromotionDecision] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    # Targets that could not be trained, and why (one class only in the labels).
    skipped: dict[str, str] = field(default_factory=dict)
    # True when gold_customer_features already held features built from the same inputs
    features_reused: bool = False
    # target -> the winning model's feature importances
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    # target -> model kind (logistic_regression, gbt) -> its feature importances
    importances_by_model: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # step -> wall seconds
    seconds: dict[str, float] = field(default_factory=dict)
    # When profiling consent was checked (the run's start): who the models learn from
    consent_at: datetime | None = None
    # Rows of persons without profiling consent deleted from the model tables, per table
    purged: dict[str, int] = field(default_factory=dict)

    def lap(self, step: str) -> None:
        """Record the seconds since the previous lap as `step`'s."""
        now = perf_counter()
        self.seconds[step] = round(now - self._clock, 1)
        self._clock = now

    _clock: float = field(default_factory=perf_counter, repr=False)


def channels(config: Config) -> tuple[str, ...]:
    """The channels of the silver channel rules and the default one: the channel-mix inputs."""
    names = [rule.channel for rule in config.silver.channel_rules] + [
        config.silver.default_channel]
    return tuple(dict.fromkeys(names))


def with_channel_shares(features: DataFrame, channel_names: Sequence[str]) -> DataFrame:
    """The features plus `channel_share_<channel>` (0 when the person never used it)."""
    return features.select("*", *[
        F.coalesce(F.col("channel_mix")[name], F.lit(0.0)).alias(f"channel_share_{name}")
        for name in channel_names])


class Profiling:
    """Who may be profiled at one instant: silver_consent's `profiling` intervals and the
    configured default for persons without a decision. Models learn from and score only them;
    the instant is the run's start, since processing happens now whatever the data's dates."""

    def __init__(self, spark: SparkSession, config: Config, command: str, at: datetime
                 ) -> None:
        self.at, self.default = at, config.privacy.consent.default
        if lakehouse.table_exists(spark, config, CONSENT):
            self.consent = lakehouse.read_table(spark, config, CONSENT).cache()
        elif self.default == "deny":
            raise JobError(
                f"{command}: {CONSENT.name} does not exist, and with privacy.consent.default "
                "deny nobody may be profiled: ingest the consent source and run `journeylake "
                "silver` first (or set privacy.consent.default=grant)")
        else:
            self.consent = CONSENT.empty(spark)

    def allowed(self, rows: DataFrame) -> DataFrame:
        """The rows (person_id) of persons who may be profiled now."""
        return with_consent(rows, self.consent, PROFILING, self.at, self.default)

    def refused(self, rows: DataFrame) -> DataFrame:
        """The rows (person_id) of persons who may not."""
        return rows.join(self.allowed(rows.select("person_id").distinct()), "person_id",
                         "left_anti")


# Model tables keyed by person: rows of a person who may no longer be profiled are deleted
# (the scores by `score`, these by both commands), so none is left stale after a withdrawal.
PERSON_TABLES = (tables.SEGMENTS, tables.CLV, tables.RECOMMENDATIONS)


def purge_refused(spark: SparkSession, config: Config, profiling: Profiling,
                  specs: Sequence[TableSpec] = PERSON_TABLES) -> dict[str, int]:
    """Delete the rows of persons who may not be profiled from each of `specs` (one MERGE per
    table with any such row; none otherwise); returns the rows deleted per table."""
    purged = {}
    for spec in specs:
        if not lakehouse.table_exists(spark, config, spec):
            continue
        stale = profiling.refused(lakehouse.read_table(spark, config, spec).select(
            *spec.keys)).localCheckpoint()
        rows = stale.count()
        if rows:
            lakehouse.replace_rows(spark, config, spec, stale, spec.empty(spark))
            log.info("%s: %d rows of persons without profiling consent deleted", spec.name,
                     rows)
        purged[spec.name] = rows
    return purged


def _stamp(frame: DataFrame, run_id: str) -> DataFrame:
    return frame.withColumn(tables.BUILT_AT, F.lit(utc_now())).withColumn(
        tables.RUN_ID, F.lit(run_id))


def train(spark: SparkSession, config: Config, run_id: str | None = None) -> TrainOutcome:
    run_id = run_id or uuid.uuid4().hex
    lakehouse.require_tables(spark, config, (EVENTS, SESSIONS, IDENTITY_MAP), "train", "silver")
    check_declarations(config, tables.TABLES)
    outcome = TrainOutcome(run_id)
    profiling = Profiling(spark, config, "train", utc_now())
    outcome.consent_at = profiling.at
    models, silver, gold = config.models, config.silver, config.gold
    versions = {table.name: lakehouse.table_version(spark, config, table)
                for table in (EVENTS, SESSIONS, IDENTITY_MAP)}
    # Read the versions recorded, so a run can be reproduced from what MLflow logged.
    events = in_reporting_currency(
        lakehouse.read_table(spark, config, EVENTS, versions[EVENTS.name]),
        silver.currency.reporting).where(F.col("person_id").isNotNull()).localCheckpoint()
    sessions = lakehouse.read_table(spark, config, SESSIONS, versions[SESSIONS.name])
    identity_map = lakehouse.read_table(spark, config, IDENTITY_MAP, versions[IDENTITY_MAP.name])
    data_end = events.agg(F.max("ts")).first()[0]
    if data_end is None:
        raise JobError("train: silver_events has no event of a known person")
    propensity = models.propensity
    refs = reference_dates(data_end, propensity.label_days, propensity.training_references)
    outcome.references = {"training": ",".join(map(str, refs.training)),
                          "holdout": str(refs.holdout), "scoring": str(refs.scoring)}
    fingerprint = features_fingerprint(config, versions, refs)
    step("train: features")
    if lakehouse.latest_commit_note(spark, config, tables.CUSTOMER_FEATURES) == fingerprint:
        # Point in time: the same silver versions and settings give the same rows.
        log.info("%s: built from these inputs already, not rebuilt", tables.CUSTOMER_FEATURES.name)
        outcome.features_reused = True
    else:
        walks = session_journeys(events, sessions, silver.conversion_touchpoints,
                                 gold.collapse_repeats).localCheckpoint()
        features = customer_features(
            events, walks, sessions, identity_map, refs.all, labels_until=refs.scoring,
            window_days=models.feature_window_days, label_days=propensity.label_days,
            conversion_touchpoints=silver.conversion_touchpoints,
            outcome_stage_touchpoints=gold.outcome_stage_touchpoints, social=gold.social,
            motif_min_support=gold.odds_ratio_min_support)
        _write_partitions(spark, config, tables.CUSTOMER_FEATURES, features, run_id, outcome,
                          fingerprint)
    crash_point("train.after_features")
    outcome.lap("features")
    stored = lakehouse.read_table(spark, config, tables.CUSTOMER_FEATURES).where(
        F.col("reference_date").isin(list(refs.all)))
    # The features cover everyone (an input, like silver); the models see only persons who
    # may be profiled now, at every reference date.
    rows = with_channel_shares(profiling.allowed(stored), channels(config)).localCheckpoint()
    current = rows.where(F.col("reference_date") == F.lit(refs.scoring))
    tags = {"journeylake.train_run": run_id}
    step("train: segments")
    _train_segments(spark, config, current, versions, tags, run_id, outcome)
    crash_point("train.after_segments")
    outcome.lap("segments")
    inputs = numeric_features(channels(config))
    for target in propensity.targets:
        step(f"train: {target} propensity")
        try:
            _train_propensity(config, target, rows, refs, current, inputs, versions, tags,
                              outcome)
        except propensity_models.SingleClass as reason:
            log.warning("not training %s: %s", target, reason)
            outcome.skipped[target] = str(reason)
        outcome.lap(target)
    profiled_events = profiling.allowed(events)
    orders = profiled_events.where(
        F.col("touchpoint").isin(list(silver.conversion_touchpoints))).select(
        "person_id", "ts", F.col("revenue").alias("amount"))
    step("train: CLV")
    try:
        _train_clv(spark, config, orders, refs, versions, tags, run_id, outcome)
    except clv.ClvFitError as reason:
        log.warning("no CLV: %s", reason)
        outcome.skipped["clv"] = str(reason)
    outcome.lap("clv")
    step("train: recommendations")
    _train_recommendations(spark, config, profiled_events, current, versions, tags, run_id,
                           outcome)
    outcome.lap("recommendations")
    # A segmentation that stayed challenger left the champion's segments, withdrawn persons'
    # among them; a skipped CLV fit left the last one.
    outcome.purged = purge_refused(spark, config, profiling)
    profiling.consent.unpersist()
    step("train: quality")
    # Every table of train's, not only those this run wrote: a table a killed run wrote, and
    # this one found current, is checked too.
    check_tables(spark, config, "train", run_id, tables.TRAINED)
    outcome.lap("quality")
    return outcome


# The code the features come from: a change to it rebuilds them even on unchanged tables.
FEATURE_CODE = (feature_builder, feature_catalogue, journeys, social_influence, touchpoint_graph)


def features_fingerprint(config: Config, versions: dict[str, int], refs: ReferenceDates
                          ) -> str:
    """Everything gold_customer_features depends on: the silver versions read, the reference
    dates, the settings and the feature code. Kept with the write, so an unchanged one is not
    rebuilt."""
    code = hashlib.sha256("".join(inspect.getsource(m) for m in FEATURE_CODE).encode())
    inputs = {
        "tables": versions, "references": [str(d) for d in refs.all],
        "window_days": config.models.feature_window_days,
        "label_days": config.models.propensity.label_days,
        "conversions": list(config.silver.conversion_touchpoints),
        "reporting_currency": config.silver.currency.reporting,
        "outcome_stages": list(config.gold.outcome_stage_touchpoints),
        "collapse_repeats": config.gold.collapse_repeats, "social": asdict(config.gold.social),
        "motif_min_support": config.gold.odds_ratio_min_support,
        "code": code.hexdigest()[:16],
    }
    return json.dumps({"features_from": inputs}, sort_keys=True, default=str)


def _write_partitions(spark: SparkSession, config: Config, table: TableSpec, rows: DataFrame,
                      run_id: str, outcome: TrainOutcome, commit_note: str | None = None
                      ) -> None:
    lakehouse.overwrite_partitions(spark, config, table, _stamp(rows, run_id), commit_note)
    outcome.rows[table.name] = lakehouse.read_table(spark, config, table).where(
        F.col(tables.RUN_ID) == run_id).count()
    log.info("%s: %d rows", table.name, outcome.rows[table.name])


def _overwrite(spark: SparkSession, config: Config, table: TableSpec, rows: DataFrame,
               run_id: str, outcome: TrainOutcome) -> None:
    lakehouse.overwrite_table(spark, config, table, _stamp(rows, run_id))
    outcome.rows[table.name] = lakehouse.read_table(spark, config, table).count()
    log.info("%s: %d rows", table.name, outcome.rows[table.name])


def _silhouette(model: PipelineModel, frame: DataFrame, features: Sequence[str]) -> float:
    assigned = model.transform(segmentation.as_doubles(frame, features))
    return ClusteringEvaluator(featuresCol=segmentation.SCALED,
                               predictionCol=segmentation.CLUSTER).evaluate(assigned)


def _train_segments(spark: SparkSession, config: Config, current: DataFrame,
                    versions: dict[str, int], tags: dict[str, str], run_id: str,
                    outcome: TrainOutcome) -> None:
    settings = config.models.segmentation
    features = settings.features or segmentation.DEFAULT_FEATURES
    with tracking.training_run(config, SEGMENTS_MODEL, tags, versions) as run:
        fitted = segmentation.segment_customers(
            current, features, settings.algorithms, range(settings.k_min, settings.k_max + 1),
            settings.max_iterations, settings.seed)
        tracking.mlflow.log_params({"algorithm": fitted.algorithm, "k": fitted.k,
                                    "features": ",".join(features)})
        tracking.mlflow.log_metric("silhouette", fitted.silhouette)
        for trial in fitted.trials:
            tracking.mlflow.log_metric(f"silhouette.{trial.algorithm}.k{trial.k}",
                                       trial.silhouette)
        tracking.log_curve_figure(
            [{"k": t.k, "silhouette": t.silhouette, "algorithm": t.algorithm}
             for t in fitted.trials], "plots/silhouette_by_k.png", x="k", y="silhouette",
            title="Silhouette by k", series="algorithm")
        assigned = segmentation.assign_segments(fitted.model, current, features).cache()
        profiles = segmentation.segment_profiles(assigned, features).collect()  # k rows
        population = assigned.agg(*[
            F.struct(F.avg(F.col(name).cast("double")), F.stddev(F.col(name).cast("double")))
            .alias(name) for name in features]).first()
        labels = segmentation.label_segments(
            {row[segmentation.CLUSTER]: {name: row[name] for name in features}
             for row in profiles},
            {name: (population[name][0], population[name][1]) for name in features})
        tracking.log_curve_figure(
            [{"segment": labels[row[segmentation.CLUSTER]], "persons": row["persons"]}
             for row in profiles], "plots/segment_sizes.png", x="segment", y="persons",
            title="Segment sizes", kind="bar")
        tracking.mlflow.log_dict({labels[row[segmentation.CLUSTER]]: row.asDict()
                                  for row in profiles}, "segment_profiles.json")
        # Scoring labels a champion's segments with the labels of its own training.
        tracking.mlflow.log_dict({str(cluster): label for cluster, label in labels.items()},
                                 SEGMENT_LABELS_FILE)
        tracking.log_spark_model(fitted.model, SEGMENTS_MODEL)
        decision = tracking.register_and_promote(
            config, SEGMENTS_MODEL, run.info.run_id, SEGMENTS_MODEL, "silhouette",
            fitted.silhouette,
            lambda uri: _silhouette(tracking.mlflow.spark.load_model(uri), current, features))
        outcome.decisions.append(decision)
        outcome.metrics[SEGMENTS_MODEL] = {"silhouette": fitted.silhouette}
    if not decision.promoted:
        # The segment tables describe the champion's segments, which did not change.
        assigned.unpersist()
        return
    version = decision.version
    label_of = F.create_map(*[item for cluster, label in labels.items()
                              for item in (F.lit(cluster), F.lit(label))])
    reference = current.select(F.max("reference_date")).first()[0]
    _overwrite(spark, config, tables.SEGMENTS, assigned.select(
        "person_id", "reference_date", F.col(segmentation.CLUSTER).alias("segment"),
        label_of[F.col(segmentation.CLUSTER)].alias("segment_label"),
        F.lit(version).alias("model_version")), run_id, outcome)
    profile_rows = spark.createDataFrame(
        [(row[segmentation.CLUSTER], labels[row[segmentation.CLUSTER]], row["persons"],
          row["share"], {name: row[name] for name in features}, fitted.algorithm, fitted.k,
          fitted.silhouette, version, reference) for row in profiles],
        "segment int, segment_label string, persons bigint, share double, "
        "feature_means map<string,double>, algorithm string, k int, silhouette double, "
        "model_version int, reference_date date")
    _overwrite(spark, config, tables.SEGMENT_PROFILES, profile_rows, run_id, outcome)
    assigned.unpersist()


def _train_propensity(config: Config, target: str, rows: DataFrame, refs: ReferenceDates,
                      current: DataFrame,
                      inputs: Sequence[str], versions: dict[str, int], tags: dict[str, str],
                      outcome: TrainOutcome) -> None:
    settings = config.models.propensity
    label = LABEL_BY_TARGET.get(target)
    if label is None:
        raise JobError(f"models.propensity.targets: unknown target {target!r}; one of "
                       f"{', '.join(LABEL_BY_TARGET)}")
    train_rows = propensity_models.labelled(
        rows.where(F.col("reference_date").isin(list(refs.training))), label)
    holdout = propensity_models.labelled(
        rows.where(F.col("reference_date") == F.lit(refs.holdout)), label).cache()
    with tracking.training_run(config, target, tags, versions) as run:
        fitted = propensity_models.train_propensity(
            target, train_rows, holdout, inputs, folds=settings.cv_folds,
            reg_params=settings.logistic_reg_params, max_depths=settings.gbt_max_depths,
            max_iter=settings.gbt_max_iter, selection_metric=settings.selection_metric,
            calibration=settings.calibration, seed=settings.seed)
        tracking.mlflow.log_params({"target": target, "winner": fitted.winner,
                                    "label_days": settings.label_days,
                                    "calibration": fitted.calibration,
                                    "holdout_reference": str(refs.holdout)})
        for kind, report in fitted.reports.items():
            tracking.mlflow.log_metrics({f"{kind}.{k}": v for k, v in report.metrics.items()})
            tracking.mlflow.log_params({f"{kind}.{k}": v for k, v in report.best_params.items()})
        tracking.mlflow.log_metrics({f"calibrated.{k}": v
                                     for k, v in fitted.calibrated_metrics.items()})
        _log_curves(fitted)
        tracking.mlflow.log_dict(fitted.importances, IMPORTANCES_FILE)
        by_model = {kind: report.importances for kind, report in fitted.reports.items()}
        tracking.mlflow.log_dict(by_model, IMPORTANCES_BY_MODEL_FILE)
        outcome.importances[target] = fitted.importances
        outcome.importances_by_model[target] = by_model
        probabilities = propensity_models.predict(fitted.model, current, inputs)
        cuts = probabilities.approxQuantile(propensity_models.CALIBRATED,
                                            [i / 10 for i in range(1, 10)], 0.001)
        tracking.mlflow.log_dict({"cuts": cuts}, DECILES_FILE)
        tracking.log_spark_model(fitted.model, target)
        selection = settings.selection_metric

        def holdout_value(model: PipelineModel) -> float:
            scored = propensity_models.predict(model, holdout, inputs)
            return propensity_models.binary_metrics(scored, propensity_models.CALIBRATED)[
                selection]

        decision = tracking.register_and_promote(
            config, target, run.info.run_id, target, selection, holdout_value(fitted.model),
            lambda uri: holdout_value(tracking.mlflow.spark.load_model(uri)))
        outcome.decisions.append(decision)
        outcome.metrics[target] = {**fitted.reports[fitted.winner].metrics,
                                   **{f"calibrated_{k}": v
                                      for k, v in fitted.calibrated_metrics.items()}}
    holdout.unpersist()


def _log_curves(fitted: propensity_models.PropensityModel) -> None:
    tracking.log_curve_figure([{"false_positive_rate": x, "true_positive_rate": y}
                               for x, y in fitted.roc_curve], "plots/roc.png",
                              x="false_positive_rate", y="true_positive_rate",
                              title=f"ROC: {fitted.target}", diagonal=True)
    tracking.log_curve_figure([{"decile": d, "lift": lift} for d, lift in fitted.lift_curve],
                              "plots/lift.png", x="decile", y="lift",
                              title=f"Lift by decile: {fitted.target}", kind="bar", baseline=1.0)
    tracking.log_curve_figure([{"predicted": p, "observed": o}
                               for p, o, _ in fitted.calibration_curve], "plots/calibration.png",
                              x="predicted", y="observed",
                              title=f"Calibration: {fitted.target}", diagonal=True)


def _train_clv(spark: SparkSession, config: Config, orders: DataFrame, refs: ReferenceDates,
               versions: dict[str, int], tags: dict[str, str], run_id: str,
               outcome: TrainOutcome) -> None:
    settings = config.models.clv
    scoring = midnight(refs.scoring)
    holdout_start = scoring - timedelta(days=settings.holdout_days)
    orders = orders.cache()
    with tracking.training_run(config, "clv", tags, versions):
        report = clv.holdout_check(orders, holdout_start, scoring)
        tracking.mlflow.log_metrics({f"holdout.{k}": v for k, v in report.as_metrics().items()})
        summary = clv.clv_summary(orders, scoring)
        bgnbd, gamma_gamma = clv.fit_bgnbd(summary), clv.fit_gamma_gamma(summary)
        tracking.mlflow.log_params({
            "bgnbd.r": bgnbd.r, "bgnbd.alpha": bgnbd.alpha, "bgnbd.a": bgnbd.a,
            "bgnbd.b": bgnbd.b, "gamma_gamma.p": gamma_gamma.p, "gamma_gamma.q": gamma_gamma.q,
            "gamma_gamma.v": gamma_gamma.v, "horizon_days": settings.horizon_days,
            "holdout_days": settings.holdout_days})
        predicted = clv.predict_clv(summary, bgnbd, gamma_gamma, settings.horizon_days)
        outcome.metrics["clv"] = report.as_metrics()
    _overwrite(spark, config, tables.CLV, predicted.select(
        "person_id", F.lit(refs.scoring).alias("reference_date"),
        F.lit(float(settings.horizon_days)).alias("horizon_days"), "frequency", "recency", "T",
        "monetary_value", "orders", "total_value", "expected_purchases", "probability_alive",
        "expected_order_value", "clv"), run_id, outcome)
    orders.unpersist()


def _train_recommendations(spark: SparkSession, config: Config, events: DataFrame,
                           current: DataFrame, versions: dict[str, int], tags: dict[str, str],
                           run_id: str, outcome: TrainOutcome) -> None:
    settings = config.models.recommendations
    weights = dict(settings.weights)
    with tracking.training_run(config, "recommendations", tags, versions):
        cutoff = recommendations.holdout_cutoff(events, settings.holdout_days)
        before, after = recommendations.time_split(events, cutoff)
        seen = recommendations.interactions(before, weights).cache()
        fit = recommendations.fit_als(seen, settings.als_rank, settings.als_reg_param,
                                      settings.als_alpha, settings.als_max_iter, settings.seed)
        holdout = recommendations.holdout_purchases(after, seen)
        candidates = {
            "als": recommendations.personal_recommendations(fit, seen, settings.k),
            "popularity": recommendations.popularity_recommendations(
                seen, seen.select("person_id").distinct(), settings.k),
        }
        evaluated = {row["method"]: row.asDict() for row in
                     recommendations.evaluate(candidates, holdout, settings.k).collect()}
        for method, row in evaluated.items():
            tracking.mlflow.log_metrics({f"{method}.precision_at_k": row["precision_at_k"],
                                         f"{method}.recall_at_k": row["recall_at_k"]})
        tracking.mlflow.log_params({"k": settings.k, "holdout_cutoff": cutoff.isoformat(),
                                    "als_rank": settings.als_rank})
        outcome.metrics["recommendations"] = {
            f"{method}_{name}": row[name] for method, row in evaluated.items()
            for name in ("precision_at_k", "recall_at_k")}
        seen.unpersist()
        everything = recommendations.interactions(events, weights).cache()
        full = recommendations.fit_als(everything, settings.als_rank, settings.als_reg_param,
                                       settings.als_alpha, settings.als_max_iter, settings.seed)
        personal = recommendations.personal_recommendations(full, everything, settings.k)
        unseen = current.select("person_id").join(everything.select("person_id").distinct(),
                                                  "person_id", "left_anti")
        popular = recommendations.popularity_recommendations(everything, unseen, settings.k)
        rules = recommendations.association_rules(recommendations.baskets(events),
                                                  settings.min_support, settings.min_confidence)
    _overwrite(spark, config, tables.RECOMMENDATIONS, personal.withColumn(
        "method", F.lit("als")).unionByName(popular.withColumn("method", F.lit("popularity"))),
        run_id, outcome)
    _overwrite(spark, config, tables.PRODUCT_ASSOCIATIONS,
               recommendations.also_bought(rules, settings.k), run_id, outcome)
    everything.unpersist()


@dataclass
class ScoreOutcome:
    run_id: str
    reference_date: date | None = None
    # model -> (champion version, persons re-scored)
    scored: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    leads: int = 0
    # When profiling consent was checked (the run's start): who is scored
    consent_at: datetime | None = None
    # Persons whose scores were deleted: no longer profiled (withdrawn, or merged away)
    unscored: int = 0
    purged: dict[str, int] = field(default_factory=dict)


def _segment_labels(spark: SparkSession, config: Config, version: int) -> DataFrame:
    """segment, segment_label of segmentation `version`, as its training run named them."""
    labels = tracking.version_dict(config, SEGMENTS_MODEL, version, SEGMENT_LABELS_FILE)
    return spark.createDataFrame([(int(cluster), label) for cluster, label in labels.items()],
                                 "segment int, segment_label string")


def score(spark: SparkSession, config: Config, run_id: str | None = None) -> ScoreOutcome:
    """Score the persons of the latest reference date of gold_customer_features with each
    propensity champion; persons whose inputs (features, segmentation version, CLV) and model
    version are unchanged since their last score keep it."""
    run_id = run_id or uuid.uuid4().hex
    outcome = ScoreOutcome(run_id)
    lakehouse.require_tables(spark, config, (tables.CUSTOMER_FEATURES,), "score", "train")
    profiling = Profiling(spark, config, "score", utc_now())
    outcome.consent_at = profiling.at
    check_declarations(config, tables.SCORED)
    features = lakehouse.read_table(spark, config, tables.CUSTOMER_FEATURES)
    latest = features.agg(F.max("reference_date")).first()[0]
    outcome.reference_date = latest
    current = with_channel_shares(profiling.allowed(
        features.where(F.col("reference_date") == F.lit(latest))), channels(config))
    segmenter, segment_version = tracking.load_champion(spark, config, SEGMENTS_MODEL)
    segment_inputs = segmenter.stages[0].getInputCols()
    clv_now = lakehouse.read_table_or_empty(spark, config, tables.CLV).select(
        "person_id", "clv")
    described = (
        segmentation.assign_segments(segmenter, current, segment_inputs)
        .withColumnRenamed(segmentation.CLUSTER, "segment")
        .join(F.broadcast(_segment_labels(spark, config, segment_version)), "segment", "left")
        .join(clv_now, "person_id", "left")
    )
    model_inputs = [name for name in tables.CUSTOMER_FEATURES.columns
                    if name not in ("person_id", "reference_date", tables.BUILT_AT,
                                    tables.RUN_ID) and not name.startswith("label_")]
    fingerprint = F.sha2(F.to_json(F.struct(
        *model_inputs, F.lit(segment_version).alias("_segments"), "clv")), 256)
    described = described.withColumn("feature_hash", fingerprint).cache()
    previous = lakehouse.read_table_or_empty(spark, config, tables.SCORES).select(
        "person_id", "model", F.col("feature_hash").alias("_old_hash"),
        F.col("model_version").alias("_old_version"))
    scored_at = utc_now()
    fresh = []
    champions: dict[str, tuple[PipelineModel, int]] = {}
    for target in config.models.propensity.targets:
        try:
            model, version = tracking.load_champion(spark, config, target)
        except UserError as missing:
            log.warning("not scoring %s: %s", target, missing)
            outcome.skipped[target] = str(missing)
            continue
        champions[target] = (model, version)
        cuts = tracking.version_dict(config, target, version, DECILES_FILE)["cuts"]
        inputs = model.stages[0].getInputCols()
        before = previous.where(F.col("model") == target).drop("model")
        changed = described.join(before, "person_id", "left").where(
            F.col("_old_hash").isNull() | (F.col("_old_hash") != F.col("feature_hash"))
            | (F.col("_old_version") != version)).drop("_old_hash", "_old_version")
        rows = propensity_models.score_persons(model, changed, inputs).select(
            "person_id", F.lit(target).alias("model"), F.lit(version).alias("model_version"),
            propensity_models.CALIBRATED, "score",
            propensity_models.deciles_of(F.col(propensity_models.CALIBRATED), cuts).alias(
                "decile"),
            "segment", "segment_label", "clv", "reference_date", "feature_hash",
            F.lit(scored_at).alias("scored_at")).localCheckpoint()
        outcome.scored[target] = (version, rows.count())
        fresh.append(rows)
    # Persons no longer in the features (merged into another by identity resolution) or no
    # longer to be profiled (consent withdrawn) lose their scores in the same transaction.
    gone = previous.join(current.select("person_id"), "person_id", "left_anti").localCheckpoint()
    outcome.unscored = gone.select("person_id").distinct().count()
    if sum(persons for _, persons in outcome.scored.values()) > 0 or outcome.unscored:
        changed_rows = union_all(fresh) if fresh else tables.SCORES.empty(spark).drop(
            tables.BUILT_AT, tables.RUN_ID)
        # One MERGE for every model's changed persons: a kill leaves all or none.
        lakehouse.replace_rows(spark, config, tables.SCORES, gone,
                               _stamp(changed_rows, run_id))
        crash_point("score.after_scores")
    # The leads name the scores version they were ranked from: a run killed between the two
    # writes finds its scores unchanged next time, and still writes the leads.
    ranked_from = (f"ranked from {tables.SCORES.name} version "
                   f"{lakehouse.table_version(spark, config, tables.SCORES)}"
                   if lakehouse.table_exists(spark, config, tables.SCORES) else None)
    if ranked_from and lakehouse.latest_commit_note(spark, config, tables.LEADS) != ranked_from:
        outcome.leads = _write_leads(spark, config, current, champions, run_id, profiling,
                                     ranked_from)
    crash_point("score.after_leads")
    outcome.purged = purge_refused(spark, config, profiling)
    check_tables(spark, config, "score", run_id, tables.SCORED)
    described.unpersist()
    profiling.consent.unpersist()
    return outcome


def _write_leads(spark: SparkSession, config: Config, current: DataFrame,
                 champions: dict[str, tuple[PipelineModel, int]], run_id: str,
                 profiling: Profiling, ranked_from: str) -> int:
    """The top `models.propensity.leads` persons of each champion's model, with their drivers
    and their `marketing` consent status now (granted, withdrawn, none: whether they may be
    contacted is the campaign's rule, with privacy.consent.default for none).
    Every row of a scored model carries its champion's version (a new version re-scores all)."""
    settings = config.models.propensity
    scores = lakehouse.read_table(spark, config, tables.SCORES)
    ranked = scores.withColumn("rank", F.row_number().over(
        Window.partitionBy("model").orderBy(F.desc("probability"), "person_id"))).where(
        F.col("rank") <= settings.leads).cache()
    leads = []
    for target, (model, version) in champions.items():
        importances = tracking.version_dict(config, target, version, IMPORTANCES_FILE)
        top = ranked.where(F.col("model") == target)
        drivers = propensity_models.score_drivers(
            model, current.join(top.select("person_id"), "person_id"),
            model.stages[0].getInputCols(), importances, settings.lead_drivers)
        described = consent_status(top.join(drivers.drop("reference_date"), "person_id", "left"),
                                   profiling.consent, MARKETING, profiling.at)
        leads.append(described.select(
            "model", "rank", "person_id", "score", "decile",
            F.coalesce("drivers", F.array().cast("array<string>")).alias("drivers"),
            "segment_label", "clv", "consent_status", "reference_date"))
    if not leads:
        return 0
    lakehouse.overwrite_table(spark, config, tables.LEADS, _stamp(union_all(leads), run_id),
                              commit_note=ranked_from)
    ranked.unpersist()
    return lakehouse.read_table(spark, config, tables.LEADS).count()


def main_score(argv: Sequence[str] | None = None) -> int:
    args = job_parser("score", "score customers with the champion models").parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    spark = build_session(config)
    print(describe_scoring(score(spark, config)))
    return 0


def describe_scoring(outcome: ScoreOutcome) -> str:
    lines = [f"score run {outcome.run_id}: reference date {outcome.reference_date}"]
    for model, (version, persons) in outcome.scored.items():
        lines.append(f"  {model} v{version}: {persons:,} persons (re-)scored")
    for model, reason in outcome.skipped.items():
        lines.append(f"  {model}: not scored ({reason})")
    lines.append(f"  gold_leads: {outcome.leads:,} rows")
    lines.append(f"  profiling consent checked at {outcome.consent_at}: {outcome.unscored:,} "
                 "persons' scores deleted")
    return "\n".join(lines)


def main_train(argv: Sequence[str] | None = None) -> int:
    args = job_parser("train", "train segmentation, propensity, CLV and recommendation models"
                      ).parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    spark = build_session(config)
    outcome = train(spark, config)
    print(describe_training(outcome))
    return 0


def describe_training(outcome: TrainOutcome) -> str:
    lines = [f"train run {outcome.run_id}: reference dates {outcome.references}"]
    if outcome.features_reused:
        lines.append("  gold_customer_features: built from these inputs already, reused")
    for decision in outcome.decisions:
        lines.append(f"  {decision.name} v{decision.version}: {decision.alias} ({decision.reason})")
    for name, metrics in outcome.metrics.items():
        shown = ", ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:6])
        lines.append(f"  {name}: {shown}")
    for target, reason in outcome.skipped.items():
        lines.append(f"  {target}: not trained ({reason})")
    for table, rows in outcome.rows.items():
        lines.append(f"  {table:<32} {rows:>10,} rows")
    if outcome.consent_at is not None:
        purged = sum(outcome.purged.values())
        lines.append(f"  profiling consent checked at {outcome.consent_at}: {purged:,} rows of "
                     "persons without it deleted")
    lines.append("  seconds: " + ", ".join(f"{step} {seconds:.1f}"
                                           for step, seconds in outcome.seconds.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_main("train", main_train))
