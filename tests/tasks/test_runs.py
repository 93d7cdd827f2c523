import json
import os
import types

import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.tasks import failures, pending, runs


def _spool(config, run_id, points=3):
    folder = runs.run_dir(config.work_dir, config.model_name, run_id)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "train.unsent.jsonl")
    with open(path, "w") as f:
        for step in range(1, points + 1):
            record = {"key": "loss", "value": 1.0 / step, "timestamp": 0, "step": step}
            f.write(json.dumps(record) + "\n")
    return path


def _run(config):
    client = MlflowClient()
    experiment = runs.experiment_id(client, config)
    return client, client.create_run(experiment).info.run_id


def test_experiment_artifacts_sit_beside_the_local_database(iris):
    client = MlflowClient()
    experiment = client.get_experiment(runs.experiment_id(client, iris))
    database = os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")
    expected = os.path.join(os.path.dirname(database), "mlartifacts", iris.model_name)
    assert experiment.artifact_location == expected
    assert runs.experiment_id(client, iris) == experiment.experiment_id  # found again


def test_spooled_points_reach_the_run_when_mlflow_is_back(iris):
    client, run_id = _run(iris)
    path = _spool(iris, run_id)
    assert runs.resend_spools(os.path.dirname(path), run_id) == 3
    assert not os.path.exists(path)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3]


def test_unreachable_mlflow_says_where_the_points_are_and_what_to_run(iris):
    class Down:
        def log_batch(self, *args, **kwargs):
            raise ConnectionError("connection refused")

    path = _spool(iris, "run-1")
    with pytest.raises(runs.UnsentMetrics) as error:
        runs.resend_spools(os.path.dirname(path), "run-1", Down())
    message = str(error.value)
    assert path in message and "estimators-pipeline resend" in message
    assert "connection refused" in message and os.path.exists(path)


def _flow_run(config, flow_run_id):
    return types.SimpleNamespace(
        id=flow_run_id, parameters={"config": config.model_dump(), "overrides": None}
    )


def test_a_failed_flow_run_fails_its_mlflow_run(iris):
    client = MlflowClient()
    experiment = runs.experiment_id(client, iris)
    tags = {runs.FLOW_RUN_TAG: "flow-run-1"}
    run_id = client.create_run(experiment, tags=tags).info.run_id
    state = types.SimpleNamespace(
        message="Task run failed: ValueError('boom')", is_crashed=lambda: False
    )
    failures.mark_run_failed(None, _flow_run(iris, "flow-run-1"), state)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and "boom" in run.data.tags["failure"]


def test_a_finished_run_keeps_its_status(iris):
    client = MlflowClient()
    experiment = runs.experiment_id(client, iris)
    tags = {runs.FLOW_RUN_TAG: "flow-run-2"}
    run_id = client.create_run(experiment, tags=tags).info.run_id
    client.set_terminated(run_id, "FINISHED")
    failures.mark_run_failed(
        None,
        _flow_run(iris, "flow-run-2"),
        types.SimpleNamespace(message="gate rejected", is_crashed=lambda: False),
    )
    assert client.get_run(run_id).info.status == "FINISHED"


def test_the_hook_never_raises(iris, caplog):
    broken = types.SimpleNamespace(id="x", parameters={})
    failures.mark_run_failed(None, broken, types.SimpleNamespace(message=""))
    assert "Could not mark the MLflow run failed" in caplog.text


@pytest.fixture
def mlflow_down(monkeypatch):
    """A context manager: MLflow at a closed port inside it (no retries)."""
    import contextlib
    import socket

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"

    @contextlib.contextmanager
    def down():
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", closed)
            yield

    return down


def test_a_failure_while_mlflow_is_down_ends_the_run_at_the_next_contact(
    iris, mlflow_down
):
    client, run_id = _run(iris)
    client.set_tag(run_id, runs.FLOW_RUN_TAG, "flow-run-3")
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    pending.record_run(folder, run_id, "flow-run-3")
    with mlflow_down():
        state = types.SimpleNamespace(
            message="Task run failed: ValueError('boom')", is_crashed=lambda: False
        )
        failures.mark_run_failed(None, _flow_run(iris, "flow-run-3"), state)
    kept = os.path.join(folder, pending.PENDING_END)
    with open(kept) as f:
        assert json.load(f)["status"] == "FAILED"
    assert client.get_run(run_id).info.status == "RUNNING"  # MLflow never heard
    assert pending.finish_pending(iris.work_dir, iris.model_name) == [
        (run_id, "FAILED")
    ]
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and "boom" in run.data.tags["failure"]
    assert not os.path.exists(kept)
    assert pending.finish_pending(iris.work_dir, iris.model_name) == []  # once


def test_ctrl_c_while_mlflow_is_down_ends_the_run_killed_later(iris, mlflow_down):
    client, run_id = _run(iris)
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    run = runs.TrackedRun(run_id, "0", folder)
    os.makedirs(folder)
    with mlflow_down():
        failures.mark_run_killed(run, "interrupted at step 7")
    assert client.get_run(run_id).info.status == "RUNNING"
    assert pending.finish_pending(iris.work_dir, iris.model_name) == [
        (run_id, "KILLED")
    ]
    assert client.get_run(run_id).data.tags["failure"] == "interrupted at step 7"


def test_a_pending_ending_leaves_a_finished_run_alone(iris):
    client, run_id = _run(iris)
    client.set_terminated(run_id, "FINISHED")
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    os.makedirs(folder)
    pending.defer_end(folder, run_id, "FAILED", "report failed")
    assert pending.finish_pending(iris.work_dir, iris.model_name) == []
    assert client.get_run(run_id).info.status == "FINISHED"
    assert not os.path.exists(os.path.join(folder, pending.PENDING_END))


def test_a_pending_ending_waits_while_mlflow_is_still_down(iris, mlflow_down):
    folder = runs.run_dir(iris.work_dir, iris.model_name, "run-9")
    os.makedirs(folder)
    kept = pending.defer_end(folder, "run-9", "FAILED", "boom")
    with mlflow_down(), pytest.raises(Exception):  # noqa: B017, PT011
        pending.finish_pending(iris.work_dir, iris.model_name)
    assert os.path.exists(kept)


def test_a_pending_ending_of_a_deleted_run_is_dropped(iris):
    client, run_id = _run(iris)
    client.delete_run(run_id)
    folder = runs.run_dir(iris.work_dir, iris.model_name, "gone")
    os.makedirs(folder)
    kept = pending.defer_end(folder, "0" * 32, "FAILED", "boom")
    assert pending.finish_pending(iris.work_dir, iris.model_name) == []
    assert not os.path.exists(kept)


def test_the_next_run_of_the_model_ends_a_pending_run(iris):
    from estimators_pipeline.tasks.ingest import ingest

    client, run_id = _run(iris)
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    os.makedirs(folder)
    pending.defer_end(folder, run_id, "KILLED", "interrupted")
    splits = ingest.fn(iris.data, iris.features, iris.work_dir)
    new = runs.start_run.fn(iris, splits)
    assert client.get_run(run_id).info.status == "KILLED"
    with open(os.path.join(new.folder, pending.RUN_RECORD)) as f:
        assert json.load(f)["run_id"] == new.run_id
    client.set_terminated(new.run_id, "FINISHED")


def test_resume_continues_a_run_whose_ending_was_pending(iris):
    from estimators_pipeline.tasks.ingest import ingest

    client, run_id = _run(iris)
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    os.makedirs(folder)
    pending.defer_end(folder, run_id, "FAILED", "boom")
    splits = ingest.fn(iris.data, iris.features, iris.work_dir)
    resumed = runs.start_run.fn(iris, splits, resume=run_id)
    run = client.get_run(run_id)
    assert resumed.resumed and run.info.status == "RUNNING"  # continued
    assert run.data.tags["failure"] == "boom"  # what ended it before
    assert not os.path.exists(os.path.join(folder, pending.PENDING_END))
    client.set_terminated(run_id, "FINISHED")


def test_a_run_whose_pipeline_process_was_killed_outright_is_ended_killed(iris):
    # SIGKILL runs no hook: the run stays RUNNING until the next contact sees
    # that the process named in run.json is gone (its pid, started then).
    import signal
    import subprocess
    import sys

    import psutil

    client, run_id = _run(iris)
    folder = runs.run_dir(iris.work_dir, iris.model_name, run_id)
    pending.record_run(folder, run_id, "flow-1")
    record_path = os.path.join(folder, pending.RUN_RECORD)
    with open(record_path) as f:
        record = json.load(f)
    assert record["owner"]["pid"] == os.getpid()  # this process: alive
    assert pending.end_orphans(iris.work_dir, iris.model_name) == []

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = psutil.Process(child.pid).create_time()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    record["owner"] = {**record["owner"], "pid": child.pid, "started": started}
    with open(record_path, "w") as f:
        json.dump(record, f)
    other_host = {**record, "owner": {**record["owner"], "host": "elsewhere"}}
    elsewhere = runs.run_dir(iris.work_dir, iris.model_name, "other")
    os.makedirs(elsewhere)
    with open(os.path.join(elsewhere, pending.RUN_RECORD), "w") as f:
        json.dump({**other_host, "run_id": _run(iris)[1]}, f)

    ended = pending.end_orphans(iris.work_dir, iris.model_name)
    assert [run for run, _ in ended] == [run_id]  # not the other host's run
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert f"pid {child.pid}" in run.data.tags["failure"]
    assert f"run --resume {run_id}" in run.data.tags["failure"]
    assert pending.end_orphans(iris.work_dir, iris.model_name) == []  # once
