"""The in-model half of feature columns: `input_layer` and `linear_model`.

Both are called inside a `model_fn` (which the Estimator runs inside a
flax.linen `@nn.compact` method) and create their parameters there, named as
tf named its variables:

- `input_layer/<column name>/embedding_weights` (embedding tables;
  `input_layer/<collection name>/embedding_weights` for shared embeddings);
- `linear_model/<column name>/weights` (`[num_buckets or width, units]`,
  zeros) and `linear_model/bias_weights` (`[units]`, zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax.linen import module as flax_module

from estimators.feature_column import base, in_model, validation
from estimators.feature_column.base import CategoricalColumn, DenseColumn, FeatureColumn
from estimators.feature_column.dense import IndicatorColumn
from estimators.feature_column.errors import FeatureInputError

__all__ = ["input_layer", "linear_model"]


class _Scope(nn.Module):
    """A named variable scope: `<scope>/<param name>`."""

    @nn.compact
    def __call__(
        self, param: str, shape: tuple[int, ...], init: Callable[..., Any]
    ) -> Any:
        return self.param(param, init, shape)


class _Params:
    """Creates each `(scope, name)` parameter once per layer call, then shares it."""

    def __init__(self, module: nn.Module | None, layer: str) -> None:
        self._module = module
        self._layer = layer
        self._scopes: dict[str, _Scope] = {}
        self._made: dict[tuple[str, str], Any] = {}

    def __call__(
        self, scope: str, name: str, shape: tuple[int, ...], init: Callable[..., Any]
    ) -> Any:
        if (scope, name) in self._made:
            value = self._made[(scope, name)]
            if tuple(value.shape) != tuple(shape):
                raise FeatureInputError(
                    f"{self._layer}: columns sharing '{scope}/{name}' need the same "
                    f"shape, got {tuple(value.shape)} and {tuple(shape)}."
                )
            return value
        if self._module is None:
            raise FeatureInputError(
                f"{self._layer}: creating '{scope}/{name}' needs a flax module; call "
                "it inside a model_fn run by the Estimator (or a flax.linen "
                "@nn.compact method)."
            )
        if scope not in self._scopes:
            self._scopes[scope] = _Scope(name=scope, parent=self._module)
        value = self._scopes[scope](name, tuple(shape), init)
        self._made[(scope, name)] = value
        return value


def _sorted_columns(feature_columns: Any, where: str) -> list[FeatureColumn]:
    columns = base.as_column_list(feature_columns)
    if not columns:
        raise ValueError(f"{where}: `feature_columns` must not be empty.")
    columns = sorted(columns, key=lambda c: c.name)
    for a, b in zip(columns, columns[1:], strict=False):
        if a.name == b.name and a != b:
            raise ValueError(
                f"{where}: two different columns are named '{a.name}': "
                f"{base.describe(a)} and {base.describe(b)}."
            )
    return [c for i, c in enumerate(columns) if i == 0 or c != columns[i - 1]]


def _in_flax_module() -> bool:
    stack = getattr(getattr(flax_module, "_context", None), "module_stack", [None])
    return bool(stack) and stack[-1] is not None


def _dense_blocks(
    features: Mapping[str, Any], columns: Iterable[DenseColumn], params: _Params
) -> jnp.ndarray:
    blocks = [column._dense_tensor(features, params) for column in columns]
    return jnp.concatenate([b.astype(jnp.float32) for b in blocks], axis=1)


class _InputLayer(nn.Module):
    columns: tuple[DenseColumn, ...]

    @nn.compact
    def __call__(self, features: Mapping[str, Any]) -> jnp.ndarray:
        return _dense_blocks(features, self.columns, _Params(self, "input_layer"))


def input_layer(
    features: Mapping[str, Any],
    feature_columns: Iterable[FeatureColumn],
    *,
    name: str = "input_layer",
) -> jnp.ndarray:
    """The dense input of a network, like `tf.compat.v1.feature_column.input_layer`.

    Columns are concatenated in sorted `name` order, as tf did. Numeric
    columns read raw or transformed features; the others read the ids made by
    `transform`. Embedding tables are flax parameters
    `<name>/<column name>/embedding_weights`, so call it inside a `model_fn`.

    Args:
        features: Transformed (or, for numeric columns, raw) features.
        feature_columns: Dense columns: numeric, bucketized, indicator,
            embedding, shared embedding.
        name: Scope of the parameters; give each call in a model its own.

    Returns:
        `float32 [B, total width]`.

    Raises:
        ValueError: a categorical column not wrapped in indicator/embedding.

    Example:
        >>> import numpy as np
        >>> from estimators import feature_column as fc
        >>> cols = [fc.numeric_column("x", shape=2), fc.numeric_column("a")]
        >>> fc.input_layer({"x": np.ones((3, 2)), "a": np.zeros(3)}, cols).shape
        (3, 3)
    """
    columns = _sorted_columns(feature_columns, "input_layer")
    for column in columns:
        if not isinstance(column, DenseColumn):
            raise ValueError(
                f"input_layer: column '{column.name}' is categorical "
                f"({type(column).__name__}); wrap it in fc.indicator_column(...) or "
                "fc.embedding_column(...) (linear_model takes it directly)."
            )
    dense = tuple(c for c in columns if isinstance(c, DenseColumn))
    if not any(c._creates_parameters for c in dense) or not _in_flax_module():
        return _dense_blocks(features, dense, _Params(None, name))
    return _InputLayer(columns=dense, name=name)(features)


class _LinearModel(nn.Module):
    columns: tuple[FeatureColumn, ...]
    units: int
    sparse_combiner: str

    @nn.compact
    def __call__(self, features: Mapping[str, Any]) -> jnp.ndarray:
        params = _Params(self, "linear_model")
        zeros = nn.initializers.zeros
        logits = []
        for column in self.columns:
            if isinstance(column, CategoricalColumn | IndicatorColumn):
                categorical, combiner = column, self.sparse_combiner
                if isinstance(column, IndicatorColumn):
                    categorical, combiner = column.categorical_column, "sum"
                size = categorical._checked_num_buckets()
                table = params(column.name, "weights", (size, self.units), zeros)
                ids, weights = categorical._model_ids(features)
                rows = in_model.gather(table, ids)
                logits.append(
                    in_model.combine(
                        rows, in_model.valid_weights(ids, weights), combiner
                    )
                )
            else:
                assert isinstance(column, DenseColumn)
                dense = column._dense_tensor(features, params)
                kernel = params(
                    column.name, "weights", (dense.shape[1], self.units), zeros
                )
                logits.append(dense @ kernel)
        bias = self.param("bias_weights", zeros, (self.units,))
        return sum(logits[1:], logits[0]) + bias


def linear_model(
    features: Mapping[str, Any],
    feature_columns: Iterable[FeatureColumn],
    units: int = 1,
    sparse_combiner: str = "sum",
    *,
    name: str = "linear_model",
) -> jnp.ndarray:
    """Linear logits, like `tf.compat.v1.feature_column.linear_model`.

    Categorical columns (vocabulary, hash, identity, bucketized, crossed,
    weighted) and indicator columns are sparse: each id gathers a row of
    `<name>/<column name>/weights` (`[num_buckets, units]`); rows combine by
    `sparse_combiner` (weighted for weighted columns), `-1` ids are skipped; no
    one-hot is built. Dense columns multiply `[width, units]` weights. Plus
    `<name>/bias_weights`. All start at zero, as in tf. Call it inside a
    `model_fn`.

    Args:
        features: Transformed features (numeric columns may be raw).
        feature_columns: Categorical and/or dense columns.
        units: Number of logits. Default 1.
        sparse_combiner: `"sum"` (default), `"mean"` or `"sqrtn"`.
        name: Scope of the parameters.

    Returns:
        `float32 [B, units]`.

    Example:
        >>> import jax, numpy as np, flax.linen as nn
        >>> from estimators import feature_column as fc
        >>> cols = [fc.categorical_column_with_identity("d", 10)]
        >>> class Model(nn.Module):
        ...     @nn.compact
        ...     def __call__(self, features):
        ...         return fc.linear_model(features, cols, units=3)
        >>> features = {"d": np.array([[1], [7]], np.int32)}
        >>> params = Model().init(jax.random.key(0), features)
        >>> Model().apply(params, features).shape
        (2, 3)
    """
    columns = _sorted_columns(feature_columns, "linear_model")
    units = validation.check_positive_int(units, "units")
    validation.check_combiner(sparse_combiner, "sparse_combiner")
    if not _in_flax_module():
        raise ValueError(
            "linear_model creates weights, so call it inside a model_fn run by the "
            "Estimator (or a flax.linen @nn.compact method)."
        )
    model = _LinearModel(
        columns=tuple(columns), units=units, sparse_combiner=sparse_combiner, name=name
    )
    return model(features)
