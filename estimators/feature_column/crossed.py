"""Crossed columns: hashed combinations of several categorical features."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from estimators.feature_column import hashing, validation
from estimators.feature_column.base import CategoricalColumn
from estimators.feature_column.categorical import HashedCategoricalColumn
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.parse_spec import VarLenFeature

__all__ = ["DEFAULT_HASH_KEY", "CrossedColumn", "crossed_column"]

DEFAULT_HASH_KEY = 0xDECAFCAFFE
"""tf's default `hash_key` for crosses, kept as our seed."""


@dataclass(frozen=True, repr=False)
class CrossedColumn(CategoricalColumn):
    """Hashed cross of raw string keys and categorical columns; see `crossed_column`.

    A row with `k_1, ..., k_n` values gets `k_1 * ... * k_n` ids (the
    Cartesian product, in the order of `keys`); a combination with a missing
    value is missing (-1).
    """

    _column_fields = ("keys",)

    keys: tuple[str | CategoricalColumn, ...]
    hash_bucket_size: int
    hash_key: int | None = None

    @property
    def name(self) -> str:
        names = (k if isinstance(k, str) else k.name for k in self.keys)
        return "_X_".join(sorted(names))

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def _raw_keys(self) -> frozenset[str]:
        strings = {k for k in self.keys if isinstance(k, str)}
        return super()._raw_keys() | strings

    def _parse_spec(self) -> dict[str, Any]:
        spec = super()._parse_spec()
        spec.update(
            {k: VarLenFeature("string") for k in self.keys if isinstance(k, str)}
        )
        return spec

    def _part(
        self, key: str | CategoricalColumn, ctx: HostContext
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(uint64 [B, k] fingerprints, bool [B, k] present)` of one key."""
        if isinstance(key, str):
            strings = ctx.strings(key, self, allow_numbers=True)
            layout = strings.layout
            present = layout.scatter(strings.codes >= 0, False)
            hashes = strings.per_value(strings.fingerprints(), 0)
            return layout.scatter(hashes, 0), present
        ids = ctx.ids(key)
        return hashing.mix_ids(ids), ids >= 0

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        seed = DEFAULT_HASH_KEY if self.hash_key is None else self.hash_key
        hashes = None
        present = None
        for key in self.keys:
            part, part_present = self._part(key, ctx)
            if hashes is None:
                start = hashing.fmix64(np.full(part.shape, seed % 2**64, np.uint64))
                hashes, present = hashing.combine(start, part), part_present
                continue
            shape = (part.shape[0], hashes.shape[1] * part.shape[1])
            hashes = hashing.combine(hashes[:, :, None], part[:, None, :])
            hashes = hashes.reshape(shape)
            present = (present[:, :, None] & part_present[:, None, :]).reshape(shape)
        assert hashes is not None and present is not None
        ids = (hashes % np.uint64(self.hash_bucket_size)).astype(np.int64)
        return np.where(present, ids, -1).astype(np.int32)


def crossed_column(
    keys: Iterable[str | CategoricalColumn],
    hash_bucket_size: int,
    hash_key: int | None = None,
) -> CrossedColumn:
    """Crosses features, like `tf.feature_column.crossed_column`.

    Each combination of values is fingerprinted (strings by `fingerprint64` of
    their text, categorical columns by their ids) and mapped to
    `hash % hash_bucket_size`; ids are stable across runs, unlike Python's
    `hash()`, and differ from tf's FarmHash ids.

    Args:
        keys: Two or more raw feature keys (strings or integers) or
            categorical columns (not hash-bucket columns, as in tf).
        hash_bucket_size: Number of buckets, >= 1.
        hash_key: Seed of the cross hash; None uses tf's default 0xDECAFCAFFE.

    Returns:
        A frozen `CrossedColumn` named `"a_X_b"` (sorted names).

    Example:
        >>> crossed_column(["state", "city"], 1000).name
        'city_X_state'
    """
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        raise ValueError(
            f"crossed_column: `keys` must be a list of keys or columns, got {keys!r}."
        )
    items = tuple(keys)
    if len(items) < 2:
        raise ValueError(
            f"crossed_column: `keys` needs at least 2 items, got {list(items)!r}."
        )
    for key in items:
        if isinstance(key, HashedCategoricalColumn):
            raise ValueError(
                f"crossed_column: hash-bucket column '{key.name}' cannot be "
                "crossed (as "
                f"in tf); use its key '{key.key}' instead."
            )
        if not (isinstance(key, CategoricalColumn) or (isinstance(key, str) and key)):
            raise ValueError(
                "crossed_column: each key must be a feature name or a categorical "
                f"column, got {key!r}."
            )
    size = validation.check_positive_int(hash_bucket_size, "hash_bucket_size")
    if hash_key is not None and (
        isinstance(hash_key, bool) or not isinstance(hash_key, int) or hash_key < 0
    ):
        raise ValueError(
            f"crossed_column: `hash_key` must be a non-negative int, got {hash_key!r}."
        )
    return CrossedColumn(items, size, None if hash_key is None else int(hash_key))
