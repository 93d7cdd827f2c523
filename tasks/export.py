"""Export: the served model, and the run's files, into MLflow.

Uploads the checkpoints (`checkpoints/`), the frozen feature columns
(`pipeline/feature_columns.json`), the plots (`plots/`), and logs the export
as a models-from-code pyfunc (`model`), with an input example from the
evaluation split. Everything here is I/O, so the task retries.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import mlflow.pyfunc
import pyarrow.parquet as pq
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from prefect import task

from estimators import export as est_export
from flows.config import PipelineConfig
from tasks.evaluate import Evaluation
from tasks.ingest import Splits
from tasks.model import build_estimator
from tasks.policies import retry_on_io
from tasks.runs import run_dir
from tasks.train import TrainedModel

__all__ = ["ModelRef", "export"]

_EXAMPLE_ROWS = 5


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
) -> None:
    """Uploads checkpoints, the frozen columns and the plots to the run."""
    client.log_artifacts(run_id, model_dir, "checkpoints")
    named = os.path.join(folder, "feature_columns.json")
    shutil.copyfile(columns_uri, named)
    client.log_artifact(run_id, named, "pipeline")
    if plots_dir and os.listdir(plots_dir):
        client.log_artifacts(run_id, plots_dir, "plots")


@task(name="export", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def export(
    config: PipelineConfig, splits: Splits, model: TrainedModel, evaluation: Evaluation
) -> ModelRef:
    """Exports the latest checkpoint and logs it, with the run's files, to MLflow."""
    run_id, model_dir, columns = model.run_id, model.model_dir, model.columns
    folder = run_dir(config, run_id)
    estimator = build_estimator(config, columns.uri, model_dir)
    path = estimator.export_saved_model(os.path.join(folder, "export"))
    client = MlflowClient()
    log_run_files(client, run_id, model_dir, columns.uri, evaluation.plots_dir, folder)
    example = pq.read_table(splits.eval_uri, columns=list(columns.raw_keys))
    # Created here so that it lands in the run's experiment (Model.log alone
    # would use the active or default experiment).
    logged = client.create_logged_model(
        client.get_run(run_id).info.experiment_id, name="model", source_run_id=run_id
    )
    info = Model.log(
        None,  # artifact_path: superseded by `name` in MLflow 3
        name="model",
        flavor=mlflow.pyfunc,
        run_id=run_id,
        model_id=logged.model_id,
        step=evaluation.global_step,
        input_example=example.slice(0, _EXAMPLE_ROWS).to_pandas(),
        **est_export.log_model_kwargs(path),
    )
    return ModelRef(
        run_id=run_id, export_path=path, model_uri=info.model_uri, evaluation=evaluation
    )
