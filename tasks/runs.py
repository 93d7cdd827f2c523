"""The MLflow run of a pipeline run: start it, end it, mark it failed.

One MLflow run per Prefect flow run, found again by its `prefect.flow_run_id`
tag, so a retried flow run continues its MLflow run (and its model_dir) instead
of starting over.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import pyarrow.parquet as pq
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.utils import git_utils
from mlflow.utils.mlflow_tags import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
)
from prefect import task
from prefect.runtime import deployment
from prefect.runtime import flow_run as current_flow_run

from estimators_pipeline.tasks import pending
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.policies import retry_on_io
from estimators_pipeline.tasks.tracking import resend

__all__ = [
    "FLOW_RUN_TAG",
    "SOURCE_NAME",
    "TrackedRun",
    "UnsentMetrics",
    "end_run",
    "experiment_id",
    "find_run",
    "resend_spools",
    "run_dir",
    "start_run",
]

logger = logging.getLogger("tasks.runs")

FLOW_RUN_TAG = "prefect.flow_run_id"
SOURCE_NAME = "estimators_pipeline.flows.training:training_pipeline"
_MAX_PARAMS = 100  # MLflow's limit of params per log_batch call
_MAX_PARAM_CHARS = 6000


def run_dir(work_dir: str, model_name: str, run_id: str) -> str:
    """The local folder of one run: model_dir, plots, export, metric spools."""
    return os.path.join(os.path.abspath(work_dir), model_name, run_id)


@dataclass(frozen=True)
class TrackedRun:
    """A reference to the MLflow run of a pipeline run and its local folder.

    Attributes:
        run_id: The MLflow run id.
        experiment_id: Its experiment.
        folder: The local folder (`run_dir`): model_dir, plots, export, spools.
        name: The run's name in MLflow.
        resumed: Whether an earlier, interrupted run was continued.
    """

    run_id: str
    experiment_id: str
    folder: str
    name: str = ""
    resumed: bool = False

    @property
    def model_dir(self) -> str:
        """The Estimator's model_dir: checkpoints, metrics.jsonl."""
        return os.path.join(self.folder, "model")


def experiment_id(client: MlflowClient, config: PipelineConfig) -> str:
    """The id of the config's experiment, created when missing."""
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    location = config.tracking.artifact_location or _beside_database(config.experiment)
    try:
        return client.create_experiment(config.experiment, artifact_location=location)
    except MlflowException as error:  # created meanwhile by a concurrent run
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(config.experiment).experiment_id


def _beside_database(experiment: str) -> str | None:
    """`<folder of mlflow.db>/mlartifacts/<experiment>` for a local SQLite store.

    MLflow would otherwise put the artifacts of a client-side SQLite store in
    `./mlruns` of whatever directory the process happens to run in.
    """
    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None  # a tracking server decides where artifacts go
    folder = os.path.dirname(os.path.abspath(uri.removeprefix("sqlite:///")))
    return os.path.join(folder, "mlartifacts", experiment)


def find_run(client: MlflowClient, config: PipelineConfig, flow_run_id: str) -> Any:
    """The MLflow run tagged with `flow_run_id`, or None."""
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{FLOW_RUN_TAG}` = '{flow_run_id}'",
        max_results=1,
    )
    return runs[0] if runs else None


def identity_tags() -> dict[str, str]:
    """Who ran what: MLflow's own context tags, completed from the current checkout.

    `mlflow.user`, `mlflow.source.type` (JOB under a Prefect deployment, else
    LOCAL), `mlflow.source.name` (the flow's entry point) and the git commit,
    branch and remote of the current directory, where there is one.
    """
    tags = dict(resolve_tags({}))
    tags[MLFLOW_SOURCE_NAME] = SOURCE_NAME
    tags[MLFLOW_SOURCE_TYPE] = "JOB" if deployment.id else "LOCAL"
    cwd = os.getcwd()
    for key, read in (
        (MLFLOW_GIT_COMMIT, git_utils.get_git_commit),
        (MLFLOW_GIT_BRANCH, git_utils.get_git_branch),
        (MLFLOW_GIT_REPO_URL, git_utils.get_git_repo_url),
    ):
        if key not in tags and (value := read(cwd)):
            tags[key] = value
    return tags


def _tags(splits: Splits) -> dict[str, str]:
    return identity_tags() | {
        FLOW_RUN_TAG: current_flow_run.id or "none",
        "prefect.flow_run_name": current_flow_run.name or "none",
        "prefect.deployment": deployment.name or "none",
        "data.fingerprint": splits.fingerprint,
        "data.train_rows": str(splits.train_rows),
        "data.eval_rows": str(splits.eval_rows),
    }


def run_name(model_name: str) -> str:
    """A readable run name: the model and the local start time.

    Example:
        >>> run_name("iris").startswith("iris-")
        True
    """
    return f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def split_dataset(uri: str, name: str, fingerprint: str) -> MetaDataset:
    """An MLflow dataset for one split: its file, schema and a content digest.

    The digest is derived from the source data's fingerprint and the split's
    name (a split's rows depend only on them); only the schema is read.
    """
    sample = pq.ParquetFile(uri).read_row_group(0).slice(0, 100).to_pandas()
    with warnings.catch_warnings():  # two source kinds match a local path; int hints
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(os.path.abspath(uri))
        schema = infer_signature(sample).inputs
    digest = hashlib.sha256(f"{fingerprint}:{name}".encode()).hexdigest()[:16]
    return MetaDataset(source, name=name, digest=digest, schema=schema)


def log_datasets(client: MlflowClient, run_id: str, splits: Splits) -> None:
    """Logs the train and eval splits as the run's dataset inputs."""
    inputs = [
        DatasetInput(
            split_dataset(uri, name, splits.fingerprint)._to_mlflow_entity(),
            tags=[InputTag("mlflow.data.context", context)],
        )
        for uri, name, context in (
            (splits.train_uri, "train", "training"),
            (splits.eval_uri, "eval", "evaluation"),
        )
    ]
    client.log_inputs(run_id, datasets=inputs)


def _reopen(client: MlflowClient, config: PipelineConfig, run_id: str) -> TrackedRun:
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise  # unreachable: retried
        raise ValueError(
            f"--resume {run_id}: no such MLflow run at {mlflow.get_tracking_uri()}."
        ) from None
    folder = run_dir(config.work_dir, config.model_name, run_id)
    client.update_run(run_id, status="RUNNING")
    pending.discard_end(folder)  # continued, not ended
    if current_flow_run.id:
        client.set_tag(run_id, FLOW_RUN_TAG, current_flow_run.id)
    pending.record_run(folder, run_id, current_flow_run.id)
    return TrackedRun(
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        folder=folder,
        name=run.info.run_name,
        resumed=True,
    )


def _finish_pending(client: MlflowClient, config: PipelineConfig) -> None:
    """Ends the runs that failed while MLflow was unreachable (see `pending`)."""
    try:
        ended = pending.finish_pending(config.work_dir, config.model_name, client)
    except Exception as error:  # noqa: BLE001 - never blocks a new run
        logger.warning("Could not end the runs kept in pending-end.json: %s", error)
        return
    for run_id, status in ended:
        stage_logger(__name__).warning(
            "start-run: MLflow run %s ended %s (its pipeline failed while MLflow "
            "was unreachable)",
            run_id,
            status,
        )
    try:
        orphans = pending.end_orphans(config.work_dir, config.model_name, client)
    except Exception as error:  # noqa: BLE001 - never blocks a new run
        logger.warning("Could not check for runs left RUNNING: %s", error)
        return
    for run_id, why in orphans:
        stage_logger(__name__).warning(
            "start-run: MLflow run %s ended KILLED: %s", run_id, why
        )


@task(
    name="start-run", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io
)
def start_run(
    config: PipelineConfig, splits: Splits, resume: str | None = None
) -> TrackedRun:
    """Creates this flow run's MLflow run, or reopens one to continue it.

    The run is named `<model>-<date>-<time>` and tagged with MLflow's context
    (user, source, git commit, branch, remote), the Prefect flow run and
    deployment and the data fingerprint; the config is logged flattened as
    params and whole as `pipeline/config.json`, the splits as dataset inputs.

    Args:
        config: The whole config (it is what the run records).
        splits: The ingested splits.
        resume: An MLflow run id to continue (its model_dir resumes from the
            last checkpoint); by default a retried flow run continues its own.
    """
    client = MlflowClient()
    logger = stage_logger(__name__)
    _finish_pending(client, config)
    existing = current_flow_run.id and find_run(client, config, current_flow_run.id)
    if resume or existing:
        run = _reopen(client, config, resume or existing.info.run_id)
        logger.info("start-run: continuing MLflow run %s (%s)", run.run_id, run.name)
        return run
    name = run_name(config.model_name)
    created = client.create_run(
        experiment_id(client, config), run_name=name, tags=_tags(splits)
    )
    run_id = created.info.run_id
    params = [Param(k, v[:_MAX_PARAM_CHARS]) for k, v in config.flatten().items()]
    for i in range(0, len(params), _MAX_PARAMS):
        client.log_batch(run_id, params=params[i : i + _MAX_PARAMS], synchronous=True)
    client.log_text(run_id, config.model_dump_json(indent=2), "pipeline/config.json")
    log_datasets(client, run_id, splits)
    folder = run_dir(config.work_dir, config.model_name, run_id)
    pending.record_run(folder, run_id, current_flow_run.id)
    logger.info("start-run: MLflow run %s (%s)", run_id, name)
    return TrackedRun(
        run_id=run_id,
        experiment_id=created.info.experiment_id,
        folder=folder,
        name=name,
    )


class UnsentMetrics(ConnectionError):
    """Metric points kept locally could not be sent to MLflow (yet)."""


def resend_spools(folder: str, run_id: str, client: Any = None) -> int:
    """Sends the metric points a run kept while MLflow was unreachable.

    Returns:
        How many points were sent.

    Raises:
        UnsentMetrics: MLflow is still unreachable; names the files that keep
        the points and the command that sends them later.
    """
    sent = 0
    for spool in sorted(glob.glob(os.path.join(folder, "*.unsent.jsonl"))):
        try:
            sent += resend(spool, run_id, client)
        except Exception as error:  # noqa: BLE001 - reported with what to do
            raise UnsentMetrics(
                f"MLflow run {run_id}: the metric points in {spool} could not be sent "
                f"({error}); they stay there, and `estimators-pipeline resend "
                "--config <pipeline.yaml>` sends them when the server answers."
            ) from error
    return sent


@task(name="end-run", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_on_io)
def end_run(run: TrackedRun) -> None:
    """Resends metric points spooled while MLflow was unreachable; ends the run."""
    client = MlflowClient()
    if sent := resend_spools(run.folder, run.run_id, client):
        logger.warning(
            "Resent %d metric points kept while MLflow was unreachable.", sent
        )
    client.set_terminated(run.run_id, RunStatus.to_string(RunStatus.FINISHED))
