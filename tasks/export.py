"""Export: the served model, and the run's files, into MLflow.

Uploads the checkpoints (`checkpoints/`), the frozen feature columns
(`pipeline/feature_columns.json`), the plots (`plots/`), and logs the export
as a pyfunc (`model`) whose loader is the installed
`estimators.export.pyfunc_model`, with an input example from the evaluation
split. Then `mlflow.models.evaluate` scores the logged model on the
evaluation split, adding MLflow's standard evaluation metrics
under their standard names (`accuracy_score`, `f1_score`, `roc_auc`,
`mean_squared_error`, ...) and its artifacts (`confusion_matrix.png`,
`per_class_metrics.csv`, ...) next to the pipeline's own `eval/...` and
`plots/`. Everything here is I/O, so the task
retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import mlflow.pyfunc
import pyarrow.parquet as pq
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from prefect import task

from estimators import export as est_export
from estimators_pipeline.tasks.config import EstimatorConfig
from estimators_pipeline.tasks.evaluate import CHECKPOINT_TAG, Evaluation
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.model import build_estimator, run_config
from estimators_pipeline.tasks.policies import retry_on_io
from estimators_pipeline.tasks.runs import TrackedRun
from estimators_pipeline.tasks.train import TrainedModel

__all__ = ["ModelRef", "export", "mlflow_evaluate"]

_EXAMPLE_ROWS = 5
_EVALUATE_ROWS = 20_000  # mlflow.models.evaluate holds the rows in pandas


@dataclass(frozen=True)
class ModelRef:
    """A logged model, ready to register.

    Attributes:
        run_id: The MLflow run it was logged to.
        export_path: The local export directory.
        model_uri: Its MLflow URI (`models:/<model_id>`), for registration.
        evaluation: Its evaluation on this run's split.
    """

    run_id: str
    export_path: str
    model_uri: str
    evaluation: Evaluation


def log_run_files(
    client: MlflowClient,
    run_id: str,
    model_dir: str,
    columns_uri: str,
    plots_dir: str | None,
    folder: str,
    checkpoint_path: str | None = None,
) -> None:
    """Uploads checkpoints, the frozen columns and the plots to the run.

    A served checkpoint other than the latest (restore-best) is uploaded too,
    under `served_checkpoint/`, and named by the run tag `CHECKPOINT_TAG`.
    """
    client.log_artifacts(run_id, model_dir, "checkpoints")
    if checkpoint_path:
        name = os.path.basename(os.path.normpath(checkpoint_path))
        client.log_artifacts(run_id, checkpoint_path, f"served_checkpoint/{name}")
        client.set_tag(run_id, CHECKPOINT_TAG, f"served_checkpoint/{name}")
    named = os.path.join(folder, "feature_columns.json")
    shutil.copyfile(columns_uri, named)
    client.log_artifact(run_id, named, "pipeline")
    if plots_dir and os.listdir(plots_dir):
        client.log_artifacts(run_id, plots_dir, "plots")


def mlflow_evaluate(
    run_id: str,
    model_uri: str,
    spec: EstimatorConfig,
    label: str,
    eval_uri: str,
    raw_keys: list[str],
) -> dict[str, float]:
    """`mlflow.models.evaluate` of the logged model on the eval split, into `run_id`.

    Classifiers are scored on `class_ids` (or `classes` with a label
    vocabulary), regressors on `predictions` (the model config's `output`
    picks that one column). MLflow's own prefix option mangles names with a
    "/", so its metrics keep their standard names. The run stays RUNNING
    (evaluate ends the runs it starts).
    """
    table = pq.read_table(eval_uri, columns=[*raw_keys, label])
    data = table.slice(0, _EVALUATE_ROWS).to_pandas()
    classifier = spec.type is None or not spec.type.endswith("Regressor")
    if spec.type is None and "n_classes" not in spec.args:
        classifier = False  # a custom model_fn: only a declared classifier
    column = "predictions"
    if classifier:
        column = "classes" if spec.args.get("label_vocabulary") else "class_ids"
    with mlflow.start_run(run_id=run_id), _quiet_mlflow():
        result = mlflow.models.evaluate(
            model_uri,
            data,
            targets=label,
            model_type="classifier" if classifier else "regressor",
            model_config={"output": column},
            evaluators=["default"],
        )
    MlflowClient().update_run(run_id, status="RUNNING")
    return dict(result.metrics)


@task(name="export", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def export(
    estimator: EstimatorConfig,
    label: str,
    splits: Splits,
    model: TrainedModel,
    evaluation: Evaluation,
    run: TrackedRun,
) -> ModelRef:
    """Exports the served checkpoint and logs it, with the run's files, to MLflow.

    Then scores the logged model with `mlflow.models.evaluate` (see
    `mlflow_evaluate`).
    """
    logger = stage_logger(__name__)
    run_id, columns = run.run_id, model.columns
    built = build_estimator(
        estimator,
        columns.uri,
        model.model_dir,
        config=run_config().replace(progress=False),
    )
    path = built.export_saved_model(
        os.path.join(run.folder, "export"), checkpoint_path=model.checkpoint_path
    )
    client = MlflowClient()
    log_run_files(
        client,
        run_id,
        model.model_dir,
        columns.uri,
        evaluation.plots_dir,
        run.folder,
        model.checkpoint_path,
    )
    info = _log_model(client, run_id, path, splits, list(columns.raw_keys), evaluation)
    logger.info(
        "export: logged %s (global_step %d)", info.model_uri, evaluation.global_step
    )
    scores = _standard_evaluation(
        run_id, info.model_uri, estimator, label, splits, list(columns.raw_keys)
    )
    if scores:
        logger.info(
            "export: mlflow.models.evaluate: %s",
            ", ".join(f"{k} {v:.4g}" for k, v in sorted(scores.items())[:6]),
        )
    return ModelRef(
        run_id=run_id, export_path=path, model_uri=info.model_uri, evaluation=evaluation
    )


def _log_model(
    client: MlflowClient,
    run_id: str,
    path: str,
    splits: Splits,
    raw_keys: list[str],
    evaluation: Evaluation,
) -> Any:
    example = pq.read_table(splits.eval_uri, columns=raw_keys)
    # Created here so that it lands in the run's experiment (Model.log alone
    # would use the active or default experiment).
    logged = client.create_logged_model(
        client.get_run(run_id).info.experiment_id, name="model", source_run_id=run_id
    )
    with _quiet_mlflow():
        return _log(run_id, logged.model_id, path, example, evaluation)


def _log(
    run_id: str,
    model_id: str,
    path: str,
    example: Any,
    evaluation: Evaluation,
) -> Any:
    return Model.log(
        None,  # artifact_path: superseded by `name` in MLflow 3
        name="model",
        flavor=mlflow.pyfunc,
        run_id=run_id,
        model_id=model_id,
        step=evaluation.global_step,
        # model_config {"output": "all"} comes with the kwargs: a loader may
        # pick one prediction column, as mlflow.models.evaluate needs.
        # The params example declares `output` in the signature: callers may
        # pick one prediction column per call (params={"output": "class_ids"}).
        **est_export.log_model_kwargs(
            path,
            input_example=(
                example.slice(0, _EXAMPLE_ROWS).to_pandas(),
                {"output": "all"},
            ),
        ),
    )


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's advice to notebook users (integer columns, SHAP, model type
    guesses) stays out of the pipeline's output; errors still raise."""
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        mlflow_logger.setLevel(level)


def _standard_evaluation(
    run_id: str,
    model_uri: str,
    spec: EstimatorConfig,
    label: str,
    splits: Splits,
    raw_keys: list[str],
) -> dict[str, float]:
    """MLflow's standard evaluation; a failure there is reported, never fatal."""
    try:
        return mlflow_evaluate(
            run_id, model_uri, spec, label, splits.eval_uri, raw_keys
        )
    except Exception as error:  # noqa: BLE001 - our own evaluation already passed
        stage_logger(__name__).warning(
            "export: mlflow.models.evaluate failed (%s); the pipeline's own "
            "evaluation stands.",
            str(error).splitlines()[0] if str(error) else type(error).__name__,
        )
        MlflowClient().update_run(run_id, status="RUNNING")
        return {}
