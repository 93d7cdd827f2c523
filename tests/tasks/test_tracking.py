import json
import threading
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking import MlflowClient

import estimators as est
from estimators_pipeline.tasks.tracking import MAX_BATCH, MlflowMetricWriter, resend


class FakeClient:
    """Records log_batch calls; raises ConnectionError while `online` is False."""

    def __init__(self, online=True, error=None):
        self.online = online
        self.error = error
        self.batches = []
        self.attempts = 0
        self.lock = threading.Lock()

    def log_batch(self, run_id, metrics=(), **kwargs):
        with self.lock:
            self.attempts += 1
            if self.error is not None:
                raise self.error
            if not self.online:
                raise ConnectionError("tracking server unreachable")
            self.batches.append(list(metrics))

    @property
    def points(self):
        return [p for batch in self.batches for p in batch]


def _write(writer, steps, names=("loss", "accuracy")):
    for step in steps:
        writer.write_scalars(step, {name: step / 10 for name in names})


def test_is_a_metric_writer():
    writer = MlflowMetricWriter("r", client=FakeClient())
    assert isinstance(writer, est.MetricWriter)
    writer.close()


def test_points_go_in_batches_of_at_most_1000_with_their_steps():
    client = FakeClient()
    writer = MlflowMetricWriter("r", client=client)
    _write(writer, range(1, 1251))  # 1250 steps x 2 names = 2500 points
    writer.close()
    assert [len(b) for b in client.batches] == [1000, 1000, 500]
    assert all(len(b) <= MAX_BATCH for b in client.batches)
    assert writer.sent == 2500 and writer.unsent == 0
    losses = [(p.step, p.value) for p in client.points if p.key == "train/loss"]
    assert losses == [(s, s / 10) for s in range(1, 1251)]


def test_flush_sends_a_partial_batch():
    client = FakeClient()
    writer = MlflowMetricWriter("r", client=client)
    writer.write_scalars(5, {"loss": 0.5})
    writer.flush()
    assert [(p.key, p.step) for p in client.points] == [("train/loss", 5)]
    writer.close()


def test_training_goes_on_while_the_server_is_down_and_catches_up():
    client = FakeClient(online=False)
    writer = MlflowMetricWriter("r", client=client, retry_seconds=0.05, flush_timeout=5)
    start = time.monotonic()
    _write(writer, range(1, 1501))  # fills batches while every send fails
    writer.flush()  # returns at once: the writer knows it is offline
    assert time.monotonic() - start < 2.0
    assert client.points == [] and client.attempts >= 1
    client.online = True
    writer.flush()
    deadline = time.monotonic() + 5
    while writer.sent < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
        writer.flush()
    writer.close()
    assert writer.sent == 3000 and writer.unsent == 0
    assert sorted(p.step for p in client.points if p.key == "train/loss") == list(
        range(1, 1501)
    )


def test_what_is_unsent_at_close_is_spooled_and_resent(tmp_path):
    spool = tmp_path / "train.unsent.jsonl"
    writer = MlflowMetricWriter(
        "r",
        client=FakeClient(online=False),
        spool_path=spool,
        retry_seconds=60,
        close_timeout=5,
    )
    _write(writer, [10, 20, 30])
    writer.close()
    assert writer.unsent == 6 and writer.sent == 0
    assert [json.loads(line)["step"] for line in spool.read_text().splitlines()] == [
        10,
        10,
        20,
        20,
        30,
        30,
    ]
    online = FakeClient()
    assert resend(spool, "r", online) == 6
    assert not spool.exists()
    assert resend(spool, "r", online) == 0  # nothing left: nothing to do


def test_a_failed_resend_keeps_the_spool(tmp_path):
    spool = tmp_path / "x.unsent.jsonl"
    spool.write_text(
        json.dumps({"key": "loss", "value": 1.0, "timestamp": 1, "step": 1}) + "\n"
    )
    with pytest.raises(ConnectionError):
        resend(spool, "r", FakeClient(online=False))
    assert spool.exists()


def test_points_the_server_rejects_for_good_are_dropped_not_retried():
    error = MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE)
    client = FakeClient(error=error)
    writer = MlflowMetricWriter("r", client=client)
    writer.write_scalars(1, {"loss": 1.0})
    writer.close()
    assert writer.dropped == 1 and writer.unsent == 0 and client.attempts == 1


def test_writing_after_close_is_an_error():
    writer = MlflowMetricWriter("r", client=FakeClient())
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write_scalars(1, {"loss": 1.0})


def test_history_in_a_real_mlflow_run():
    client = MlflowClient()
    experiment = client.create_experiment(f"writer-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    writer = MlflowMetricWriter(run_id)
    for step in (10, 20, 30):
        writer.write_scalars(
            step, {"loss": 1.0 / step, "global_step/sec": 50.0, "odd:name": 1.0}
        )
    writer.close()
    history = client.get_metric_history(run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [
        (10, 0.1),
        (20, 0.05),
        (30, 1.0 / 30),
    ]
    assert len(client.get_metric_history(run_id, "train/steps_per_sec")) == 3
    assert len(client.get_metric_history(run_id, "train/odd_name")) == 3  # sanitised


def test_points_reach_mlflow_within_seconds_without_a_flush():
    client = MlflowClient()
    experiment = client.create_experiment(f"writer-live-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    writer = MlflowMetricWriter(run_id, flush_secs=1.0)
    try:
        writer.write_scalars(10, {"loss": 0.5})  # far fewer than a batch
        written = time.monotonic()
        history = []
        while not history and time.monotonic() - written < 5.0:
            time.sleep(0.1)
            history = client.get_metric_history(run_id, "train/loss")
        assert [(m.step, m.value) for m in history] == [(10, 0.5)]
    finally:
        writer.close()


def test_mlflow_writer_uses_the_active_run_or_starts_one():
    import mlflow

    from estimators_pipeline.tasks.tracking import mlflow_writer

    mlflow.set_experiment(f"library-{time.time_ns()}")
    with mlflow.start_run() as active:
        writer = mlflow_writer()
        assert writer.run_id == active.info.run_id
        writer.close()
    writer = mlflow_writer()
    try:
        assert writer.run_id == mlflow.active_run().info.run_id
    finally:
        writer.close()
        mlflow.end_run()
