"""`Head`: turns a network's logits into predictions, a loss and metrics.

A head owns everything that depends on the problem (classification or
regression) and nothing about the network: a `model_fn` computes `logits` and
returns `head.create_estimator_spec(features, mode, logits, labels, optimizer)`.
Its jnp parts run inside the compiled steps; `transform_labels` and
`transform_predictions` run on the host, before and after them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from estimators import losses, metrics
from estimators.heads._weights import check_weight_column, example_weights
from estimators.heads.keys import MetricKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec
from estimators.typing import Array, Features

__all__ = ["Head", "check_loss_reduction", "require_labels", "select"]

_REDUCTIONS = tuple(r for r in Reduction if r != Reduction.NONE)

# tf 2.x's spellings (`tf.keras.losses.Reduction`, the TF2 canned defaults):
# Keras' "auto" means SUM_OVER_BATCH_SIZE outside a distribution strategy loop.
_TF2_REDUCTIONS = {
    "auto": Reduction.SUM_OVER_BATCH_SIZE,
    "sum": Reduction.SUM,
    "sum_over_batch_size": Reduction.SUM_OVER_BATCH_SIZE,
}


def check_loss_reduction(loss_reduction: Reduction | str) -> Reduction:
    """The `Reduction` named by `loss_reduction`, in tf 2.x's spelling ("sum",
    "sum_over_batch_size", "auto") or tf 1.x's; NONE is not a training loss.

    Example:
        >>> check_loss_reduction("sum_over_batch_size") is Reduction.SUM_OVER_BATCH_SIZE
        True
    """
    reduction = _TF2_REDUCTIONS.get(str(loss_reduction))
    if reduction is None:
        try:
            reduction = Reduction(loss_reduction)
        except ValueError:
            reduction = None
    if reduction is None or reduction == Reduction.NONE:
        names = [*_TF2_REDUCTIONS, *(r.value for r in _REDUCTIONS)]
        raise ValueError(
            f"`loss_reduction` must be one of {names}, got {loss_reduction!r}."
        )
    return reduction


def require_labels(labels: Any, mode: ModeKeys | str | None) -> Any:
    """`labels`, which TRAIN and EVAL need (tf's message when they are None)."""
    if labels is None:
        where = f" ({ModeKeys(mode).name} mode)" if mode is not None else ""
        raise ValueError(
            f"You must provide a labels Tensor{where}. Given: None. Check that your "
            "data contains your label feature and that your input_fn returns "
            "(features, labels)."
        )
    return labels


def select(predictions: dict[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    """The entries of `predictions` named by `keys` (all when None), plain-str keyed."""
    predictions = {str(k): v for k, v in predictions.items()}
    if keys is None:
        return predictions
    missing = [k for k in keys if k not in predictions]
    if missing:
        raise ValueError(
            f"prediction keys {missing} are not among {sorted(predictions)}."
        )
    return {str(k): predictions[k] for k in keys}


class Head(abc.ABC):
    """Base of the heads: loss, predictions and metrics for one kind of problem.

    Logits are `[D0, ..., DN, logits_dimension]`, most often
    `[batch_size, logits_dimension]`; labels and weights follow the leading axes.

    Args:
        weight_column: A feature name or `fc.numeric_column` (whose
            `normalizer_fn` is applied) whose values weight each example in the
            loss and the metrics. Default None (weight 1).
        loss_reduction: How the weighted per-example losses of a batch become the
            training loss: tf 2's "sum_over_batch_size" (default; their sum
            divided by the number of elements) or "sum", or an
            `est.losses.Reduction`.
        name: The head's name; metric keys get the suffix `"/" + name`
            (`average_loss/name`), as in tf. Needed inside a `MultiHead`.

    Example:
        >>> import flax.linen as nn, optax
        >>> import estimators as est
        >>> from estimators.heads import MultiClassHead
        >>> head = MultiClassHead(n_classes=3)
        >>> def model_fn(features, labels, mode):
        ...     logits = nn.Dense(head.logits_dimension)(features["x"])
        ...     return head.create_estimator_spec(
        ...         features, mode, logits, labels, optimizer=optax.adagrad(0.1))
        >>> classifier = est.Estimator(model_fn, label_transform=head.transform_labels,
        ...                            prediction_transform=head.transform_predictions)
    """

    # Whether weights may have one value per logit (`[D0, ..., DN, d]`).
    _per_logit_weights = False

    def __init__(
        self,
        *,
        weight_column: Any = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        name: str | None = None,
    ) -> None:
        check_weight_column(weight_column)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                f"`name` must be a non-empty string or None, got {name!r}."
            )
        self._weight_column = weight_column
        self._loss_reduction = check_loss_reduction(loss_reduction)
        self._name = name

    @property
    @abc.abstractmethod
    def logits_dimension(self) -> int:
        """The size of the last axis of the logits the head expects."""

    @property
    def name(self) -> str | None:
        """The head's name (the suffix of its metric keys), or None."""
        return self._name

    @property
    def weight_column(self) -> Any:
        """The weight feature name or column, or None."""
        return self._weight_column

    @property
    def loss_reduction(self) -> Reduction:
        """The reduction of the training loss."""
        return self._loss_reduction

    # -- in the model (jnp) ----------------------------------------------------------

    @abc.abstractmethod
    def predictions(
        self, logits: Array, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """The prediction dict of `logits` (only `keys` when given)."""

    @abc.abstractmethod
    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        """`labels` checked against and shaped like the per-example losses."""

    @abc.abstractmethod
    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        """Per-example (or per-element) losses, `[D0, ..., DN, k]`."""

    @abc.abstractmethod
    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        """The evaluation metrics of one batch, under unsuffixed keys."""

    def _summary_key(self, key: str) -> str:
        """`key`, suffixed with `"/" + name` when the head has a name (tf's rule)."""
        return f"{key}/{self._name}" if self._name else str(key)

    def _logits(self, logits: Array) -> jax.Array:
        logits = jnp.asarray(logits, jnp.float32)
        d = self.logits_dimension
        if logits.ndim == 1 and d == 1:
            logits = logits[:, None]
        if logits.ndim < 2 or logits.shape[-1] != d:
            raise ValueError(
                f"logits of shape {list(logits.shape)} do not fit the head: expected "
                f"[batch_size, {d}] or [D0, ..., DN, {d}] (logits_dimension {d})."
            )
        return logits

    def _weights(self, features: Features | None, logits: jax.Array) -> Any:
        return example_weights(
            features, self._weight_column, logits, per_logit=self._per_logit_weights
        )

    def loss(
        self,
        labels: Array,
        logits: Array,
        features: Features | None = None,
        mode: ModeKeys | str | None = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> jax.Array:
        """The training loss: weighted per-example losses, reduced, plus the
        regularization losses.

        Args:
            labels: The batch's labels (class ids for classifiers).
            logits: `[D0, ..., DN, logits_dimension]` logits.
            features: The features, read for `weight_column`.
            mode: Unused; kept for tf.estimator's signature.
            regularization_losses: Scalars added to the loss.
        """
        logits = self._logits(logits)
        labels = self._labels(require_labels(labels, mode), logits)
        unreduced = self._unreduced_loss(labels, logits, features)
        loss = self._training_loss(unreduced, self._weights(features, logits))
        return _regularized(loss, regularization_losses)

    def _training_loss(
        self, unreduced: jax.Array, weights: jax.Array | None
    ) -> jax.Array:
        return losses.compute_weighted_loss(
            unreduced, weights, reduction=self._loss_reduction
        )

    def metrics(
        self,
        labels: Array,
        logits: Array,
        features: Features | None = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> dict[str, Metric]:
        """The evaluation metrics of one batch (`loss` is added by the Estimator);
        with `regularization_losses`, also `regularization_loss` (their sum)."""
        logits = self._logits(logits)
        labels = self._labels(require_labels(labels, ModeKeys.EVAL), logits)
        unreduced = self._unreduced_loss(labels, logits, features)
        weights = self._weights(features, logits)
        return self._named_metrics(
            labels, logits, unreduced, weights, regularization_losses
        )

    def _named_metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced: jax.Array,
        weights: jax.Array | None,
        regularization_losses: Sequence[Array] | None,
    ) -> dict[str, Metric]:
        found = dict(self._metrics(labels, logits, unreduced, weights))
        if regularization_losses is not None:
            total = _regularized(jnp.zeros((), jnp.float32), regularization_losses)
            found[MetricKeys.LOSS_REGULARIZATION] = metrics.mean(total)
        return {self._summary_key(k): v for k, v in found.items()}

    def create_estimator_spec(
        self,
        features: Features,
        mode: ModeKeys | str,
        logits: Array,
        labels: Array | None = None,
        optimizer: Any = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> EstimatorSpec:
        """The `EstimatorSpec` of a model whose network computed `logits`.

        Args:
            features: The model_fn's features (read for `weight_column`).
            mode: The model_fn's mode.
            logits: `[D0, ..., DN, logits_dimension]` logits.
            labels: The model_fn's labels; required in TRAIN and EVAL.
            optimizer: An optax GradientTransformation; required in TRAIN.
            regularization_losses: Scalars added to the training loss; in EVAL
                their sum is also reported as `regularization_loss`.

        Example:
            >>> from estimators.heads import RegressionHead
            >>> spec = RegressionHead().create_estimator_spec(
            ...     {}, "eval", logits=jnp.array([[1.0], [3.0]]), labels=[2.0, 2.0])
            >>> float(spec.loss)  # ((1 - 2)² + (3 - 2)²) / 2
            1.0
        """
        mode = ModeKeys(mode)
        logits = self._logits(logits)
        predictions = self.predictions(logits)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=predictions)
        labels = self._labels(require_labels(labels, mode), logits)
        weights = self._weights(features, logits)
        unreduced = self._unreduced_loss(labels, logits, features)
        loss = _regularized(
            self._training_loss(unreduced, weights), regularization_losses
        )
        if mode == ModeKeys.EVAL:
            found = self._named_metrics(
                labels, logits, unreduced, weights, regularization_losses
            )
            return EstimatorSpec(
                mode, predictions=predictions, loss=loss, eval_metric_ops=found
            )
        if optimizer is None:
            raise ValueError(
                "create_estimator_spec in TRAIN mode needs an `optimizer` (an optax "
                "GradientTransformation, e.g. optax.adagrad(0.05))."
            )
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, optimizer=optimizer
        )

    # -- on the host (numpy) ---------------------------------------------------------

    def transform_labels(self, labels: Any) -> Any:
        """Maps a batch's labels on the host before the model; default unchanged."""
        return labels

    def transform_predictions(
        self, predictions: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Maps a batch's predictions on the host after the model; default unchanged."""
        return predictions


def _regularized(
    loss: jax.Array, regularization_losses: Sequence[Array] | None
) -> jax.Array:
    for extra in regularization_losses or ():
        loss = loss + jnp.asarray(extra, jnp.float32)
    return loss
