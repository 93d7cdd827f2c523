"""`RegressionHead`: `label_dimension` real targets, squared error."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from estimators import losses, metrics
from estimators.heads._labels import host_array
from estimators.heads._loss_fn import call_loss_fn, check_loss_fn
from estimators.heads._weights import labels_like_logits
from estimators.heads.base import Head, select
from estimators.heads.keys import MetricKeys, PredictionKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.typing import Array, Features

__all__ = ["RegressionHead"]

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


class RegressionHead(Head):
    """A head for regression of `label_dimension` real values per example.

    The loss is the squared error between labels and logits (or `loss_fn`);
    predictions are the logits (or `inverse_link_fn(logits)`). Evaluation reports
    tf.estimator's keys: average_loss, label/mean, prediction/mean (plus the
    `Estimator`'s loss and global_step). Logits and labels are
    `[batch_size, label_dimension]` or `[D0, ..., DN, label_dimension]`; weights
    are per example (`[D0, ..., DN]` or `[..., 1]`) or per element (like the
    logits). Not final: `PoissonRegressionHead` and `LogisticRegressionHead`
    specialise it, as in tf.estimator.

    Args:
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` weighting each
            example, or each target with shape `[label_dimension]`. Default None.
        loss_reduction: "sum_over_batch_size" (default: the weighted sum over the
            batch and the targets, divided by their number), "sum", or an
            `est.losses.Reduction`.
        loss_fn: Optional `loss_fn(labels, logits[, features])` returning
            `[B, label_dimension]` element-wise losses in place of the squared
            error, called by keyword as tf does.
        inverse_link_fn: Optional map from logits to predictions (e.g. `jnp.exp`);
            with it, predictions also carry the `logits`.
        name: Suffix of the metric keys (`average_loss/name`); needed in a
            `MultiHead`.

    Example:
        >>> head = RegressionHead()
        >>> spec = head.create_estimator_spec(
        ...     {}, "eval", logits=jnp.array([[1.0], [4.0]]), labels=[3.0, 4.0])
        >>> float(spec.loss)  # ((1 - 3)² + (4 - 4)²) / 2
        2.0
    """

    _per_logit_weights = True  # tf: weights may be [D0, ..., DN, label_dimension]

    def __init__(
        self,
        label_dimension: int = 1,
        weight_column: Any = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        inverse_link_fn: Callable[[jax.Array], jax.Array] | None = None,
        name: str | None = None,
    ) -> None:
        if (
            isinstance(label_dimension, bool)
            or not isinstance(label_dimension, int)
            or label_dimension < 1
        ):
            raise ValueError(
                f"`label_dimension` must be an int >= 1, got {label_dimension!r}."
            )
        super().__init__(
            weight_column=weight_column, loss_reduction=loss_reduction, name=name
        )
        self._label_dimension = label_dimension
        check_loss_fn(loss_fn)
        self._loss_fn = loss_fn
        self._inverse_link_fn = inverse_link_fn

    @property
    def label_dimension(self) -> int:
        """The number of targets per example."""
        return self._label_dimension

    @property
    def logits_dimension(self) -> int:
        return self._label_dimension

    def predictions(
        self, logits: Array, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """predictions (and logits when there is an `inverse_link_fn`)."""
        logits = self._logits(logits)
        if self._inverse_link_fn is None:
            return select({PredictionKeys.PREDICTIONS: logits}, keys)
        predictions = jnp.asarray(self._inverse_link_fn(logits), jnp.float32)
        return select(
            {PredictionKeys.PREDICTIONS: predictions, PredictionKeys.LOGITS: logits},
            keys,
        )

    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        labels = labels_like_logits(labels, logits, logits.shape[-1], "regression head")
        return labels.astype(jnp.float32)

    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        if self._loss_fn is not None:
            return call_loss_fn(
                self._loss_fn, labels, logits, features, logits.shape[-1]
            )
        return losses.mean_squared_error(labels, logits, reduction=Reduction.NONE)

    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        predictions = self.predictions(logits, [PredictionKeys.PREDICTIONS])
        return {
            MetricKeys.AVERAGE_LOSS: metrics.mean(unreduced_loss, weights),
            MetricKeys.LABEL_MEAN: metrics.mean(labels, weights),
            MetricKeys.PREDICTION_MEAN: metrics.mean(
                predictions[PredictionKeys.PREDICTIONS], weights
            ),
        }

    def transform_labels(self, labels: Any) -> Any:
        """Labels as a float32 numpy array; strings are refused with a message."""
        if isinstance(labels, Mapping):
            raise ValueError("a regression head takes one label array, not a dict.")
        values = host_array(labels)
        if isinstance(values, pa.Array):  # host_array keeps only text in Arrow
            raise ValueError(f"regression labels must be numbers, got {values.type}.")
        if values.dtype.kind not in "biuf":
            raise ValueError(f"regression labels must be numbers, got {values.dtype}.")
        return values.astype(np.float32)
