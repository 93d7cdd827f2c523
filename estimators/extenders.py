"""`add_metrics`: a new Estimator with more evaluation metrics, as tf's extenders."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from estimators.estimator import Estimator
from estimators.metrics import Metric
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec

__all__ = ["add_metrics"]

_METRIC_FN_ARGS = frozenset({"features", "labels", "predictions", "config"})


def _argument_names(fn: Callable[..., Any], what: str) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} {fn!r} has no readable signature.") from e


def _check_metric_fn(metric_fn: Callable[..., Any]) -> frozenset[str]:
    if not callable(metric_fn):
        raise TypeError(
            f"`metric_fn` must be a function, got {type(metric_fn).__name__}."
        )
    names = _argument_names(metric_fn, "metric_fn")
    unexpected = sorted(names - _METRIC_FN_ARGS)
    if unexpected:
        raise ValueError(
            f"metric_fn has unexpected arguments {unexpected}; it may take only "
            f"{sorted(_METRIC_FN_ARGS)}, in any order."
        )
    return names


def _new_metrics(found: Any) -> dict[str, Metric | Any]:
    if not isinstance(found, Mapping):
        raise TypeError(
            "metric_fn must return a dict of metrics keyed by name (e.g. "
            "{'my_auc': est.metrics.auc(labels, predictions['logistic'])}), got "
            f"{type(found).__name__}."
        )
    return {str(name): value for name, value in found.items()}


def add_metrics(estimator: Estimator, metric_fn: Callable[..., Any]) -> Estimator:
    """A new `Estimator` that evaluates `estimator`'s metrics plus `metric_fn`'s.

    The new Estimator shares the model function, model_dir, config, params,
    feature columns and host label/prediction mappings of `estimator`, so it
    reads and writes the same checkpoints. In EVAL, `metric_fn`'s metrics are
    merged into the model's; a name already there is replaced, as in tf.

    Args:
        estimator: The Estimator (canned or custom) to extend.
        metric_fn: A function taking any of `features`, `labels`,
            `predictions` (the model's prediction dict, as arrays: class ids,
            not names) and `config`, by name, and returning a dict of
            `est.metrics` results (or scalars) keyed by metric name.

    Returns:
        A new `Estimator`.

    Example:
        >>> import estimators as est
        >>> from estimators import feature_column as fc
        >>> classifier = est.canned.LinearClassifier([fc.numeric_column("x")])
        >>> def my_auc(labels, predictions):
        ...     return {"my_auc": est.metrics.auc(labels, predictions["logistic"])}
        >>> classifier = est.add_metrics(classifier, my_auc)
        >>> type(classifier).__name__
        'Estimator'
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(
            f"`estimator` must be an est.Estimator, got {type(estimator).__name__}."
        )
    wanted = _check_metric_fn(metric_fn)
    model_fn = estimator.model_fn
    model_args = _argument_names(model_fn, "model_fn")

    def new_model_fn(
        features: Any, labels: Any, mode: ModeKeys, params: Any, config: Any
    ) -> EstimatorSpec:
        given = {"params": params, "config": config}
        extra = {k: v for k, v in given.items() if k in model_args}
        spec = model_fn(features=features, labels=labels, mode=mode, **extra)
        if mode != ModeKeys.EVAL:
            return spec
        inputs = {
            "features": features,
            "labels": labels,
            "predictions": spec.predictions,
            "config": config,
        }
        found = _new_metrics(metric_fn(**{k: inputs[k] for k in wanted}))
        metrics = {**(spec.eval_metric_ops or {}), **found}
        return dataclasses.replace(spec, eval_metric_ops=metrics)

    return Estimator(
        new_model_fn,
        estimator.model_dir,
        estimator.config,
        estimator.params,
        feature_columns=estimator.feature_columns,
        label_transform=estimator.label_transform,
        prediction_transform=estimator.prediction_transform,
        head=estimator.head,
    )
