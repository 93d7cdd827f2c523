"""Categorical columns over raw values: hash bucket and identity.

Host transforms return `int32 [B, k]` ids (`k = 1` for single values, the
longest list for list-typed features), `-1` meaning "no value". As in tf, null
values, empty strings and integer `-1` are missing (they get `-1`, silently).
Vocabulary columns live in `vocabulary.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimators.feature_column import hashing, raw_values, validation
from estimators.feature_column.base import CategoricalColumn
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.parse_spec import VarLenFeature

__all__ = [
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
]


@dataclass(frozen=True, repr=False)
class HashedCategoricalColumn(CategoricalColumn):
    """Ids `fingerprint64(value) % hash_bucket_size`; built by `..._hash_bucket`."""

    key: str
    hash_bucket_size: int
    dtype: str = "string"

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def _raw_keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def _parse_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        size = np.uint64(self.hash_bucket_size)
        if self.dtype == "string":
            strings = ctx.strings(self.key, self, allow_numbers=True)
            table = (strings.fingerprints() % size).astype(np.int32)
            return strings.layout.scatter(strings.per_value(table, -1), -1)
        raw = ctx.raw(self.key, self)
        values, missing, layout = raw_values.typed_values(raw, self.key, self.dtype)
        ids = (hashing.string_fingerprints(values) % size).astype(np.int64)
        ids[missing] = -1
        return layout.scatter(ids.astype(np.int32), -1)


@dataclass(frozen=True, repr=False)
class IdentityCategoricalColumn(CategoricalColumn):
    """Integer ids in `[0, number_buckets)`; see `categorical_column_with_identity`."""

    key: str
    number_buckets: int
    default_value: int | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return self.number_buckets

    def _raw_keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def _parse_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature("int64")}

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        ids, missing, layout = raw_values.integer_values(
            ctx.raw(self.key, self), self.key
        )
        outside = ~missing & ((ids < 0) | (ids >= self.number_buckets))
        if outside.any():
            if self.default_value is None:
                index = int(np.argmax(outside))
                raise FeatureInputError(
                    f"feature '{self.key}': id {int(ids[index])} is out of range "
                    f"[0, {self.number_buckets}) (row {layout.row_of(index)}); pass "
                    "categorical_column_with_identity(..., default_value=...) to "
                    "map such ids to a bucket."
                )
            ids = np.where(outside, self.default_value, ids)
        return layout.scatter(np.where(missing, -1, ids).astype(np.int32), -1)


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: Any = "string"
) -> HashedCategoricalColumn:
    """Ids by hashing, like `tf.feature_column.categorical_column_with_hash_bucket`.

    `id = fingerprint64(text) % hash_bucket_size` (see `hashing`: FNV-1a then
    fmix64 over UTF-8; stable across runs and platforms, different from tf's
    FarmHash ids). Integers are hashed as their decimal text.

    Args:
        key: Name of the raw feature.
        hash_bucket_size: Number of buckets, >= 1.
        dtype: `"string"` (default) or an integer dtype.

    Returns:
        A frozen `HashedCategoricalColumn`.

    Example:
        >>> categorical_column_with_hash_bucket("city", 100).num_buckets
        100
    """
    key = validation.check_key(key)
    size = validation.check_positive_int(hash_bucket_size, "hash_bucket_size")
    dtype_name = validation.canonical_dtype(dtype)
    if dtype_name != "string" and not validation.is_integer_dtype(dtype_name):
        raise ValueError(
            f"column '{key}': `dtype` must be string or integer, got {dtype!r}."
        )
    return HashedCategoricalColumn(key, size, dtype_name)


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityCategoricalColumn:
    """Integer features used as ids, like tf's `categorical_column_with_identity`.

    Args:
        key: Name of the raw integer feature.
        num_buckets: Ids must lie in `[0, num_buckets)`.
        default_value: Id for values outside the range; None (default) makes
            them an error naming the row and value. `-1` and nulls are missing.

    Returns:
        A frozen `IdentityCategoricalColumn`.

    Example:
        >>> categorical_column_with_identity("digit", 10).num_buckets
        10
    """
    key = validation.check_key(key)
    size = validation.check_positive_int(num_buckets, "num_buckets")
    if default_value is not None:
        default = validation.check_positive_int(
            default_value, "default_value", minimum=0
        )
        if default >= size:
            raise ValueError(
                f"column '{key}': `default_value` must be in [0, {size}), "
                f"got {default}."
            )
        default_value = default
    return IdentityCategoricalColumn(key, size, default_value)
