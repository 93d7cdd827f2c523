"""The host half of feature columns: raw batch -> numeric arrays for the model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from estimators.feature_column import base
from estimators.feature_column.base import FeatureColumn
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext

__all__ = ["transform"]


def transform(
    features: Mapping[str, Any], feature_columns: Iterable[FeatureColumn]
) -> dict[str, Any]:
    """Turns a raw batch into the numeric features the in-model columns read.

    Vectorised with numpy / pyarrow.compute over the whole batch. Output keys:

    - numeric column `name` (= key): `float32 [B, *shape]`, nulls and NaNs
      filled with `default_value` (normalisers are applied in the model, so
      the model gives the same result on raw or transformed numeric features);
    - categorical column `name` (vocabulary, hash, identity, bucketized,
      crossed, weighted): `int32 [B, k]` ids, `-1` = no value; a weighted
      column also gives `f"{name}/weights"` (`float32 [B, k]`);
    - indicator / embedding columns: the ids of their categorical column;
    - raw features that no column reads: passed through unchanged.

    Args:
        features: Raw batch: numpy arrays (numeric/bool, batch first), Arrow
            arrays (strings or numbers, nulls allowed) or numpy str/object arrays.
        feature_columns: Frozen columns (after `analyze()` when they learn
            statistics).

    Returns:
        A new dict of transformed features.

    Raises:
        ValueError: one line naming the column and, for a value, row and value.

    Example:
        >>> import numpy as np, pyarrow as pa
        >>> from estimators import feature_column as fc
        >>> color = fc.categorical_column_with_vocabulary_list("color", ["red", "blue"])
        >>> out = fc.transform({"color": pa.array(["blue", None, "green"]),
        ...                     "age": np.array([30.0, 40.0, 50.0])},
        ...                    [fc.indicator_column(color), fc.numeric_column("age")])
        >>> out["color"].ravel().tolist(), out["age"].ravel().tolist()
        ([1, -1, -1], [30.0, 40.0, 50.0])
    """
    columns = base.as_column_list(feature_columns)
    ctx = HostContext(features)
    outputs: dict[str, Any] = {}
    producers: dict[str, FeatureColumn] = {}
    consumed: set[str] = set()
    for column in columns:
        base.require_frozen(column)
        consumed |= column._raw_keys()
        for key, value in column._host_outputs(ctx).items():
            _check_unique(key, column, producers)
            outputs[key] = value
    for key, value in features.items():
        if key not in consumed and key not in outputs:
            outputs[key] = value
    return outputs


def _check_unique(
    key: str, column: FeatureColumn, producers: dict[str, FeatureColumn]
) -> None:
    """Two different columns must not write the same transformed key."""
    owner = _owner(column, key)
    if key in producers and producers[key] != owner:
        raise FeatureInputError(
            f"columns {base.describe(producers[key])} and {base.describe(owner)} "
            "both produce the transformed "
            f"feature '{key}'; give them different keys or use one of them."
        )
    producers[key] = owner


def _owner(column: FeatureColumn, key: str) -> FeatureColumn:
    """The innermost column whose name is `key` (the one that computes it)."""
    if column.name == key:  # the common case: what walk() would find first
        return column
    for col in base.walk([column]):
        if col.name == key or key.startswith(f"{col.name}/"):
            return col
    return column
