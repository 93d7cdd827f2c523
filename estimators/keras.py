# Long by design: the Keras adapter is one concept (stateless call, optimizer, loss, metrics).
"""A compiled Keras 3 model (JAX backend) as an Estimator's `model_fn`, and back.

`keras_model_fn` calls the model statelessly (`Model.stateless_call`) on variables
that a small flax module declares, initialised from the model's current weights:
the Estimator's variables ARE the model's, under

- `params/keras/<layer>/<weight>`: the trainable weights, updated by the model's
  own Keras optimizer (run statelessly as an optax transformation);
- `non_trainable/keras/<layer>/<weight>`: frozen layers' weights, batch-norm
  statistics and RNG seeds; the optimizer never sees them.

The compiled loss and metrics are Keras's own, weighted by the Estimator's
padding mask so that they stay exact under any batching. `load_checkpoint_into`
copies a checkpoint's variables back into a Keras model.

Keras is an optional dependency (`pip install estimators[keras]`); it is imported
on first use, with `KERAS_BACKEND=jax` unless the environment says otherwise.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from estimators import _context, checkpoints
from estimators.metrics import Metric
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec

__all__ = ["keras_model_fn", "load_checkpoint_into"]

SCOPE = "keras"
NON_TRAINABLE = "non_trainable"
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


def import_keras() -> Any:
    """Keras 3 on the JAX backend, or an error that says how to get it."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError:
        raise ImportError(
            "model_to_estimator(keras_model=...) needs Keras 3: pip install "
            "'estimators[keras]' (or pip install keras)."
        ) from None
    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(
            f"Keras runs on the {backend!r} backend; the Estimator needs 'jax': set "
            "KERAS_BACKEND=jax before keras is first imported."
        )
    return keras


# -- names: Keras variables <-> the Estimator's variable tree ------------------------


def _relative_path(model: Any, variable: Any) -> tuple[str, ...]:
    parts = tuple(variable.path.split("/"))
    return parts[1:] if len(parts) > 1 and parts[0] == model.name else parts


def _paths(model: Any, variables: Sequence[Any], kind: str) -> list[tuple[str, ...]]:
    paths = [_relative_path(model, v) for v in variables]
    repeated = [p for p, n in collections.Counter(paths).items() if n > 1]
    if repeated:
        dup = repeated[0]
        raise ValueError(
            f"keras_model: two {kind} variables share the path {'/'.join(dup)!r}; "
            "give the layers distinct names (name=...)."
        )
    return paths


def _nest(paths: Sequence[tuple[str, ...]], values: Sequence[Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in zip(paths, values, strict=True):
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def _pick(tree: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> list[Any]:
    out = []
    for path in paths:
        node: Any = tree
        for part in path:
            node = node[part]
        out.append(node)
    return out


class _KerasVariables(nn.Module):
    """Declares the Keras model's weights as flax variables and calls the model."""

    adapter: Any

    @nn.compact
    def __call__(self, inputs: Any, training: bool) -> tuple[Any, ...]:
        """Returns the outputs, activity losses and the weights in Keras's order."""
        a = self.adapter
        trainable = {
            name: self.param(name, lambda _, v=value: jax.tree.map(jnp.asarray, v))
            for name, value in a.initial_trainable.items()
        }
        frozen = {
            name: self.variable(
                NON_TRAINABLE, name, lambda v=value: jax.tree.map(jnp.asarray, v)
            )
            for name, value in a.initial_non_trainable.items()
        }
        weights = _pick(trainable, a.trainable_paths)
        state = _pick({k: v.value for k, v in frozen.items()}, a.non_trainable_paths)
        outputs, new_state, losses = a.model.stateless_call(
            weights, state, inputs, training=training, return_losses=True
        )
        # Not while initialising: the initial state is the model's, untouched.
        if (
            training
            and not self.is_initializing()
            and self.is_mutable_collection(NON_TRAINABLE)
        ):
            for name, value in _nest(a.non_trainable_paths, new_state).items():
                frozen[name].value = value
        return outputs, list(losses), weights, state


# -- the Keras optimizer as an optax transformation ----------------------------------


def keras_optimizer(adapter: KerasAdapter) -> optax.GradientTransformation:
    """The model's Keras optimizer, run with `stateless_apply`, as optax.

    Its state starts from the Keras optimizer's current variables (a model that
    was already fitted carries on with its moments and iteration count).
    """
    optimizer = adapter.model.optimizer
    initial = [np.asarray(v.value) for v in optimizer.variables]
    paths = adapter.trainable_paths

    def init(params: Any) -> list[jax.Array]:
        del params
        return [jnp.asarray(v) for v in initial]

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if params is None:
            raise ValueError("the Keras optimizer needs `params` in update().")
        old = _pick(params[SCOPE], paths)
        new, state = optimizer.stateless_apply(
            list(state), _pick(grads[SCOPE], paths), old
        )
        deltas = [n - o for n, o in zip(new, old, strict=True)]
        return {SCOPE: _nest(paths, deltas)}, list(state)

    return optax.GradientTransformation(init, update)


# -- metrics: Keras metric state as additive statistics --------------------------------


class _KerasResult:
    """`Metric.result_fn` of a Keras metric: its result on the merged state."""

    def __init__(self, metric: Any, initial: Sequence[np.ndarray]) -> None:
        self.metric = metric
        self.initial = initial

    def __call__(self, state: Mapping[str, Any]) -> jax.Array:
        values = [jnp.asarray(v0) + state[str(i)] for i, v0 in enumerate(self.initial)]
        return jnp.asarray(self.metric.stateless_result(values))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KerasResult) and other.metric is self.metric

    def __hash__(self) -> int:
        return id(self.metric)


def _metric(metric: Any, y: Any, y_pred: Any, weight: jax.Array) -> Metric:
    initial = [np.asarray(v.value) for v in metric.variables]
    new = metric.stateless_update_state(
        [jnp.asarray(v) for v in initial], y, y_pred, sample_weight=weight
    )
    state = {str(i): n - v0 for i, (n, v0) in enumerate(zip(new, initial, strict=True))}
    return Metric(state, _KerasResult(metric, initial))


# -- the adapter ---------------------------------------------------------------------


class KerasAdapter:
    """What a `model_fn` needs from a compiled Keras model; made once per Estimator.

    Args:
        model: A built, compiled Keras 3 model.
        metric_names_map: Keras metric name -> name in `evaluate` (tf's option).
    """

    def __init__(
        self, model: Any, metric_names_map: Mapping[str, str] | None = None
    ) -> None:
        keras = import_keras()
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"keras_model must be a keras.Model, got {type(model).__name__}."
            )
        if not model.built or not model.weights:
            raise ValueError(
                f"keras_model {model.name!r} has no weights yet: build it first "
                "(give it a keras.Input, or call it on a batch)."
            )
        if not getattr(model, "compiled", False) or model.optimizer is None:
            raise ValueError(
                f"keras_model {model.name!r} is not compiled: call "
                "model.compile(optimizer=..., loss=..., metrics=[...]) first."
            )
        self.model = model
        self.metric_names_map = dict(metric_names_map or {})
        self.trainable_paths = _paths(model, model.trainable_variables, "trainable")
        self.non_trainable_paths = _paths(
            model, model.non_trainable_variables, "non-trainable"
        )
        self.initial_trainable = _nest(
            self.trainable_paths,
            [np.array(v.value) for v in model.trainable_variables],
        )
        self.initial_non_trainable = _nest(
            self.non_trainable_paths,
            [np.array(v.value) for v in model.non_trainable_variables],
        )
        self.mean_loss = _is_mean_loss(getattr(model, "loss", None))
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self.optimizer = keras_optimizer(self)
        self._compiled_for: tuple[Any, Any] | None = None
        self.metrics: dict[str, Any] = {}

    # ---- inputs and outputs ----

    def input_names(self) -> list[str] | None:
        try:
            return [t.name for t in self.model.inputs]
        except (AttributeError, ValueError):
            return None

    def inputs(self, features: Any) -> Any:
        """The model's inputs from the Estimator's features (tf's rules)."""
        names = self.input_names()
        if not isinstance(features, Mapping) or names is None:
            return features
        missing = [n for n in names if n not in features]
        if len(names) == 1:
            if not missing:
                return features[names[0]]
            if len(features) == 1:
                return next(iter(features.values()))
        if missing:
            raise ValueError(
                f"features {sorted(features)} do not give the Keras model's inputs "
                f"{missing}; name each feature after a keras.Input(name=...)."
            )
        return {n: features[n] for n in names}

    def output_names(self, count: int) -> list[str]:
        names = getattr(self.model, "output_names", None)
        if names and len(names) == count:
            return list(names)
        if count == 1:
            return [self.model.layers[-1].name]  # tf.keras' name for a Sequential
        return [f"output_{i + 1}" for i in range(count)]

    def predictions(self, outputs: Any) -> dict[str, Any]:
        if isinstance(outputs, Mapping):
            return dict(outputs)
        flat = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        return dict(zip(self.output_names(len(flat)), flat, strict=True))

    # ---- loss and metrics (built once, eagerly, from the traced shapes) ----

    def _compile(self, x: Any, y: Any) -> None:
        """Builds Keras's compiled loss and metrics for these shapes, eagerly."""
        if self._compiled_for is not None:
            return
        model = self.model

        def zeros(a: Any) -> np.ndarray:
            return np.zeros((1, *a.shape[1:]), a.dtype)

        with jax.ensure_compile_time_eval():
            x0, y0 = jax.tree.map(zeros, (x, y))
            y_pred = model(x0, training=False)
            model.compute_loss(x0, y0, y_pred)
            model.compute_metrics(x0, y0, y_pred)
            model.reset_metrics()
        self.metrics = self._named_metrics(y_pred)
        self._compiled_for = (x0, y0)

    def _named_metrics(self, y_pred: Any) -> dict[str, Any]:
        compiled = getattr(self.model, "_compile_metrics", None)
        if compiled is None or not compiled.metrics:
            return {}
        if len(jax.tree.leaves(y_pred)) != 1:
            raise ValueError(
                "model_to_estimator carries compiled metrics over for single-output "
                "Keras models only; compile this one without metrics=..."
            )
        names = list(compiled.result())  # Keras's own names, de-duplicated
        metrics = dict(zip(names, compiled.metrics, strict=True))
        unknown = set(self.metric_names_map) - set(metrics)
        if unknown:
            raise ValueError(
                f"metric_names_map names {sorted(unknown)}, which are not among the "
                f"model's metrics {names}."
            )
        return {self.metric_names_map.get(k, k): m for k, m in metrics.items()}

    def loss(
        self,
        x: Any,
        y: Any,
        y_pred: Any,
        weight: jax.Array,
        trainable: Sequence[Any],
        non_trainable: Sequence[Any],
        activity_losses: Sequence[Any],
    ) -> jax.Array:
        """Keras's compiled loss, exact over the real (unpadded) examples."""
        keras = import_keras()
        model = self.model
        mapping = list(zip(model.trainable_variables, trainable, strict=True))
        mapping += zip(model.non_trainable_variables, non_trainable, strict=True)
        with keras.StatelessScope(state_mapping=mapping):
            total = model.compute_loss(x, y, y_pred, sample_weight=weight)
            regularization = sum((jnp.sum(r) for r in model.losses), jnp.float32(0))
        data = jnp.asarray(total, jnp.float32) - regularization
        mask = _context.current_mask()
        if self.mean_loss and mask is not None:
            # "sum_over_batch_size" divides by the padded size, not the real one.
            data = data * jnp.float32(mask.shape[0]) / jnp.maximum(jnp.sum(mask), 1.0)
        extra = sum((jnp.sum(r) for r in activity_losses), jnp.float32(0))
        return data + regularization + extra

    def model_fn(self, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        """The Estimator's `model_fn` for this Keras model."""
        sample_weight = None
        if isinstance(features, Mapping) and set(features) == {
            "features",
            "sample_weights",
        }:
            features, sample_weight = features["features"], features["sample_weights"]
        x = self.inputs(features)
        training = mode == ModeKeys.TRAIN
        y_pred, activity, weights, state = _KerasVariables(self, name=SCOPE)(
            x, training
        )
        predictions = self.predictions(y_pred)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=predictions)
        self._compile(x, labels)
        weight = _weights(y_pred, sample_weight)
        loss = self.loss(x, labels, y_pred, weight, weights, state, activity)
        if training:
            return EstimatorSpec(mode, loss=loss, optimizer=self.optimizer)
        metrics = {
            name: _metric(m, labels, y_pred, weight) for name, m in self.metrics.items()
        }
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, eval_metric_ops=metrics
        )


def _weights(y_pred: Any, sample_weight: Any) -> jax.Array:
    rows = jax.tree.leaves(y_pred)[0].shape[0]
    mask = _context.current_mask()
    weight = jnp.ones((rows,), jnp.float32) if mask is None else mask
    if sample_weight is not None:
        weight = weight * jnp.reshape(jnp.asarray(sample_weight, jnp.float32), (rows,))
    return weight


def _is_mean_loss(loss: Any) -> bool:
    """Whether the compiled losses divide by the batch size (Keras's default)."""
    reductions = {
        getattr(item, "reduction", "sum_over_batch_size")
        for item in jax.tree.leaves(loss)
    }
    means = {r in _MEAN_REDUCTIONS for r in reductions}
    if len(means) > 1:
        raise ValueError(
            "keras_model: the compiled losses mix reductions "
            f"{sorted(map(str, reductions))}; give them all 'sum_over_batch_size' "
            "or all 'sum'."
        )
    return means != {False}


def keras_model_fn(
    keras_model: Any, *, metric_names_map: Mapping[str, str] | None = None
) -> Callable[..., EstimatorSpec]:
    """A `model_fn(features, labels, mode)` running a compiled Keras model.

    Args:
        keras_model: A built, compiled Keras 3 model (JAX backend).
        metric_names_map: Keras metric name -> name in the Estimator's `evaluate`.
    """
    adapter = KerasAdapter(keras_model, metric_names_map)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return adapter.model_fn(features, labels, mode)

    model_fn.adapter = adapter  # type: ignore[attr-defined]
    return model_fn


def load_checkpoint_into(keras_model: Any, checkpoint: str | os.PathLike[str]) -> Any:
    """Copies an Estimator checkpoint's variables into a Keras model's weights.

    The reverse of `model_to_estimator(keras_model=...)`: the weights are matched
    by layer and weight name (`params/keras/<layer>/<weight>` or
    `non_trainable/keras/...`), whichever of the two the checkpoint holds, so
    freezing or unfreezing layers in between does not matter.

    Args:
        keras_model: A built Keras model of the same architecture (same layer
            names) as the one given to `model_to_estimator`.
        checkpoint: A `ckpt-<step>` directory, or a model_dir (its latest).

    Returns:
        `keras_model`, whose weights now hold the checkpoint's values.

    Raises:
        ValueError: a weight of the model is not in the checkpoint or has another
            shape; the message names it.

    Example:
        >>> import numpy as np, estimators as est
        >>> keras = import_keras()  # Keras on the JAX backend
        >>> def build():
        ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
        ...     model.compile(optimizer="sgd", loss="mse")
        ...     return model
        >>> e = est.model_to_estimator(keras_model=build())
        >>> x = np.ones((4, 2), np.float32)
        >>> e = e.train(lambda: (x, np.ones((4, 1), np.float32)), steps=2)
        >>> model = load_checkpoint_into(build(), e.model_dir)
        >>> predicted = next(e.predict(lambda: (x, None), yield_single_examples=False))
        >>> bool(np.allclose(model.predict(x, verbose=0), predicted["out"]))
        True
    """
    import_keras()
    arrays, _ = checkpoints.read_checkpoint(checkpoint)
    values = []
    for variable in keras_model.weights:
        path = "/".join(_relative_path(keras_model, variable))
        names = [f"variables/{c}/{SCOPE}/{path}" for c in ("params", NON_TRAINABLE)]
        found = [arrays[n] for n in names if n in arrays]
        if not found:
            known = sorted(k.split("/", 3)[-1] for k in arrays if f"/{SCOPE}/" in k)
            raise ValueError(
                f"keras weight {path!r} is not in checkpoint {checkpoint!r} (it has "
                f"{known[:6]}{' ...' if len(known) > 6 else ''}); build the model "
                "with the same layer names as the one the Estimator trained."
            )
        if tuple(found[0].shape) != tuple(variable.shape):
            raise ValueError(
                f"keras weight {path!r} has shape {tuple(variable.shape)} but "
                f"{tuple(found[0].shape)} in checkpoint {checkpoint!r}."
            )
        values.append(found[0])
    for variable, value in zip(keras_model.weights, values, strict=True):
        variable.assign(value)
    return keras_model
