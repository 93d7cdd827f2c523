"""The pure core: a `model_fn` wrapped as a flax module, and jitted step functions.

`ModelProgram` turns the user's `model_fn` into a flax.linen module so that layers
created inside it (`nn.Dense(10)(net)`) become the module's parameters. The step
functions below are pure and module-level; the `Estimator` only loops, checkpoints
and logs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from estimators import _context
from estimators.metrics import Metric, as_metric
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec
from estimators.train_state import TrainState

__all__ = ["ModelProgram", "eval_step", "init_variables", "predict_step", "train_steps"]


class FeatureNotFoundError(KeyError):
    """A model_fn asked for a feature that the input does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class _Features(dict):
    """The features dict a model_fn sees: missing keys get a message naming them."""

    def __init__(self, data: Mapping[str, Any], host_only: Mapping[str, str]):
        super().__init__(data)
        self._host_only = host_only

    def __missing__(self, key: str) -> Any:
        if key in self._host_only:
            raise FeatureNotFoundError(
                f"feature {key!r} is a {self._host_only[key]} column, which JAX cannot"
                " take: declare a feature column for it (e.g. categorical_column_with_"
                f"vocabulary_list({key!r}, ...)) and pass it as feature_columns=... or"
                " params['feature_columns']."
            )
        raise FeatureNotFoundError(
            f"feature {key!r} is missing from the input; the input has {sorted(self)}."
        )


def _model_fn_arguments(model_fn: Callable[..., Any]) -> frozenset[str]:
    try:
        names = set(inspect.signature(model_fn).parameters)
    except (TypeError, ValueError) as e:
        raise TypeError(f"model_fn {model_fn!r} has no readable signature.") from e
    for required in ("features", "labels", "mode"):
        if required not in names:
            raise ValueError(
                f"model_fn must take a `{required}` argument "
                f"(features, labels, mode[, params][, config]); its signature is "
                f"{getattr(model_fn, '__name__', 'model_fn')}"
                f"{inspect.signature(model_fn)}."
            )
    unknown = names - {"features", "labels", "mode", "params", "config"}
    if unknown:
        raise ValueError(
            f"model_fn has unexpected arguments {sorted(unknown)}; it may take only "
            "features, labels, mode, params and config."
        )
    return frozenset(names)


class ModelProgram:
    """A `model_fn` bound to its params and config, callable as a flax module.

    The optimizer and hooks of the spec are Python objects, not arrays: they are
    captured the first time the model_fn is traced in each mode.
    """

    def __init__(self, model_fn: Callable[..., Any], params: Any, config: Any):
        self.model_fn = model_fn
        self.arguments = _model_fn_arguments(model_fn)
        self.params = params
        self.config = config
        self.specs: dict[str, EstimatorSpec] = {}
        self.host_only: dict[str, str] = {}
        program = self

        class ModelFn(nn.Module):
            @nn.compact
            def __call__(self, features: Any, labels: Any, mode: str) -> Any:
                return program._call(features, labels, mode)

        self.module = ModelFn()

    def _call(self, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        kwargs: dict[str, Any] = {
            "features": _Features(features, self.host_only)
            if isinstance(features, Mapping)
            else features,
            "labels": labels,
            "mode": ModeKeys(mode),
        }
        if "params" in self.arguments:
            kwargs["params"] = self.params
        if "config" in self.arguments:
            kwargs["config"] = self.config
        spec = self.model_fn(**kwargs)
        if not isinstance(spec, EstimatorSpec):
            raise TypeError(
                f"model_fn must return an EstimatorSpec, got {type(spec).__name__}."
            )
        if spec.mode != mode:
            raise ValueError(
                f"model_fn was called in mode {mode!r} but returned an EstimatorSpec "
                f"for mode {spec.mode.value!r}."
            )
        if spec.loss is not None and jnp.ndim(spec.loss) != 0:
            raise ValueError(
                f"EstimatorSpec.loss must be a scalar, got shape {jnp.shape(spec.loss)};"
                " reduce it, e.g. with est.losses or jnp.mean."
            )
        self.specs.setdefault(mode, spec)
        return spec

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """The optimizer of the TRAIN spec (after the first TRAIN trace)."""
        return self.specs[ModeKeys.TRAIN].optimizer

    def apply(
        self,
        variables: Mapping[str, Any],
        features: Any,
        labels: Any,
        mode: str,
        *,
        key: jax.Array,
        mask: jax.Array | None,
        mutable: bool,
    ) -> tuple[EstimatorSpec, dict[str, Any], dict[str, jax.Array]]:
        """Runs the model_fn; returns the spec, updated collections and summaries."""
        collections = [name for name in variables if name != "params"]
        rngs = {"dropout": key}
        with _context.model_fn_scope(mask=mask, mode=mode) as scope:
            if mutable and collections:
                spec, updated = self.module.apply(
                    variables, features, labels, mode, rngs=rngs, mutable=collections
                )
            else:
                spec = self.module.apply(variables, features, labels, mode, rngs=rngs)
                updated = {}
        return spec, dict(updated), dict(scope.summaries)


@functools.partial(jax.jit, static_argnums=(0, 4))
def init_variables(
    program: ModelProgram, key: jax.Array, features: Any, labels: Any, mode: str
) -> dict[str, Any]:
    """Initialises the model's variables by tracing the model_fn in `mode`."""
    params_key, dropout_key = jax.random.split(key)
    with _context.model_fn_scope(mask=None, mode=mode):
        variables = program.module.init(
            {"params": params_key, "dropout": dropout_key}, features, labels, mode
        )
    if "params" not in variables:
        variables = {"params": {}, **variables}
    return dict(variables)


def _train_step(
    program: ModelProgram, state: TrainState, batch: tuple[Any, Any, jax.Array]
) -> tuple[TrainState, dict[str, jax.Array]]:
    features, labels, mask = batch
    others = {k: v for k, v in state.variables.items() if k != "params"}
    key = state.step_key()

    def loss_fn(params: Any) -> tuple[jax.Array, Any]:
        spec, updated, summaries = program.apply(
            {"params": params, **others},
            features,
            labels,
            ModeKeys.TRAIN,
            key=key,
            mask=mask,
            mutable=True,
        )
        return jnp.asarray(spec.loss, jnp.float32), (updated, summaries)

    (loss, (updated, summaries)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    updates, opt_state = program.optimizer.update(grads, state.opt_state, state.params)
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


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def train_steps(
    program: ModelProgram, state: TrainState, batches: tuple[Any, Any, jax.Array]
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Runs N training steps over N stacked batches (leading axis N) in one call.

    Returns the new state and the last step's loss and summaries.
    """
    state, outputs = jax.lax.scan(
        lambda s, b: _train_step(program, s, b), state, batches
    )
    return _keep_replicated(program, state), jax.tree.map(lambda x: x[-1], outputs)


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def train_step(
    program: ModelProgram, state: TrainState, batch: tuple[Any, Any, jax.Array]
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Runs one training step."""
    state, outputs = _train_step(program, state, batch)
    return _keep_replicated(program, state), outputs


def _keep_replicated(program: ModelProgram, state: TrainState) -> TrainState:
    """Under `train_distribute`, pins the new state to every device."""
    strategy = getattr(program.config, "train_distribute", None)
    if strategy is None:
        return state
    return jax.lax.with_sharding_constraint(state, strategy.replicated_sharding)


@functools.partial(jax.jit, static_argnums=0)
def eval_step(
    program: ModelProgram,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    batch: tuple[Any, Any, jax.Array],
) -> tuple[jax.Array, dict[str, Metric]]:
    """Computes the loss and metric statistics of one (possibly padded) batch."""
    features, labels, mask = batch
    key = jax.random.fold_in(jax.random.wrap_key_data(rng), step)
    spec, _, _ = program.apply(
        variables, features, labels, ModeKeys.EVAL, key=key, mask=mask, mutable=False
    )
    metrics = {
        name: _as_metric(name, value)
        for name, value in (spec.eval_metric_ops or {}).items()
    }
    return jnp.asarray(spec.loss, jnp.float32), metrics


@functools.partial(jax.jit, static_argnums=(0, 4))
def predict_step(
    program: ModelProgram,
    variables: Any,
    rng: jax.Array,
    features: Any,
    predict_keys: tuple[str, ...] | None,
) -> Any:
    """Computes the predictions of one batch (only `predict_keys` when given)."""
    key = jax.random.wrap_key_data(rng)
    spec, _, _ = program.apply(
        variables, features, None, ModeKeys.PREDICT, key=key, mask=None, mutable=False
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


def _as_metric(name: str, value: Any) -> Metric:
    if not isinstance(value, Metric) and jnp.size(value) != 1:
        raise ValueError(
            f"eval_metric_ops[{name!r}] must be an est.metrics metric or a scalar, got"
            f" an array of shape {jnp.shape(value)}."
        )
    return as_metric(value)
