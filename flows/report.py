"""What the command line prints after a pipeline run, read back from Prefect and MLflow.

Everything comes from the two tracking systems, not from the flow's return
value, so the report is the same whether the run passed, was rejected by the
gate, or failed half-way.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient

from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.evaluate import champion_version
from estimators_pipeline.tasks.runs import find_run

__all__ = [
    "RunSummary",
    "Unreachable",
    "format_report",
    "log_traceback",
    "one_line",
    "read_back",
    "stage_rows",
    "summarize",
    "unwrapped",
]


@dataclass
class RunSummary:
    """The MLflow side of one pipeline run."""

    run_id: str
    experiment_id: str
    status: str
    decision: str | None
    reason: str | None
    version: str | None
    champion_version: str | None
    compared_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Unreachable:
    """The MLflow side of a run that could not be read: why, in one line."""

    reason: str
    status: str = "UNKNOWN"
    decision: str | None = None


def stage_rows(flow_run_id: Any) -> list[tuple[str, str, float]]:
    """(stage, final state, seconds) of each task run, in start order."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
    return [
        (
            run.name.rsplit("-", 1)[0],
            run.state.name if run.state else "?",
            run.total_run_time.total_seconds(),
        )
        for run in runs
    ]


def summarize(config: PipelineConfig, flow_run_id: Any) -> RunSummary | None:
    """The MLflow run of `flow_run_id`, or None when it was never created."""
    client = MlflowClient()
    run = find_run(client, config, str(flow_run_id))
    if run is None:
        return None
    tags, metrics = run.data.tags, run.data.metrics
    champion = champion_version(client, config.model_name, config.gate.alias)
    return RunSummary(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        decision=tags.get("gate.decision"),
        reason=tags.get("gate.reason"),
        version=tags.get("registered_model.version"),
        champion_version=str(champion.version) if champion else None,
        compared_version=tags.get("gate.champion_version"),
        metrics={k[5:]: v for k, v in metrics.items() if k.startswith("eval/")},
        champion_metrics={
            k[9:]: v for k, v in metrics.items() if k.startswith("champion/")
        },
    )


def _ui_hint(summary: RunSummary) -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    page = f"#/experiments/{summary.experiment_id}/runs/{summary.run_id}"
    if uri.startswith(("http://", "https://")):
        return f"MLflow UI: {uri.rstrip('/')}/{page}"
    return (
        "MLflow UI: run `.venv/bin/estimators-pipeline ui` (mlflow ui on this "
        f"project's {uri.removeprefix('sqlite:///')}), then open "
        f"http://127.0.0.1:5000/{page}"
    )


def _metrics_table(summary: RunSummary) -> list[str]:
    new = f"new v{summary.version}" if summary.version else "new model"
    header = f"{'evaluation (eval split)':<28}{new:>14}"
    if summary.champion_metrics:
        header += f"{f'champion v{summary.compared_version}':>16}"
    lines = ["", header]
    for name in sorted(summary.metrics):
        row = f"{name:<28}{summary.metrics[name]:>14.4f}"
        if name in summary.champion_metrics:
            row += f"{summary.champion_metrics[name]:>16.4f}"
        lines.append(row)
    return lines


def _verdict(config: PipelineConfig, summary: RunSummary) -> list[str]:
    name, alias, lines = config.model_name, config.gate.alias, []
    if summary.decision:
        took = "took" if summary.decision == "promoted" else "did not take"
        lines.append(
            f"model {name} v{summary.version} {took} alias '{alias}': {summary.reason}"
        )
    if summary.champion_version:
        lines.append(
            f"{alias}: {name} v{summary.champion_version} (models:/{name}@{alias})"
        )
    return lines


def format_report(
    config: PipelineConfig,
    stages: list[tuple[str, str, float]],
    summary: RunSummary | Unreachable | None,
) -> str:
    """The stage table, the evaluation table, the gate's verdict and the UI hint.

    Example:
        >>> print(format_report(None, [("ingest", "Completed", 0.5)],
        ...                     Unreachable("MLflow at http://h:5000 is unreachable")))
        <BLANKLINE>
        stage               state        seconds
        ingest              Completed       0.50
        <BLANKLINE>
        MLflow at http://h:5000 is unreachable; the run's results are not shown.
    """
    lines = ["", f"{'stage':<20}{'state':<12}{'seconds':>8}"]
    lines += [f"{n:<20}{state:<12}{sec:>8.2f}" for n, state, sec in stages]
    if summary is None:
        return "\n".join([*lines, "", "No MLflow run was created."])
    if isinstance(summary, Unreachable):
        return "\n".join(
            [*lines, "", f"{summary.reason}; the run's results are not shown."]
        )
    if summary.metrics:
        lines += _metrics_table(summary)
    lines += ["", *_verdict(config, summary)]
    lines.append(
        f"MLflow run {summary.run_id} ({summary.status.lower()}), "
        f"experiment '{config.experiment}'"
    )
    lines.append(_ui_hint(summary))
    return "\n".join(lines)


def read_back(
    config: PipelineConfig, flow_run_id: Any, log_file: str
) -> tuple[list[tuple[str, str, float]], RunSummary | Unreachable | None]:
    """The stage rows (Prefect) and the run's summary (MLflow), whatever is down.

    A tracking system that cannot be read leaves its part of the report out
    (`Unreachable` says so in one line); the traceback goes to the log file.
    """
    try:
        stages = stage_rows(flow_run_id)
    except Exception as error:  # noqa: BLE001 - the report degrades
        log_traceback(log_file, "reading the stages from Prefect")
        stages = [("(Prefect unreachable)", one_line(error)[:60], 0.0)]
    try:
        with _quick_mlflow_requests():
            summary = summarize(config, flow_run_id)
    except Exception as error:  # noqa: BLE001 - the report degrades
        log_traceback(log_file, "reading the run from MLflow")
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        summary = Unreachable(f"MLflow at {uri} is unreachable ({one_line(error)})")
    return stages, summary


# The pipeline has already waited for a server that is down; the report should
# not wait minutes more (MLflow's default is 7 retries with backoff).
_QUICK_MLFLOW = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


@contextlib.contextmanager
def _quick_mlflow_requests() -> Iterator[None]:
    """One retry and a 10 s timeout per MLflow request, unless the user set them."""
    added = {k: v for k, v in _QUICK_MLFLOW.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def log_traceback(log_file: str, doing: str) -> None:
    """Appends the exception being handled to the run's log file."""
    with open(log_file, "a", encoding="utf-8") as f:
        f.write(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} ERROR estimators-pipeline: "
            f"{doing} failed\n{traceback.format_exc()}"
        )


_WRAPPED = re.compile(
    r"(API request to \S+ failed) with exception .*?(\[Errno -?\d+\] [^'\")]+).*"
)


def unwrapped(text: str) -> str:
    """An MLflow connection error without the HTTP library's wrapping.

    Example:
        >>> unwrapped("MlflowException: API request to http://h/api/x failed with "
        ...     "exception HTTPConnectionPool(host='h'): Max retries exceeded (Caused "
        ...     "by NewConnectionError('...: [Errno 111] Connection refused'))")
        'MlflowException: API request to http://h/api/x failed: [Errno 111] Connection refused'
    """
    return _WRAPPED.sub(r"\1: \2", text)


def one_line(error: BaseException) -> str:
    """The socket error inside a client library's wrapping, else the first line.

    Example:
        >>> one_line(OSError("API request to ... failed with exception ... (Caused "
        ...     "by NewConnectionError('...: [Errno 111] Connection refused'))"))
        '[Errno 111] Connection refused'
    """
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(error))
    if found:
        return found.group(0).strip()
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__
