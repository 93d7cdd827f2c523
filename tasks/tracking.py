"""`MlflowMetricWriter`: the library's metrics, buffered into an MLflow run.

The Estimator writes every summary through `est.MetricWriter`; this writer
buffers the points and sends them with `MlflowClient.log_batch` (at most 1000
per call) from a background thread, so training never waits on the network:
as soon as 1000 points are waiting, or `flush_secs` (2 s) after the oldest
waiting point was written, so the charts follow training within seconds.
Names are grouped for MLflow's UI (`grouped_name`): `train/loss`,
`train/steps_per_sec`, `eval/auc`.
When the tracking server is unreachable, training goes on: points stay in
memory and are resent once it answers again; whatever is still unsent at
`close()` goes to a local JSONL spool that `resend()` delivers later (the
pipeline's last stage does), and `unsent` says how many points that is.
Delivery is at least once: a point may be logged twice, never silently lost.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

__all__ = ["MAX_BATCH", "MlflowMetricWriter", "grouped_name", "mlflow_writer", "resend"]

logger = logging.getLogger("tasks.tracking")

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_INVALID = re.compile(r"[^\w\-./ ]")


_RENAMED = {"global_step/sec": "train/steps_per_sec"}


def grouped_name(name: str) -> str:
    """The MLflow name of a library metric: training scalars go under `train/`.

    MLflow draws one section per prefix before a "/", so `global_step/sec` would
    be a section "global_step" with a chart "sec".

    Example:
        >>> [grouped_name(n) for n in ("loss", "global_step/sec", "eval/auc")]
        ['train/loss', 'train/steps_per_sec', 'eval/auc']
    """
    if name in _RENAMED:
        return _RENAMED[name]
    return name if "/" in name else f"train/{name}"


def _permanent(error: Exception) -> bool:
    """A rejection that resending cannot fix (a bad name or value, a deleted run)."""
    return isinstance(error, MlflowException) and error.error_code in {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_STATE",
    }


class MlflowMetricWriter:
    """An `est.MetricWriter` that logs scalars to one MLflow run.

    Args:
        run_id: The MLflow run.
        client: An `MlflowClient`; default one for MLFLOW_TRACKING_URI.
        spool_path: Where unsent points go at `close()`; default none (they are
            then only reported).
        batch_size: Points per `log_batch` call (1 to 1000). Default 1000.
        retry_seconds: Wait after a failed send before trying again. Default 5.
        flush_timeout: Longest `flush()` waits for the server. Default 10 s.
        close_timeout: Longest `close()` waits for the server. Default 30 s.
        flush_secs: Send what is waiting this long after its oldest point was
            written, even when fewer than `batch_size`. Default 2 s.
        rename: Maps a library metric name to its MLflow name. Default
            `grouped_name`; `None` keeps names as they are.

    Attributes:
        sent: Points the server accepted.
        unsent: Points left in the spool at `close()`.
        dropped: Points the server rejected for good (bad name or value).
        last_error: The last send error, or None.

    Example:
        >>> writer = MlflowMetricWriter("run-id", client=_NullClient())
        >>> writer.write_scalars(10, {"loss": 0.5, "global_step/sec": 120.0})
        >>> writer.close(); writer.sent
        2
    """

    def __init__(
        self,
        run_id: str,
        *,
        client: Any = None,
        spool_path: str | os.PathLike[str] | None = None,
        batch_size: int = MAX_BATCH,
        retry_seconds: float = 5.0,
        flush_timeout: float = 10.0,
        close_timeout: float = 30.0,
        flush_secs: float = 2.0,
        rename: Callable[[str], str] | None = grouped_name,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(
                f"`batch_size` must be in [1, {MAX_BATCH}], got {batch_size}."
            )
        self.run_id = run_id
        self._client = client if client is not None else MlflowClient()
        self._spool_path = os.fspath(spool_path) if spool_path is not None else None
        self._batch_size = batch_size
        self._retry_seconds = retry_seconds
        self._flush_timeout = flush_timeout
        self._close_timeout = close_timeout
        self._flush_secs = flush_secs
        self._rename = rename or (lambda name: name)
        self._oldest: float | None = None  # when the oldest waiting point came
        self._pending: list[Metric] = []
        self._cond = threading.Condition()
        self._flushing = False
        self._closing = False
        self._failed_at: float | None = None
        self._in_flight = 0
        self.sent = self.unsent = self.dropped = 0
        self.last_error: Exception | None = None
        self._thread = threading.Thread(
            target=self._run, name="mlflow-metrics", daemon=True
        )
        self._thread.start()

    # -- MetricWriter ----------------------------------------------------------

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Buffers one point per scalar, stamped now, at `step`."""
        timestamp = int(time.time() * 1000)
        points = [
            Metric(
                _INVALID.sub("_", self._rename(name)),
                float(value),
                timestamp,
                int(step),
            )
            for name, value in scalars.items()
        ]
        with self._cond:
            if self._closing:
                raise ValueError("MlflowMetricWriter is closed.")
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.extend(points)
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def flush(self) -> None:
        """Sends what is buffered; waits at most `flush_timeout` (never when offline)."""
        deadline = time.monotonic() + self._flush_timeout
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            while (self._pending or self._in_flight) and self._failed_at is None:
                if not self._cond.wait(timeout=deadline - time.monotonic()):
                    break

    def close(self) -> None:
        """Sends the rest (one last try, even when offline) and spools what fails."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=self._close_timeout)
        with self._cond:
            left, self._pending = self._pending, []
        if left:
            self.unsent = len(left)
            where = self._spool(left)
            logger.warning(
                "MLflow run %s: %d metric points were not logged (%s); %s.",
                self.run_id,
                len(left),
                self.last_error,
                f"kept in {where}, resent by the pipeline's last stage"
                if where
                else "they are lost (no spool_path)",
            )

    # -- sender thread ---------------------------------------------------------

    def _ready(self) -> bool:
        if not self._pending:
            return self._closing
        if self._closing:
            return True
        backing_off = (
            self._failed_at is not None
            and time.monotonic() - self._failed_at < self._retry_seconds
        )
        waited = time.monotonic() - (self._oldest or time.monotonic())
        return not backing_off and (
            self._flushing
            or len(self._pending) >= self._batch_size
            or self._failed_at is not None
            or waited >= self._flush_secs
        )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ready():
                    self._cond.wait(timeout=min(self._retry_seconds, self._flush_secs))
                if not self._pending:
                    self._flushing = False
                    self._cond.notify_all()
                    return
                batch = self._pending[: self._batch_size]
                self._in_flight = len(batch)
            error = self._send(batch)
            with self._cond:
                self._in_flight = 0
                if error is None or _permanent(error):
                    del self._pending[: len(batch)]
                    self._oldest = time.monotonic() if self._pending else None
                    if error is None:
                        self.sent += len(batch)
                        self._failed_at = None
                    else:
                        self.dropped += len(batch)
                        logger.error(
                            "MLflow rejected %d metric points: %s", len(batch), error
                        )
                else:
                    self.last_error, self._failed_at = error, time.monotonic()
                    if self._closing:
                        return  # the one last try failed: close() spools the rest
                if not self._pending:
                    self._flushing = False
                self._cond.notify_all()

    def _send(self, batch: list[Metric]) -> Exception | None:
        try:
            self._client.log_batch(self.run_id, metrics=batch, synchronous=True)
        except Exception as error:  # noqa: BLE001 - any failure keeps the points
            return error
        return None

    def _spool(self, points: list[Metric]) -> str | None:
        if self._spool_path is None:
            return None
        os.makedirs(os.path.dirname(os.path.abspath(self._spool_path)), exist_ok=True)
        with open(self._spool_path, "a", encoding="utf-8") as f:
            for p in points:
                f.write(
                    json.dumps(
                        {
                            "key": p.key,
                            "value": p.value,
                            "timestamp": p.timestamp,
                            "step": p.step,
                        }
                    )
                    + "\n"
                )
        return self._spool_path


def mlflow_writer(
    run_id: str | None = None, *, experiment: str | None = None, **options: Any
) -> MlflowMetricWriter:
    """A writer into an MLflow run: the given one, the active one, or a new one.

    The one line a library user needs to see `train` and `evaluate` in MLflow:

        est.RunConfig(metric_writers=[mlflow_writer()])

    Args:
        run_id: The run; default the active run (`mlflow.start_run()`), or a new
            run started (and made active) in `experiment`.
        experiment: Experiment name for a new run; default MLflow's default.
        options: Passed to `MlflowMetricWriter`.
    """
    import mlflow

    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            if experiment is not None:
                mlflow.set_experiment(experiment)
            active = mlflow.start_run()
        run_id = active.info.run_id
    return MlflowMetricWriter(run_id, **options)


def resend(path: str | os.PathLike[str], run_id: str, client: Any = None) -> int:
    """Logs a spool file's points to `run_id` and deletes the file.

    Returns:
        How many points were sent (0 when there is no spool).

    Raises:
        MlflowException or OSError: the server is still unreachable; the spool
        is kept for the next try.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return 0
    client = client if client is not None else MlflowClient()
    with open(path, encoding="utf-8") as f:
        points = [Metric(**json.loads(line)) for line in f if line.strip()]
    for i in range(0, len(points), MAX_BATCH):
        client.log_batch(run_id, metrics=points[i : i + MAX_BATCH], synchronous=True)
    os.remove(path)
    return len(points)


class _NullClient:
    """Accepts everything; for examples."""

    def log_batch(self, run_id: str, metrics: Any = (), **kwargs: Any) -> None:
        pass
