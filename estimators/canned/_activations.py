"""Activation functions named as in tf.keras, for `activation_fn="relu"` and co.

tf 2.x's DNN estimators hand `activation_fn` to a Keras `Dense` layer, which
accepts the name of a `tf.keras.activations` function (and None for linear);
TF2 code often passes a string. The functions below are tf_keras 2.15's, in
JAX: `gelu` is exact (Keras' default `approximate=False`) and `hard_sigmoid` is
Keras 2's `clip(0.2 x + 0.5, 0, 1)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "resolve_activation"]

Activation = Callable[[jax.Array], jax.Array]


def linear(x: jax.Array) -> jax.Array:
    """The identity: tf's `activation=None` or `"linear"`."""
    return x


def _gelu(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=False)


def _hard_sigmoid(x: jax.Array) -> jax.Array:
    return jnp.clip(0.2 * x + 0.5, 0.0, 1.0)


def _mish(x: jax.Array) -> jax.Array:
    return x * jnp.tanh(jax.nn.softplus(x))


ACTIVATIONS: dict[str, Activation] = {
    "elu": jax.nn.elu,
    "exponential": jnp.exp,
    "gelu": _gelu,
    "hard_sigmoid": _hard_sigmoid,
    "linear": linear,
    "mish": _mish,
    "relu": jax.nn.relu,
    "selu": jax.nn.selu,
    "sigmoid": jax.nn.sigmoid,
    "softmax": jax.nn.softmax,
    "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
}


def resolve_activation(value: Any, owner: str, argument: str) -> Activation:
    """The activation named or given by `value`; None is linear, as in Keras.

    Example:
        >>> resolve_activation("relu", "DNNClassifier", "activation_fn")(
        ...     jnp.array([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    if value is None:
        return linear
    if isinstance(value, str):
        found = ACTIVATIONS.get(value)
        if found is None:
            raise ValueError(
                f"{owner}: `{argument}` {value!r} is not a tf.keras activation "
                f"name; use one of {sorted(ACTIVATIONS)} or pass a function "
                "(e.g. flax.linen.relu)."
            )
        return found
    if not callable(value):
        raise TypeError(
            f"{owner}: `{argument}` must be a function, an activation name such as "
            f"'relu', or None; got {type(value).__name__}."
        )
    return value
