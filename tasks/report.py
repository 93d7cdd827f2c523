"""The Prefect run page's summary: a markdown artifact per pipeline run.

The evaluation table (new model beside the champion it was compared with), the
gate's decision and links to the MLflow run and the registered model version.
"""

from __future__ import annotations

import os
import re

import mlflow
from prefect import task
from prefect.artifacts import create_markdown_artifact

from estimators_pipeline.tasks.evaluate import Evaluation
from estimators_pipeline.tasks.register import Decision
from estimators_pipeline.tasks.runs import TrackedRun

__all__ = ["mlflow_links", "publish_report", "report_markdown"]


def mlflow_links(run: TrackedRun, decision: Decision) -> tuple[str, str]:
    """Links to the run and the model version in the MLflow UI.

    A local SQLite store has no UI of its own: the links then point at
    `estimators-pipeline ui` (http://127.0.0.1:5000).
    """
    uri = mlflow.get_tracking_uri()
    base = (
        uri.rstrip("/")
        if uri.startswith(("http://", "https://"))
        else ("http://127.0.0.1:5000")
    )
    return (
        f"{base}/#/experiments/{run.experiment_id}/runs/{run.run_id}",
        f"{base}/#/models/{decision.model_name}/versions/{decision.version}",
    )


def report_markdown(
    run: TrackedRun,
    candidate: Evaluation,
    champion: Evaluation | None,
    decision: Decision,
) -> str:
    """The artifact's markdown.

    Example:
        >>> run = TrackedRun("r1", "1", "/tmp/r1", name="iris-1")
        >>> new = Evaluation(metrics={"accuracy": 0.9}, global_step=10)
        >>> decision = Decision("iris", "1", True, "champion", "no champion",
        ...                     "accuracy", 0.9)
        >>> print(report_markdown(run, new, None, decision).splitlines()[0])
        # iris v1: took alias `champion`
    """
    took = "took" if decision.promoted else "did not take"
    run_link, version_link = mlflow_links(run, decision)
    header = ["| metric | new |", "|---|---:|"]
    if champion is not None:
        header = [f"| metric | new | champion v{champion.version} |", "|---|---:|---:|"]
    rows = []
    for name in sorted(candidate.metrics):
        marker = " **(gate)**" if name == decision.metric else ""
        row = f"| {name}{marker} | {candidate.metrics[name]:.4f} |"
        if champion is not None:
            value = champion.metrics.get(name)
            row += f" {value:.4f} |" if value is not None else " - |"
        rows.append(row)
    return "\n".join(
        [
            f"# {decision.model_name} v{decision.version}: {took} alias "
            f"`{decision.alias}`",
            "",
            f"**Gate:** {decision.reason}.",
            "",
            f"Evaluation on the eval split at global_step {candidate.global_step}:",
            "",
            *header,
            *rows,
            "",
            f"- MLflow run: [{run.name or run.run_id}]({run_link})",
            f"- Model version: [{decision.model_name} v{decision.version}]"
            f"({version_link}) (`models:/{decision.model_name}/{decision.version}`)",
            f"- Local folder: `{os.path.relpath(run.folder)}`",
        ]
    )


@task(name="report")
def publish_report(
    run: TrackedRun,
    candidate: Evaluation,
    champion: Evaluation | None,
    decision: Decision,
) -> str:
    """Publishes the run's summary as a Prefect markdown artifact; returns its key."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"{decision.model_name}-report".lower())
    create_markdown_artifact(
        report_markdown(run, candidate, champion, decision),
        key=key,
        description=f"{decision.model_name} v{decision.version}: gate decision",
    )
    return key
