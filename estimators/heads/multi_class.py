"""`MultiClassHead`: `n_classes` > 2 exclusive classes, softmax cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp

from estimators import losses, metrics
from estimators.heads._labels import ClassLabels
from estimators.heads._loss_fn import call_loss_fn, check_loss_fn
from estimators.heads._weights import labels_like_logits
from estimators.heads.base import Head, select
from estimators.heads.keys import MetricKeys, PredictionKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.typing import Array, Features

__all__ = ["MultiClassHead"]


@final
class MultiClassHead(Head):
    """A head for classification into one of `n_classes` classes.

    The loss is the softmax cross-entropy of the logits against the class ids;
    the predicted class is the argmax. Evaluation reports tf.estimator's keys:
    accuracy and average_loss (plus the `Estimator`'s loss and global_step).
    Logits are `[batch_size, n_classes]` or `[D0, ..., DN, n_classes]`, with
    labels and weights `[D0, ..., DN]` or `[D0, ..., DN, 1]`.

    Args:
        n_classes: Number of classes, > 2 (use `BinaryClassHead` for two).
        weight_column: A feature name or `fc.numeric_column` weighting each
            example. Default None.
        label_vocabulary: The class names in id order; labels are then strings.
            Default None: labels are class ids in [0, n_classes).
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        loss_fn: Optional `loss_fn(labels, logits[, features])` returning
            `[B, 1]` per-example losses in place of the cross-entropy, called by
            keyword as tf does; labels are int32 `[B, 1]` ids.
        name: Suffix of the metric keys (`accuracy/name`); needed in a
            `MultiHead`.

    Example:
        >>> head = MultiClassHead(3)
        >>> logits = jnp.array([[0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
        >>> head.predictions(logits)["class_ids"].tolist()
        [[0], [1]]
        >>> round(float(head.loss(jnp.array([2, 1]), logits)), 4)  # (log 3 + 0.0134) / 2
        0.556
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        name: str | None = None,
    ) -> None:
        if (
            isinstance(n_classes, bool)
            or not isinstance(n_classes, int)
            or n_classes <= 2
        ):
            raise ValueError(
                f"`n_classes` must be an int > 2, got {n_classes!r}; use "
                "BinaryClassHead for two classes."
            )
        super().__init__(
            weight_column=weight_column, loss_reduction=loss_reduction, name=name
        )
        self._classes = ClassLabels(n_classes, label_vocabulary)
        check_loss_fn(loss_fn)
        self._loss_fn = loss_fn

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

    @property
    def class_names(self) -> list[str]:
        """The strings `classes` predictions hold: the vocabulary, or "0", "1", ..."""
        return list(self._classes.vocabulary)

    def predictions(
        self, logits: Array, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """logits, probabilities, class_ids, classes, all_class_ids, all_classes;
        `classes` hold ids until `transform_predictions` names them."""
        logits = self._logits(logits)
        class_ids = jnp.argmax(logits, axis=-1).astype(jnp.int32)[..., None]
        # tf tiles the class ids over the leading axis only: [D0, n_classes].
        all_ids = jnp.broadcast_to(
            jnp.arange(self.n_classes, dtype=jnp.int32),
            (logits.shape[0], self.n_classes),
        )
        return select(
            {
                PredictionKeys.LOGITS: logits,
                PredictionKeys.PROBABILITIES: jax.nn.softmax(logits, axis=-1),
                PredictionKeys.CLASS_IDS: class_ids,
                PredictionKeys.CLASSES: class_ids,
                PredictionKeys.ALL_CLASS_IDS: all_ids,
                PredictionKeys.ALL_CLASSES: all_ids,
            },
            keys,
        )

    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        labels = labels_like_logits(labels, logits, 1, "multi-class head")
        return labels.astype(jnp.int32)

    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        if self._loss_fn is not None:
            return call_loss_fn(self._loss_fn, labels, logits, features, 1)
        return losses.sparse_softmax_cross_entropy(
            labels, logits, reduction=Reduction.NONE
        )[..., None]

    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        class_ids = jnp.argmax(logits, axis=-1).astype(jnp.int32)[..., None]
        return {
            MetricKeys.ACCURACY: metrics.accuracy(labels, class_ids, weights),
            MetricKeys.AVERAGE_LOSS: metrics.mean(unreduced_loss, weights),
        }

    def transform_labels(self, labels: Any) -> Any:
        """Labels as int32 class ids (names looked up in `label_vocabulary`)."""
        return self._classes.to_ids(labels)

    def transform_predictions(self, predictions: Mapping[str, Any]) -> dict[str, Any]:
        """Predictions with `classes` and `all_classes` as class-name strings."""
        return self._classes.name_predictions(predictions)
