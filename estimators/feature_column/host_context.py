"""One raw batch on the host: checked feature access and per-batch memos.

`transform` and `analyze` open one `HostContext` per batch and hand it to every
column. It checks that a feature is present and has the batch's row count, and
computes shared work once: the dictionary encoding of a string feature (read by
a vocabulary, a hash and a crossed column alike) and each column's ids (read by
the column itself and by the crosses and weights built on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from estimators.feature_column import raw_values
from estimators.feature_column.encoded_strings import EncodedStrings, string_codes
from estimators.feature_column.errors import FeatureInputError

__all__ = ["HostContext", "IdColumn", "Reader"]


class Reader(Protocol):
    """Whatever reads a raw feature: named in the errors about that feature."""

    @property
    def name(self) -> str: ...


class IdColumn(Reader, Protocol):
    """A column with host-side ids (`CategoricalColumn` implements it)."""

    def _frozen_host_ids(self, ctx: HostContext) -> np.ndarray: ...


class HostContext:
    """One batch on the host: raw feature access with checks, per-column caching."""

    def __init__(self, features: Mapping[str, Any]) -> None:
        if not isinstance(features, Mapping):
            raise FeatureInputError(
                f"features must be a dict of arrays, got {type(features).__name__}."
            )
        self.features = features
        # Keyed by id(): hashing a column hashes all its fields (~40 us for a
        # 10k-value vocabulary). Holding the column keeps its id from reuse.
        self._ids: dict[int, tuple[IdColumn, np.ndarray]] = {}
        self._strings: dict[str, EncodedStrings] = {}
        self._batch: tuple[str, int] | None = None

    def raw(self, key: str, column: Reader) -> Any:
        """Returns raw feature `key`, checking presence and batch size."""
        if key not in self.features:
            raise FeatureInputError(
                f"feature '{key}' (read by column '{column.name}') is missing; "
                f"available features: {sorted(map(str, self.features))}."
            )
        value = self.features[key]
        size = raw_values.batch_size(value, key)
        if self._batch is None:
            self._batch = (key, size)
        elif self._batch[1] != size:
            first, first_size = self._batch
            raise FeatureInputError(
                f"feature '{key}' has {size} rows but feature '{first}' has "
                f"{first_size}; all features of a batch need the same number of rows."
            )
        return value

    def ids(self, column: IdColumn) -> np.ndarray:
        """The column's ids for this batch, computed once."""
        found = self._ids.get(id(column))
        if found is None:
            found = self._ids[id(column)] = (column, column._frozen_host_ids(self))
        return found[1]

    def has_strings(self, key: str) -> bool:
        """Whether feature `key` was already dictionary-encoded for this batch."""
        return key in self._strings

    def strings(
        self, key: str, column: Reader, *, allow_numbers: bool
    ) -> EncodedStrings:
        """Raw string feature `key`, dictionary-encoded once for all its columns.

        `allow_numbers` as in `raw_values.string_values` (integers as decimal
        text); an encoding made with it also serves calls without it when the
        feature holds no integers (else such a call raises, as it should).
        """
        found = self._strings.get(key)
        if found is None or (found.numbers and not allow_numbers):
            found = string_codes(
                self.raw(key, column), key, allow_numbers=allow_numbers
            )
            self._strings[key] = found
        return found
