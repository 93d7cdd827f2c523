"""Train: the config's Estimator on the training split, metrics to MLflow."""

from __future__ import annotations

import os
from dataclasses import dataclass

from prefect import task

from flows.config import PipelineConfig
from tasks.ingest import Splits
from tasks.model import build_estimator, input_fn
from tasks.runs import run_dir
from tasks.tracking import MlflowMetricWriter
from tasks.transform import FrozenColumns

__all__ = ["TrainedModel", "train"]


@dataclass(frozen=True)
class TrainedModel:
    """A reference to a trained model: its run, model_dir and feature columns."""

    run_id: str
    model_dir: str
    columns: FrozenColumns


@task(name="train")
def train(
    config: PipelineConfig, splits: Splits, columns: FrozenColumns, run_id: str
) -> TrainedModel:
    """Trains to `config.train.steps`, resuming from the run's model_dir.

    Every summary (loss, global_step/sec, the model_fn's scalars) goes to the
    MLflow run at its global_step, buffered and sent with `log_batch`.
    """
    folder = run_dir(config, run_id)
    model_dir = os.path.join(folder, "model")
    writer = MlflowMetricWriter(
        run_id, spool_path=os.path.join(folder, "train.unsent.jsonl")
    )
    try:
        estimator = build_estimator(config, columns.uri, model_dir, [writer])
        estimator.train(
            input_fn(
                splits.train_uri,
                list(columns.raw_keys),
                config.data.label,
                config.train.batch_size,
                shuffle_buffer=config.train.shuffle_buffer,
                seed=config.train.seed,
            ),
            max_steps=config.train.steps,
        )
    finally:
        writer.close()
    return TrainedModel(run_id=run_id, model_dir=model_dir, columns=columns)
