"""The training pipeline: ingest → transform → train → evaluate → export → register."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import deployment
from prefect.states import Cancelled, Failed, State

from estimators_pipeline.tasks.config import PipelineConfig, merge_overrides
from estimators_pipeline.tasks.evaluate import evaluate, evaluate_champion
from estimators_pipeline.tasks.export import export
from estimators_pipeline.tasks.failures import mark_run_failed, mark_run_killed
from estimators_pipeline.tasks.ingest import ingest
from estimators_pipeline.tasks.interrupt import TrainingInterrupted
from estimators_pipeline.tasks.preflight import check
from estimators_pipeline.tasks.register import Decision, register
from estimators_pipeline.tasks.report import publish_report
from estimators_pipeline.tasks.runs import TrackedRun, end_run, start_run
from estimators_pipeline.tasks.train import train
from estimators_pipeline.tasks.transform import transform

__all__ = ["load_config", "training_pipeline"]


@flow(
    name="training-pipeline", on_failure=[mark_run_failed], on_crashed=[mark_run_failed]
)
def training_pipeline(
    config: PipelineConfig | str = "pipelines/iris.yaml",
    overrides: dict[str, Any] | None = None,
    resume: str | None = None,
) -> Decision | State:
    """Trains, evaluates and registers a model; one MLflow run per flow run.

    Args:
        config: A `PipelineConfig`, or the path of its YAML file.
        overrides: Fields to change by dotted name, e.g. `{"train.steps": 200}`.
            In a deployment they are merged on top of the deployment's own
            `overrides` (`-p overrides='{"train.steps": 200}'` keeps the
            deployment's `gate.fail_on_reject`).
        resume: An MLflow run id to continue (an interrupted run): the same run
            and model_dir, training from its last checkpoint.

    Returns:
        The gate's `Decision`; a Failed state (one line, no traceback) when the
        gate rejected the model and `gate.fail_on_reject` is set; a Cancelled
        state when Ctrl-C stopped training (after a checkpoint).
    """
    config = load_config(config, overrides)
    splits = ingest(
        data=config.data, features=config.features, work_dir=config.work_dir
    )
    run = start_run(config=config, splits=splits, resume=resume)
    label = config.data.label
    columns = transform(
        features=config.features, label=label, splits=splits, work_dir=config.work_dir
    )
    try:
        model = train(
            estimator=config.estimator,
            settings=config.train,
            evaluation=config.eval,
            label=label,
            splits=splits,
            columns=columns,
            run=run,
            gate_metric=config.gate.metric,
            gate_higher_is_better=config.gate.higher_is_better,
        )
    except TrainingInterrupted as stop:
        return _interrupted(run, stop)
    candidate = evaluate(
        estimator=config.estimator,
        evaluation=config.eval,
        label=label,
        splits=splits,
        model=model,
        run=run,
    )
    champion = evaluate_champion(
        model_name=config.model_name,
        gate=config.gate,
        evaluation=config.eval,
        label=label,
        splits=splits,
    )
    exported = export(
        estimator=config.estimator,
        label=label,
        splits=splits,
        model=model,
        evaluation=candidate,
        run=run,
    )
    decision = register(
        model_name=config.model_name,
        gate=config.gate,
        model=exported,
        champion=champion,
    )
    end_run(run=run)
    publish_report(run=run, candidate=candidate, champion=champion, decision=decision)
    return _verdict(config, decision)


def load_config(
    config: PipelineConfig | str, overrides: dict[str, Any] | None
) -> PipelineConfig:
    """The config with the deployment's and the run's overrides, checked.

    Raises a one-line `ConfigError` before anything is created when the config
    cannot work (see `tasks.preflight`).
    """
    merged = merge_overrides(_deployment_overrides(), overrides)
    loaded = PipelineConfig.load(config).override(**merged)
    check(loaded)
    return loaded


def _deployment_overrides() -> dict[str, Any]:
    """The `overrides` the deployment itself sets (Prefect replaces them)."""
    if not deployment.id:
        return {}
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        own = client.read_deployment(deployment.id).parameters or {}
    return dict(own.get("overrides") or {})


def _interrupted(run: TrackedRun, stop: TrainingInterrupted) -> State:
    mark_run_killed(run, str(stop))
    return Cancelled(
        message=f"{stop}; continue with: estimators-pipeline run --resume {run.run_id}"
    )


def _verdict(config: PipelineConfig, decision: Decision) -> Decision | State:
    if decision.promoted or not config.gate.fail_on_reject:
        return decision
    return Failed(
        message=(
            f"gate: {config.model_name} v{decision.version} did not take alias "
            f"'{decision.alias}': {decision.reason}"
        )
    )
