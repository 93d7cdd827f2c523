"""Checks a pipeline config before any work starts: no flow run, no MLflow run.

Everything that can be known without training is checked here, so a typo costs
one line and a second, not a failed MLflow run after minutes of ingest and
training: the estimator type and its arguments (against the constructor's
signature), optimizer and activation names, the feature columns (built, and
their raw keys and types against the data's schema), and the gate metric
(against the metric keys of the estimator's head).
"""

from __future__ import annotations

import difflib
import inspect
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from estimators import canned, heads
from estimators_pipeline.tasks import columns as columns_lib
from estimators_pipeline.tasks.config import EstimatorConfig, PipelineConfig
from estimators_pipeline.tasks.ingest import check_schema, open_source
from estimators_pipeline.tasks.model import (
    construct_estimator,
    estimator_argument,
    estimator_class,
    resolve,
)

__all__ = ["ConfigError", "check", "head_metric_keys"]

_NEVER_WRITTEN = os.path.join(tempfile.gettempdir(), "estimators-preflight-unused")


class ConfigError(ValueError):
    """A config that cannot work; the message is one line naming the field."""


def check(config: PipelineConfig) -> None:
    """Raises `ConfigError` (one line) at the first problem of `config`.

    Reads only the data's schema (not its rows) and imports a custom
    `model_fn` or estimator class; creates nothing.
    """
    try:
        _check(config)
    except ConfigError:
        raise
    except (ValueError, TypeError, ImportError, FileNotFoundError, KeyError) as e:
        raise ConfigError(_one_line(e)) from None


def _check(config: PipelineConfig) -> None:
    groups = columns_lib.build_groups(config.features)
    if not any(groups.values()):
        raise ConfigError(
            "features: no feature columns; list at least one, e.g. "
            "[{numeric_column: {key: age}}]."
        )
    _check_estimator(config.estimator, groups)
    required = columns_lib.raw_keys(groups)
    data = config.data
    check_schema(
        open_source(data.uri, data.format).schema, required, data.label, data.uri
    )
    if data.eval_uri:
        schema = open_source(data.eval_uri, data.format).schema
        check_schema(schema, required, data.label, data.eval_uri)
    keys = head_metric_keys(config.estimator)
    if keys is None:
        return
    watched = [("gate.metric", config.gate.metric)]
    stopping = config.eval.early_stopping
    if stopping is not None and stopping.metric:
        watched.append(("eval.early_stopping.metric", stopping.metric))
    for field, metric in watched:
        if metric not in keys:
            raise ConfigError(
                f"{field}: {config.estimator.type} has no evaluation metric "
                f"{metric!r}; it has {sorted(keys)}."
            )


def _check_estimator(spec: EstimatorConfig, groups: Mapping[str, Any]) -> None:
    for name, value in spec.args.items():
        estimator_argument(name, value)  # optimizer and activation names
        if name.endswith("optimizer") and isinstance(value, str):
            canned.get_optimizer(
                value, learning_rate=0.1, argument=f"estimator.args.{name}"
            )
    if spec.model_fn:
        fn = resolve(spec.model_fn)
        if not callable(fn):
            raise ConfigError(f"estimator.model_fn {spec.model_fn!r} is not callable.")
        return
    cls = estimator_class(spec.type)
    parameters = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    for name in [*spec.args, *groups]:
        if name not in parameters:
            where = "estimator.args" if name in spec.args else "features"
            known = sorted(n for n in parameters if n not in ("model_dir", "config"))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"it takes {known}."
            raise ConfigError(f"{where}: {spec.type} has no argument {name!r}; {hint}")
    missing = [
        n
        for n, p in parameters.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in spec.args
        and n not in groups
    ]
    if missing:
        raise ConfigError(f"estimator.args: {spec.type} needs {missing}.")
    # The constructor checks values (units, n_classes, optimizer specs); it
    # writes nothing until training (this model_dir is never created).
    try:
        construct_estimator(spec, groups, _NEVER_WRITTEN)
    except ValueError as e:
        raise ConfigError(f"estimator.args: {_one_line(e)}") from None


def head_metric_keys(spec: EstimatorConfig) -> set[str] | None:
    """The evaluation metric keys of a canned estimator's head; None if unknown.

    Computed by the head itself on a two-row batch, so the keys are exactly the
    ones `evaluate` returns (plus `loss`).

    Example:
        >>> sorted(head_metric_keys(EstimatorConfig(type="DNNRegressor")))
        ['average_loss', 'label/mean', 'loss', 'prediction/mean']
    """
    if spec.type is None or ":" in spec.type:
        return None
    args = spec.args
    if spec.type.endswith("Classifier"):
        n_classes = int(args.get("n_classes", 2))
        head: heads.Head = (
            heads.BinaryClassHead()
            if n_classes == 2
            else heads.MultiClassHead(n_classes)
        )
        labels = np.zeros((2, 1), np.int32)
    elif spec.type.endswith("Regressor"):
        head = heads.RegressionHead(label_dimension=int(args.get("label_dimension", 1)))
        labels = np.zeros((2, head.logits_dimension), np.float32)
    else:
        return None
    logits = np.zeros((2, head.logits_dimension), np.float32)
    return set(head.metrics(labels, logits)) | {"loss"}


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
