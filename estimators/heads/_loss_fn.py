"""A head's custom `loss_fn`, checked and called as tf.estimator's heads do.

tf calls `loss_fn(labels=..., logits=...)` by keyword, adds `features=` when the
function takes it, and requires per-example losses `[D0, ..., DN, k]`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["call_loss_fn", "check_loss_fn"]

_ALLOWED = frozenset({"labels", "logits", "features", "loss_reduction"})


def check_loss_fn(loss_fn: Callable[..., Any] | None) -> None:
    """Refuses a `loss_fn` without `labels` and `logits` or with other arguments
    (ones with defaults, e.g. bound by `functools.partial`, are allowed)."""
    if loss_fn is None:
        return
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be a function, got {type(loss_fn).__name__}.")
    parameters = inspect.signature(loss_fn).parameters
    for required in ("labels", "logits"):
        if required not in parameters:
            raise ValueError(
                f"loss_fn must contain argument: {required}. Given arguments: "
                f"{list(parameters)}"
            )
    invalid = [
        name
        for name, p in parameters.items()
        if name not in _ALLOWED and p.default is inspect.Parameter.empty
    ]
    if invalid:
        raise ValueError(f"loss_fn has unexpected args: {invalid}")


def call_loss_fn(
    loss_fn: Callable[..., Any],
    labels: jax.Array,
    logits: jax.Array,
    features: Any,
    expected_loss_dim: int,
) -> jax.Array:
    """`loss_fn(labels=, logits=[, features=])` as float32, shape-checked."""
    kwargs = {"labels": labels, "logits": logits}
    if "features" in inspect.signature(loss_fn).parameters:
        kwargs["features"] = features
    loss = jnp.asarray(loss_fn(**kwargs), jnp.float32)
    expected = (*logits.shape[:-1], expected_loss_dim)
    if loss.shape != expected:
        raise ValueError(
            f"loss_fn must return Tensor of shape [D0, D1, ... DN, {expected_loss_dim}]"
            f": logits_shape: {list(logits.shape)}, loss_shape: {list(loss.shape)}."
        )
    return loss
