"""The MLflow run of a pipeline run: start it, end it, mark it failed.

One MLflow run per Prefect flow run, found again by its `prefect.flow_run_id`
tag, so a retried flow run continues its MLflow run (and its model_dir) instead
of starting over.
"""

from __future__ import annotations

import glob
import logging
import os
import subprocess
from typing import Any

import mlflow
from mlflow.entities import Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.runtime import deployment
from prefect.runtime import flow_run as current_flow_run

from flows.config import PipelineConfig
from tasks.ingest import Splits
from tasks.policies import retry_on_io
from tasks.tracking import resend

__all__ = [
    "FLOW_RUN_TAG",
    "UnsentMetrics",
    "end_run",
    "experiment_id",
    "find_run",
    "mark_run_failed",
    "resend_spools",
    "run_dir",
    "start_run",
]

logger = logging.getLogger("tasks.runs")

FLOW_RUN_TAG = "prefect.flow_run_id"
_MAX_PARAMS = 100  # MLflow's limit of params per log_batch call
_MAX_PARAM_CHARS = 6000


def run_dir(config: PipelineConfig, run_id: str) -> str:
    """The local folder of one run: model_dir, plots, export, metric spools."""
    return os.path.join(os.path.abspath(config.work_dir), config.model_name, run_id)


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


def git_commit() -> str | None:
    """The checked-out commit of the current directory, or None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _tags(splits: Splits) -> dict[str, str]:
    tags = {
        FLOW_RUN_TAG: current_flow_run.id or "none",
        "prefect.flow_run_name": current_flow_run.name or "none",
        "prefect.deployment": deployment.name or "none",
        "data.fingerprint": splits.fingerprint,
        "data.train_rows": str(splits.train_rows),
        "data.eval_rows": str(splits.eval_rows),
        "mlflow.source.name": "flows.training:training_pipeline",
    }
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


@task(
    name="start-run", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io
)
def start_run(config: PipelineConfig, splits: Splits) -> str:
    """Creates (or, for a retried flow run, reopens) this flow run's MLflow run.

    Tags it with the flow run id and name, the deployment, the git commit and
    the data fingerprint; logs the config flattened as params and whole as
    `pipeline/config.json`.

    Returns:
        The MLflow run id.
    """
    client = MlflowClient()
    existing = current_flow_run.id and find_run(client, config, current_flow_run.id)
    if existing:
        client.update_run(existing.info.run_id, status="RUNNING")
        return existing.info.run_id
    run = client.create_run(
        experiment_id(client, config),
        run_name=current_flow_run.name,
        tags=_tags(splits),
    )
    run_id = run.info.run_id
    params = [Param(k, v[:_MAX_PARAM_CHARS]) for k, v in config.flatten().items()]
    for i in range(0, len(params), _MAX_PARAMS):
        client.log_batch(run_id, params=params[i : i + _MAX_PARAMS], synchronous=True)
    client.log_text(run_id, config.model_dump_json(indent=2), "pipeline/config.json")
    return run_id


class UnsentMetrics(ConnectionError):
    """Metric points kept locally could not be sent to MLflow (yet)."""


def resend_spools(config: PipelineConfig, run_id: str, client: Any = None) -> int:
    """Sends the metric points a run kept while MLflow was unreachable.

    Returns:
        How many points were sent.

    Raises:
        UnsentMetrics: MLflow is still unreachable; names the files that keep
        the points and the command that sends them later.
    """
    sent = 0
    for spool in sorted(
        glob.glob(os.path.join(run_dir(config, run_id), "*.unsent.jsonl"))
    ):
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
def end_run(config: PipelineConfig, run_id: str) -> None:
    """Resends metric points spooled while MLflow was unreachable; ends the run."""
    client = MlflowClient()
    if sent := resend_spools(config, run_id, client):
        logger.warning(
            "Resent %d metric points kept while MLflow was unreachable.", sent
        )
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))


def mark_run_failed(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow `on_failure` / `on_crashed` hook: ends a still-running MLflow run as FAILED.

    A run that already finished (e.g. the gate rejected the model after
    everything was logged) keeps its status.
    """
    try:
        parameters = flow_run.parameters
        config = PipelineConfig.load(parameters["config"]).override(
            **(parameters.get("overrides") or {})
        )
        client = MlflowClient()
        run = find_run(client, config, str(flow_run.id))
        if run is None or run.info.status != "RUNNING":
            return
        client.set_tag(run.info.run_id, "failure", (state.message or "")[:5000])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    except Exception as error:  # noqa: BLE001 - a hook must not hide the real failure
        logger.warning("Could not mark the MLflow run failed: %s", error)
