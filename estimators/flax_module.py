"""A flax.linen module + an optax optimizer + a loss as an Estimator's `model_fn`.

The module's variables live in the Estimator's checkpoints under the name
`model` in each collection (`params/model/Dense_0/kernel`,
`batch_stats/model/...`), initialised from given (pre-trained) variables or by
`module.init`. `load_flax_variables` reads them back as the plain variables dict
that `module.apply` takes.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from estimators import checkpoints, losses
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec

__all__ = ["flax_model_fn", "load_flax_variables"]

SCOPE = "model"


def _train_flag(module: nn.Module) -> str | None:
    """The keyword of `module.__call__` that switches training behaviour, if any."""
    try:
        names = inspect.signature(type(module).__call__).parameters
    except (TypeError, ValueError):
        return None
    return next((n for n in ("train", "training") if n in names), None)


class _Wrapped:
    """The user's module and its initial variables, hidden from flax's attribute
    handling (a Module-valued attribute would become a bound submodule)."""

    def __init__(self, module: nn.Module, initial: Any, flag: str | None) -> None:
        self.module, self.initial, self.flag = module, initial, flag


class _FlaxVariables(nn.Module):
    """Holds the wrapped module's variables and applies it functionally."""

    spec: _Wrapped

    @nn.compact
    def __call__(self, features: Any, training: bool) -> Any:
        module, start, flag = self.spec.module, self.spec.initial, self.spec.flag
        kwargs = {flag: training} if flag else {}
        if self.is_initializing():
            if start is None:
                rngs = {"params": self.make_rng("params")}
                if self.has_rng("dropout"):
                    rngs["dropout"] = self.make_rng("dropout")
                start = module.init(rngs, features, **kwargs)
            for collection, tree in start.items():
                for name, value in tree.items():
                    value = jax.tree.map(jnp.asarray, value)
                    if collection == "params":
                        self.param(name, lambda _, v=value: v)
                    else:
                        self.variable(collection, name, lambda v=value: v)
        variables = {k: dict(v) for k, v in self.variables.items()}
        mutable = ([c for c in variables if c != "params"] if training else []) or False
        rngs = {"dropout": self.make_rng("dropout")} if training else {}
        result = module.apply(variables, features, rngs=rngs, mutable=mutable, **kwargs)
        if not mutable:
            return result
        outputs, updated = result
        if self.is_initializing():  # the initial state stays the given one
            return outputs
        for collection, tree in updated.items():
            if self.is_mutable_collection(collection):
                for name, value in tree.items():
                    self.put_variable(collection, name, value)
        return outputs


def flax_model_fn(
    module: nn.Module,
    *,
    optimizer: Any,
    loss: Callable[[Any, Any], Any],
    metrics: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Callable[..., EstimatorSpec]:
    """A `model_fn(features, labels, mode)` training `module` with `optimizer`.

    See `est.model_to_estimator(module=...)` for the arguments.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a flax.linen Module, got {module!r}.")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            "`optimizer` must be an optax GradientTransformation, e.g. "
            f"optax.adam(1e-3); got {optimizer!r}."
        )
    if not callable(loss):
        raise TypeError(
            f"`loss` must be a function loss(labels, predictions), got {loss!r}."
        )
    initial = None
    if variables is not None:
        if "params" not in variables:
            raise ValueError(
                "`variables` must be a flax variables dict with a 'params' "
                f"collection (module.init(...)), got keys {sorted(variables)}."
            )
        initial = {c: dict(t) for c, t in jax.device_get(dict(variables)).items()}
    metrics = dict(metrics or {})
    wrapped = _Wrapped(module, initial, _train_flag(module))

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        training = mode == ModeKeys.TRAIN
        predictions = _FlaxVariables(wrapped, name=SCOPE)(features, training)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=_as_dict(predictions))
        value = jnp.asarray(loss(labels, predictions), jnp.float32)
        if value.ndim:
            value = losses.compute_weighted_loss(value)
        if training:
            return EstimatorSpec(mode, loss=value, optimizer=optimizer)
        ops = {name: fn(labels, predictions) for name, fn in metrics.items()}
        return EstimatorSpec(
            mode, predictions=_as_dict(predictions), loss=value, eval_metric_ops=ops
        )

    return model_fn


def _as_dict(predictions: Any) -> Any:
    return (
        predictions
        if isinstance(predictions, Mapping)
        else {"predictions": predictions}
    )


def load_flax_variables(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The flax variables of a `model_to_estimator(module=...)` checkpoint.

    The reverse of `model_to_estimator(module=...)`: the result is what
    `module.apply(variables, x)` takes, outside any Estimator.

    Args:
        checkpoint: A `ckpt-<step>` directory, or a model_dir (its latest).

    Returns:
        `{"params": {...}, ...}`: every collection, as nested dicts of numpy arrays.

    Raises:
        ValueError: the checkpoint has no flax module variables.

    Example:
        >>> import flax.linen as nn, numpy as np, optax
        >>> import estimators as est
        >>> e = est.model_to_estimator(module=nn.Dense(2), optimizer=optax.sgd(0.1),
        ...                            loss=lambda y, p: (p - y) ** 2)
        >>> x = np.ones((4, 3), np.float32)
        >>> _ = e.train(lambda: (x, np.zeros((4, 2), np.float32)), steps=1)
        >>> v = est.load_flax_variables(e.model_dir)
        >>> v["params"]["kernel"].shape
        (3, 2)
    """
    arrays, _ = checkpoints.read_checkpoint(checkpoint)
    out: dict[str, Any] = {}
    for name, value in arrays.items():
        parts = name.split("/")
        if len(parts) < 4 or parts[0] != "variables" or parts[2] != SCOPE:
            continue
        node = out.setdefault(parts[1], {})
        for part in parts[3:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = np.asarray(value)
    if "params" not in out:
        raise ValueError(
            f"checkpoint {os.fspath(checkpoint)!r} holds no flax module variables "
            f"(no 'params/{SCOPE}/...'); was it written by "
            "model_to_estimator(module=...)?"
        )
    return out
