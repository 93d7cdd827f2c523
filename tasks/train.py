"""Train: the configured Estimator on the training split, metrics to MLflow.

With `eval.every_n_steps` the eval split is evaluated during training (the
`eval/...` curves in MLflow), through the library's `train_and_evaluate`, and
`eval.early_stopping` stops training when those evaluations stop improving.
Progress goes to the terminal (a live bar, or a line every 10 s) and to the
Prefect run's log.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from prefect import task

import estimators as est
from estimators import checkpoints
from estimators_pipeline.tasks.config import EstimatorConfig, EvalConfig, TrainConfig
from estimators_pipeline.tasks.early_stop import EarlyStopping
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.interrupt import (
    StopOnInterrupt,
    TrainingInterrupted,
    stop_requested,
    training,
)
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.model import build_estimator, input_fn, run_config
from estimators_pipeline.tasks.runs import TrackedRun
from estimators_pipeline.tasks.tracking import MlflowMetricWriter
from estimators_pipeline.tasks.transform import FrozenColumns

__all__ = ["PROGRESS", "TrainedModel", "train"]

PROGRESS = {"estimators_progress": True}
"""`extra` of the progress lines in the run log (a terminal shows the bar instead)."""


@dataclass(frozen=True)
class TrainedModel:
    """A reference to a trained model: its run, model_dir and feature columns.

    Attributes:
        run_id: The MLflow run.
        model_dir: The Estimator's model_dir.
        columns: The frozen feature columns.
        checkpoint_path: The checkpoint to evaluate, export and register: the
            best evaluated one with early stopping's restore-best, else None
            (the latest in `model_dir`).
        stopped_early_at: The global_step where early stopping ended training.
    """

    run_id: str
    model_dir: str
    columns: FrozenColumns
    checkpoint_path: str | None = None
    stopped_early_at: int | None = None


def _early_stopping(
    evaluation: EvalConfig, run: TrackedRun, metric: str, higher_is_better: bool
) -> EarlyStopping | None:
    stopping = evaluation.early_stopping
    if stopping is None:
        return None
    return EarlyStopping(
        run.model_dir,
        stopping.metric or metric,
        higher_is_better=(
            higher_is_better
            if stopping.higher_is_better is None
            else stopping.higher_is_better
        ),
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        best_dir=os.path.join(run.folder, "best"),
    )


@task(name="train")
def train(
    estimator: EstimatorConfig,
    settings: TrainConfig,
    evaluation: EvalConfig,
    label: str,
    splits: Splits,
    columns: FrozenColumns,
    run: TrackedRun,
    gate_metric: str = "loss",
    gate_higher_is_better: bool = False,
) -> TrainedModel:
    """Trains to `settings.steps`, resuming from the run's model_dir.

    Every summary goes to the MLflow run at its global_step (`train/loss`,
    `train/steps_per_sec`, the model_fn's scalars; `eval/...` with
    `evaluation.every_n_steps`), buffered and sent within seconds.

    Args:
        estimator: The `estimator` section.
        settings: The `train` section.
        evaluation: The `eval` section (cadence and early stopping).
        label: The label column.
        splits: The ingested splits.
        columns: The frozen feature columns.
        run: The MLflow run and its local folder.
        gate_metric, gate_higher_is_better: Early stopping's default metric.

    Raises:
        TrainingInterrupted: Ctrl-C stopped training (after a checkpoint).
    """
    logger = stage_logger(__name__)
    writer = MlflowMetricWriter(
        run.run_id, spool_path=os.path.join(run.folder, "train.unsent.jsonl")
    )
    stopping = _early_stopping(evaluation, run, gate_metric, gate_higher_is_better)
    hooks: list[est.Hook] = [
        # A line every 10 s to the run log (the Prefect UI; the command line
        # prints it in a pipe), and the live bar on a terminal.
        est.ProgressHook(
            log=lambda text: logger.info(text, extra=PROGRESS), every_secs=10.0
        ),
        *([est.ProgressHook(bar=True)] if _is_terminal(sys.stderr) else []),
        StopOnInterrupt(),
        *([stopping] if stopping else []),
    ]
    config = run_config(
        settings, [writer], save_checkpoints_steps=evaluation.every_n_steps
    ).replace(progress=False)  # shown by the hooks above, to both places
    model = build_estimator(estimator, columns.uri, run.model_dir, config=config)
    keys = list(columns.raw_keys)
    train_input = input_fn(
        splits.train_uri,
        keys,
        label,
        settings.batch_size,
        shuffle_buffer=settings.shuffle_buffer,
        seed=settings.seed,
    )
    try:
        with training():
            if evaluation.every_n_steps:
                est.train_and_evaluate(
                    model,
                    est.TrainSpec(train_input, max_steps=settings.steps, hooks=hooks),
                    est.EvalSpec(
                        input_fn(splits.eval_uri, keys, label, evaluation.batch_size),
                        steps=None,
                        throttle_secs=0,
                    ),
                )
            else:
                model.train(train_input, max_steps=settings.steps, hooks=hooks)
            interrupted = stop_requested()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
    latest = model.latest_checkpoint()
    step = checkpoints.checkpoint_step(latest) if latest else 0
    if interrupted:
        raise TrainingInterrupted(step, run.run_id)
    restore = evaluation.early_stopping is not None and (
        evaluation.early_stopping.restore_best
    )
    return _trained(run, columns, stopping if restore else None, stopping, step, logger)


def _trained(
    run: TrackedRun,
    columns: FrozenColumns,
    restore: EarlyStopping | None,
    stopping: EarlyStopping | None,
    step: int,
    logger: Any,
) -> TrainedModel:
    best = None
    if stopping is not None:
        stopping.update()  # the final evaluation, made after the last step
        if restore is not None and restore.best_step != step:
            best = restore.best_checkpoint()
        logger.info(
            "train: best %s %.6g at global_step %s%s",
            stopping.metric,
            stopping.best_value,
            stopping.best_step,
            "; that checkpoint is the one evaluated and served" if best else "",
        )
    logger.info("train: model_dir at global_step %d", step)
    return TrainedModel(
        run_id=run.run_id,
        model_dir=run.model_dir,
        columns=columns,
        checkpoint_path=best,
        stopped_early_at=stopping.stopped_at if stopping else None,
    )


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
