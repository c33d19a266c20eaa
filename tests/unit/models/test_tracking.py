"""MLflow tracking and the registry on a real SQLite store: what a training run records, that a
logged Spark model comes back the same, and which version holds the `champion` alias.

One store serves the module (each new store costs seconds of migrations); the registry tests
keep apart by using a model name of their own."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from chispa import assert_df_equality
from mlflow import MlflowClient
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import Config, ConfigError
from journeylake.core.errors import UserError
from journeylake.models import tracking
from journeylake.models.tracking import (
    CHALLENGER,
    CHAMPION,
    artifact_root,
    champion_version,
    git_commit,
    git_dirty,
    load_champion,
    log_curve_figure,
    log_spark_model,
    log_table_versions,
    register_and_promote,
    server_command,
    tracking_uri,
    training_run,
)
from tests.conftest import CONF_DIR, make_config

SCHEMA = "id string, x double, noise double, label double"
# The label is 1 from x = 10 up: a logistic regression on x separates it exactly.
ROWS = [(f"r{i}", float(i), float(i % 3), 1.0 if i >= 10 else 0.0) for i in range(20)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tracking") / "mlflow"


@pytest.fixture(scope="module")
def config(store: Path) -> Config:
    return make_config(store.parent, f"models.mlflow.store_dir={store}")


@pytest.fixture(scope="module")
def rows(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture(scope="module")
def model_a(rows: DataFrame) -> PipelineModel:
    return Pipeline(stages=[
        VectorAssembler(inputCols=["x", "noise"], outputCol="features"),
        LogisticRegression(maxIter=10),
    ]).fit(rows)


@pytest.fixture(scope="module")
def model_b(model_a: PipelineModel) -> PipelineModel:
    # Model A with a threshold of 0: every row is a 1 (a second fit would cost seconds).
    assembler, regression = model_a.stages
    return PipelineModel([assembler, regression.copy({regression.threshold: 0.0})])


@pytest.fixture(scope="module")
def run_a(config: Config, model_a: PipelineModel) -> dict[str, Any]:
    """A run with model A logged as `model`, and any pip requirement inference it triggered."""
    inferred: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlflow.models, "infer_pip_requirements",
                      lambda *args, **kwargs: inferred.append(str(args)) or [])
        with training_run(config, "model a") as run:
            info = log_spark_model(model_a, "model")
    return {"run_id": run.info.run_id, "info": info, "inferred": inferred}


@pytest.fixture(scope="module")
def run_b(config: Config, model_b: PipelineModel) -> str:
    with training_run(config, "model b") as run:
        log_spark_model(model_b, "model")
    return run.info.run_id


@pytest.fixture(scope="module")
def client(config: Config) -> MlflowClient:
    tracking.use_tracking(config)
    return MlflowClient(tracking_uri(config), tracking_uri(config))


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A checkout with one commit, and that commit's hash as `git log` prints it."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / "job.py").write_text("print('train')\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "job.py"], ["commit", "-q", "-m", "first"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    commit = subprocess.run([*git, "log", "-1", "--format=%H"], check=True,
                            capture_output=True, text=True).stdout.strip()
    yield repo, commit


def predictions(model: PipelineModel, rows: DataFrame) -> DataFrame:
    return model.transform(rows).select("id", "prediction", "probability")


def aliases(client: MlflowClient, name: str) -> dict[str, int]:
    return {alias: int(version)
            for alias, version in client.get_registered_model(name).aliases.items()}


def promote(config: Config, model: str, run_id: str, value: float,
            champion_value: float | None = None, **options: Any) -> tracking.PromotionDecision:
    """Register the `model` artifact of `run_id`; the current champion scores `champion_value`."""
    def evaluate(uri: str) -> float:
        assert champion_value is not None, f"the champion ({uri}) was evaluated unasked"
        return champion_value

    return register_and_promote(config, model, run_id, "model", "auc_pr", value, evaluate,
                                **options)


# --- Where runs go -----------------------------------------------------------------------------


def test_the_tracking_uri_defaults_to_a_sqlite_store_under_store_dir(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert tracking_uri(config) == f"sqlite:///{CONF_DIR.parent}/data/mlflow/mlflow.db"
    assert artifact_root(config) == f"file://{CONF_DIR.parent}/data/mlflow/artifacts"


def test_a_configured_tracking_server_is_used_as_given(tmp_path: Path) -> None:
    config = make_config(tmp_path, "models.mlflow.tracking_uri=http://mlflow.example:5000")
    assert tracking_uri(config) == "http://mlflow.example:5000"
    assert artifact_root(config) is None  # the server keeps the artifacts
    with pytest.raises(UserError, match="tracking server .*mlflow.example:5000.*its own UI"):
        server_command(config)


def test_a_sqlite_store_needs_a_local_folder(tmp_path: Path) -> None:
    config = make_config(tmp_path, "models.mlflow.store_dir=dbfs:/journeylake/mlflow")
    with pytest.raises(ConfigError, match="models.mlflow.store_dir: 'dbfs:/journeylake/mlflow' "
                                          "is not a local folder"):
        tracking_uri(config)


def test_runs_and_their_artifacts_go_to_the_store(config: Config, store: Path,
                                                  client: MlflowClient) -> None:
    assert (store / "mlflow.db").is_file()
    experiment = client.get_experiment_by_name("journeylake")
    assert experiment is not None
    assert experiment.artifact_location == f"file://{store}/artifacts/journeylake"
    assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == f"sqlite:///{store}/mlflow.db"


def test_the_ui_serves_the_jobs_store_on_localhost(config: Config, store: Path) -> None:
    port_config = make_config(store.parent, f"models.mlflow.store_dir={store}",
                              "models.mlflow.ui_port=5123")
    command = server_command(port_config)
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert options == {
        "--backend-store-uri": f"sqlite:///{store}/mlflow.db",
        "--default-artifact-root": f"file://{store}/artifacts",
        "--artifacts-destination": f"file://{store}/artifacts",
        "--host": "127.0.0.1",
        "--port": "5123",
        "--workers": "1",
    }


# --- What a training run records ---------------------------------------------------------------


def test_a_training_run_logs_params_metrics_git_commit_and_table_versions(
    store: Path, client: MlflowClient, git_repo: tuple[Path, str]
) -> None:
    repo, commit = git_repo
    config = make_config(store.parent, f"models.mlflow.store_dir={store}", f"project_root={repo}")
    with training_run(config, "propensity", tags={"model": "purchase"},
                      table_versions={"gold_customer_features": 3, "silver_events": 12}) as run:
        mlflow.log_params({"reg_param": 0.1, "max_depth": 5})
        mlflow.log_metric("auc_pr", 0.71)
        log_table_versions({"gold_outcomes": 0})
    logged = client.get_run(run.info.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == "propensity"
    assert logged.data.params == {
        "reg_param": "0.1", "max_depth": "5", "table_version.gold_customer_features": "3",
        "table_version.silver_events": "12", "table_version.gold_outcomes": "0",
    }
    assert logged.data.metrics == {"auc_pr": 0.71}
    tags = logged.data.tags
    assert (tags["git_commit"], tags["mlflow.source.git.commit"]) == (commit, commit)
    assert (tags["git_dirty"], tags["model"], tags["journeylake.env"]) == ("false", "purchase",
                                                                           "local")
    assert logged.info.artifact_uri.startswith(f"file://{store}/artifacts/journeylake/")


def test_a_run_that_raises_is_marked_failed(config: Config, client: MlflowClient) -> None:
    with pytest.raises(ZeroDivisionError), training_run(config, "broken") as run:
        _ = 1 / 0
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_a_table_version_is_a_whole_number(config: Config) -> None:
    with training_run(config, "versions"), pytest.raises(ValueError, match="'silver_events'"):
        log_table_versions({"silver_events": "latest"})  # type: ignore[dict-item]


def test_the_commit_is_unknown_outside_a_checkout_and_dirt_is_noticed(
    tmp_path: Path, git_repo: tuple[Path, str]
) -> None:
    outside = tmp_path / "not-a-checkout"
    outside.mkdir()
    assert (git_commit(outside), git_dirty(outside)) == ("unknown", None)
    repo, commit = git_repo
    assert (git_commit(repo), git_dirty(repo)) == (commit, False)
    (repo / "job.py").write_text("print('changed')\n")
    assert git_dirty(repo) is True


def test_a_logged_spark_model_loads_back_and_predicts_the_same(
    rows: DataFrame, model_a: PipelineModel, run_a: dict[str, Any]
) -> None:
    loaded = mlflow.spark.load_model(run_a["info"].model_uri)
    assert_df_equality(predictions(loaded, rows), predictions(model_a, rows),
                       ignore_row_order=True)
    # And it is the model that was fitted: it separates the label exactly.
    assert loaded.transform(rows).where("prediction != label").count() == 0


def test_a_logged_spark_model_has_pinned_requirements_without_inferring_them(
    run_a: dict[str, Any]
) -> None:
    assert run_a["inferred"] == []  # inference reloads the model in a new Spark: seconds
    folder = mlflow.artifacts.download_artifacts(f"{run_a['info'].model_uri}/requirements.txt")
    requirements = Path(folder).read_text().split()
    assert f"pyspark=={__import__('pyspark').__version__}" in requirements
    assert any(line.startswith("mlflow==") for line in requirements)


def test_a_model_is_only_logged_inside_a_run(model_a: PipelineModel) -> None:
    with pytest.raises(RuntimeError, match="no active MLflow run"):
        log_spark_model(model_a, "model")


def test_curves_are_logged_as_images(config: Config, client: MlflowClient,
                                     tmp_path: Path) -> None:
    roc = [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.1, "tpr": 0.6}, {"fpr": 1.0, "tpr": 1.0}]
    profiles = [{"segment": s, "feature": f, "mean": v}
                for s, f, v in [(0, "recency", 3.0), (0, "orders", 1.0), (1, "recency", 20.0),
                                (1, "orders", 0.2)]]
    with training_run(config, "plots") as run:
        log_curve_figure(roc, "plots/roc.png", x="fpr", y="tpr", title="ROC", diagonal=True)
        log_curve_figure(profiles, "plots/segment_profiles.png", x="feature", y="mean",
                         title="Segment profiles", series="segment", kind="bar")
    names = sorted(item.path for item in client.list_artifacts(run.info.run_id, "plots"))
    assert names == ["plots/roc.png", "plots/segment_profiles.png"]
    image = client.download_artifacts(run.info.run_id, "plots/roc.png", str(tmp_path))
    assert Path(image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_curve_with_too_many_points_or_a_missing_column_is_refused() -> None:
    many = [{"fpr": i / 20_000, "tpr": i / 20_000} for i in range(20_000)]
    with pytest.raises(ValueError, match="20000 points.*aggregate the curve in Spark"):
        tracking.curve_figure(many, x="fpr", y="tpr", title="ROC")
    with pytest.raises(ValueError, match=r"needs columns \['tpr'\]; the points have \['fpr'\]"):
        tracking.curve_figure([{"fpr": 0.0}], x="fpr", y="tpr", title="ROC")


# --- The registry ---------------------------------------------------------------------------------


def test_the_first_registered_version_becomes_champion(
    config: Config, client: MlflowClient, run_a: dict[str, Any]
) -> None:
    decision = promote(config, "first", run_a["run_id"], 0.6)
    assert (decision.name, decision.version, decision.alias) == ("journeylake_first", 1, CHAMPION)
    assert (decision.champion_value, decision.champion_version) == (None, None)
    assert aliases(client, "journeylake_first") == {CHAMPION: 1}
    assert champion_version(config, "first") == 1


def test_a_better_version_takes_champion_and_the_old_one_keeps_no_alias(
    config: Config, client: MlflowClient, run_a: dict[str, Any], run_b: str
) -> None:
    promote(config, "better", run_a["run_id"], 0.6)
    evaluated: list[str] = []

    def champion_on_new_holdout(uri: str) -> float:
        evaluated.append(uri)
        return 0.65

    decision = register_and_promote(config, "better", run_b, "model", "auc_pr", 0.8,
                                    champion_on_new_holdout)
    assert evaluated == ["models:/journeylake_better/1"]
    assert (decision.version, decision.alias, decision.promoted) == (2, CHAMPION, True)
    assert (decision.champion_value, decision.champion_version) == (0.65, 1)
    assert aliases(client, "journeylake_better") == {CHAMPION: 2}
    old = client.get_model_version("journeylake_better", "1")
    assert (old.aliases, old.tags["superseded_by"]) == ([], "2")


def test_a_worse_version_stays_challenger_and_the_champion_is_unchanged(
    config: Config, client: MlflowClient, run_a: dict[str, Any], run_b: str
) -> None:
    promote(config, "worse", run_a["run_id"], 0.6)
    decision = promote(config, "worse", run_b, 0.5, champion_value=0.6)
    assert (decision.version, decision.alias, decision.promoted) == (2, CHALLENGER, False)
    assert aliases(client, "journeylake_worse") == {CHAMPION: 1, CHALLENGER: 2}
    # The challenger alias moves to the latest version that lost.
    promote(config, "worse", run_a["run_id"], 0.55, champion_value=0.6)
    assert aliases(client, "journeylake_worse") == {CHAMPION: 1, CHALLENGER: 3}


def test_a_tie_keeps_the_champion(config: Config, client: MlflowClient,
                                  run_a: dict[str, Any], run_b: str) -> None:
    promote(config, "tie", run_a["run_id"], 0.6)
    decision = promote(config, "tie", run_b, 0.7, champion_value=0.7)
    assert decision.alias == CHALLENGER
    assert decision.reason.startswith("ties the champion, which stays")
    assert aliases(client, "journeylake_tie") == {CHAMPION: 1, CHALLENGER: 2}


def test_when_lower_is_better_the_smaller_error_wins(config: Config, run_a: dict[str, Any],
                                                    run_b: str) -> None:
    promote(config, "clv", run_a["run_id"], 10.0, higher_is_better=False)
    decision = promote(config, "clv", run_b, 8.0, champion_value=9.0, higher_is_better=False)
    assert (decision.alias, champion_version(config, "clv")) == (CHAMPION, 2)


def test_the_decision_and_both_numbers_are_logged_in_the_run_and_on_the_version(
    config: Config, client: MlflowClient, run_a: dict[str, Any], run_b: str
) -> None:
    promote(config, "logged", run_a["run_id"], 0.6)
    promote(config, "logged", run_b, 0.8, champion_value=0.65)
    first = client.get_run(run_a["run_id"]).data
    assert first.metrics["promotion.logged.auc_pr.new"] == 0.6
    assert "promotion.logged.auc_pr.champion" not in first.metrics
    assert first.tags["promotion.logged.alias"] == CHAMPION
    assert first.tags["promotion.logged.reason"].startswith("no champion yet")
    second = client.get_run(run_b).data
    assert second.metrics["promotion.logged.auc_pr.new"] == 0.8
    assert second.metrics["promotion.logged.auc_pr.champion"] == 0.65
    assert {key: second.tags[f"promotion.logged.{key}"]
            for key in ("alias", "version", "champion_version")} == {
        "alias": CHAMPION, "version": "2", "champion_version": "1"}
    assert second.tags["promotion.logged.reason"] == (
        "beats the champion: auc_pr 0.8 vs champion version 1's 0.65 on the same holdout "
        "(higher is better)")
    tags = client.get_model_version("journeylake_logged", "2").tags
    assert {key: tags[key] for key in ("metric", "metric_value", "champion_value",
                                       "champion_version", "decision", "higher_is_better")} == {
        "metric": "auc_pr", "metric_value": "0.8", "champion_value": "0.65",
        "champion_version": "1", "decision": CHAMPION, "higher_is_better": "true"}


def test_a_metric_that_is_not_a_number_registers_nothing(
    config: Config, client: MlflowClient, run_a: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="auc_pr of the new version is nan"):
        promote(config, "nan", run_a["run_id"], float("nan"))
    assert not client.search_registered_models("name = 'journeylake_nan'")


def test_load_champion_returns_the_champion_and_its_version(
    spark: SparkSession, config: Config, rows: DataFrame, run_a: dict[str, Any], run_b: str
) -> None:
    promote(config, "scored", run_a["run_id"], 0.6)  # 1: model A, champion
    promote(config, "scored", run_b, 0.8, champion_value=0.6)  # 2: model B, the new champion
    promote(config, "scored", run_a["run_id"], 0.7, champion_value=0.8)  # 3: challenger
    model, version = load_champion(spark, config, "scored")
    assert version == 2
    # Model B, which predicts 1 for every row (model A predicts the label, half of them 0).
    assert model.transform(rows).where("prediction != 1.0").count() == 0


def test_load_champion_of_an_unknown_model_says_to_train_it(
    spark: SparkSession, config: Config, client: MlflowClient, run_a: dict[str, Any]
) -> None:
    message = (r"no champion of model 'unknown' \(registered as 'journeylake_unknown'\) in the "
               r"MLflow registry at sqlite:///.*/mlflow.db: train it first with "
               r"`journeylake train`")
    with pytest.raises(UserError, match=message):
        load_champion(spark, config, "unknown")
    # Registered, but no version holds the alias (someone removed it).
    client.create_registered_model("journeylake_unknown")
    with pytest.raises(UserError, match=message):
        load_champion(spark, config, "unknown")


def test_load_champion_without_a_store_does_not_create_one(spark: SparkSession,
                                                           tmp_path: Path) -> None:
    config = make_config(tmp_path, f"models.mlflow.store_dir={tmp_path / 'none'}")
    with pytest.raises(UserError, match="train it first"):
        load_champion(spark, config, "purchase")
    assert not (tmp_path / "none").exists()
