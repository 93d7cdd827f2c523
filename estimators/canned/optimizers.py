"""Optimizers of the canned estimators: tf's names and defaults, as optax transforms.

`get_optimizer` accepts what tf.estimator 2.15's canned estimators accepted
(`get_optimizer_instance_v2`): a name ("Adagrad", "Adam", "Ftrl", "RMSProp",
"SGD", any case) built with the estimator's learning rate or, when it gives
none, the Keras default of that optimizer (`KERAS_LEARNING_RATES`: 0.001, SGD
0.01); an optax `GradientTransformation`; or a callable returning one. The
other hyper-parameters of a name are those of `tf.keras.optimizers.legacy`:
Adagrad starts its accumulators at 0.1 with epsilon 1e-7, Adam and RMSProp use
epsilon 1e-7 outside the square root, FTRL has learning-rate power -0.5 and
accumulators starting at 0.1.

optax has no FTRL, so `ftrl` implements tf's `ApplyFtrlV2` as an optax
transformation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["KERAS_LEARNING_RATES", "FtrlState", "ftrl", "get_optimizer"]


class FtrlState(NamedTuple):
    """FTRL's per-parameter state: the sum of squared gradients and the `z` term."""

    accumulator: optax.Updates
    linear: optax.Updates


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, got {value}.")


def ftrl(
    learning_rate: float,
    *,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
) -> optax.GradientTransformation:
    """Follow-the-regularized-leader (McMahan et al., 2013) with tf's arithmetic.

    Per element, with gradient `g`, parameter `w`, accumulator `n` and `z`:
    `n' = n + g²`, `σ = (n'^-p - n^-p) / lr`, `z' = z + g + 2·l2_shrinkage·w - σ·w`,
    `w' = (sign(z')·l1 - z') / (n'^-p / lr + 2·l2 + beta / lr)` when `|z'| > l1`,
    else 0 (this is what makes FTRL's L1 produce exact zeros). The update
    returned is `w' - w`, so `update` needs `params`.

    Args:
        learning_rate: The learning rate, > 0.
        learning_rate_power: `p` above, <= 0. Default -0.5.
        initial_accumulator_value: Start of `n`, >= 0. Default 0.1.
        l1_regularization_strength: L1, >= 0. Default 0.
        l2_regularization_strength: L2, >= 0. Default 0.
        l2_shrinkage_regularization_strength: L2 applied through the gradient,
            >= 0. Default 0.
        beta: tf 2's `beta`, >= 0. Default 0.

    Example:
        >>> opt = ftrl(0.1)
        >>> params = {"w": jnp.zeros(1)}
        >>> updates, _ = opt.update({"w": jnp.ones(1)}, opt.init(params), params)
        >>> round(float(updates["w"][0]), 5)  # -1 / (sqrt(0.1 + 1) / 0.1)
        -0.09535
    """
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate}.")
    if learning_rate_power > 0:
        raise ValueError(
            f"`learning_rate_power` must be <= 0, got {learning_rate_power}."
        )
    _check_non_negative(
        initial_accumulator_value=initial_accumulator_value,
        l1_regularization_strength=l1_regularization_strength,
        l2_regularization_strength=l2_regularization_strength,
        l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
        beta=beta,
    )
    lr, power = float(learning_rate), float(learning_rate_power)
    l1 = float(l1_regularization_strength)
    l2 = float(l2_regularization_strength) + float(beta) / (2.0 * lr)
    shrinkage = float(l2_shrinkage_regularization_strength)

    def scaled(n: jax.Array) -> jax.Array:
        return jnp.sqrt(n) if power == -0.5 else jnp.power(n, -power)

    def init_fn(params: optax.Params) -> FtrlState:
        return FtrlState(
            accumulator=jax.tree.map(
                lambda p: jnp.full_like(p, initial_accumulator_value), params
            ),
            linear=jax.tree.map(jnp.zeros_like, params),
        )

    def leaf(g: jax.Array, n: jax.Array, z: jax.Array, w: jax.Array) -> tuple:
        n_new = n + g * g
        sigma = (scaled(n_new) - scaled(n)) / lr
        z_new = z + g + 2.0 * shrinkage * w - sigma * w
        quadratic = scaled(n_new) / lr + 2.0 * l2
        w_new = jnp.where(
            jnp.abs(z_new) > l1, (jnp.sign(z_new) * l1 - z_new) / quadratic, 0.0
        )
        return w_new - w, n_new, z_new

    def update_fn(
        updates: optax.Updates, state: FtrlState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, FtrlState]:
        if params is None:
            raise ValueError(
                "ftrl needs the parameters: call update(grads, state, params)."
            )
        grads, treedef = jax.tree.flatten(updates)
        rows = [
            leaf(*args)
            for args in zip(
                grads,
                treedef.flatten_up_to(state.accumulator),
                treedef.flatten_up_to(state.linear),
                treedef.flatten_up_to(params),
                strict=True,
            )
        ]
        new_updates, accumulator, linear = (
            treedef.unflatten([row[i] for row in rows]) for i in range(3)
        )
        return new_updates, FtrlState(accumulator, linear)

    return optax.GradientTransformation(init_fn, update_fn)


def _adagrad(lr: float) -> optax.GradientTransformation:
    return optax.adagrad(lr, initial_accumulator_value=0.1, eps=1e-7)


def _adam(lr: float) -> optax.GradientTransformation:
    return optax.adam(lr, eps=1e-7)


def _rmsprop(lr: float) -> optax.GradientTransformation:
    return optax.rmsprop(lr, decay=0.9, eps=1e-7, eps_in_sqrt=False)


_BY_NAME: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adagrad": _adagrad,
    "adam": _adam,
    "ftrl": ftrl,
    "rmsprop": _rmsprop,
    "sgd": optax.sgd,
}
_NAMES = ("Adagrad", "Adam", "Ftrl", "RMSProp", "SGD")

# The `learning_rate` defaults of tf.keras.optimizers.legacy (tf 2.15), which
# tf.estimator 2.x uses for a name given without a learning rate.
KERAS_LEARNING_RATES: dict[str, float] = {
    "adagrad": 0.001,
    "adam": 0.001,
    "ftrl": 0.001,
    "rmsprop": 0.001,
    "sgd": 0.01,
}


def _is_transformation(value: Any) -> bool:
    return callable(getattr(value, "init", None)) and callable(
        getattr(value, "update", None)
    )


def get_optimizer(
    optimizer: str | optax.GradientTransformation | Callable[[], Any],
    *,
    learning_rate: float | None = None,
    argument: str = "optimizer",
) -> optax.GradientTransformation:
    """An optax transformation from a name, a transformation or a factory.

    Args:
        optimizer: "Adagrad", "Adam", "Ftrl", "RMSProp" or "SGD" (any case),
            built with `learning_rate`; an optax `GradientTransformation`, used
            as is; or a callable with no arguments returning one.
        learning_rate: The learning rate of a named optimizer; None (default)
            means the Keras default of that optimizer, as tf 2.x's
            `get_optimizer_instance_v2` (0.001; SGD 0.01).
        argument: The argument's name in error messages.

    Example:
        >>> get_optimizer("Adagrad", learning_rate=0.05).init({}) is not None
        True
    """
    if isinstance(optimizer, str):
        make = _BY_NAME.get(optimizer.lower())
        if make is None:
            raise ValueError(
                f"`{argument}` must be one of {list(_NAMES)}, an optax "
                f"GradientTransformation or a callable returning one; got "
                f"{optimizer!r}."
            )
        if learning_rate is None:
            learning_rate = KERAS_LEARNING_RATES[optimizer.lower()]
        return make(learning_rate)
    if _is_transformation(optimizer):
        return optimizer
    if callable(optimizer):
        made = optimizer()
        if _is_transformation(made):
            return made
        raise TypeError(
            f"`{argument}` is a callable, so it must return an optax "
            f"GradientTransformation; it returned {type(made).__name__}."
        )
    raise TypeError(
        f"`{argument}` must be a name ({', '.join(_NAMES)}), an optax "
        f"GradientTransformation or a callable returning one; got "
        f"{type(optimizer).__name__}."
    )
