"""Example weights and label shapes, checked against logits `[D0, ..., DN, d]`.

tf.estimator's heads take logits of any rank >= 2: the last axis holds the
`logits_dimension` values, the others index examples (e.g. `[batch, time, d]`).
Labels and weights follow the leading axes, as in tf's
`check_dense_labels_match_logits_and_reshape` and
`get_weights_and_check_match_logits`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from estimators import feature_column as fc
from estimators.typing import Features

__all__ = ["check_weight_column", "example_weights", "labels_like_logits"]


def check_weight_column(weight_column: Any) -> str | None:
    """The feature key of `weight_column`: a name or an `fc.numeric_column`."""
    if weight_column is None or isinstance(weight_column, str):
        return weight_column
    if not isinstance(weight_column, fc.NumericColumn):
        raise TypeError(
            "`weight_column` must be a feature name or a fc.numeric_column, got "
            f"{type(weight_column).__name__}."
        )
    return weight_column.name


def example_weights(
    features: Features | None,
    weight_column: Any,
    logits: jax.Array,
    *,
    per_logit: bool = False,
) -> jax.Array | None:
    """float32 weights shaped `[D0, ..., DN, 1]` (or like `logits` with
    `per_logit`), read from `features`; None without a weight column.

    A `numeric_column` applies its `normalizer_fn` (and default), as tf does;
    a name reads the feature as is. Weights may be `[D0, ..., DN]`,
    `[D0, ..., DN, 1]` or, with `per_logit`, `[D0, ..., DN, d]`.
    """
    key = check_weight_column(weight_column)
    if key is None:
        return None
    if features is None or key not in features:
        raise ValueError(
            f"the head's weight_column {key!r} is not among the features; add it "
            "to the input_fn's features (it is not a model input)."
        )
    if isinstance(weight_column, fc.NumericColumn):
        weights = fc.input_layer(features, [weight_column], name="weights")
        weights = weights.reshape((weights.shape[0], *weight_column.shape))
    else:
        weights = jnp.asarray(features[key], jnp.float32)
    batch = logits.shape[:-1]
    if weights.shape == batch:
        return weights[..., None]
    if weights.shape == (*batch, 1) or (per_logit and weights.shape == logits.shape):
        return weights
    allowed = f"{list(batch)} or {[*batch, 1]}"
    if per_logit:
        allowed += f" or {list(logits.shape)}"
    raise ValueError(
        f"weight_column {key!r}: weights shape must be {allowed} for logits of "
        f"shape {list(logits.shape)}, got {list(weights.shape)}."
    )


def labels_like_logits(
    labels: Any, logits: jax.Array, dimension: int, head: str
) -> jax.Array:
    """`labels` shaped `[D0, ..., DN, dimension]` for `logits` `[D0, ..., DN, d]`;
    labels of one rank less get a trailing axis."""
    labels = jnp.asarray(labels)
    if labels.ndim == logits.ndim - 1:
        labels = labels[..., None]
    expected = (*logits.shape[:-1], dimension)
    if labels.shape != expected:
        raise ValueError(
            f"labels of shape {list(labels.shape)} do not fit a {head} with logits "
            f"of shape {list(logits.shape)}: expected {list(expected)}"
            + (f" or {list(expected[:-1])}." if dimension == 1 else ".")
        )
    return labels
