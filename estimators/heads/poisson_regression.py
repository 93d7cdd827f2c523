"""`PoissonRegressionHead`: counts, log-link, Poisson negative log-likelihood."""

from __future__ import annotations

import functools
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from estimators.heads.regression import RegressionHead
from estimators.losses import Reduction

__all__ = ["PoissonRegressionHead"]


def log_poisson_loss(
    labels: jax.Array, logits: jax.Array, *, compute_full_loss: bool = True
) -> jax.Array:
    """Element-wise `exp(logits) - labels * logits`, as `tf.nn.log_poisson_loss`.

    With `compute_full_loss` the Stirling term of `log(labels!)`,
    `labels * log(labels) - labels + 0.5 * log(2π labels)`, is added for
    labels > 1, so the loss is the full negative log-likelihood there.
    """
    loss = jnp.exp(logits) - labels * logits
    if not compute_full_loss:
        return loss
    safe = jnp.where(labels > 1, labels, 1.0)
    stirling = safe * jnp.log(safe) - safe + 0.5 * jnp.log(2 * jnp.pi * safe)
    return loss + jnp.where(labels > 1, stirling, 0.0)


@final
class PoissonRegressionHead(RegressionHead):
    """A regression head for counts: predictions are `exp(logits)`.

    The loss is `log_poisson_loss`; predictions carry `predictions`
    (`exp(logits)`, the expected count) and `logits`. Evaluation reports
    average_loss, label/mean and prediction/mean.

    Args:
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` weighting each
            example. Default None.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        compute_full_loss: Add the Stirling approximation of `log(labels!)`, so
            the loss is the negative log-likelihood. Default True.
        name: Suffix of the metric keys; needed in a `MultiHead`.

    Example:
        >>> head = PoissonRegressionHead(compute_full_loss=False)
        >>> float(head.loss(jnp.array([1.0]), jnp.array([[0.0]])))  # exp(0) - 1 * 0
        1.0
    """

    def __init__(
        self,
        label_dimension: int = 1,
        weight_column: Any = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        compute_full_loss: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(
            label_dimension,
            weight_column=weight_column,
            loss_reduction=loss_reduction,
            loss_fn=functools.partial(
                log_poisson_loss, compute_full_loss=compute_full_loss
            ),
            inverse_link_fn=jnp.exp,
            name=name,
        )

    def transform_labels(self, labels: Any) -> Any:
        """Labels as float32 counts; a negative one is refused with its row."""
        values = super().transform_labels(labels)
        bad = ~(values >= 0)
        if np.any(bad):
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"Poisson labels must be counts >= 0, got "
                f"{values.reshape(len(values), -1)[row].tolist()} (row {row})."
            )
        return values
