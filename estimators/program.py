"""`ModelProgram`: a user's `model_fn` as a flax.linen module, traced explicitly.

Layers created inside the `model_fn` (`nn.Dense(10)(net)`) become the module's
parameters. `trace(mode, features, labels)` returns the abstract variables and
the spec of one mode (its optimizer and hooks are Python objects the steps need);
nothing is captured as a side effect of tracing.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend import core as jax_core

from estimators import _context
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec

__all__ = ["FeatureNotFoundError", "ModelProgram", "Traced", "init_variables"]


class FeatureNotFoundError(KeyError):
    """A model_fn asked for a feature that the input does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class _Features(dict):
    """The features dict a model_fn sees: missing keys get a message naming them."""

    def __missing__(self, key: str) -> Any:
        host_only = _context.current_host_only()
        if key in host_only:
            raise FeatureNotFoundError(
                f"feature {key!r} is a {host_only[key]} column, which JAX cannot"
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


@dataclasses.dataclass(frozen=True)
class Traced:
    """What one trace of the model_fn in one mode tells: variables and spec.

    Attributes:
        variables: The abstract variables (`jax.ShapeDtypeStruct` leaves).
        spec: The spec; its array fields hold `jax.ShapeDtypeStruct`s, its Python
            fields (optimizer, hooks, export_outputs' kinds) are the real ones.
        convolutions: Whether the model_fn computes a `lax.conv_general_dilated`
            (such as `flax.linen.Conv`'s), which XLA:CPU runs slowly in a loop.
    """

    variables: Any
    spec: EstimatorSpec
    convolutions: bool = False


def _abstract(tree: Any) -> Any:
    return jax.tree.map(
        lambda x: (
            jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x))
            if isinstance(x, jax.Array)
            else x
        ),
        tree,
    )


class ModelProgram:
    """A `model_fn` bound to its params and config, callable as a flax module.

    Hashed by identity: it is a static argument of the compiled steps.
    """

    def __init__(self, model_fn: Callable[..., Any], params: Any, config: Any):
        self.model_fn = model_fn
        self.arguments = _model_fn_arguments(model_fn)
        self.params = params
        self.config = config
        program = self

        class ModelFn(nn.Module):
            @nn.compact
            def __call__(self, features: Any, labels: Any, mode: str) -> Any:
                return program.call(features, labels, mode)

        self.module = ModelFn()

    def call(self, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        """Calls the model_fn with the arguments it takes; checks its spec."""
        kwargs: dict[str, Any] = {
            "features": _Features(features)
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
        return spec

    def trace(
        self,
        mode: str,
        features: Any,
        labels: Any,
        *,
        key: jax.Array,
        host_only: Mapping[str, str] | None = None,
    ) -> Traced:
        """Traces the model_fn in `mode` without computing anything."""
        found: list[EstimatorSpec] = []

        def init(key: jax.Array, features: Any, labels: Any) -> Any:
            params_key, dropout_key = jax.random.split(key)
            with _context.model_fn_scope(mode=mode, host_only=host_only):
                spec, variables = self.module.init_with_output(
                    {"params": params_key, "dropout": dropout_key},
                    features,
                    labels,
                    mode,
                )
            found.append(spec)
            return _with_params(variables)

        jaxpr, variables = jax.make_jaxpr(init, return_shape=True)(
            key, features, labels
        )
        spec = copy.copy(found[0])
        for field in ("predictions", "loss", "eval_metric_ops", "export_outputs"):
            object.__setattr__(spec, field, _abstract(getattr(spec, field)))
        return Traced(variables, spec, _uses(jaxpr.jaxpr, "conv_general_dilated"))

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
        host_only: Mapping[str, str] | None = None,
    ) -> tuple[EstimatorSpec, dict[str, Any], dict[str, jax.Array]]:
        """Runs the model_fn; returns the spec, updated collections and summaries."""
        collections = [name for name in variables if name != "params"]
        rngs = {"dropout": key}
        with _context.model_fn_scope(
            mask=mask, mode=mode, host_only=host_only
        ) as scope:
            if mutable and collections:
                spec, updated = self.module.apply(
                    variables, features, labels, mode, rngs=rngs, mutable=collections
                )
            else:
                spec = self.module.apply(variables, features, labels, mode, rngs=rngs)
                updated = {}
        return spec, dict(updated), dict(scope.summaries)


def _uses(jaxpr: Any, primitive: str) -> bool:
    """Whether `jaxpr` or a jaxpr nested in it (jit, custom_jvp, scan...) has
    an equation of `primitive`."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == primitive:
            return True
        for sub in jax_core.jaxprs_in_params(eqn.params):
            if _uses(getattr(sub, "jaxpr", sub), primitive):
                return True
    return False


def _with_params(variables: Any) -> dict[str, Any]:
    variables = dict(variables)
    return variables if "params" in variables else {"params": {}, **variables}


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def init_variables(
    program: ModelProgram,
    key: jax.Array,
    features: Any,
    labels: Any,
    mode: str,
    host_only: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """Initialises the model's variables by running the model_fn in `mode`."""
    params_key, dropout_key = jax.random.split(key)
    with _context.model_fn_scope(mode=mode, host_only=dict(host_only)):
        variables = program.module.init(
            {"params": params_key, "dropout": dropout_key}, features, labels, mode
        )
    return _with_params(variables)
