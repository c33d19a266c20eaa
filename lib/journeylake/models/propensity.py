"""Propensity models: will a person buy, churn or unsubscribe in the next N days.

MLlib LogisticRegression and GBTClassifier learn from the training reference dates, each with
cross-validated hyper-parameters; both are judged on the later holdout date (a time-based split:
the holdout's labels come after every training label). The better one wins. Its probabilities
are calibrated with isotonic regression (or Platt scaling) on one half of the holdout and the
calibrated metrics are reported on the other half; a calibrated probability x 100 is the
behavioural score, 0-100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import IsotonicRegression, IsotonicRegressionModel
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.models.segmentation import SCALED, as_doubles, preparation

LABEL = "label"
PROBABILITY = "probability_raw"
CALIBRATED = "probability"
# The classifier's own outputs, named apart from the calibrated probability after it.
CLASSIFIER_COLUMNS = {"probabilityCol": "classifier_probability",
                      "rawPredictionCol": "classifier_raw",
                      "predictionCol": "classifier_prediction"}
PLATT_COLUMNS = {"probabilityCol": "platt_probability", "rawPredictionCol": "platt_raw",
                 "predictionCol": "platt_prediction"}
METRICS = ("auc_roc", "auc_pr", "lift_top_decile", "brier")
CALIBRATION_BINS = 10


class SingleClass(ValueError):
    """The rows of a target have one label only, or so few of one that a cross-validation fold
    had none: nothing to learn or to judge."""


# What Spark's evaluator says of a model fitted on a fold holding one class.
_ONE_CLASS_FOLD = "rawPredictionCol vectors must have length=2"


@dataclass
class ModelReport:
    """How one fitted model did on the holdout."""

    kind: str  # logistic_regression or gbt
    metrics: dict[str, float]
    best_params: dict[str, float]
    importances: dict[str, float]


@dataclass
class PropensityModel:
    target: str
    features: tuple[str, ...]
    winner: str
    model: PipelineModel  # preparation, the winning classifier and its calibrator
    calibration: str
    reports: dict[str, ModelReport] = field(default_factory=dict)
    calibrated_metrics: dict[str, float] = field(default_factory=dict)
    calibration_curve: list[tuple[float, float, int]] = field(default_factory=list)
    lift_curve: list[tuple[int, float]] = field(default_factory=list)
    roc_curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def importances(self) -> dict[str, float]:
        return self.reports[self.winner].importances


def labelled(frame: DataFrame, label: str) -> DataFrame:
    """The rows whose `label` is known, with it as a DOUBLE `label` column."""
    return frame.where(F.col(label).isNotNull()).withColumn(LABEL, F.col(label).cast("double"))


def positive_probability(column: str) -> Column:
    """The positive class's probability of an MLlib probability vector column."""
    return vector_to_array(F.col(column))[1]


def binary_metrics(scored: DataFrame, probability: str) -> dict[str, float]:
    """AUC-ROC, AUC-PR, lift in the top decile (its positive rate over the overall rate) and the
    Brier score of `probability` against `label`, all computed in Spark."""
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=probability, labelCol=LABEL)
    auc_roc = evaluator.setMetricName("areaUnderROC").evaluate(scored)
    auc_pr = evaluator.setMetricName("areaUnderPR").evaluate(scored)
    cut = scored.approxQuantile(probability, [0.9], 0.001)[0]
    row = scored.agg(
        F.avg(LABEL).alias("rate"),
        F.avg(F.when(F.col(probability) >= cut, F.col(LABEL))).alias("top_rate"),
        F.avg((F.col(probability) - F.col(LABEL)) ** 2).alias("brier"),
    ).first()
    lift = row["top_rate"] / row["rate"] if row["rate"] else float("nan")
    return {"auc_roc": auc_roc, "auc_pr": auc_pr, "lift_top_decile": lift,
            "brier": row["brier"]}


def calibration_curve(scored: DataFrame, probability: str, bins: int = CALIBRATION_BINS
                      ) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, persons) per equal-width probability bin: `bins` rows."""
    bucket = F.least(F.floor(F.col(probability) * bins), F.lit(bins - 1))
    rows = scored.groupBy(bucket.alias("bin")).agg(
        F.avg(probability).alias("predicted"), F.avg(LABEL).alias("observed"),
        F.count(F.lit(1)).alias("persons")).orderBy("bin").collect()
    return [(r["predicted"], r["observed"], r["persons"]) for r in rows]


def lift_curve(scored: DataFrame, probability: str) -> list[tuple[int, float]]:
    """(decile, lift) with decile 1 the highest-scored tenth: 10 rows."""
    cuts = scored.approxQuantile(probability, [i / 10 for i in range(1, 10)], 0.001)
    decile = deciles_of(F.col(probability), cuts)
    rate = scored.agg(F.avg(LABEL)).first()[0] or float("nan")
    rows = scored.groupBy(decile.alias("decile")).agg(F.avg(LABEL).alias("rate")).orderBy(
        "decile").collect()
    return [(r["decile"], r["rate"] / rate) for r in rows]


def roc_points(scored: DataFrame, probability: str, points: int = 50
               ) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at `points` score thresholds (quantiles)."""
    thresholds = sorted(set(scored.approxQuantile(
        probability, [i / points for i in range(points + 1)], 0.001)), reverse=True)
    totals = scored.agg(F.sum(LABEL).alias("p"), F.sum(1 - F.col(LABEL)).alias("n")).first()
    aggregates = [F.sum(F.when(F.col(probability) >= t, F.col(LABEL))).alias(f"tp{i}")
                  for i, t in enumerate(thresholds)]
    aggregates += [F.sum(F.when(F.col(probability) >= t, 1 - F.col(LABEL))).alias(f"fp{i}")
                   for i, t in enumerate(thresholds)]
    row = scored.agg(*aggregates).first()
    return [(0.0, 0.0)] + [((row[f"fp{i}"] or 0) / max(totals["n"], 1),
                            (row[f"tp{i}"] or 0) / max(totals["p"], 1))
                           for i in range(len(thresholds))]


def deciles_of(score: Column, cuts: Sequence[float]) -> Column:
    """Decile 1 (the top tenth) to 10 of `score`, given its nine ascending deciles `cuts`
    (approxQuantile: no global sort of persons)."""
    above = sum((F.when(score > F.lit(cut), 1).otherwise(0) for cut in cuts), F.lit(0))
    return (F.lit(10) - above).cast("int")


def _importances(kind: str, fitted, features: Sequence[str]) -> dict[str, float]:  # noqa: ANN001
    if kind == "gbt":
        values = fitted.featureImportances.toArray()
    else:
        # Coefficients of standardised inputs: comparable across features. Shares of their sum.
        raw = [abs(c) for c in fitted.coefficients.toArray()]
        total = sum(raw) or 1.0
        values = [c / total for c in raw]
    return {name: float(v) for name, v in zip(features, values, strict=True)}


def _fit_one(kind: str, train: DataFrame, features: Sequence[str], *, folds: int,
             reg_params: Sequence[float], max_depths: Sequence[int], max_iter: int, seed: int
             ) -> tuple[PipelineModel, dict[str, float]]:
    if kind == "logistic_regression":
        classifier = LogisticRegression(featuresCol=SCALED, labelCol=LABEL, maxIter=100)
        grid = ParamGridBuilder().addGrid(classifier.regParam, list(reg_params)).build()
    else:
        classifier = GBTClassifier(featuresCol=SCALED, labelCol=LABEL, maxIter=max_iter,
                                   seed=seed)
        grid = ParamGridBuilder().addGrid(classifier.maxDepth, list(max_depths)).build()
    # GBTClassifier's constructor does not take the probability columns; both have setters.
    classifier.setProbabilityCol(CLASSIFIER_COLUMNS["probabilityCol"]).setRawPredictionCol(
        CLASSIFIER_COLUMNS["rawPredictionCol"]).setPredictionCol(
        CLASSIFIER_COLUMNS["predictionCol"])
    validator = CrossValidator(
        estimator=classifier, estimatorParamMaps=grid, numFolds=folds, seed=seed,
        evaluator=BinaryClassificationEvaluator(labelCol=LABEL, metricName="areaUnderPR",
                                                rawPredictionCol=CLASSIFIER_COLUMNS[
                                                    "rawPredictionCol"]))
    prepared_model = Pipeline(stages=preparation(features)).fit(train)
    tuned = validator.fit(prepared_model.transform(train))
    best = tuned.bestModel
    chosen = grid[max(range(len(grid)), key=lambda i: tuned.avgMetrics[i])]
    params = {param.name: float(value) for param, value in chosen.items()}
    return PipelineModel(stages=[*prepared_model.stages, best]), params


def predict(model: PipelineModel, frame: DataFrame, features: Sequence[str]) -> DataFrame:
    """`frame` plus `probability_raw`, the classifier's positive-class probability, and, when
    the pipeline ends with a calibrator, `probability`, the calibrated one."""
    scored = model.transform(as_doubles(frame, features))
    columns = [*frame.columns,
               positive_probability(CLASSIFIER_COLUMNS["probabilityCol"]).alias(
                   PROBABILITY)]
    last = model.stages[-1]
    if isinstance(last, IsotonicRegressionModel):
        columns.append(F.col(CALIBRATED))
    elif last.getOrDefault("probabilityCol") == PLATT_COLUMNS["probabilityCol"]:
        columns.append(positive_probability(PLATT_COLUMNS["probabilityCol"]).alias(
            CALIBRATED))
    return scored.select(*columns)


def fit_calibrator(calibration: str, classified: DataFrame):  # noqa: ANN201
    """The last stage of a scoring pipeline, fitted on `classified` (the classifier's output
    with `label`): isotonic regression on the positive-class probability, or Platt scaling (a
    logistic regression on the classifier's margin)."""
    if calibration == "isotonic":
        return IsotonicRegression(featuresCol=CLASSIFIER_COLUMNS["probabilityCol"],
                                  featureIndex=1, labelCol=LABEL,
                                  predictionCol=CALIBRATED).fit(classified)
    if calibration == "platt":
        return LogisticRegression(
            featuresCol=CLASSIFIER_COLUMNS["rawPredictionCol"], labelCol=LABEL, regParam=1e-4
        ).setProbabilityCol(PLATT_COLUMNS["probabilityCol"]).setRawPredictionCol(
            PLATT_COLUMNS["rawPredictionCol"]).setPredictionCol(
            PLATT_COLUMNS["predictionCol"]).fit(classified)
    raise ValueError(f"calibration must be isotonic or platt, got {calibration!r}")


def train_propensity(
    target: str,
    train: DataFrame,
    holdout: DataFrame,
    features: Sequence[str],
    *,
    folds: int = 3,
    reg_params: Sequence[float] = (0.0, 0.01, 0.1),
    max_depths: Sequence[int] = (3, 5),
    max_iter: int = 30,
    selection_metric: str = "auc_pr",
    calibration: str = "isotonic",
    seed: int = 11,
) -> PropensityModel:
    """Fit both classifiers on `train`, judge them on `holdout` (both with `label`), keep the
    better by `selection_metric`, and calibrate it."""
    require_columns(train, (LABEL, *features), f"{target} training rows")
    require_columns(holdout, (LABEL, *features), f"{target} holdout rows")
    if selection_metric not in ("auc_pr", "auc_roc"):
        raise ValueError(f"selection_metric must be auc_pr or auc_roc, got {selection_metric!r}")
    for name, frame in (("training", train), ("holdout", holdout)):
        classes = frame.select(LABEL).distinct().count()
        if classes < 2:
            raise SingleClass(f"{target}: the {name} rows have one class only; more data or a "
                              "longer models.propensity.label_days is needed")
    train_rows = as_doubles(train, features).cache()
    holdout_rows = as_doubles(holdout, features).cache()
    reports, models = {}, {}
    for kind in ("logistic_regression", "gbt"):
        try:
            model, params = _fit_one(kind, train_rows, features, folds=folds,
                                     reg_params=reg_params, max_depths=max_depths,
                                     max_iter=max_iter, seed=seed)
        except IllegalArgumentException as error:
            # CrossValidator draws its folds at random, so a class with a few rows can miss
            # one: a clear reason to skip the target, not Spark's message from inside the fit.
            if _ONE_CLASS_FOLD not in str(error):
                raise
            smallest = train_rows.groupBy(LABEL).count().agg(F.min("count")).first()[0]
            raise SingleClass(
                f"{target}: a {folds}-fold cross-validation drew a fold with one class only "
                f"({smallest} training rows of the smaller class); more data, a longer "
                "models.propensity.label_days or fewer models.propensity.cv_folds is needed"
            ) from None
        scored = predict(model, holdout_rows, features)
        reports[kind] = ModelReport(kind, binary_metrics(scored, PROBABILITY), params,
                                    _importances(kind, model.stages[-1], features))
        models[kind] = model
    winner = max(reports, key=lambda k: reports[k].metrics[selection_metric])
    classified = models[winner].transform(holdout_rows)
    fit_half, check_half = classified.randomSplit([0.5, 0.5], seed=seed)
    calibrated_model = PipelineModel(stages=[*models[winner].stages,
                                             fit_calibrator(calibration, fit_half)])
    checked = predict(calibrated_model, check_half.select(*holdout_rows.columns),
                      features).cache()
    result = PropensityModel(
        target=target, features=tuple(features), winner=winner, model=calibrated_model,
        calibration=calibration, reports=reports,
        calibrated_metrics=binary_metrics(checked, CALIBRATED),
        calibration_curve=calibration_curve(checked, CALIBRATED),
        lift_curve=lift_curve(checked, CALIBRATED),
        roc_curve=roc_points(checked, CALIBRATED),
    )
    checked.unpersist()
    train_rows.unpersist()
    holdout_rows.unpersist()
    return result


def score_persons(model: PipelineModel, frame: DataFrame, features: Sequence[str]
                  ) -> DataFrame:
    """`frame` plus probability (calibrated) and score: the probability in percent, 0-100."""
    scored = predict(model, frame, features)
    return scored.drop(PROBABILITY).withColumn(
        "score", F.round(F.col(CALIBRATED) * 100).cast("int"))


def score_drivers(model: PipelineModel, frame: DataFrame, features: Sequence[str],
                  importances: Mapping[str, float], top: int) -> DataFrame:
    """person_id, reference_date, drivers: the `top` features that push this person's score up
    most, weighing the model's importance of each feature by how far above the population the
    person is on it (standard deviations, from the pipeline's own scaler); features where the
    person is at or below average drive nothing."""
    require_columns(frame, ("person_id", "reference_date", *features), "score_drivers")
    scaled = model.transform(as_doubles(frame, features))
    names = F.array(*[F.lit(name) for name in features])
    weights = F.array(*[F.lit(float(importances.get(name, 0.0))) for name in features])
    pushes = F.arrays_zip(names.alias("feature"), weights.alias("importance"),
                          vector_to_array(F.col(SCALED)).alias("z"))
    ranked = F.array_sort(F.transform(
        F.filter(pushes, lambda p: (p["z"] > 0) & (p["importance"] > 0)),
        lambda p: F.struct((-p["importance"] * p["z"]).alias("order"),
                           p["feature"].alias("feature"))))
    return scaled.select("person_id", "reference_date", F.transform(
        F.slice(ranked, 1, top), lambda p: p["feature"]).alias("drivers"))
