"""The pure core: module-level jitted train, eval and predict steps.

Each step takes a `StepConfig` (static: the program, the optimizer, the columns
kept on the host, the sharding of the train state) and arrays; only the training
loop and the runner call them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from estimators.batching import Batch
from estimators.metrics import Metric, as_metric
from estimators.mode_keys import ModeKeys
from estimators.program import ModelProgram
from estimators.train_state import TrainState

__all__ = ["StepConfig", "eval_step", "predict_step", "train_step", "train_steps"]


@dataclasses.dataclass(frozen=True, eq=False)
class StepConfig:
    """What the compiled steps need besides arrays; hashed by identity.

    Attributes:
        program: The model_fn as a flax module.
        optimizer: The TRAIN spec's optax optimizer (None outside training).
        host_only: Input columns kept on the host, `(name, kind)` pairs, named in
            the error a model_fn gets when it asks for one.
        replicated: Under a data-parallel strategy, the sharding that pins the
            train state to every device; else None.
    """

    program: ModelProgram
    optimizer: optax.GradientTransformation | None = None
    host_only: tuple[tuple[str, str], ...] = ()
    replicated: Any = None


def _train_step(
    config: StepConfig, state: TrainState, batch: Batch
) -> tuple[TrainState, dict[str, jax.Array]]:
    features, labels, mask = batch
    others = {k: v for k, v in state.variables.items() if k != "params"}
    key = state.step_key()

    def loss_fn(params: Any) -> tuple[jax.Array, Any]:
        spec, updated, summaries = config.program.apply(
            {"params": params, **others},
            features,
            labels,
            ModeKeys.TRAIN,
            key=key,
            mask=mask,
            mutable=True,
            host_only=dict(config.host_only),
        )
        return jnp.asarray(spec.loss, jnp.float32), (updated, summaries)

    (loss, (updated, summaries)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    updates, opt_state = config.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    nan_step = jnp.where(
        (state.nan_step < 0) & ~jnp.isfinite(loss), step, state.nan_step
    )
    new_state = state.replace(
        step=step,
        variables={**state.variables, **updated, "params": params},
        opt_state=opt_state,
        nan_step=nan_step,
    )
    return new_state, {"loss": loss, **summaries}


def _all_finite(tree: Any) -> jax.Array:
    """Whether every floating-point value of `tree` is finite (a device scalar)."""
    checks = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.bool_(True)


def _track_state(state: TrainState) -> TrainState:
    """Records the step when the parameters or optimizer state became non-finite.

    Checked once per compiled call (the loss is checked every step): an overflow
    that leaves the loss finite, such as Adagrad's accumulators reaching inf,
    stops training before it is checkpointed instead of freezing the weights.
    """
    bad = ~_all_finite((state.variables, state.opt_state))
    nan_step = jnp.where((state.nan_step < 0) & bad, state.step, state.nan_step)
    return state.replace(nan_step=nan_step)


def _keep_replicated(config: StepConfig, state: TrainState) -> TrainState:
    if config.replicated is None:
        return state
    return jax.lax.with_sharding_constraint(state, config.replicated)


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def train_step(
    config: StepConfig, state: TrainState, batch: Batch
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Runs one training step; returns the new state, the loss and summaries."""
    state, outputs = _train_step(config, state, batch)
    return _keep_replicated(config, _track_state(state)), outputs


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def train_steps(
    config: StepConfig, state: TrainState, batches: Batch
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Runs N training steps over N stacked batches (leading axis N) in one call.

    Returns the new state and the last step's loss and summaries.
    """
    state, outputs = jax.lax.scan(
        lambda s, b: _train_step(config, s, b), state, batches
    )
    state = _keep_replicated(config, _track_state(state))
    return state, jax.tree.map(lambda x: x[-1], outputs)


@functools.partial(jax.jit, static_argnums=0)
def eval_step(
    config: StepConfig,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    batch: Batch,
) -> tuple[jax.Array, dict[str, Metric]]:
    """Computes the loss and metric statistics of one batch."""
    features, labels, mask = batch
    key = jax.random.fold_in(jax.random.wrap_key_data(rng), step)
    spec, _, _ = config.program.apply(
        variables,
        features,
        labels,
        ModeKeys.EVAL,
        key=key,
        mask=mask,
        mutable=False,
        host_only=dict(config.host_only),
    )
    rows = _rows(features) if mask is None else jnp.sum(mask)
    metrics = {
        name: _as_metric(name, value, rows)
        for name, value in (spec.eval_metric_ops or {}).items()
    }
    return jnp.asarray(spec.loss, jnp.float32), metrics


@functools.partial(jax.jit, static_argnums=(0, 4))
def predict_step(
    config: StepConfig,
    variables: Any,
    rng: jax.Array,
    features: Any,
    predict_keys: tuple[str, ...] | None = None,
) -> Any:
    """Computes the predictions of one batch (only `predict_keys` when given)."""
    return predictions_of(config, variables, rng, features, predict_keys)


def predictions_of(
    config: StepConfig,
    variables: Any,
    rng: jax.Array,
    features: Any,
    predict_keys: tuple[str, ...] | None = None,
) -> Any:
    """The un-jitted body of `predict_step`, for `jax.export`."""
    key = jax.random.wrap_key_data(rng)
    spec, _, _ = config.program.apply(
        variables,
        features,
        None,
        ModeKeys.PREDICT,
        key=key,
        mask=None,
        mutable=False,
        host_only=dict(config.host_only),
    )
    predictions = spec.predictions
    if isinstance(predictions, Mapping):
        predictions = dict(predictions)
        if predict_keys is not None:
            missing = [k for k in predict_keys if k not in predictions]
            if missing:
                raise ValueError(
                    f"predict_keys {missing} are not among the predictions "
                    f"{sorted(predictions)}."
                )
            predictions = {k: predictions[k] for k in predict_keys}
    return predictions


def _rows(features: Any) -> int:
    leaves = jax.tree.leaves(features)
    return leaves[0].shape[0] if leaves and jnp.ndim(leaves[0]) else 1


def _as_metric(name: str, value: Any, rows: Any) -> Metric:
    if not isinstance(value, Metric) and jnp.size(value) != 1:
        raise ValueError(
            f"eval_metric_ops[{name!r}] must be an est.metrics metric or a scalar, got"
            f" an array of shape {jnp.shape(value)}."
        )
    return as_metric(value, rows)
