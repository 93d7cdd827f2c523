"""`MultiLabelHead`: any number of `n_classes` classes per example, sigmoid loss."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp

from estimators import losses, metrics
from estimators.heads._labels import ClassLabels
from estimators.heads._loss_fn import call_loss_fn, check_loss_fn
from estimators.heads.base import Head, select
from estimators.heads.binary_class import check_thresholds, threshold_metrics
from estimators.heads.keys import MetricKeys, PredictionKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.typing import Array, Features

__all__ = ["MultiLabelHead"]


@final
class MultiLabelHead(Head):
    """A head for multi-label classification: zero or more classes per example.

    Each class is an independent binary problem: the loss of an example is the
    sigmoid cross-entropy averaged over the classes, as in tf.estimator.
    Predictions carry `logits` and `probabilities` (tf's keys). Evaluation
    reports average_loss, auc and auc_precision_recall over all (example, class)
    pairs (plus the `Estimator`'s loss and global_step), and per-threshold
    accuracy, precision and recall when `thresholds` is given.

    Labels are multi-hot `[B, n_classes]` rows, or one list of class ids per
    example (a pyarrow list array or a numpy object array of lists); with a
    `label_vocabulary`, lists of class names.

    Args:
        n_classes: Number of classes, >= 2.
        weight_column: A feature name or `fc.numeric_column` weighting each
            example. Default None.
        thresholds: Probabilities in (0, 1) at which to also report accuracy,
            precision and recall. Default None.
        label_vocabulary: Class names, for labels given as lists of names.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        loss_fn: Optional `loss_fn(labels, logits[, features])` returning
            `[B, 1]` per-example losses, called by keyword as tf does; labels
            are float32 multi-hot `[B, n_classes]`.
        classes_for_class_based_metrics: Class ids (or names, with a
            `label_vocabulary`) to report per-class metrics for. Default None.
        name: Suffix of the metric keys (`auc/name`); needed in a `MultiHead`.

    Example:
        >>> head = MultiLabelHead(3)
        >>> logits = jnp.array([[0.0, 0.0, 0.0]])
        >>> round(float(head.loss(jnp.array([[1, 0, 1]]), logits)), 4)  # log 2
        0.6931
        >>> import numpy as np
        >>> head.transform_labels(np.array([[2], [0, 1]], dtype=object)).tolist()
        [[0, 0, 1], [1, 1, 0]]
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        classes_for_class_based_metrics: Sequence[int | str] | None = None,
        name: str | None = None,
    ) -> None:
        if (
            isinstance(n_classes, bool)
            or not isinstance(n_classes, int)
            or n_classes < 2
        ):
            raise ValueError(f"`n_classes` must be an int >= 2, got {n_classes!r}.")
        super().__init__(
            weight_column=weight_column, loss_reduction=loss_reduction, name=name
        )
        self._classes = ClassLabels(n_classes, label_vocabulary)
        self._thresholds = check_thresholds(thresholds)
        check_loss_fn(loss_fn)
        self._loss_fn = loss_fn
        self._metric_classes = _class_ids(
            classes_for_class_based_metrics, n_classes, label_vocabulary
        )

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return self._classes.n_classes

    @property
    def logits_dimension(self) -> int:
        return self._classes.n_classes

    @property
    def label_vocabulary(self) -> list[str] | None:
        """The class names, or None when labels are ids."""
        return self._classes.vocabulary if self._classes.has_vocabulary else None

    def predictions(
        self, logits: Array, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """logits, probabilities (one sigmoid per class) and classes (all class
        ids `[D0, n_classes]`, named by `transform_predictions`)."""
        logits = self._logits(logits)
        all_ids = jnp.broadcast_to(
            jnp.arange(self.n_classes, dtype=jnp.int32),
            (logits.shape[0], self.n_classes),
        )
        return select(
            {
                PredictionKeys.LOGITS: logits,
                PredictionKeys.PROBABILITIES: jax.nn.sigmoid(logits),
                PredictionKeys.CLASSES: all_ids,
            },
            keys,
        )

    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        labels = jnp.asarray(labels)
        if labels.shape != logits.shape:
            raise ValueError(
                f"labels of shape {labels.shape} do not fit a multi-label head: "
                f"expected multi-hot {logits.shape}."
            )
        return labels.astype(jnp.float32)

    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        if self._loss_fn is not None:
            return call_loss_fn(self._loss_fn, labels, logits, features, 1)
        per_class = losses.sigmoid_cross_entropy(
            labels, logits, reduction=Reduction.NONE
        )
        return jnp.mean(per_class, axis=-1, keepdims=True)

    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        probabilities = jax.nn.sigmoid(logits)
        return {
            MetricKeys.AVERAGE_LOSS: metrics.mean(unreduced_loss, weights),
            MetricKeys.AUC: metrics.auc(labels, probabilities, weights),
            MetricKeys.AUC_PR: metrics.auc(labels, probabilities, weights, curve="PR"),
            **threshold_metrics(labels, probabilities, weights, self._thresholds),
            **self._class_metrics(labels, probabilities, weights),
        }

    def _class_metrics(
        self, labels: jax.Array, probabilities: jax.Array, weights: jax.Array | None
    ) -> dict[str, Metric]:
        found: dict[str, Metric] = {}
        for class_id in self._metric_classes:
            if self._classes.has_vocabulary:
                suffix, name = "_AT_NAME", self._classes.vocabulary[class_id]
            else:
                suffix, name = "_AT_CLASS", class_id
            p = probabilities[..., class_id : class_id + 1]
            y = labels[..., class_id : class_id + 1]
            found[MetricKeys["PROBABILITY_MEAN" + suffix] % name] = metrics.mean(
                p, weights
            )
            found[MetricKeys["AUC" + suffix] % name] = metrics.auc(y, p, weights)
            found[MetricKeys["AUC_PR" + suffix] % name] = metrics.auc(
                y, p, weights, curve="PR"
            )
        return found

    def transform_labels(self, labels: Any) -> Any:
        """Labels as int32 multi-hot `[B, n_classes]` rows."""
        return self._classes.to_multi_hot(labels)

    def transform_predictions(self, predictions: Mapping[str, Any]) -> dict[str, Any]:
        """Predictions with `classes` as class-name strings."""
        return self._classes.name_predictions(predictions)


def _class_ids(
    classes: Sequence[int | str] | None,
    n_classes: int,
    vocabulary: Sequence[str] | None,
) -> tuple[int, ...]:
    """`classes_for_class_based_metrics` as class ids (names looked up)."""
    ids = []
    for value in classes or ():
        if isinstance(value, str):
            if vocabulary is None or value not in vocabulary:
                raise ValueError(
                    f"`classes_for_class_based_metrics`: {value!r} is not in "
                    f"label_vocabulary {vocabulary}; give class ids or names from "
                    "the vocabulary."
                )
            ids.append(list(vocabulary).index(value))
        elif isinstance(value, bool) or not 0 <= int(value) < n_classes:
            raise ValueError(
                "`classes_for_class_based_metrics` must be class ids in "
                f"[0, {n_classes}) or names, got {value!r}."
            )
        else:
            ids.append(int(value))
    return tuple(ids)
