"""`TrainState`: everything that changes during training, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = [
    "VARIABLES",
    "TrainState",
    "checkpoint_template",
    "checkpoint_tree",
    "from_checkpoint_tree",
    "seed_key",
    "serving_template",
    "variable_arrays",
]


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

        # One jitted program, not one per optimizer-state leaf shape run
        # eagerly: each eager op is a compilation (or cache load) of its own,
        # a few milliseconds apiece before the first step.
        def fresh_state(params: Any, key: jax.Array) -> tuple[Any, ...]:
            zero, none = jnp.zeros((), jnp.int32), jnp.full((), -1, jnp.int32)
            return zero, optimizer.init(params), jax.random.key_data(key), none

        step, opt_state, rng, nan_step = jax.jit(fresh_state)(variables["params"], key)
        return cls(
            step=step,
            variables=dict(variables),
            opt_state=opt_state,
            rng=rng,
            nan_step=nan_step,
        )

    @property
    def params(self) -> Any:
        """The trained parameters."""
        return self.variables["params"]

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step."""
        return jax.random.fold_in(jax.random.wrap_key_data(self.rng), self.step)


def seed_key(seed: int) -> jax.Array:
    """`jax.random.key(seed)`, built on the host when it can be.

    `jax.random.key` runs two small programs, each compiled (or read from the
    compilation cache) before the first step; the default threefry key of a seed
    in [0, 2**31) is the pair `[0, seed]`, which needs none.

    Example:
        >>> bool((jax.random.key_data(seed_key(42)) ==
        ...       jax.random.key_data(jax.random.key(42))).all())
        True
    """
    if jax.config.jax_default_prng_impl != "threefry2x32" or not 0 <= seed < 2**31:
        return jax.random.key(seed)
    return jax.random.wrap_key_data(np.array([0, seed], np.uint32))


# -- the checkpoint layout: the one place that names a checkpoint's arrays --------

VARIABLES = "variables"
"""Checkpoint key of the model's variables; array names are `variables/<path>`."""


def checkpoint_tree(state: TrainState) -> dict[str, Any]:
    """The tree a checkpoint stores for `state`.

    Example:
        >>> import optax
        >>> state = TrainState.create({"params": {}}, optax.sgd(0.1), jax.random.key(0))
        >>> sorted(checkpoint_tree(state))
        ['global_step', 'nan_step', 'opt_state', 'rng', 'variables']
    """
    return {
        VARIABLES: state.variables,
        "opt_state": state.opt_state,
        "global_step": state.step,
        "rng": state.rng,
        "nan_step": state.nan_step,
    }


def checkpoint_template(variables: Any, optimizer: Any) -> dict[str, Any]:
    """The abstract tree of a training checkpoint for abstract `variables`."""
    return {
        **serving_template(variables),
        "opt_state": jax.eval_shape(optimizer.init, variables["params"]),
        "nan_step": jax.ShapeDtypeStruct((), jnp.int32),
    }


def serving_template(variables: Any) -> dict[str, Any]:
    """The part of a checkpoint that evaluation and prediction read."""
    return {
        VARIABLES: variables,
        "global_step": jax.ShapeDtypeStruct((), jnp.int32),
        "rng": jax.ShapeDtypeStruct((2,), jnp.uint32),
    }


def variable_arrays(arrays: dict[str, Any]) -> dict[str, Any]:
    """The model's variables among a checkpoint's arrays, by name, and global_step.

    Example:
        >>> variable_arrays({"variables/params/w": 1, "opt_state/0": 2, "global_step": 3})
        {'params/w': 1, 'global_step': 3}
    """
    prefix = f"{VARIABLES}/"
    names = {
        k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)
    }
    return {**names, "global_step": arrays["global_step"]}


def from_checkpoint_tree(tree: dict[str, Any]) -> TrainState:
    """The `TrainState` of a restored `checkpoint_template` tree."""
    tree = jax.device_put(tree)  # one transfer for the whole tree
    return TrainState(
        step=tree["global_step"].astype(jnp.int32),
        variables=tree[VARIABLES],
        opt_state=tree["opt_state"],
        rng=tree["rng"].astype(jnp.uint32),
        nan_step=tree["nan_step"].astype(jnp.int32),
    )
