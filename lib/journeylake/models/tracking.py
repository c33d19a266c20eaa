"""MLflow tracking and the model registry: where runs go, what every training run records, and
which version of each model is the `champion` that batch scoring loads.

By default runs and the registry share a SQLite database under `models.mlflow.store_dir` (a file
store cannot hold a registry) and artifacts go to a folder beside it; `models.mlflow.tracking_uri`
points at a tracking server instead. Registered models are named `<model_prefix>_<model>`.

Aliases: `champion` is the version scoring loads. A new version takes it only when it beats the
current champion on the same holdout metric (the caller evaluates the champion on the new
holdout); a tie keeps the champion. A version that does not win takes `challenger`, so
`challenger` is always the latest version that lost to the champion of its day. A champion that is
replaced keeps no alias and is tagged `superseded_by` with the version that replaced it.

`python -m journeylake.models.tracking` (`make mlflow-ui`) starts the MLflow UI on the same store.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import numpy
import pandas as pd
import pyspark
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Experiment
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode
from pyspark.ml import Transformer
from pyspark.ml.pipeline import PipelineModel
from pyspark.sql import SparkSession

from journeylake.core.config import Config, ConfigError
from journeylake.core.errors import UserError
from journeylake.core.job_runner import add_config_arguments, config_from_args, run_main

CHAMPION = "champion"
CHALLENGER = "challenger"
DATABASE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "artifacts"
UNKNOWN = "unknown"
# Tracking URIs whose server decides where artifacts go.
SERVER_SCHEMES = ("http", "https", "databricks", "databricks-uc", "uc")
# A curve is computed and aggregated in Spark; what reaches a plot is a few hundred points.
MAX_FIGURE_POINTS = 10_000
TABLE_VERSION_PARAM = "table_version.{table}"


# --- Where runs go --------------------------------------------------------------------------------


def tracking_uri(config: Config) -> str:
    """`models.mlflow.tracking_uri`, else `sqlite:///<store_dir>/mlflow.db` (absolute)."""
    settings = config.models.mlflow
    if settings.tracking_uri:
        return settings.tracking_uri
    return f"sqlite:///{_local_store_dir(config) / DATABASE_FILE}"


def artifact_root(config: Config) -> str | None:
    """The folder (a file URI) under which experiments keep their artifacts:
    `<store_dir>/artifacts`, or None when a tracking server decides (and serves) them."""
    if _uses_server(config):
        return None
    return (_local_store_dir(config) / ARTIFACTS_FOLDER).as_uri()


def _uses_server(config: Config) -> bool:
    return urlparse(tracking_uri(config)).scheme in SERVER_SCHEMES


def _default_store(config: Config) -> bool:
    """Whether runs go to journeylake's own SQLite database in store_dir."""
    return not config.models.mlflow.tracking_uri


def _local_store_dir(config: Config) -> Path:
    store_dir = config.resolve(config.models.mlflow.store_dir)
    if "://" in store_dir or store_dir.startswith("dbfs:"):
        raise ConfigError(
            f"models.mlflow.store_dir: {store_dir!r} is not a local folder, and the SQLite "
            "tracking store needs one; set models.mlflow.tracking_uri to a tracking server "
            "(or `databricks`) instead"
        )
    return Path(store_dir)


def _connect(config: Config) -> MlflowClient:
    """Point MLflow's tracking and registry at the configured store (process-wide: the fluent
    API, `mlflow.spark.log_model` among it, reads them) and return a client for it."""
    uri = tracking_uri(config)
    if _default_store(config):
        _local_store_dir(config).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def use_tracking(config: Config) -> str:
    """Set the tracking and registry URIs, create the store's folder and get or create the
    configured experiment (its artifacts under `artifact_root`, never `./mlruns`); returns the
    experiment id and makes it the active experiment."""
    client = _connect(config)
    name = config.models.mlflow.experiment
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        experiment = _create_experiment(client, config, name)
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    return str(experiment.experiment_id)


def _create_experiment(client: MlflowClient, config: Config, name: str) -> Experiment:
    root = artifact_root(config)
    location = f"{root}/{name}" if root else None
    try:
        client.create_experiment(name, artifact_location=location)
    except MlflowException as error:
        if error.error_code != _code(RESOURCE_ALREADY_EXISTS):
            raise  # otherwise another job created it in the meantime
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    return experiment


def _code(proto_code: int) -> str:
    return str(ErrorCode.Name(proto_code))


# --- What a training run records ------------------------------------------------------------------


def git_commit(root: str | Path) -> str:
    """The commit checked out at `root`, or "unknown" outside a git checkout (an installed
    wheel on a cluster)."""
    return _git(root, "rev-parse", "HEAD") or UNKNOWN


def git_dirty(root: str | Path) -> bool | None:
    """Whether tracked files differ from the commit (so the commit alone does not reproduce the
    run); None outside a git checkout."""
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _git(root: str | Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def source_tags(config: Config) -> dict[str, str]:
    """The tags that say which code a run used: `git_commit` (and MLflow's own
    `mlflow.source.git.commit`, which its UI shows), `git_dirty` and the environment."""
    commit = git_commit(config.project_root)
    dirty = git_dirty(config.project_root)
    return {
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "git_dirty": UNKNOWN if dirty is None else str(dirty).lower(),
        "journeylake.env": config.env,
    }


@contextmanager
def training_run(
    config: Config,
    run_name: str,
    tags: Mapping[str, str] | None = None,
    table_versions: Mapping[str, int] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """A run in the configured experiment that records the git commit and, if given, the Delta
    versions of the tables the training read. The caller logs parameters, metrics, plots and
    the model inside it; an exception ends the run as FAILED."""
    experiment_id = use_tracking(config)
    with mlflow.start_run(run_name=run_name, experiment_id=experiment_id,
                          tags={**source_tags(config), **(tags or {})}) as run:
        if table_versions:
            log_table_versions(table_versions)
        yield run


def log_table_versions(table_versions: Mapping[str, int]) -> None:
    """Log the Delta version of each input table as a parameter `table_version.<table>`, so a
    run can be reproduced with `versionAsOf`. Parameters cannot change: log each table once."""
    for table, version in table_versions.items():
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"Delta version of {table!r} must be a whole number >= 0, got "
                             f"{version!r}")
    mlflow.log_params({TABLE_VERSION_PARAM.format(table=table): version
                       for table, version in table_versions.items()})


def spark_model_requirements() -> list[str]:
    """What a Spark MLlib model needs to load as a pyfunc, pinned to this environment. Given
    explicitly because MLflow's inference reloads the model in a fresh Spark (seconds)."""
    return [f"pyspark=={pyspark.__version__}", f"numpy=={numpy.__version__}",
            f"pandas=={pd.__version__}"]


def log_spark_model(
    model: Transformer,
    name: str,
    input_example: pd.DataFrame | None = None,
    signature: ModelSignature | None = None,
) -> ModelInfo:
    """Log a fitted Spark model (a PipelineModel, or one stage) under the artifact path `name`
    of the active run. An `input_example` (a few rows of pandas) infers the signature and is
    checked by serving it once; a ready `signature` is cheaper."""
    if mlflow.active_run() is None:
        raise RuntimeError(f"logging model {name!r}: no active MLflow run; log it inside "
                           "training_run(...)")
    # mlflow 3.17's Spark flavour still names the destination `artifact_path` (positional);
    # `name` is the newer keyword of the generic Model.log, which this flavour does not use.
    return mlflow.spark.log_model(
        model,
        artifact_path=name,
        input_example=input_example,
        signature=signature,
        pip_requirements=spark_model_requirements(),
    )


# --- Plots ----------------------------------------------------------------------------------------


def log_figure(figure: Figure, artifact_file: str) -> str:
    """Log a matplotlib figure as an image artifact of the active run (`plots/roc.png`)."""
    mlflow.log_figure(figure, artifact_file)
    return artifact_file


def curve_figure(
    points: pd.DataFrame | Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    title: str,
    series: str | None = None,
    kind: str = "line",
    xlabel: str | None = None,
    ylabel: str | None = None,
    diagonal: bool = False,
    baseline: float | None = None,
) -> Figure:
    """A small chart of points already computed (and aggregated) by Spark: ROC points, lift by
    decile, calibration bins, silhouette by k (`kind="line"`), segment profiles (`kind="bar"`,
    one bar group per `x`, one bar per `series`). `diagonal` draws y = x (ROC, calibration);
    `baseline` a horizontal line (lift 1.0)."""
    frame = pd.DataFrame(list(points)) if not isinstance(points, pd.DataFrame) else points
    needed = [x, y, *([series] if series else [])]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise ValueError(f"plot {title!r} needs columns {missing}; the points have "
                         f"{list(frame.columns)}")
    if len(frame) > MAX_FIGURE_POINTS:
        raise ValueError(f"plot {title!r}: {len(frame)} points, more than {MAX_FIGURE_POINTS}; "
                         "aggregate the curve in Spark (bins, deciles) before plotting it")
    if kind not in ("line", "bar"):
        raise ValueError(f"plot {title!r}: kind {kind!r} is not one of line, bar")
    # A Figure without pyplot: no global state, no GUI backend, freed with the object.
    figure = Figure(figsize=(6.4, 4.8), layout="tight")
    axes = figure.subplots()
    groups = list(frame.groupby(series, sort=True)) if series else [(None, frame)]
    if kind == "line":
        for label, group in groups:
            ordered = group.sort_values(x)
            axes.plot(ordered[x], ordered[y], marker="o", markersize=3,
                      label=None if label is None else str(label))
    else:
        categories = list(dict.fromkeys(frame[x]))
        width = 0.8 / len(groups)
        for index, (label, group) in enumerate(groups):
            values = group.set_index(x)[y].reindex(categories)
            positions = [i - 0.4 + width * (index + 0.5) for i in range(len(categories))]
            axes.bar(positions, values, width=width, label=None if label is None else str(label))
        axes.set_xticks(range(len(categories)), [str(c) for c in categories], rotation=30,
                        ha="right")
    if diagonal:
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    if baseline is not None:
        axes.axhline(baseline, linestyle="--", color="grey", linewidth=1)
    axes.set_title(title)
    axes.set_xlabel(xlabel or x)
    axes.set_ylabel(ylabel or y)
    if series:
        axes.legend(title=series, fontsize="small")
    return figure


def log_curve_figure(
    points: pd.DataFrame | Sequence[Mapping[str, Any]],
    artifact_file: str,
    x: str,
    y: str,
    title: str,
    **options: Any,
) -> str:
    """`curve_figure(points, x, y, title, **options)` logged as `artifact_file` of the active
    run."""
    return log_figure(curve_figure(points, x, y, title, **options), artifact_file)


# --- The registry ---------------------------------------------------------------------------------


def registered_model_name(config: Config, model_name: str) -> str:
    """`purchase` -> `journeylake_purchase` (`models.mlflow.model_prefix`)."""
    return f"{config.models.mlflow.model_prefix}_{model_name}"


@dataclass(frozen=True)
class PromotionDecision:
    """What registering a new version decided. `champion_value` is the current champion's value
    of `metric` on the new version's holdout (None when there was no champion)."""

    name: str
    version: int
    alias: str
    metric: str
    new_value: float
    champion_value: float | None
    champion_version: int | None
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def champion_version(config: Config, model_name: str) -> int | None:
    """The version of `<prefix>_<model_name>` that has the champion alias, if any."""
    return _alias_version(_connect(config), registered_model_name(config, model_name), CHAMPION)


def _alias_version(client: MlflowClient, name: str, alias: str) -> int | None:
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == _code(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    version = model.aliases.get(alias)
    return None if version is None else int(version)


def register_and_promote(
    config: Config,
    model_name: str,
    run_id: str,
    artifact_path: str,
    metric_name: str,
    new_value: float,
    champion_value_fn: Callable[[str], float],
    higher_is_better: bool = True,
) -> PromotionDecision:
    """Register the model logged at `artifact_path` of run `run_id` as a new version of
    `<prefix>_<model_name>`, and give it `champion` only if its `metric_name` (`new_value`,
    on its holdout) beats the current champion's; otherwise `challenger`.

    `champion_value_fn(champion_model_uri)` evaluates the current champion on the same holdout
    (the URI pins its version: `models:/<name>/<version>`); it is not called without a champion.
    The decision, both values and the reason are logged in the run (metrics
    `promotion.<model>.<metric>.new` / `.champion`, tags `promotion.<model>.*`) and as tags on
    the new version."""
    _require_finite(metric_name, new_value, "the new version")
    client = _connect(config)
    name = registered_model_name(config, model_name)
    current = _alias_version(client, name, CHAMPION)
    champion_value = None
    if current is not None:
        champion_value = float(champion_value_fn(f"models:/{name}/{current}"))
        _require_finite(metric_name, champion_value, f"champion version {current}")
    registered = mlflow.register_model(f"runs:/{run_id}/{artifact_path}", name)
    version = int(registered.version)
    alias, reason = _decide(metric_name, float(new_value), champion_value, current,
                            higher_is_better)
    decision = PromotionDecision(
        name=name, version=version, alias=alias, metric=metric_name, new_value=float(new_value),
        champion_value=champion_value, champion_version=current, reason=reason,
    )
    # An alias names one version: setting it moves it from the version that had it.
    client.set_registered_model_alias(name, alias, str(version))
    if decision.promoted and current is not None:
        client.set_model_version_tag(name, str(current), "superseded_by", str(version))
    _record(client, run_id, model_name, decision, higher_is_better)
    return decision


def _require_finite(metric_name: str, value: float, whose: str) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{metric_name} of {whose} is {value!r}; a version can only be "
                         "compared on a finite value")


def _decide(metric: str, new: float, champion: float | None, champion_version: int | None,
            higher_is_better: bool) -> tuple[str, str]:
    if champion is None:
        return CHAMPION, f"no champion yet: the first version with {metric} {new:.6g} becomes it"
    better = new > champion if higher_is_better else new < champion
    direction = "higher" if higher_is_better else "lower"
    versus = (f"{metric} {new:.6g} vs champion version {champion_version}'s {champion:.6g} on "
              f"the same holdout ({direction} is better)")
    if better:
        return CHAMPION, f"beats the champion: {versus}"
    if new == champion:
        return CHALLENGER, f"ties the champion, which stays: {versus}"
    return CHALLENGER, f"does not beat the champion: {versus}"


def _record(client: MlflowClient, run_id: str, model_name: str, decision: PromotionDecision,
            higher_is_better: bool) -> None:
    prefix = f"promotion.{model_name}"
    client.log_metric(run_id, f"{prefix}.{decision.metric}.new", decision.new_value)
    if decision.champion_value is not None:
        client.log_metric(run_id, f"{prefix}.{decision.metric}.champion",
                          decision.champion_value)
    tags = {
        "alias": decision.alias,
        "version": str(decision.version),
        "champion_version": "none" if decision.champion_version is None
        else str(decision.champion_version),
        "reason": decision.reason,
    }
    for key, value in tags.items():
        client.set_tag(run_id, f"{prefix}.{key}", value)
    version_tags = {
        "metric": decision.metric,
        "metric_value": repr(decision.new_value),
        "higher_is_better": str(higher_is_better).lower(),
        "champion_value": "none" if decision.champion_value is None
        else repr(decision.champion_value),
        "decision": decision.alias,
        **{key: value for key, value in tags.items() if key in ("champion_version", "reason")},
    }
    for key, value in version_tags.items():
        client.set_model_version_tag(decision.name, str(decision.version), key, value)


def load_champion(spark: SparkSession, config: Config,
                  model_name: str) -> tuple[PipelineModel, int]:
    """The champion of `<prefix>_<model_name>` as a Spark PipelineModel, and its version.
    MLflow's Spark flavour loads into the active session, which `spark` is."""
    name = registered_model_name(config, model_name)
    uri = tracking_uri(config)
    missing = UserError(
        f"no champion of model {model_name!r} (registered as {name!r}) in the MLflow registry "
        f"at {uri}: train it first with `journeylake train`"
    )
    if _default_store(config) and not _local_store_dir(config).is_dir():
        raise missing  # no store yet; do not create an empty one just to find nothing in it
    version = _alias_version(_connect(config), name, CHAMPION)
    if version is None:
        raise missing
    # The version, not the alias: a promotion in between cannot hand back another version.
    return mlflow.spark.load_model(f"models:/{name}/{version}"), version


def version_dict(config: Config, model_name: str, version: int, artifact_file: str
                 ) -> dict[str, Any]:
    """A JSON artifact (`mlflow.log_dict`) of the run that produced `version` of the model:
    what scoring needs besides the model (decile cuts, importances)."""
    client = _connect(config)
    run_id = client.get_model_version(registered_model_name(config, model_name),
                                      str(version)).run_id
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact_file}")


# --- The UI ---------------------------------------------------------------------------------------


def server_url(config: Config) -> str:
    return f"http://127.0.0.1:{config.models.mlflow.ui_port}"


def server_command(config: Config) -> list[str]:
    """`mlflow server` on the jobs' own store and artifact folder, bound to 127.0.0.1."""
    if _uses_server(config):
        raise UserError(f"models.mlflow.tracking_uri is a tracking server "
                        f"({tracking_uri(config)}): open its own UI")
    root = artifact_root(config)
    assert root is not None
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", tracking_uri(config),
        "--default-artifact-root", root,
        "--artifacts-destination", root,
        "--host", "127.0.0.1",
        "--port", str(config.models.mlflow.ui_port),
        "--workers", "1",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m journeylake.models.tracking",
        description="Start the MLflow UI on the tracking store and registry the jobs use.",
    )
    add_config_arguments(parser)
    config = config_from_args(parser.parse_args(argv))
    command = server_command(config)
    _local_store_dir(config).mkdir(parents=True, exist_ok=True)
    print(f"MLflow UI at {server_url(config)} (store {tracking_uri(config)}, artifacts "
          f"{artifact_root(config)}); Ctrl-C stops it", flush=True)
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(run_main("mlflow-ui", main))
