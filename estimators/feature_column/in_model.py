"""In-model (jnp) helpers: reading transformed features, multi-hot, combiners.

These run while a `model_fn` is traced, so they never inspect values: missing
ids are `-1` and are masked with `jnp.where`, and every division has a safe
denominator so padded rows (no ids at all) give zeros, not NaNs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from estimators.feature_column.errors import FeatureInputError

__all__ = [
    "clip_rows",
    "combine",
    "fetch",
    "gather",
    "multi_hot",
    "read_ids",
    "read_numeric",
    "safe_divide",
    "valid_weights",
]

_TRANSFORM_HINT = (
    "run fc.transform(features, columns) on the host first (the Estimator does "
    "it when given feature_columns=...)"
)


def fetch(features: Mapping[str, Any], key: str, column: str) -> Any:
    """`features[key]` for column `column`, or an error when missing or raw text."""
    if not isinstance(features, Mapping):
        raise FeatureInputError(
            f"features must be a dict of arrays, got {type(features).__name__}."
        )
    if key not in features:
        raise FeatureInputError(
            f"column '{column}': feature '{key}' is missing; available "
            f"features: {sorted(map(str, features))}. Categorical columns read the "
            f"ids made by the host transform: {_TRANSFORM_HINT}."
        )
    value = features[key]
    if isinstance(value, pa.Array | pa.ChunkedArray) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "USO"
    ):
        raise FeatureInputError(
            f"column '{column}': feature '{key}' holds raw text/Arrow values, "
            f"which cannot enter a JAX model; {_TRANSFORM_HINT}."
        )
    return value


def read_numeric(
    features: Mapping[str, Any], column: str, key: str, shape: tuple[int, ...]
) -> jnp.ndarray:
    """`float32 [B, *shape]` from a raw or transformed numeric feature."""
    value = jnp.asarray(fetch(features, key, column))
    if value.ndim == 0:
        raise FeatureInputError(
            f"column '{column}': feature '{key}' needs a leading batch "
            f"dimension, got a scalar."
        )
    size = math.prod(shape)
    if math.prod(value.shape[1:]) != size:
        raise FeatureInputError(
            f"column '{column}': expected {size} value(s) per row for shape "
            f"{shape}, got feature '{key}' of shape {tuple(value.shape)}."
        )
    return value.astype(jnp.float32).reshape((value.shape[0], *shape))


def read_ids(features: Mapping[str, Any], column: str, key: str) -> jnp.ndarray:
    """`int32 [B, k]` ids from a transformed categorical feature."""
    value = jnp.asarray(fetch(features, key, column))
    if not (jnp.issubdtype(value.dtype, jnp.integer) or value.dtype == jnp.bool_):
        raise FeatureInputError(
            f"column '{column}': feature '{key}' must hold integer ids, got "
            f"{value.dtype}; {_TRANSFORM_HINT}."
        )
    if value.ndim == 0:
        raise FeatureInputError(
            f"column '{column}': feature '{key}' needs a leading batch "
            f"dimension, got a scalar."
        )
    width = math.prod(value.shape[1:]) if value.ndim > 1 else 1
    return value.astype(jnp.int32).reshape((value.shape[0], width))


def valid_weights(ids: jnp.ndarray, weights: jnp.ndarray | None) -> jnp.ndarray:
    """Per-id weights with missing ids (-1) weighted 0."""
    ones = jnp.ones(ids.shape, jnp.float32) if weights is None else weights
    return jnp.where(ids >= 0, ones.astype(jnp.float32), 0.0)


def multi_hot(
    ids: jnp.ndarray, weights: jnp.ndarray | None, num_buckets: int
) -> jnp.ndarray:
    """`[B, num_buckets]` counts (or summed weights) of each id; -1 is ignored."""
    w = valid_weights(ids, weights)
    rows = jnp.broadcast_to(jnp.arange(ids.shape[0])[:, None], ids.shape)
    safe = jnp.clip(ids, 0, num_buckets - 1)
    out = jnp.zeros((ids.shape[0], num_buckets), jnp.float32)
    return out.at[rows, safe].add(w)


def safe_divide(numerator: jnp.ndarray, denominator: jnp.ndarray) -> jnp.ndarray:
    """`numerator / denominator`, 0 where the denominator is 0 (NaN-free grads)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 0.0)


def combine(rows: jnp.ndarray, weights: jnp.ndarray, combiner: str) -> jnp.ndarray:
    """Reduces `rows [B, k, d]` with `weights [B, k]` by `sum`, `mean` or `sqrtn`."""
    total = jnp.einsum("bk,bkd->bd", weights, rows)
    if combiner == "sum":
        return total
    if combiner == "mean":
        norm = weights.sum(axis=1, keepdims=True)
    else:
        norm = jnp.sqrt((weights**2).sum(axis=1, keepdims=True))
    return safe_divide(total, norm)


def gather(table: jnp.ndarray, ids: jnp.ndarray) -> jnp.ndarray:
    """`table[ids]` with missing ids (-1) reading row 0 (their weight is 0)."""
    return jnp.take(table, jnp.clip(ids, 0, table.shape[0] - 1), axis=0)


def clip_rows(rows: jnp.ndarray, max_norm: float) -> jnp.ndarray:
    """Scales rows whose l2 norm exceeds `max_norm` back to it (tf's max_norm)."""
    sq = (rows**2).sum(axis=-1, keepdims=True)
    norm = jnp.sqrt(jnp.where(sq > 0, sq, 1.0))
    return jnp.where(norm > max_norm, rows * (max_norm / norm), rows)
