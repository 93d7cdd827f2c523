"""The training pipeline: ingest → transform → train → evaluate → export → register."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.config import PipelineConfig
from tasks.evaluate import evaluate, evaluate_champion
from tasks.export import export
from tasks.ingest import ingest
from tasks.register import Decision, register
from tasks.runs import end_run, mark_run_failed, start_run
from tasks.train import train
from tasks.transform import transform

__all__ = ["GateRejected", "training_pipeline"]


class GateRejected(RuntimeError):
    """The new model was registered but did not beat the champion."""


@flow(
    name="training-pipeline", on_failure=[mark_run_failed], on_crashed=[mark_run_failed]
)
def training_pipeline(
    config: PipelineConfig | str = "pipelines/iris.yaml",
    overrides: dict[str, Any] | None = None,
) -> Decision:
    """Trains, evaluates and registers a model; one MLflow run per flow run.

    Args:
        config: A `PipelineConfig`, or the path of its YAML file.
        overrides: Fields to change by dotted name, e.g. `{"train.steps": 200}`
            (handy in deployments: `-p overrides='{"train.steps": 200}'`).

    Returns:
        The gate's `Decision`. With `gate.fail_on_reject` (the default), a
        rejected model fails the run (after it is registered and logged).
    """
    config = PipelineConfig.load(config).override(**(overrides or {}))
    splits = ingest(config=config)
    run_id = start_run(config=config, splits=splits)
    columns = transform(config=config, splits=splits)
    model = train(config=config, splits=splits, columns=columns, run_id=run_id)
    candidate = evaluate(config=config, splits=splits, model=model)
    champion = evaluate_champion(config=config, splits=splits)
    exported = export(config=config, splits=splits, model=model, evaluation=candidate)
    decision = register(config=config, model=exported, champion=champion)
    end_run(config=config, run_id=run_id)
    if not decision.promoted and config.gate.fail_on_reject:
        raise GateRejected(
            f"{config.model_name} v{decision.version}: {decision.reason}"
        )
    return decision
