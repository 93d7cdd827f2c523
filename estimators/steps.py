"""The pure core: module-level jitted train, eval and predict steps.

Each step takes a `StepConfig` (static: the program, the optimizer, the columns
kept on the host, the sharding of the train state) and arrays; only the training
loop and the runner call them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from estimators.batching import Batch
from estimators.metrics import Metric, as_metric
from estimators.mode_keys import ModeKeys
from estimators.program import ModelProgram
from estimators.spec import EstimatorSpec
from estimators.train_state import TrainState

__all__ = [
    "StepConfig",
    "eval_step",
    "eval_step_fetching",
    "predict_spec",
    "predict_step",
    "train_step",
    "train_steps",
]


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
        fetches: Names the train step (and `eval_step_fetching`) also output
            (sorted), for hooks that read them: keys of the spec's predictions;
            "loss", "global_step" and summary names are accepted (the train step
            outputs summaries anyway). Empty by default, so the default steps
            output nothing more.
        fuse: Whether training steps may run fused (`train_steps`); False for a
            model with XLA convolutions on the CPU, whose kernel gradient XLA:CPU
            runs several times slower inside a loop than in one step.
    """

    program: ModelProgram
    optimizer: optax.GradientTransformation | None = None
    host_only: tuple[tuple[str, str], ...] = ()
    replicated: Any = None
    fetches: tuple[str, ...] = ()
    fuse: bool = True
    _derived: dict[tuple[str, ...], StepConfig] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )

    def with_fetches(self, names: Iterable[str]) -> StepConfig:
        """This config also outputting `names`; the same object for the same names.

        Fetches only grow, and every variant is kept on this config, so a hook
        asking for a name costs one compilation, once.
        """
        if not names:
            return self
        wanted = tuple(sorted(set(self.fetches).union(names)))
        if wanted == self.fetches:
            return self
        if wanted not in self._derived:
            derived = dataclasses.replace(self, fetches=wanted)
            object.__setattr__(derived, "_derived", self._derived)
            self._derived[wanted] = derived
        return self._derived[wanted]


Outputs = dict[str, jax.Array]


def _train_step(
    config: StepConfig, state: TrainState, batch: Batch
) -> tuple[TrainState, Outputs, Outputs]:
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
        fetched = _fetched(config.fetches, spec.predictions, summaries)
        return jnp.asarray(spec.loss, jnp.float32), (updated, summaries, fetched)

    (loss, (updated, summaries, fetched)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.params)
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
    return new_state, {"loss": loss, **summaries}, fetched


def _fetched(
    names: tuple[str, ...],
    predictions: Any,
    summaries: Mapping[str, Any],
    mode: str = ModeKeys.TRAIN,
) -> Outputs:
    """The predictions named in `names` (checked at trace time)."""
    if not names:
        return {}
    if not isinstance(predictions, Mapping):
        predictions = {} if predictions is None else {"predictions": predictions}
    out = {}
    for name in names:
        if name in predictions:
            out[name] = jax.lax.stop_gradient(predictions[name])
        elif name not in ("loss", "global_step") and name not in summaries:
            raise ValueError(
                f"a hook fetches {name!r}, which the model_fn does not give in "
                f"{mode.upper()} mode; a hook can fetch 'loss', 'global_step', the "
                f"est.summary.scalar names {sorted(summaries)} and the "
                f"{mode.upper()} spec's predictions {sorted(predictions)}."
            )
    return out


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
) -> tuple[TrainState, Outputs, Outputs]:
    """Runs one training step.

    Returns the new state, the loss and summaries, and the `config.fetches`
    predictions (empty without fetches).
    """
    state, outputs, fetched = _train_step(config, state, batch)
    return _keep_replicated(config, _track_state(state)), outputs, fetched


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def train_steps(
    config: StepConfig, state: TrainState, batches: Batch, count: jax.Array
) -> tuple[TrainState, Outputs, Outputs]:
    """Runs `count` training steps over the first `count` of stacked batches.

    `batches` has a leading axis of a compiled size (`batching.steps_size`) and
    `count` (<= it) is an argument, not a shape: groups of different lengths
    share one compilation, the batches past `count` are never run.

    Returns the new state, the last step's loss and summaries, and its
    `config.fetches` predictions.
    """
    first = jax.tree.map(lambda x: x[0], batches)
    shapes = jax.eval_shape(lambda s, b: _train_step(config, s, b)[1:], state, first)
    zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)

    def body(i: jax.Array, carry: Any) -> Any:
        batch = jax.tree.map(
            lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), batches
        )
        state, outputs, fetched = _train_step(config, carry[0], batch)
        return state, (outputs, fetched)

    state, (last, fetched) = jax.lax.fori_loop(0, count, body, (state, zeros))
    return _keep_replicated(config, _track_state(state)), last, fetched


def _eval_step(
    config: StepConfig,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    batch: Batch,
) -> tuple[jax.Array, dict[str, Metric], Outputs]:
    features, labels, mask = batch
    key = jax.random.fold_in(jax.random.wrap_key_data(rng), step)
    spec, _, summaries = config.program.apply(
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
    fetched = _fetched(config.fetches, spec.predictions, summaries, ModeKeys.EVAL)
    fetched.update({k: summaries[k] for k in config.fetches if k in summaries})
    return jnp.asarray(spec.loss, jnp.float32), metrics, fetched


@functools.partial(jax.jit, static_argnums=0)
def eval_step(
    config: StepConfig,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    batch: Batch,
) -> tuple[jax.Array, dict[str, Metric]]:
    """Computes the loss and metric statistics of one batch."""
    loss, metrics, _ = _eval_step(config, variables, step, rng, batch)
    return loss, metrics


@functools.partial(jax.jit, static_argnums=0)
def eval_step_fetching(
    config: StepConfig,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    batch: Batch,
) -> tuple[jax.Array, dict[str, Metric], Outputs]:
    """`eval_step` that also outputs the `config.fetches` predictions and summaries."""
    return _eval_step(config, variables, step, rng, batch)


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


def predict_spec(
    config: StepConfig, variables: Any, rng: jax.Array, features: Any
) -> EstimatorSpec:
    """The PREDICT spec of one batch (un-jitted: traced inside a caller's jit,
    e.g. the export's, which serves its `export_outputs` signatures)."""
    spec, _, _ = config.program.apply(
        variables,
        features,
        None,
        ModeKeys.PREDICT,
        key=jax.random.wrap_key_data(rng),
        mask=None,
        mutable=False,
        host_only=dict(config.host_only),
    )
    return spec


def predictions_of(
    config: StepConfig,
    variables: Any,
    rng: jax.Array,
    features: Any,
    predict_keys: tuple[str, ...] | None = None,
) -> Any:
    """The un-jitted body of `predict_step`."""
    predictions = predict_spec(config, variables, rng, features).predictions
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
