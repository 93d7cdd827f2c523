"""`TrainState`: everything that changes during training, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

__all__ = ["TrainState"]


@struct.dataclass
class TrainState:
    """The model's variables, optimizer state, step and RNG, as a JAX pytree.

    Attributes:
        step: The global_step (int32 scalar).
        variables: flax variable collections: "params" (trained) and any others
            (e.g. "batch_stats"), updated by the model in TRAIN mode.
        opt_state: The optax optimizer state.
        rng: Raw PRNG key data (uint32 [2]); step `s` uses `fold_in(rng, s)`.
        nan_step: The first step whose loss was not finite, or -1.

    Example:
        >>> import optax
        >>> state = TrainState.create({"params": {"w": jnp.ones(2)}}, optax.sgd(0.1),
        ...                           jax.random.key(0))
        >>> int(state.step), int(state.nan_step)
        (0, -1)
    """

    step: jax.Array
    variables: dict[str, Any]
    opt_state: Any
    rng: jax.Array
    nan_step: jax.Array

    @classmethod
    def create(
        cls, variables: dict[str, Any], optimizer: Any, key: jax.Array
    ) -> TrainState:
        """A fresh state at step 0 for `variables` and `optimizer`."""
        return cls(
            step=jnp.zeros((), jnp.int32),
            variables=dict(variables),
            opt_state=optimizer.init(variables["params"]),
            rng=jax.random.key_data(key),
            nan_step=jnp.full((), -1, jnp.int32),
        )

    @property
    def params(self) -> Any:
        """The trained parameters."""
        return self.variables["params"]

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step."""
        return jax.random.fold_in(jax.random.wrap_key_data(self.rng), self.step)
