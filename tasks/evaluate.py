"""Evaluate: the new model and the current champion, on the same evaluation split."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import task

from estimators_pipeline.tasks import columns as columns_lib
from estimators_pipeline.tasks import plots
from estimators_pipeline.tasks.config import (
    EstimatorConfig,
    EvalConfig,
    GateConfig,
    PipelineConfig,
)
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.model import build_estimator, input_fn, run_config
from estimators_pipeline.tasks.policies import retry_on_io
from estimators_pipeline.tasks.runs import TrackedRun
from estimators_pipeline.tasks.tracking import MlflowMetricWriter
from estimators_pipeline.tasks.train import TrainedModel

__all__ = [
    "CHECKPOINT_TAG",
    "Evaluation",
    "champion_version",
    "evaluate",
    "evaluate_champion",
]

logger = logging.getLogger(__name__)

CHECKPOINT_TAG = "pipeline.checkpoint"
"""Run tag: the artifact path of the served checkpoint when it is not the latest."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one evaluation split.

    Attributes:
        metrics: Metric name -> value (tf.estimator's keys for canned heads).
        global_step: The evaluated checkpoint's step.
        plots_dir: Where the image artifacts were written (new models only).
        version: The registered version evaluated (the champion only).
        source: "evaluated" on this run's split, or "recorded" in the
            champion's own run when it could not be evaluated on this split.
    """

    metrics: dict[str, float]
    global_step: int
    plots_dir: str | None = None
    version: str | None = None
    source: str = "evaluated"
    notes: list[str] = field(default_factory=list)


def _eval_input(
    evaluation: EvalConfig, splits: Splits, raw_keys: Any, label: str
) -> Any:
    return input_fn(splits.eval_uri, list(raw_keys), label, evaluation.batch_size)


def _class_ids(
    estimator: Any, eval_input: Any, checkpoint_path: str | None
) -> np.ndarray | None:
    batches = [
        b["class_ids"]
        for b in estimator.predict(
            eval_input, yield_single_examples=False, checkpoint_path=checkpoint_path
        )
        if "class_ids" in b
    ]
    return np.concatenate(batches).reshape(-1) if batches else None


def _label_ids(
    spec: EstimatorConfig, label: str, uri: str
) -> tuple[np.ndarray, list[str]]:
    labels = (
        pq.read_table(uri, columns=[label]).column(0).to_numpy(zero_copy_only=False)
    )
    vocabulary = spec.args.get("label_vocabulary")
    if vocabulary:
        index = {v: i for i, v in enumerate(vocabulary)}
        return np.array([index.get(v, -1) for v in labels]), list(vocabulary)
    n = int(spec.args.get("n_classes", 0))
    ids = labels.astype(np.int64).reshape(-1)
    return ids, [str(i) for i in range(max(n, int(ids.max()) + 1))]


def write_plots(
    estimator: Any,
    spec: EstimatorConfig,
    label: str,
    eval_uri: str,
    eval_input: Any,
    folder: str,
    checkpoint_path: str | None = None,
) -> str:
    """Writes training_curve.png and, for classifiers, confusion_matrix.png."""
    os.makedirs(folder, exist_ok=True)
    plots.plot_training_curve(
        os.path.join(estimator.model_dir, "metrics.jsonl"),
        os.path.join(folder, "training_curve.png"),
    )
    predicted = _class_ids(estimator, eval_input, checkpoint_path)
    if predicted is not None:
        labels, names = _label_ids(spec, label, eval_uri)
        known = labels >= 0
        n = max(len(names), int(predicted.max()) + 1)
        names += [str(i) for i in range(len(names), n)]
        matrix = plots.confusion_matrix(labels[known], predicted[known], n)
        plots.plot_confusion_matrix(
            matrix, names, os.path.join(folder, "confusion_matrix.png")
        )
    return folder


@task(name="evaluate")
def evaluate(
    estimator: EstimatorConfig,
    evaluation: EvalConfig,
    label: str,
    splits: Splits,
    model: TrainedModel,
    run: TrackedRun,
) -> Evaluation:
    """Evaluates the trained model on the eval split; metrics go to MLflow as `eval/...`.

    Evaluates `model.checkpoint_path` (restore-best) or the latest checkpoint.
    Also draws the training curve and (for classifiers) the confusion matrix.
    """
    writer = MlflowMetricWriter(
        run.run_id, spool_path=os.path.join(run.folder, "evaluate.unsent.jsonl")
    )
    columns = model.columns
    try:
        built = build_estimator(
            estimator,
            columns.uri,
            model.model_dir,
            config=run_config(writers=[writer]).replace(progress=False),
        )
        eval_input = _eval_input(evaluation, splits, columns.raw_keys, label)
        metrics = built.evaluate(eval_input, checkpoint_path=model.checkpoint_path)
    finally:
        writer.close()
    plots_dir = write_plots(
        built,
        estimator,
        label,
        splits.eval_uri,
        eval_input,
        os.path.join(run.folder, "plots"),
        model.checkpoint_path,
    )
    step = int(metrics.pop("global_step"))
    result = Evaluation(
        metrics={k: float(v) for k, v in metrics.items()},
        global_step=step,
        plots_dir=plots_dir,
    )
    stage_logger(__name__).info(
        "evaluate: global_step %d: %s",
        step,
        ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items())),
    )
    return result


def champion_version(client: MlflowClient, name: str, alias: str) -> Any:
    """The model version holding `alias`, or None (no such model or alias)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def _recorded(client: MlflowClient, version: Any, why: Exception) -> Evaluation:
    run = client.get_run(version.run_id)
    metrics = {
        k.removeprefix("eval/"): v
        for k, v in run.data.metrics.items()
        if k.startswith("eval/")
    }
    note = (
        f"champion v{version.version} could not be evaluated on this split ({why}); "
        "compared with the metrics recorded in its own run"
    )
    logger.warning(note)
    return Evaluation(
        metrics=metrics,
        global_step=-1,
        version=str(version.version),
        source="recorded",
        notes=[note],
    )


@task(
    name="evaluate-champion",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_io,
)
def evaluate_champion(
    model_name: str,
    gate: GateConfig,
    evaluation: EvalConfig,
    label: str,
    splits: Splits,
) -> Evaluation | None:
    """Evaluates the current champion on this run's eval split, or returns None.

    The champion is rebuilt from its own run's artifacts (config, frozen
    columns, checkpoints), so both models are scored by the same code on the
    same rows. Nothing is logged to this run's metrics.
    """
    client = MlflowClient()
    version = champion_version(client, model_name, gate.alias)
    if version is None:
        return None
    with tempfile.TemporaryDirectory(prefix="champion-") as tmp:
        try:
            metrics = _evaluate_version(client, version, evaluation, label, splits, tmp)
        except (ValueError, KeyError, FileNotFoundError) as why:
            return _recorded(client, version, why)
    step = int(metrics.pop("global_step"))
    return Evaluation(
        metrics={k: float(v) for k, v in metrics.items()},
        global_step=step,
        version=str(version.version),
    )


def _evaluate_version(
    client: MlflowClient,
    version: Any,
    evaluation: EvalConfig,
    label: str,
    splits: Splits,
    tmp: str,
) -> dict[str, Any]:
    """A registered version's metrics on `splits`, rebuilt from its run's files."""
    run_id = version.run_id
    paths = {
        name: client.download_artifacts(run_id, name, tmp)
        for name in ("pipeline", "checkpoints")
    }
    with open(os.path.join(paths["pipeline"], "config.json"), encoding="utf-8") as f:
        champion = PipelineConfig.model_validate_json(f.read())
    served = client.get_run(run_id).data.tags.get(CHECKPOINT_TAG)
    checkpoint = client.download_artifacts(run_id, served, tmp) if served else None
    columns_uri = os.path.join(paths["pipeline"], "feature_columns.json")
    keys = columns_lib.raw_keys(columns_lib.read_groups(columns_uri))
    built = build_estimator(
        champion.estimator,
        columns_uri,
        paths["checkpoints"],
        config=run_config().replace(progress=False),
    )
    return built.evaluate(
        _eval_input(evaluation, splits, keys, label), checkpoint_path=checkpoint
    )
