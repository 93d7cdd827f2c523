"""A failed or interrupted pipeline's MLflow run: ended now, or once MLflow answers.

The flow's failure hook ends its MLflow run FAILED (KILLED for a crash), and
Ctrl-C ends it KILLED. When the tracking server is unreachable at that moment,
the ending is written to the run folder (`pending`) and taken at the next
contact, so a run never stays RUNNING.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from estimators_pipeline.tasks import pending
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.runs import TrackedRun, find_run

__all__ = ["mark_run_failed", "mark_run_killed"]

logger = logging.getLogger("tasks.failures")


def mark_run_killed(run: TrackedRun, reason: str) -> None:
    """Ends an interrupted run as KILLED, with the reason as its `failure` tag.

    When MLflow is unreachable the ending is kept in the run folder and taken
    at the next contact (see `pending`).
    """
    killed = RunStatus.to_string(RunStatus.KILLED)
    try:
        pending.end_now(MlflowClient(), run.run_id, killed, reason)
    except Exception as error:  # noqa: BLE001 - kept for later, said once
        _defer(run.folder, run.run_id, killed, reason, error)


def mark_run_failed(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow `on_failure` / `on_crashed` hook: ends a still-running MLflow run.

    FAILED when a stage failed, KILLED when the process was interrupted (a
    crash: Ctrl-C twice, a signal). A run that already finished (e.g. the
    gate rejected the model after everything was logged) keeps its status.
    When MLflow is unreachable the ending is written to the run folder and
    taken at the next contact (see `pending`), so the run never stays RUNNING.
    """
    try:
        parameters = flow_run.parameters
        config = PipelineConfig.load(parameters["config"]).override(
            **(parameters.get("overrides") or {})
        )
        status = RunStatus.KILLED if state.is_crashed() else RunStatus.FAILED
    except Exception as error:  # noqa: BLE001 - a hook must not hide the real failure
        logger.warning("Could not mark the MLflow run failed: %s", error)
        return
    status, failure = RunStatus.to_string(status), state.message or ""
    try:
        client = MlflowClient()
        run = find_run(client, config, str(flow_run.id))
        if run is None or run.info.status != "RUNNING":
            return
        pending.end_now(client, run.info.run_id, status, failure)
    except Exception as error:  # noqa: BLE001 - kept for later, said once
        found = pending.folder_of_flow_run(
            config.work_dir, config.model_name, str(flow_run.id)
        )
        if found is None:
            logger.warning("Could not mark the MLflow run failed: %s", _first(error))
            return
        _defer(*found, status, failure, error)


def _defer(folder: str, run_id: str, status: str, failure: str, error: Any) -> None:
    path = pending.defer_end(folder, run_id, status, failure)
    logger.warning(
        "MLflow is unreachable (%s): run %s will be ended %s at the next contact "
        "(the next run, `estimators-pipeline resend` or `run --resume`); kept in %s",
        _first(error),
        run_id,
        status,
        path,
    )


def _first(error: Any) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__
