"""Losses with `tf.compat.v1.losses` semantics: weighted, reduced and mask-aware.

Every loss computes per-element losses, multiplies them by `weights` and by the
trace-time example mask (`estimators._context.current_mask()`, so the padding that
fills the last partial batch never counts), then reduces them. All functions are
pure `jax.numpy` and can be traced, differentiated and jitted.

Weights may be a scalar, an array of the losses' rank whose axes are 1 or match,
or a per-example `[B]` (or `[B, 1]`) array that is broadcast over trailing axes.
"""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp
import numpy as np

from estimators.typing import Array
from estimators.weighting import div_no_nan as _div_no_nan
from estimators.weighting import example_weights as _example_weights

__all__ = [
    "Reduction",
    "absolute_difference",
    "compute_weighted_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]


class Reduction(enum.StrEnum):
    """How `compute_weighted_loss` reduces weighted losses; values as in tf.

    With a padding mask, "batch size" and "nonzero weights" count real examples
    only.

    Example:
        >>> Reduction.SUM_BY_NONZERO_WEIGHTS == "weighted_sum_by_nonzero_weights"
        True
    """

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"  # tf's alias


def _check_same_shape(
    labels: jax.Array, predictions: jax.Array, names: tuple[str, str]
) -> None:
    if labels.shape != predictions.shape:
        raise ValueError(
            f"`{names[0]}` shape {labels.shape} does not match `{names[1]}` shape "
            f"{predictions.shape}; reshape one of them (e.g. labels[:, None])."
        )


def _float_pair(
    labels: Array,
    predictions: Array,
    names: tuple[str, str] = ("labels", "predictions"),
) -> tuple[jax.Array, jax.Array]:
    labels = jnp.asarray(labels, jnp.float32)
    predictions = jnp.asarray(predictions, jnp.float32)
    _check_same_shape(labels, predictions, names)
    return labels, predictions


def compute_weighted_loss(
    losses: Array,
    weights: Array = 1.0,
    *,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Weights per-element `losses` and reduces them as `tf.compat.v1.losses` does.

    Args:
        losses: Per-element losses, `[B, ...]` (a scalar is not masked).
        weights: Scalar, same-rank broadcastable, or per-example `[B]` weights.
            Default 1.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS` (the weighted
            sum divided by the number of nonzero weights). Divisions by zero
            give 0.

    Returns:
        A float32 scalar, or the weighted losses for `Reduction.NONE`.

    Example:
        >>> float(compute_weighted_loss([1.0, 2.0, 4.0], weights=[1.0, 0.0, 1.0]))
        2.5
    """
    try:
        reduction = Reduction(reduction)
    except ValueError:
        raise ValueError(
            f"`reduction` must be one of {[r.value for r in Reduction]}, "
            f"got {reduction!r}."
        ) from None
    losses = jnp.asarray(losses, jnp.float32)
    w = _example_weights(weights, losses.shape)
    # `where`, not a product, so a NaN in a padded or zero-weight row stays out.
    weighted = jnp.where(w != 0, losses * w, 0.0)
    if reduction == Reduction.NONE:
        return weighted
    total = jnp.sum(weighted)
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.MEAN:
        return _div_no_nan(total, jnp.sum(w))
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return _div_no_nan(total, jnp.sum(_example_weights(None, losses.shape)))
    return _div_no_nan(total, jnp.sum(w != 0).astype(jnp.float32))


def _check_class_ids(labels: jax.Array, num_classes: int) -> None:
    """Rejects out-of-range class ids now when they are concrete."""
    if isinstance(labels, jax.core.Tracer) or labels.size == 0:
        return
    ids = np.asarray(labels)
    bad = ids[(ids < 0) | (ids >= num_classes)]
    if bad.size:
        raise ValueError(
            f"`labels` must be class ids in [0, {num_classes}), got {int(bad[0])}."
        )


def sparse_softmax_cross_entropy(
    labels: Array,
    logits: Array,
    weights: Array = 1.0,
    *,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Cross-entropy between integer class ids and unscaled `logits`.

    Under `jit` an out-of-range id gives a NaN loss (caught by NaN detection);
    eagerly it raises.

    Args:
        labels: Class ids `[B]` or `[B, 1]` (cast to int32).
        logits: `[B, num_classes]` unscaled log-probabilities.
        weights: Per-example weights (see `compute_weighted_loss`). Default 1.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> loss = sparse_softmax_cross_entropy([0, 1], [[0.0, 0.0], [0.0, 0.0]])
        >>> round(float(loss), 4)  # log(2)
        0.6931
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        logits = logits.astype(jnp.float32)
    labels = jnp.asarray(labels)
    expected = logits.shape[:-1]
    if logits.ndim >= 1 and labels.shape == (*expected, 1):
        labels = labels[..., 0]
    if logits.ndim == 0 or labels.shape != expected:
        raise ValueError(
            f"`labels` shape {labels.shape} is incompatible with `logits` shape "
            f"{logits.shape}: expected class ids of shape {expected} or "
            f"{(*expected, 1)}."
        )
    labels = labels.astype(jnp.int32)
    num_classes = logits.shape[-1]
    _check_class_ids(labels, num_classes)
    valid = (labels >= 0) & (labels < num_classes)
    picked = jnp.take_along_axis(logits, jnp.where(valid, labels, 0)[..., None], -1)
    losses = jax.nn.logsumexp(logits, axis=-1) - picked[..., 0]
    losses = jnp.where(valid, losses.astype(jnp.float32), jnp.nan)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def softmax_cross_entropy(
    onehot_labels: Array,
    logits: Array,
    weights: Array = 1.0,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Cross-entropy between one-hot (or soft) labels and unscaled `logits`.

    Args:
        onehot_labels: `[B, num_classes]` target distribution (cast to float).
        logits: `[B, num_classes]` unscaled log-probabilities.
        weights: Per-example weights. Default 1.
        label_smoothing: If > 0, labels become
            `onehot_labels * (1 - label_smoothing) + label_smoothing / num_classes`.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> loss = softmax_cross_entropy([[1, 0]], [[0.0, 0.0]])
        >>> round(float(loss), 4)  # log(2)
        0.6931
    """
    labels, logits = _float_pair(onehot_labels, logits, ("onehot_labels", "logits"))
    if label_smoothing > 0:
        labels = labels * (1 - label_smoothing) + label_smoothing / logits.shape[-1]
    labels = jax.lax.stop_gradient(labels)
    losses = -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def sigmoid_cross_entropy(
    multi_class_labels: Array,
    logits: Array,
    weights: Array = 1.0,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Element-wise logistic loss between 0/1 labels and unscaled `logits`.

    Args:
        multi_class_labels: Labels in [0, 1], same shape as `logits` (cast to
            float).
        logits: Unscaled log-odds.
        weights: Per-example or per-element weights. Default 1.
        label_smoothing: If > 0, labels become
            `labels * (1 - label_smoothing) + 0.5 * label_smoothing`.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> round(float(sigmoid_cross_entropy([[1], [0]], [[0.0], [0.0]])), 4)
        0.6931
    """
    labels, logits = _float_pair(
        multi_class_labels, logits, ("multi_class_labels", "logits")
    )
    if label_smoothing > 0:
        labels = labels * (1 - label_smoothing) + 0.5 * label_smoothing
    # The numerically stable form of -z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x)).
    losses = (
        jax.nn.relu(logits) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    )
    return compute_weighted_loss(losses, weights, reduction=reduction)


def mean_squared_error(
    labels: Array,
    predictions: Array,
    weights: Array = 1.0,
    *,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Weighted squared error `(predictions - labels) ** 2`.

    Args:
        labels: Targets, same shape as `predictions` (cast to float).
        predictions: Predicted values.
        weights: Per-example or per-element weights. Default 1.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> float(mean_squared_error([1.0, 2.0], [2.0, 4.0]))  # (1 + 4) / 2
        2.5
    """
    labels, predictions = _float_pair(labels, predictions)
    losses = jnp.square(predictions - labels)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def absolute_difference(
    labels: Array,
    predictions: Array,
    weights: Array = 1.0,
    *,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Weighted absolute error `|predictions - labels|`.

    Args:
        labels: Targets, same shape as `predictions` (cast to float).
        predictions: Predicted values.
        weights: Per-example or per-element weights. Default 1.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> float(absolute_difference([1.0, 2.0], [2.0, 4.0]))  # (1 + 2) / 2
        1.5
    """
    labels, predictions = _float_pair(labels, predictions)
    losses = jnp.abs(predictions - labels)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def huber_loss(
    labels: Array,
    predictions: Array,
    weights: Array = 1.0,
    *,
    delta: float = 1.0,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Huber loss: quadratic for errors up to `delta`, linear beyond.

    Args:
        labels: Targets, same shape as `predictions` (cast to float).
        predictions: Predicted values.
        weights: Per-example or per-element weights. Default 1.
        delta: Where the loss turns from quadratic to linear. Default 1.0.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> float(huber_loss([0.0, 0.0], [0.5, 3.0]))  # (0.5 * 0.25 + 2.5) / 2
        1.3125
    """
    labels, predictions = _float_pair(labels, predictions)
    error = jnp.abs(predictions - labels)
    quadratic = jnp.minimum(error, delta)
    losses = 0.5 * jnp.square(quadratic) + delta * (error - quadratic)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def log_loss(
    labels: Array,
    predictions: Array,
    weights: Array = 1.0,
    *,
    epsilon: float = 1e-7,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Log loss of probabilities `predictions` against 0/1 `labels`.

    Args:
        labels: Labels in [0, 1], same shape as `predictions` (cast to float).
        predictions: Probabilities in [0, 1].
        weights: Per-example or per-element weights. Default 1.
        epsilon: Added inside the logarithms to avoid log(0). Default 1e-7.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> round(float(log_loss([1.0, 0.0], [0.5, 0.5])), 4)  # log(2)
        0.6931
    """
    labels, predictions = _float_pair(labels, predictions)
    losses = -labels * jnp.log(predictions + epsilon) - (1 - labels) * jnp.log(
        1 - predictions + epsilon
    )
    return compute_weighted_loss(losses, weights, reduction=reduction)


def hinge_loss(
    labels: Array,
    logits: Array,
    weights: Array = 1.0,
    *,
    reduction: Reduction | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Hinge loss `max(0, 1 - y * logits)` with 0/1 labels mapped to y = -1/+1.

    Args:
        labels: 0/1 labels, same shape as `logits` (cast to float).
        logits: Unscaled scores.
        weights: Per-example or per-element weights. Default 1.
        reduction: A `Reduction`; default `SUM_BY_NONZERO_WEIGHTS`.

    Example:
        >>> float(hinge_loss([1.0, 0.0], [0.5, -2.0]))  # (0.5 + 0) / 2
        0.25
    """
    labels, logits = _float_pair(labels, logits, ("labels", "logits"))
    losses = jax.nn.relu(1 - (2 * labels - 1) * logits)
    return compute_weighted_loss(losses, weights, reduction=reduction)
