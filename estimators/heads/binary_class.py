"""`BinaryClassHead`: two classes, one logit, sigmoid cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from estimators import losses, metrics
from estimators.heads._labels import ClassLabels, host_array
from estimators.heads._loss_fn import call_loss_fn, check_loss_fn
from estimators.heads._weights import labels_like_logits
from estimators.heads.base import Head, select
from estimators.heads.keys import MetricKeys, PredictionKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.typing import Array, Features

__all__ = ["BinaryClassHead"]


def check_thresholds(thresholds: Sequence[float] | None) -> tuple[float, ...]:
    """`thresholds` as a tuple of floats, each strictly between 0 and 1."""
    values = tuple(float(t) for t in thresholds or ())
    for t in values:
        if not 0.0 < t < 1.0:
            raise ValueError(f"`thresholds` must be in (0, 1), got {t}.")
    return values


def _accuracy_baseline(state: Mapping[str, jax.Array]) -> jax.Array:
    """Accuracy of always predicting the majority class: max(mean, 1 - mean)."""
    label_mean = state["total"] / jnp.maximum(state["count"], 1e-12)
    return jnp.maximum(label_mean, 1.0 - label_mean)


def threshold_metrics(
    labels: jax.Array,
    probabilities: jax.Array,
    weights: jax.Array | None,
    thresholds: Sequence[float],
) -> dict[str, Metric]:
    """Accuracy (`p >= t`), precision and recall (`p > t`) at each threshold `t`."""
    found: dict[str, Metric] = {}
    for t in thresholds:
        found[MetricKeys.ACCURACY_AT_THRESHOLD % t] = metrics.accuracy_at_threshold(
            labels, probabilities, t, weights
        )
        found[MetricKeys.PRECISION_AT_THRESHOLD % t] = metrics.precision_at_threshold(
            labels, probabilities, t, weights
        )
        found[MetricKeys.RECALL_AT_THRESHOLD % t] = metrics.recall_at_threshold(
            labels, probabilities, t, weights
        )
    return found


def soft_auc(
    labels: jax.Array,
    probabilities: jax.Array,
    weights: jax.Array | None,
    curve: Literal["ROC", "PR"] = "ROC",
) -> Metric:
    """AUC where a label in [0, 1] counts as that fraction of a positive example
    and the rest of a negative one, as Keras' AUC (tf's heads) counts soft labels;
    for 0/1 labels it is `metrics.auc`."""
    w = (
        jnp.ones_like(labels)
        if weights is None
        else jnp.broadcast_to(jnp.asarray(weights, jnp.float32), labels.shape)
    )
    positive = metrics.auc(
        jnp.ones_like(labels), probabilities, w * labels, curve=curve
    )
    negative = metrics.auc(
        jnp.zeros_like(labels), probabilities, w * (1.0 - labels), curve=curve
    )
    return positive.merge(negative)


@final
class BinaryClassHead(Head):
    """A head for binary classification: one logit per example.

    The loss is the sigmoid cross-entropy of the logit; class 1 is predicted when
    the logit is > 0 (probability > 0.5). Without a `label_vocabulary`, labels
    are class ids 0/1 or, as in tf, probabilities in [0, 1] (soft labels such as
    0.8). Logits are `[batch_size, 1]` or `[D0, ..., DN, 1]`, with labels and
    weights `[D0, ..., DN]` or `[D0, ..., DN, 1]`. Evaluation reports tf.estimator's keys:
    accuracy, accuracy_baseline, auc, auc_precision_recall, average_loss,
    label/mean, precision, prediction/mean, recall (plus the `Estimator`'s loss
    and global_step), and per-threshold accuracy, precision and recall when
    `thresholds` is given. AUCs use tf's 200 thresholds with careful
    interpolation; they are exact however the data is batched.

    Args:
        weight_column: A feature name or `fc.numeric_column` weighting each
            example. Default None.
        thresholds: Probabilities in (0, 1) at which to also report accuracy,
            precision and recall. Default None.
        label_vocabulary: The two class names; labels are then strings. Default
            None: labels are 0/1 (int or bool) or probabilities in [0, 1].
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        loss_fn: Optional `loss_fn(labels, logits[, features])` returning
            `[B, 1]` per-example losses in place of the sigmoid cross-entropy,
            called by keyword as tf does; labels are float32 `[B, 1]`.
        name: Suffix of the metric keys (`auc/name`); needed in a `MultiHead`.

    Example:
        >>> head = BinaryClassHead()
        >>> logits = jnp.array([[0.0], [2.0]])
        >>> head.predictions(logits)["class_ids"].tolist()
        [[0], [1]]
        >>> round(float(head.loss(jnp.array([0, 1]), logits)), 4)  # (0.6931 + 0.1269) / 2
        0.41
    """

    def __init__(
        self,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            weight_column=weight_column, loss_reduction=loss_reduction, name=name
        )
        self._classes = ClassLabels(2, label_vocabulary)
        self._thresholds = check_thresholds(thresholds)
        check_loss_fn(loss_fn)
        self._loss_fn = loss_fn

    @property
    def n_classes(self) -> int:
        """The number of classes, 2."""
        return 2

    @property
    def logits_dimension(self) -> int:
        return 1

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The extra thresholds of the evaluation metrics."""
        return self._thresholds

    @property
    def label_vocabulary(self) -> list[str] | None:
        """The class names, or None when labels are ids."""
        return self._classes.vocabulary if self._classes.has_vocabulary else None

    @property
    def class_names(self) -> list[str]:
        """The strings `classes` predictions hold: the vocabulary, or "0", "1", ..."""
        return list(self._classes.vocabulary)

    def predictions(
        self, logits: Array, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """logits, logistic, probabilities, class_ids, classes, all_class_ids,
        all_classes; `classes` hold ids until `transform_predictions` names them."""
        logits = self._logits(logits)
        two_class = jnp.concatenate([jnp.zeros_like(logits), logits], axis=-1)
        class_ids = jnp.argmax(two_class, axis=-1).astype(jnp.int32)[..., None]
        # tf tiles the class ids over the leading axis only: [D0, 2].
        all_ids = jnp.broadcast_to(jnp.arange(2, dtype=jnp.int32), (logits.shape[0], 2))
        return select(
            {
                PredictionKeys.LOGITS: logits,
                PredictionKeys.LOGISTIC: jax.nn.sigmoid(logits),
                PredictionKeys.PROBABILITIES: jax.nn.softmax(two_class, axis=-1),
                PredictionKeys.CLASS_IDS: class_ids,
                PredictionKeys.CLASSES: class_ids,
                PredictionKeys.ALL_CLASS_IDS: all_ids,
                PredictionKeys.ALL_CLASSES: all_ids,
            },
            keys,
        )

    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        labels = labels_like_logits(labels, logits, 1, "binary head")
        return labels.astype(jnp.float32)

    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        if self._loss_fn is not None:
            return call_loss_fn(self._loss_fn, labels, logits, features, 1)
        return losses.sigmoid_cross_entropy(labels, logits, reduction=Reduction.NONE)

    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        probabilities = jax.nn.sigmoid(logits)
        class_ids = (logits > 0).astype(jnp.float32)
        label_mean = metrics.mean(labels, weights)
        return {
            MetricKeys.ACCURACY: metrics.accuracy(labels, class_ids, weights),
            MetricKeys.ACCURACY_BASELINE: Metric(label_mean.state, _accuracy_baseline),
            MetricKeys.AUC: soft_auc(labels, probabilities, weights),
            MetricKeys.AUC_PR: soft_auc(labels, probabilities, weights, curve="PR"),
            MetricKeys.AVERAGE_LOSS: metrics.mean(unreduced_loss, weights),
            MetricKeys.LABEL_MEAN: label_mean,
            MetricKeys.PRECISION: metrics.precision(labels, class_ids, weights),
            MetricKeys.PREDICTION_MEAN: metrics.mean(probabilities, weights),
            MetricKeys.RECALL: metrics.recall(labels, class_ids, weights),
            **threshold_metrics(labels, probabilities, weights, self._thresholds),
        }

    def transform_labels(self, labels: Any) -> Any:
        """Labels as int32 class ids (names looked up in `label_vocabulary`), or
        float32 probabilities when given as floats in [0, 1]."""
        if not self._classes.has_vocabulary:
            values = host_array(labels)
            if not isinstance(values, pa.Array) and values.dtype.kind == "f":
                return _probabilities(values)
        return self._classes.to_ids(labels)

    def transform_predictions(self, predictions: Mapping[str, Any]) -> dict[str, Any]:
        """Predictions with `classes` and `all_classes` as class-name strings."""
        return self._classes.name_predictions(predictions)


def _probabilities(values: np.ndarray) -> np.ndarray:
    """Float labels checked to lie in [0, 1] (tf: "Labels must be <= 2 - 1")."""
    bad = ~((values >= 0) & (values <= 1))
    if np.any(bad):
        at = int(np.argwhere(bad)[0][0])
        raise ValueError(
            "binary labels must be class ids 0/1 or probabilities in [0, 1], got "
            f"{values.reshape(len(values), -1)[at].tolist()} (row {at})."
        )
    return values.astype(np.float32)
