"""`LogisticRegressionHead`: a probability in [0, 1] per example, sigmoid link."""

from __future__ import annotations

from typing import Any, final

import jax
import numpy as np

from estimators import losses
from estimators.heads.regression import RegressionHead
from estimators.losses import Reduction
from estimators.typing import Array

__all__ = ["LogisticRegressionHead"]

_RANGE_MESSAGE = "Labels must be in range [0, 1]"


def _logistic_loss(labels: jax.Array, logits: jax.Array) -> jax.Array:
    return losses.sigmoid_cross_entropy(labels, logits, reduction=Reduction.NONE)


def _check_range(values: np.ndarray) -> None:
    bad = ~((values >= 0) & (values <= 1))
    if np.any(bad):
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{_RANGE_MESSAGE}: got {values.reshape(len(values), -1)[row].tolist()} "
            f"(row {row})."
        )


@final
class LogisticRegressionHead(RegressionHead):
    """Regression of a probability: sigmoid cross-entropy loss, as tf's.

    The loss is `BinaryClassHead`'s, but labels are floats in [0, 1] (no
    `label_vocabulary`), predictions are only `predictions` (`sigmoid(logits)`)
    and `logits`, and evaluation reports the regression metrics
    (average_loss, label/mean, prediction/mean), not AUC.

    Args:
        weight_column: A feature name or `fc.numeric_column` weighting each
            example. Default None.
        loss_reduction: "sum_over_batch_size" (default), "sum", or an
            `est.losses.Reduction`.
        name: Suffix of the metric keys; needed in a `MultiHead`.

    Example:
        >>> import jax.numpy as jnp
        >>> head = LogisticRegressionHead()
        >>> float(head.predictions(jnp.array([[0.0]]))["predictions"][0, 0])
        0.5
    """

    def __init__(
        self,
        weight_column: Any = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        name: str | None = None,
    ) -> None:
        super().__init__(
            1,
            weight_column=weight_column,
            loss_reduction=loss_reduction,
            loss_fn=_logistic_loss,
            inverse_link_fn=jax.nn.sigmoid,
            name=name,
        )

    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        labels = super()._labels(labels, logits)
        if not isinstance(labels, jax.core.Tracer):  # concrete: check now, as tf
            _check_range(np.asarray(labels))
        return labels

    def transform_labels(self, labels: Any) -> Any:
        """Labels as float32 probabilities; one outside [0, 1] is refused."""
        values = super().transform_labels(labels)
        _check_range(values)
        return values
