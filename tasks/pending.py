"""Run endings that could not reach MLflow, kept in the run folder until it answers.

When a pipeline fails while the tracking server is down, its MLflow run cannot
be ended then: it would stay RUNNING for good. The terminal status is written
instead to `<run folder>/pending-end.json`, and the next contact with MLflow
(the next pipeline run of the model, `estimators-pipeline resend`, or
`run --resume`) ends the run with it.

A run folder also keeps `run.json`, the MLflow run id and the Prefect flow runs
that worked on it, so a failure hook can find the run without asking MLflow,
and the process working on it (host, pid, start time): a pipeline process
killed outright (SIGKILL, out of memory) runs no hook at all, so the next
contact also ends, KILLED, each RUNNING run whose process on this host is gone
(`end_orphans`).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import time
from typing import Any

import psutil
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
    "end_orphans",
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
    me = psutil.Process()
    record["owner"] = {
        "host": socket.gethostname(),
        "pid": me.pid,
        "started": me.create_time(),
    }
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


def end_orphans(
    work_dir: str, model_name: str, client: Any = None
) -> list[tuple[str, str]]:
    """Ends KILLED the model's RUNNING runs whose process on this host is gone.

    The process named in a run's `run.json` (host, pid, start time) died
    without ending its MLflow run: killed outright, so no hook ran. Runs worked
    on by another host, by a live process or with an ending kept in
    `pending-end.json` (see `finish_pending`) are left alone.

    Returns:
        (run id, reason) of each run ended now.

    Raises:
        MlflowException or OSError: MLflow is unreachable.
    """
    client = client if client is not None else MlflowClient()
    pattern = os.path.join(os.path.abspath(work_dir), model_name, "*", RUN_RECORD)
    ended = []
    for path in sorted(glob.glob(pattern)):
        record = _read(path)
        owner = (record or {}).get("owner")
        folder = os.path.dirname(path)
        if (
            not owner
            or os.path.exists(os.path.join(folder, PENDING_END))
            or not _gone(owner)
        ):
            continue
        run_id = record["run_id"]
        try:
            status = client.get_run(run_id).info.status
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            continue
        if status != RunStatus.to_string(RunStatus.RUNNING):
            continue
        why = (
            f"the pipeline process (pid {owner['pid']} on {owner['host']}) ended "
            "without ending this run: it was killed (SIGKILL, out of memory, a "
            f"reboot); continue it with: estimators-pipeline run --resume {run_id}"
        )
        end_now(client, run_id, RunStatus.to_string(RunStatus.KILLED), why)
        ended.append((run_id, why))
    return ended


def _gone(owner: dict[str, Any]) -> bool:
    """Whether the process `owner` names (on this host) no longer runs."""
    if owner.get("host") != socket.gethostname():
        return False  # another machine's process: this one cannot tell
    try:
        process = psutil.Process(int(owner["pid"]))
        # A reused pid is another process: its start time differs.
        return abs(process.create_time() - float(owner["started"])) > 0.01
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
