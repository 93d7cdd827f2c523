"""Run endings that could not reach MLflow, kept in the run folder until it answers.

When a pipeline fails while the tracking server is down, its MLflow run cannot
be ended then: it would stay RUNNING for good. The terminal status is written
instead to `<run folder>/pending-end.json`, and the next contact with MLflow
(the next pipeline run of the model, `estimators-pipeline resend`, or
`run --resume`) ends the run with it.

A run folder also keeps `run.json`, the MLflow run id and the Prefect flow runs
that worked on it, so a failure hook can find the run without asking MLflow.
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any

from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from estimators import atomic

__all__ = [
    "PENDING_END",
    "RUN_RECORD",
    "defer_end",
    "discard_end",
    "end_now",
    "finish_pending",
    "folder_of_flow_run",
    "record_run",
]

RUN_RECORD = "run.json"
PENDING_END = "pending-end.json"


def record_run(folder: str, run_id: str, flow_run_id: str | None) -> None:
    """Notes in `folder/run.json` that `flow_run_id` works on MLflow run `run_id`."""
    path = os.path.join(folder, RUN_RECORD)
    record = _read(path) or {"run_id": run_id, "flow_run_ids": []}
    if flow_run_id and flow_run_id not in record["flow_run_ids"]:
        record["flow_run_ids"].append(flow_run_id)
    os.makedirs(folder, exist_ok=True)
    atomic.write_json(path, record, indent=1)


def folder_of_flow_run(
    work_dir: str, model_name: str, flow_run_id: str
) -> tuple[str, str] | None:
    """(run folder, MLflow run id) of the run `flow_run_id` worked on, or None."""
    pattern = os.path.join(os.path.abspath(work_dir), model_name, "*", RUN_RECORD)
    for path in glob.glob(pattern):
        record = _read(path)
        if record and flow_run_id in record.get("flow_run_ids", ()):
            return os.path.dirname(path), record["run_id"]
    return None


def end_now(client: Any, run_id: str, status: str, failure: str) -> None:
    """Ends a RUNNING run with `status`, the reason as its `failure` tag."""
    if failure:
        client.set_tag(run_id, "failure", failure[:5000])
    client.set_terminated(run_id, status)


def defer_end(folder: str, run_id: str, status: str, failure: str) -> str:
    """Writes the ending MLflow could not take to `folder/pending-end.json`."""
    path = os.path.join(folder, PENDING_END)
    atomic.write_json(
        path,
        {
            "run_id": run_id,
            "status": status,
            "failure": failure[:5000],
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        indent=1,
    )
    return path


def discard_end(folder: str) -> None:
    """Forgets a pending ending: the run is being continued."""
    path = os.path.join(folder, PENDING_END)
    if os.path.exists(path):
        os.remove(path)


def finish_pending(
    work_dir: str, model_name: str, client: Any = None
) -> list[tuple[str, str]]:
    """Ends the model's runs whose ending was kept while MLflow was unreachable.

    A run that is no longer RUNNING (finished meanwhile) keeps its status.
    Each file is removed once MLflow took its ending.

    Returns:
        (run id, status) of each run ended now.

    Raises:
        MlflowException or OSError: MLflow is still unreachable; the files stay.
    """
    client = client if client is not None else MlflowClient()
    pattern = os.path.join(os.path.abspath(work_dir), model_name, "*", PENDING_END)
    ended = []
    for path in sorted(glob.glob(pattern)):
        pending = _read(path)
        if pending is None:
            continue
        run_id, status = pending["run_id"], pending["status"]
        try:
            now = client.get_run(run_id).info.status
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            now = None  # deleted meanwhile: nothing left to end
        if now == RunStatus.to_string(RunStatus.RUNNING):
            end_now(client, run_id, status, pending.get("failure", ""))
            ended.append((run_id, status))
        os.remove(path)
    return ended


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
