"""Dense views of categorical columns: indicator (multi-hot) and embeddings."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file

from estimators.feature_column import in_model, validation
from estimators.feature_column.base import CategoricalColumn, DenseColumn, ParamFactory
from estimators.feature_column.errors import FeatureInputError

__all__ = [
    "EmbeddingColumn",
    "IndicatorColumn",
    "SharedEmbeddingColumn",
    "embedding_column",
    "indicator_column",
    "shared_embeddings",
]


@dataclass(frozen=True, repr=False)
class IndicatorColumn(DenseColumn):
    """Multi-hot counts (or summed weights) of a categorical column's ids."""

    _column_fields = ("categorical_column",)

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def _dense_size(self) -> int:
        return self.categorical_column._checked_num_buckets()

    def _dense_tensor(
        self, features: Mapping[str, Any], params: ParamFactory
    ) -> jnp.ndarray:
        ids, weights = self.categorical_column._model_ids(features)
        return in_model.multi_hot(ids, weights, self._dense_size)


@dataclass(frozen=True, repr=False)
class _EmbeddingBase(DenseColumn):
    _column_fields = ("categorical_column",)
    _creates_parameters = True

    categorical_column: CategoricalColumn
    dimension: int
    combiner: str = "mean"
    initializer: Callable[..., Any] | None = None

    @property
    def _dense_size(self) -> int:
        return self.dimension

    @property
    def _table_scope(self) -> str:
        raise NotImplementedError

    def _initializer(self) -> Callable[..., Any]:
        if self.initializer is not None:
            return self.initializer
        return jax.nn.initializers.truncated_normal(
            stddev=1.0 / math.sqrt(self.dimension)
        )

    def _dense_tensor(
        self, features: Mapping[str, Any], params: ParamFactory
    ) -> jnp.ndarray:
        shape = (self.categorical_column._checked_num_buckets(), self.dimension)
        table = params(
            self._table_scope, "embedding_weights", shape, self._initializer()
        )
        if not getattr(self, "trainable", True):
            table = jax.lax.stop_gradient(table)
        ids, weights = self.categorical_column._model_ids(features)
        rows = in_model.gather(table, ids)
        max_norm = getattr(self, "max_norm", None)
        if max_norm is not None:
            rows = in_model.clip_rows(rows, max_norm)
        return in_model.combine(
            rows, in_model.valid_weights(ids, weights), self.combiner
        )


@dataclass(frozen=True, repr=False)
class EmbeddingColumn(_EmbeddingBase):
    """A learnt `[num_buckets, dimension]` table combined over a row's ids.

    The table is the flax parameter `<layer>/<name>/embedding_weights`.
    """

    ckpt_to_load_from: str | None = None
    tensor_name_in_ckpt: str | None = None
    max_norm: float | None = None
    trainable: bool = True

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_embedding"

    @property
    def _table_scope(self) -> str:
        return self.name

    def _initializer(self) -> Callable[..., Any]:
        if self.ckpt_to_load_from is not None and self.tensor_name_in_ckpt is not None:
            return _checkpoint_initializer(
                self.ckpt_to_load_from, self.tensor_name_in_ckpt
            )
        return super()._initializer()


@dataclass(frozen=True, repr=False)
class SharedEmbeddingColumn(_EmbeddingBase):
    """One of several columns sharing a table; see `shared_embeddings`.

    The table is `<layer>/<shared_embedding_collection_name>/embedding_weights`.
    """

    shared_embedding_collection_name: str = ""
    max_norm: float | None = None
    trainable: bool = True

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_shared_embedding"

    @property
    def _table_scope(self) -> str:
        return self.shared_embedding_collection_name


def _checkpoint_initializer(path: str, tensor_name: str) -> Callable[..., Any]:
    """Initialiser reading `tensor_name` from a safetensors file or checkpoint dir."""

    def init(key: Any, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jnp.ndarray:
        file = os.path.join(path, "state.safetensors") if os.path.isdir(path) else path
        try:
            tensors = load_file(file)
        except (OSError, ValueError) as e:
            raise FeatureInputError(
                f"ckpt_to_load_from={path!r}: cannot read {file!r}: {e}"
            ) from None
        if tensor_name not in tensors:
            raise FeatureInputError(
                f"tensor_name_in_ckpt={tensor_name!r} is not in {file!r}; it has "
                f"{sorted(tensors)[:20]}."
            )
        value = np.asarray(tensors[tensor_name])
        if tuple(value.shape) != tuple(shape):
            raise FeatureInputError(
                f"tensor {tensor_name!r} in {file!r} has shape {value.shape}, the "
                f"embedding table needs {tuple(shape)}."
            )
        return jnp.asarray(value, dtype)

    return init


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """Multi-hot dense view, like `tf.feature_column.indicator_column`.

    Each row becomes a `[num_buckets]` vector of id counts (of weights for a
    weighted column); missing ids (-1) add nothing.

    Args:
        categorical_column: The column whose ids are counted.

    Returns:
        A frozen `IndicatorColumn` named `f"{categorical_column.name}_indicator"`.

    Example:
        >>> from estimators.feature_column import categorical_column_with_identity
        >>> indicator_column(categorical_column_with_identity("digit", 10)).name
        'digit_indicator'
    """
    _check_categorical(categorical_column, "indicator_column")
    return IndicatorColumn(categorical_column)


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: str = "mean",
    initializer: Callable[..., Any] | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
) -> EmbeddingColumn:
    """A learnt embedding, like `tf.feature_column.embedding_column`.

    Args:
        categorical_column: The column whose ids index the table.
        dimension: Embedding width, >= 1.
        combiner: How a row's several ids combine: `"mean"` (default),
            `"sqrtn"` or `"sum"`, weighted for weighted columns.
        initializer: jax initializer `(key, shape, dtype)`; default truncated
            normal with stddev `1 / sqrt(dimension)`, as tf.
        ckpt_to_load_from: safetensors file, or checkpoint directory holding
            `state.safetensors`, to initialise the table from.
        tensor_name_in_ckpt: Name of the table in that file.
        max_norm: Clip each looked-up embedding to this l2 norm. Default None.
        trainable: False stops gradients to the table. Default True.

    Returns:
        A frozen `EmbeddingColumn` named `f"{categorical_column.name}_embedding"`.

    Example:
        >>> from estimators.feature_column import categorical_column_with_hash_bucket
        >>> city = categorical_column_with_hash_bucket("city", 1000)
        >>> embedding_column(city, dimension=8).name
        'city_embedding'
    """
    _check_categorical(categorical_column, "embedding_column")
    if (ckpt_to_load_from is None) != (tensor_name_in_ckpt is None):
        raise ValueError(
            "embedding_column: give both `ckpt_to_load_from` and "
            "`tensor_name_in_ckpt`, or neither."
        )
    return EmbeddingColumn(
        categorical_column,
        validation.check_positive_int(dimension, "dimension"),
        validation.check_combiner(combiner),
        validation.check_initializer(initializer, "initializer"),
        None if ckpt_to_load_from is None else os.fspath(ckpt_to_load_from),
        tensor_name_in_ckpt,
        _check_max_norm(max_norm),
        _check_bool(trainable, "trainable"),
    )


def shared_embeddings(
    categorical_columns: Iterable[CategoricalColumn],
    dimension: int,
    combiner: str = "mean",
    initializer: Callable[..., Any] | None = None,
    shared_embedding_collection_name: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
) -> list[SharedEmbeddingColumn]:
    """Columns sharing one embedding table, like `tf.feature_column.shared_embeddings`.

    All columns need the same `num_buckets`. Within one `input_layer` call they
    read the same parameter `<collection name>/embedding_weights`.

    Args:
        categorical_columns: Two or more categorical columns (unique names).
        dimension: Embedding width, >= 1.
        combiner: `"mean"` (default), `"sqrtn"` or `"sum"`.
        initializer: jax initializer; default truncated normal, stddev
            `1 / sqrt(dimension)`.
        shared_embedding_collection_name: Name of the table's scope; default
            the sorted column names joined by `_` plus `_shared_embedding`.
        max_norm: Clip each looked-up embedding to this l2 norm. Default None.
        trainable: False stops gradients to the table. Default True.

    Returns:
        One `SharedEmbeddingColumn` per input column, in the same order.

    Example:
        >>> from estimators.feature_column import categorical_column_with_identity
        >>> a = categorical_column_with_identity("watched", 50)
        >>> b = categorical_column_with_identity("liked", 50)
        >>> [c.name for c in shared_embeddings([a, b], 4)]
        ['watched_shared_embedding', 'liked_shared_embedding']
    """
    columns = (
        list(categorical_columns) if isinstance(categorical_columns, Iterable) else None
    )
    if not columns:
        raise ValueError(
            "shared_embeddings: `categorical_columns` must be a non-empty list, got "
            f"{categorical_columns!r}."
        )
    for column in columns:
        _check_categorical(column, "shared_embeddings")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(
            f"shared_embeddings: column names must be unique, got {names}."
        )
    sizes = {c.num_buckets for c in columns if c.num_buckets is not None}
    if len(sizes) > 1:
        raise ValueError(
            "shared_embeddings: all columns need the same num_buckets, got "
            f"{ {c.name: c.num_buckets for c in columns} }."
        )
    collection = shared_embedding_collection_name or (
        "_".join(sorted(names)) + "_shared_embedding"
    )
    validation.check_key(collection, "shared_embedding_collection_name")
    return [
        SharedEmbeddingColumn(
            column,
            validation.check_positive_int(dimension, "dimension"),
            validation.check_combiner(combiner),
            validation.check_initializer(initializer, "initializer"),
            collection,
            _check_max_norm(max_norm),
            _check_bool(trainable, "trainable"),
        )
        for column in columns
    ]


def _check_categorical(column: Any, where: str) -> None:
    if not isinstance(column, CategoricalColumn):
        raise ValueError(f"{where}: expected a categorical column, got {column!r}.")


def _check_max_norm(max_norm: Any) -> float | None:
    if max_norm is None:
        return None
    if (
        isinstance(max_norm, bool)
        or not isinstance(max_norm, int | float)
        or not max_norm > 0
    ):
        raise ValueError(f"`max_norm` must be None or a number > 0, got {max_norm!r}.")
    return float(max_norm)


def _check_bool(value: Any, arg: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"`{arg}` must be True or False, got {value!r}.")
    return value
