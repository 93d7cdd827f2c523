"""Weighted categorical columns: ids of a categorical column with per-id weights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from estimators.feature_column import in_model, raw_values, validation
from estimators.feature_column.base import CategoricalColumn
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.parse_spec import VarLenFeature

__all__ = ["WeightedCategoricalColumn", "weighted_categorical_column"]


@dataclass(frozen=True, repr=False)
class WeightedCategoricalColumn(CategoricalColumn):
    """A categorical column whose ids carry weights; see `weighted_categorical_column`.

    Transformed features: ids under `name`, weights under `f"{name}/weights"`
    (`float32 [B, k]`, 0 where the id is -1).
    """

    _column_fields = ("categorical_column",)

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: str = "float32"

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def weights_key(self) -> str:
        """Key of the transformed weights: `f"{name}/weights"`."""
        return f"{self.name}/weights"

    @property
    def num_buckets(self) -> int | None:
        return self.categorical_column.num_buckets

    def _raw_keys(self) -> frozenset[str]:
        return self.categorical_column._raw_keys() | {self.weight_feature_key}

    def _parse_spec(self) -> dict[str, Any]:
        return {
            **self.categorical_column._parse_spec(),
            self.weight_feature_key: VarLenFeature(self.dtype),
        }

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        return ctx.ids(self.categorical_column)

    def _host_weights(self, ctx: HostContext) -> np.ndarray:
        ids = ctx.ids(self)
        key = self.weight_feature_key
        flat, layout = raw_values.numeric_values(ctx.raw(key, self), key)
        weights = layout.scatter(flat, np.nan)
        if weights.shape != ids.shape:
            raise FeatureInputError(
                f"feature '{key}': weights of shape {weights.shape} do not match the "
                f"{ids.shape} ids of column '{self.categorical_column.name}'; give "
                "one weight per value."
            )
        missing = (ids >= 0) & np.isnan(weights)
        if missing.any():
            row = int(np.argwhere(missing)[0][0])
            raise FeatureInputError(
                f"feature '{key}': missing weight (row {row}: null or NaN) for a "
                f"value of column '{self.categorical_column.name}'."
            )
        with np.errstate(over="ignore"):
            return np.where(ids >= 0, weights, 0.0).astype(np.float32)

    def _host_outputs(self, ctx: HostContext) -> dict[str, np.ndarray]:
        return {self.name: ctx.ids(self), self.weights_key: self._host_weights(ctx)}

    def _model_ids(self, features: Mapping[str, Any]) -> tuple[Any, Any]:
        ids = in_model.read_ids(features, self.name, self.name)
        weights = jnp.asarray(in_model.fetch(features, self.weights_key, self.name))
        return ids, weights.astype(jnp.float32).reshape(ids.shape)


def weighted_categorical_column(
    categorical_column: CategoricalColumn,
    weight_feature_key: str,
    dtype: Any = "float32",
) -> WeightedCategoricalColumn:
    """Attaches weights to ids, like `tf.feature_column.weighted_categorical_column`.

    The weight feature has one number per value of the categorical feature
    (same shape or same list lengths). `linear_model` multiplies each id's
    weight row by it; `embedding_column` combiners and `indicator_column` use it.

    Args:
        categorical_column: The column producing the ids.
        weight_feature_key: Name of the raw weight feature.
        dtype: Float dtype of the weights. Default float32.

    Returns:
        A frozen `WeightedCategoricalColumn`.

    Example:
        >>> from estimators.feature_column import categorical_column_with_identity
        >>> words = categorical_column_with_identity("word_id", 100)
        >>> weighted_categorical_column(words, "tf_idf").name
        'word_id_weighted_by_tf_idf'
    """
    if not isinstance(categorical_column, CategoricalColumn):
        raise ValueError(
            "weighted_categorical_column: `categorical_column` must be a "
            f"categorical column, got {categorical_column!r}."
        )
    key = validation.check_key(weight_feature_key, "weight_feature_key")
    dtype_name = validation.canonical_dtype(dtype)
    if not dtype_name.startswith(("float", "bfloat")):
        raise ValueError(
            "weighted_categorical_column: `dtype` must be a float dtype, "
            f"got {dtype!r}."
        )
    return WeightedCategoricalColumn(categorical_column, key, dtype_name)
